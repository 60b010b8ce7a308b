package argon2id

import (
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestEveryComputationIsObservedAndTraced(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	var seen []string
	h := New(cheap, nil, WithObserver(func(op string, took time.Duration) {
		if took <= 0 {
			t.Errorf("%s took %v", op, took)
		}
		seen = append(seen, op)
	}), WithTracerProvider(tp))

	encoded, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(ctx, "correct horse", encoded); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	if _, err := h.Verify(ctx, "x", "not a hash"); err == nil {
		t.Fatal("a malformed hash verified")
	}
	if len(seen) != 2 || seen[0] != OpHash || seen[1] != OpVerify {
		t.Errorf("observed %v, want [hash verify] (a malformed hash computes nothing)", seen)
	}
	spans := exporter.GetSpans()
	if len(spans) != 2 || spans[0].Name != "argon2id.hash" || spans[1].Name != "argon2id.verify" {
		t.Errorf("spans %v, want argon2id.hash and argon2id.verify", spans)
	}
}
