package config

import (
	"strings"
	"testing"
)

func TestTracingIsOffUnlessAnExporterIsConfigured(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Tracing
	}{
		{"nothing set", nil, Tracing{Enabled: false, Protocol: OTLPProtocolHTTP}},
		{"an endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, Tracing{Enabled: true, Protocol: OTLPProtocolHTTP}},
		{"a traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4318/v1/traces"}, Tracing{Enabled: true, Protocol: OTLPProtocolHTTP}},
		{"the otlp exporter, default endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, Tracing{Enabled: true, Protocol: OTLPProtocolHTTP}},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, Tracing{Enabled: true, Protocol: OTLPProtocolGRPC}},
		{"the traces protocol wins", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, Tracing{Enabled: true, Protocol: OTLPProtocolHTTP}},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, Tracing{Enabled: false, Protocol: OTLPProtocolHTTP}},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, Tracing{Enabled: false, Protocol: OTLPProtocolHTTP}},
	} {
		cfg, err := Load(env(tc.env))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if cfg.Tracing != tc.want {
			t.Errorf("%s: tracing %+v, want %+v", tc.name, cfg.Tracing, tc.want)
		}
	}
}

func TestTracingRefusesWhatItCannotDo(t *testing.T) {
	for name, value := range map[string]string{
		"OTEL_SDK_DISABLED":                  "maybe",
		"OTEL_TRACES_EXPORTER":               "zipkin",
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "collector:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "not a url",
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/json",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp",
	} {
		_, err := Load(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: error %v, want one naming the variable", name, value, err)
		}
	}
}
