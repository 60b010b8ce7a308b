package outbox

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestTheQueuingSpanSurvivesTheOutboxRow(t *testing.T) {
	if got := traceParent(context.Background()); got != nil {
		t.Fatalf("traceParent without a span = %q, want nil (nothing stored with tracing off)", *got)
	}
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer span.End()
	stored := traceParent(ctx)
	if stored == nil {
		t.Fatal("traceParent of a span is nil")
	}
	got := spanContext(stored)
	want := span.SpanContext()
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() {
		t.Fatalf("read back %v, want the span %v (remote)", got, want)
	}
	for _, bad := range []*string{nil, ptr(""), ptr("garbage")} {
		if sc := spanContext(bad); sc.IsValid() {
			t.Errorf("spanContext(%v) = %v, want invalid", bad, sc)
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

func ptr(s string) *string { return &s }
