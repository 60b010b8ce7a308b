package config

import (
	"strings"
	"testing"
	"time"
)

func TestModuleSettings(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"SMTP_PASSWORD": "smtp-secret", "DATABASE_URL": "postgres://u:db-secret@h/d",
		"PAYMENT_TIMEOUT": "3s", "PAYMENT_RETRIES": "4", "PAYMENT_MODE": "LIVE", "PAYMENT_BAD": "soon",
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("reads the module's variables, defaults when unset", func(t *testing.T) {
		s := cfg.Modules.Settings()
		timeout, retries := s.Duration("PAYMENT_TIMEOUT", time.Second), s.Int("PAYMENT_RETRIES", 1, 0, 10)
		mode, name := s.OneOf("PAYMENT_MODE", "test", "test", "live"), s.String("PAYMENT_NAME", "shop")
		off := s.DurationOrZero("PAYMENT_UNSET", time.Hour)
		if err := s.Err(); err != nil || timeout != 3*time.Second || retries != 4 || mode != "live" || name != "shop" || off != time.Hour {
			t.Fatalf("got %v %v %v %v %v, %v", timeout, retries, mode, name, off, err)
		}
	})
	t.Run("a bad value is reported naming the variable", func(t *testing.T) {
		s := cfg.Modules.Settings()
		s.Duration("PAYMENT_BAD", time.Second)
		s.Int("PAYMENT_RETRIES", 1, 0, 3)
		err := s.Err()
		if err == nil || !strings.Contains(err.Error(), "PAYMENT_BAD") || !strings.Contains(err.Error(), "PAYMENT_RETRIES") {
			t.Fatalf("got %v, want errors naming PAYMENT_BAD and PAYMENT_RETRIES", err)
		}
	})
	t.Run("the platform's variables are not the module's", func(t *testing.T) {
		for _, name := range []string{"SMTP_PASSWORD", "DATABASE_URL", "HTTP_ADDR", "OTEL_EXPORTER_OTLP_HEADERS"} {
			s := cfg.Modules.Settings()
			if v := s.String(name, ""); v != "" {
				t.Errorf("a module read %s = %q", name, v)
			}
			if err := s.Err(); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("reading %s: got %v, want an error naming it", name, err)
			}
		}
	})
	t.Run("the zero environment reads defaults", func(t *testing.T) {
		s := ModuleEnv{}.Settings()
		if v := s.Int("PAYMENT_RETRIES", 2, 0, 10); v != 2 || s.Err() != nil {
			t.Fatalf("got %d, %v", v, s.Err())
		}
	})
}
