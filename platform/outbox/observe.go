package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/platform/outbox/internal/sqlcgen"
)

// What the outbox tells observers (metrics, traces): the delivery under way, the trace
// that queued an email, and the backlog.

// Delivery is one delivery attempt of a queued email, as its Sender sees it in the
// context of Send.
type Delivery struct {
	// ID is the email's outbox id.
	ID int64
	// Attempt counts the attempts at this email, this one included (1 for the first).
	Attempt int
	// QueuedBy is the span of the request that queued the email (kept in its job's
	// metadata); invalid when tracing was off then.
	QueuedBy trace.SpanContext
}

type deliveryKey struct{}

func withDelivery(ctx context.Context, d Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

// DeliveryFrom returns the delivery a Sender's context belongs to.
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}

// spanContext reads the span that inserted a job from the job's metadata, where
// otelriver keeps it (W3C traceparent); invalid when there is none (tracing off then).
func spanContext(metadata []byte) trace.SpanContext {
	var meta struct {
		TraceParent string `json:"traceparent"`
		TraceState  string `json:"tracestate"`
	}
	if len(metadata) == 0 || json.Unmarshal(metadata, &meta) != nil || meta.TraceParent == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": meta.TraceParent}
	if meta.TraceState != "" {
		carrier["tracestate"] = meta.TraceState
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
}

// Backlog is the outbox's queue at one instant.
type Backlog struct {
	// Emails are the emails neither sent nor dropped yet.
	Emails int64
	// OldestAge is the age of the oldest of them; 0 when there is none.
	OldestAge time.Duration
}

// Backlog reads the outbox's backlog, shared by every replica: one indexed query, for a
// refresh loop (platform/metrics), never a scrape.
func (o *Outbox) Backlog(ctx context.Context) (Backlog, error) {
	row, err := sqlcgen.New(o.jobs.Pool()).OutboxBacklog(ctx)
	if err != nil {
		return Backlog{}, fmt.Errorf("read outbox backlog: %w", err)
	}
	return Backlog{Emails: row.Emails, OldestAge: time.Duration(row.OldestAgeSeconds * float64(time.Second))}, nil
}
