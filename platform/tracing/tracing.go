// Package tracing exports OpenTelemetry traces over OTLP when OpenTelemetry's standard
// variables configure an exporter (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER=otlp;
// see config.Tracing): a span per HTTP request, per SQL query (otelpgx) and per email
// delivery, linked to the request that queued the email. Modules add spans of their own
// (use cases, password hashes) through the TracerProvider.
//
// With tracing off nothing is installed: no middleware, no query tracer, no sender
// wrapper; modules get a no-op TracerProvider, whose spans cost a few nanoseconds.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox"
)

// ServiceName is the service.name of the spans unless OTEL_SERVICE_NAME says otherwise.
const ServiceName = "identity"

const instrumentation = "github.com/acme/identity/platform/tracing"

// Tracing is the tracer provider of the process and what it instruments.
type Tracing struct {
	provider trace.TracerProvider
	enabled  bool
	shutdown func(context.Context) error
}

// New sets tracing up as cfg says: off, or an OTLP exporter (HTTP or gRPC) whose
// endpoint, headers, timeouts, sampler and resource attributes the OpenTelemetry SDK reads
// from the OTEL_* variables of the environment.
func New(ctx context.Context, cfg config.Tracing) (*Tracing, error) {
	if !cfg.Enabled {
		return &Tracing{provider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	}
	var (
		exporter sdktrace.SpanExporter
		err      error
	)
	switch cfg.Protocol {
	case config.OTLPProtocolGRPC:
		exporter, err = otlptracegrpc.New(ctx)
	default:
		exporter, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	// The sampler follows OTEL_TRACES_SAMPLER (parent-based, always on by default).
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{provider: tp, enabled: true, shutdown: tp.Shutdown}, nil
}

// FromProvider traces to tp (tests: an SDK provider with an in-memory exporter).
func FromProvider(tp trace.TracerProvider) *Tracing {
	return &Tracing{provider: tp, enabled: true, shutdown: func(context.Context) error { return nil }}
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t.enabled }

// Provider is the tracer provider modules start their spans with (no-op when off).
func (t *Tracing) Provider() trace.TracerProvider { return t.provider }

// Shutdown exports the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("shut tracing down: %w", err)
	}
	return nil
}

// propagator reads and writes the W3C traceparent header: a caller (a gateway, another
// service) that sends one gets the request's span in its trace.
var propagator = propagation.TraceContext{}

// Middleware makes every request a server span named by its method and route template,
// with the status, and puts the span in the request's context (the access log writes its
// trace id). It renders an error itself, so it sees the status the client gets; mount it
// outside the access log.
func (t *Tracing) Middleware() echo.MiddlewareFunc {
	tracer := t.provider.Tracer(instrumentation)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ctx := propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			route := c.Path()
			name := req.Method
			if route != "" {
				name += " " + route
			}
			ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
				attribute.String("http.request.method", req.Method),
				attribute.String("http.route", route),
				attribute.String("url.path", req.URL.Path),
				attribute.String("client.address", c.RealIP()),
			))
			defer span.End()
			c.SetRequest(req.WithContext(ctx))
			if err := next(c); err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", status))
			}
			return nil
		}
	}
}

// QueryTracer makes every SQL query run in a traced request a span (otelpgx), named after
// its sqlc query ("query InsertEmail") or its operation ("query SELECT"), with the statement but
// never its arguments (they hold password hashes and codes). Queries outside a trace (the
// job system's polling) make no span.
func (t *Tracing) QueryTracer() pgx.QueryTracer {
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(t.provider),
		otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelpgx.WithSpanNameCtxFunc(queryName),
		otelpgx.WithQuerySpanNamePrefix(), // "query InsertEmail", "prepare InsertEmail"
		otelpgx.WithDisableConnectionDetailsInAttributes(),
	)
}

// sqlcName finds the "-- name: InsertEmail :one" comment sqlc leaves in its queries.
var sqlcName = regexp.MustCompile(`^\s*-- name: (\w+) `)

func queryName(ctx context.Context, sql string) string {
	if m := sqlcName.FindStringSubmatch(sql); m != nil {
		return m[1]
	}
	return otelpgx.SQLOperationName(ctx, sql)
}

// Sender wraps the outbox's sender: every delivery attempt is a span linked to the span
// of the request that queued the email.
func (t *Tracing) Sender(next outbox.Sender) outbox.Sender {
	return &sender{next: next, tracer: t.provider.Tracer(instrumentation)}
}

type sender struct {
	next   outbox.Sender
	tracer trace.Tracer
}

// MaxConcurrent passes on what the wrapped sender sends at once (outbox.SenderConcurrency).
func (s *sender) MaxConcurrent() int { return outbox.SenderConcurrency(s.next) }

func (s *sender) Send(ctx context.Context, msg mail.Message) error {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	if d, ok := outbox.DeliveryFrom(ctx); ok {
		opts = append(opts, trace.WithAttributes(
			attribute.Int64("outbox.email_id", d.ID),
			attribute.Int("outbox.attempt", d.Attempt),
		))
		if d.QueuedBy.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: d.QueuedBy}))
		}
	}
	ctx, span := s.tracer.Start(ctx, "email.send", opts...)
	defer span.End()
	err := s.next.Send(ctx, msg)
	if err != nil {
		span.SetAttributes(attribute.String("email.failure_class", mail.FailureClass(err)))
		span.RecordError(err)
		span.SetStatus(codes.Error, "email not sent")
	}
	return err
}
