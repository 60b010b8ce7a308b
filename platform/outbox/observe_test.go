package outbox

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestTheQueuingSpanSurvivesInTheJobsMetadata: the span of the request that queued an
// email is read back from its job's metadata, where otelriver keeps it (W3C traceparent),
// and reaches the Sender with the delivery.
func TestTheQueuingSpanSurvivesInTheJobsMetadata(t *testing.T) {
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer span.End()
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	metadata := []byte(`{"traceparent": "` + carrier.Get("traceparent") + `", "other": 1}`)
	got := spanContext(metadata)
	want := span.SpanContext()
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() {
		t.Fatalf("read back %v, want the span %v (remote)", got, want)
	}
	for _, bad := range []string{"", "{}", `{"traceparent": "garbage"}`, "not json", `{"traceparent": 7}`} {
		if sc := spanContext([]byte(bad)); sc.IsValid() {
			t.Errorf("spanContext(%s) = %v, want invalid", bad, sc)
		}
	}
	d := Delivery{ID: 7, Attempt: 2, QueuedBy: got}
	if back, ok := DeliveryFrom(withDelivery(context.Background(), d)); !ok || back.ID != 7 || back.Attempt != 2 || !back.QueuedBy.Equal(got) {
		t.Errorf("DeliveryFrom = %v, %v; want %v", back, ok, d)
	}
	if _, ok := DeliveryFrom(context.Background()); ok {
		t.Error("a plain context has a delivery")
	}
}
