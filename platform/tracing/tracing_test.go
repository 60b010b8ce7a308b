package tracing

import (
	"context"
	"testing"

	"github.com/acme/identity/platform/config"
)

func TestQueryNameIsTheSqlcName(t *testing.T) {
	for sql, want := range map[string]string{
		"-- name: ClaimDueEmails :many\nWITH due AS (SELECT 1)": "ClaimDueEmails",
		"SELECT 1":      "SELECT",
		"LISTEN outbox": "LISTEN",
	} {
		if got := queryName(context.Background(), sql); got != want {
			t.Errorf("queryName(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestOffInstallsNothing(t *testing.T) {
	tr, err := New(context.Background(), config.Tracing{Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Fatal("tracing is on without an exporter")
	}
	if _, span := tr.Provider().Tracer("t").Start(context.Background(), "x"); span.IsRecording() {
		t.Error("the provider of disabled tracing records spans")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestOnBuildsAnOTLPExporter(t *testing.T) {
	for _, protocol := range []string{config.OTLPProtocolHTTP, config.OTLPProtocolGRPC} {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // nothing listens; export is lazy
		tr, err := New(context.Background(), config.Tracing{Enabled: true, Protocol: protocol})
		if err != nil {
			t.Fatalf("%s: %v", protocol, err)
		}
		if _, span := tr.Provider().Tracer("t").Start(context.Background(), "x"); !span.IsRecording() {
			t.Errorf("%s: spans are not recorded", protocol)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 0)
		_ = tr.Shutdown(ctx) // the export fails: nothing listens
		cancel()
	}
}
