package config

import (
	"log/slog"
	"runtime"
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
		cfg.ActivationGuessesPerDay != 20 || cfg.ActivationCodesPerDay != 10 ||
		cfg.PendingAccountRetention != 168*time.Hour || cfg.OutboxRetention != 168*time.Hour || cfg.MaintenanceInterval != time.Minute ||
		cfg.PasswordHash != (PasswordHash{MemoryKiB: 19456, Iterations: 2, Parallelism: 1,
			Concurrency: runtime.GOMAXPROCS(0), QueueTimeout: time.Second}) ||
		cfg.LogLevel != slog.LevelInfo || cfg.LogFormat != "json" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestValuesAreRead(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"SMTP_HOST": "mail", "SMTP_PORT": "1025", "SMTP_TLS": "none", "ACTIVATION_CODE_TTL": "90s",
		"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1/32", "LOG_LEVEL": "debug", "LOG_FORMAT": "text", "RATE_LIMIT_PER_IP": "0",
		"ACTIVATION_GUESSES_PER_DAY": "3", "ACTIVATION_CODES_PER_DAY": "4",
		"PASSWORD_HASH_CONCURRENCY": "7", "PASSWORD_HASH_QUEUE_TIMEOUT": "250ms",
		"PENDING_ACCOUNT_RETENTION": "0", "OUTBOX_RETENTION": "24h", "MAINTENANCE_INTERVAL": "10s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Host != "mail" || cfg.SMTP.Port != 1025 || cfg.SMTP.TLS != "none" || cfg.ActivationCodeTTL != 90*time.Second ||
		len(cfg.TrustedProxies) != 2 || cfg.TrustedProxies[1].String() != "192.168.1.1/32" ||
		cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "text" || cfg.RateLimitPerIP != 0 ||
		cfg.ActivationGuessesPerDay != 3 || cfg.ActivationCodesPerDay != 4 ||
		cfg.PasswordHash.Concurrency != 7 || cfg.PasswordHash.QueueTimeout != 250*time.Millisecond ||
		cfg.PendingAccountRetention != 0 || cfg.OutboxRetention != 24*time.Hour || cfg.MaintenanceInterval != 10*time.Second {
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
		"ACTIVATION_GUESSES_PER_DAY":   "0",
		"ACTIVATION_CODES_PER_DAY":     "many",
		"PASSWORD_HASH_CONCURRENCY":    "0",
		"PASSWORD_HASH_QUEUE_TIMEOUT":  "1",
		"PENDING_ACCOUNT_RETENTION":    "-1h",
		"OUTBOX_RETENTION":             "0",
		"MAINTENANCE_INTERVAL":         "often",
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
