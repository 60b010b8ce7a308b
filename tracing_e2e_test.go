package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/platform/mail/smtptest"
	"github.com/acme/identity/platform/poll"
)

// TestTracesOfARegistrationAndItsEmail records the spans of one registration with the
// SDK's in-memory exporter: the request's server span (route template, status), the use
// case, the password hash and the SQL queries in its trace, and the email's delivery
// span, in a trace of its own, linked to the request that queued it. The access log line
// carries the trace id.
func TestTracesOfARegistrationAndItsEmail(t *testing.T) {
	t.Parallel()
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	smtpServer := smtptest.Start(t, smtptest.Options{})
	ts := startServer(t, serverConfig{
		env: map[string]string{
			"SMTP_HOST": "127.0.0.1", "SMTP_PORT": strconv.Itoa(smtpServer.Port), "SMTP_TLS": "none",
			"MAIL_FROM": "Identity <no-reply@identity.test>",
		},
		realMail: true, dispatch: mailDispatch, tracer: tp,
	})

	wantStatus(t, ts.register(t, "trace@example.com", pw), http.StatusCreated)
	smtpServer.WaitFor(t, "trace@example.com", 5*time.Second)
	var spans tracetest.SpanStubs
	poll.Until(t, 5*time.Second, "the delivery span ends", func() bool {
		spans = exporter.GetSpans()
		return find(spans, "email.send") != nil
	})

	server := find(spans, "POST /v1/users")
	if server == nil {
		t.Fatalf("no server span POST /v1/users among %v", names(spans))
	}
	if server.SpanKind != trace.SpanKindServer || attr(server, "http.route") != "/v1/users" ||
		attr(server, "http.response.status_code") != "201" {
		t.Errorf("server span: kind %v, attributes %v", server.SpanKind, server.Attributes)
	}
	traceID := server.SpanContext.TraceID()
	useCase := find(spans, "identity.Register")
	if useCase == nil || useCase.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Fatalf("no use-case span under the server span: %v", names(spans))
	}
	hash := findChild(spans, "argon2id.hash", useCase)
	if hash == nil {
		t.Errorf("no password-hash span under the use case: %v", names(spans))
	}
	for _, query := range []string{"InsertAccount", "UpsertActivationCode", "InsertEmail"} {
		s := find(spans, "query "+query)
		if s == nil || s.SpanContext.TraceID() != traceID || s.SpanKind != trace.SpanKindClient {
			t.Errorf("no client span of query %s in the request's trace: %v", query, names(spans))
			continue
		}
		if stmt := attr(s, "db.query.text"); !strings.Contains(stmt, "-- name: "+query) {
			t.Errorf("query span %s has statement %q", query, stmt)
		}
	}
	// No argument of a query (password hashes, codes) is recorded.
	for _, s := range spans {
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.String(), "$argon2id$") {
				t.Errorf("span %s records a password hash in %s", s.Name, a.Key)
			}
		}
	}

	send := find(spans, "email.send")
	if send.SpanContext.TraceID() == traceID {
		t.Error("the delivery is in the request's trace; it should be a trace of its own, linked")
	}
	if len(send.Links) != 1 || send.Links[0].SpanContext.TraceID() != traceID {
		t.Errorf("delivery span links %v, want one to the request's trace %s", send.Links, traceID)
	}
	if attr(send, "outbox.attempt") != "1" || send.Status.Code != 0 {
		t.Errorf("delivery span: attributes %v, status %v", send.Attributes, send.Status)
	}

	if !strings.Contains(ts.logs.String(), `"trace_id":"`+traceID.String()+`"`) {
		t.Errorf("no access log line carries the trace id %s", traceID)
	}
}

func find(spans tracetest.SpanStubs, name string) *tracetest.SpanStub {
	for i := range spans {
		if spans[i].Name == name {
			return &spans[i]
		}
	}
	return nil
}

func findChild(spans tracetest.SpanStubs, name string, parent *tracetest.SpanStub) *tracetest.SpanStub {
	for i := range spans {
		if spans[i].Name == name && spans[i].Parent.SpanID() == parent.SpanContext.SpanID() {
			return &spans[i]
		}
	}
	return nil
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func attr(s *tracetest.SpanStub, key attribute.Key) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.String()
		}
	}
	return ""
}
