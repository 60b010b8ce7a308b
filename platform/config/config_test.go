package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	cfg, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "postgres://postgres@localhost:5432/identity?sslmode=disable" || cfg.HTTPAddr != ":8080" ||
		cfg.SMTP.Host != "" || cfg.SMTP.Port != 587 || cfg.SMTP.TLS != "starttls" || cfg.MailFrom != "Identity <no-reply@localhost>" ||
		cfg.ActivationCodeTTL != time.Minute || cfg.ActivationCodeMaxAttempts != 5 || cfg.ActivationCodeResendInterval != 30*time.Second ||
		cfg.RateLimitPerIP != 20 || cfg.TrustedProxies != nil ||
		cfg.PasswordHash != (PasswordHash{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}) ||
		cfg.LogLevel != slog.LevelInfo || cfg.LogFormat != "json" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestValuesAreRead(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"SMTP_HOST": "mail", "SMTP_PORT": "1025", "SMTP_TLS": "none", "ACTIVATION_CODE_TTL": "90s",
		"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1/32", "LOG_LEVEL": "debug", "LOG_FORMAT": "text", "RATE_LIMIT_PER_IP": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Host != "mail" || cfg.SMTP.Port != 1025 || cfg.SMTP.TLS != "none" || cfg.ActivationCodeTTL != 90*time.Second ||
		len(cfg.TrustedProxies) != 2 || cfg.TrustedProxies[1].String() != "192.168.1.1/32" ||
		cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "text" || cfg.RateLimitPerIP != 0 {
		t.Fatalf("config = %+v", cfg)
	}
}

func TestBadValuesFailNamingTheVariable(t *testing.T) {
	bad := map[string]string{
		"ACTIVATION_CODE_TTL":          "soon",
		"ACTIVATION_CODE_MAX_ATTEMPTS": "0",
		"SMTP_PORT":                    "70000",
		"SMTP_TLS":                     "maybe",
		"TRUSTED_PROXIES":              "10.0.0.0/8,not-a-cidr",
		"PASSWORD_HASH_ITERATIONS":     "two",
		"LOG_LEVEL":                    "loud",
		"LOG_FORMAT":                   "xml",
		"RATE_LIMIT_PER_IP":            "-1",
		"MAIL_FROM":                    "not an address",
	}
	for name, value := range bad {
		_, err := Load(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming %s", name, value, err, name)
		}
	}
	_, err := Load(env(bad))
	for name := range bad {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("all bad at once: error %v does not name %s", err, name)
		}
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"DATABASE_URL":  "postgres://app:hunter2@db:5432/identity?sslmode=disable",
		"SMTP_PASSWORD": "smtp-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", slog.Any("config", cfg))
	out := b.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, "smtp-secret") {
		t.Fatalf("a secret was logged: %s", out)
	}
	if !strings.Contains(out, "app:xxxxx@db:5432") || !strings.Contains(out, "smtp_password_set=true") {
		t.Fatalf("masked values missing: %s", out)
	}
}

func TestSMTPMaxConnections(t *testing.T) {
	cfg, err := Load(env(nil))
	if err != nil || cfg.SMTP.MaxConnections != DefaultSMTPMaxConnections {
		t.Fatalf("default SMTP_MAX_CONNECTIONS = %d (%v), want %d", cfg.SMTP.MaxConnections, err, DefaultSMTPMaxConnections)
	}
	if cfg, err = Load(env(map[string]string{"SMTP_MAX_CONNECTIONS": "3"})); err != nil || cfg.SMTP.MaxConnections != 3 {
		t.Fatalf("SMTP_MAX_CONNECTIONS=3 read as %d (%v)", cfg.SMTP.MaxConnections, err)
	}
	for _, bad := range []string{"0", "-1", "many", "1.5", "1001"} {
		if _, err := Load(env(map[string]string{"SMTP_MAX_CONNECTIONS": bad})); err == nil || !strings.Contains(err.Error(), "SMTP_MAX_CONNECTIONS") {
			t.Errorf("SMTP_MAX_CONNECTIONS=%q: got %v, want an error naming the variable", bad, err)
		}
	}
}
