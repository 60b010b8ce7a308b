package outbox

import (
	"context"
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
	// QueuedBy is the span of the request that queued the email; invalid when tracing
	// was off then.
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

// traceContext is the W3C Trace Context format the outbox keeps a trace in.
var traceContext = propagation.TraceContext{}

// traceParent is the W3C traceparent of ctx's span, nil when ctx has none (tracing off).
func traceParent(ctx context.Context) *string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	v := carrier.Get("traceparent")
	if v == "" {
		return nil
	}
	return &v
}

// spanContext reads a traceparent kept by traceParent; invalid for nil or garbage.
func spanContext(traceparent *string) trace.SpanContext {
	if traceparent == nil {
		return trace.SpanContext{}
	}
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{"traceparent": *traceparent})
	return trace.SpanContextFromContext(ctx)
}

// Backlog is the outbox's queue at one instant.
type Backlog struct {
	// Emails are the emails neither sent nor dropped yet.
	Emails int64
	// OldestAge is the age of the oldest of them; 0 when there is none.
	OldestAge time.Duration
}

// Backlog reads the outbox's backlog, shared by every replica.
func (d *Dispatcher) Backlog(ctx context.Context) (Backlog, error) {
	row, err := sqlcgen.New(d.pool).OutboxBacklog(ctx)
	if err != nil {
		return Backlog{}, fmt.Errorf("read outbox backlog: %w", err)
	}
	return Backlog{Emails: row.Emails, OldestAge: time.Duration(row.OldestAgeSeconds * float64(time.Second))}, nil
}
