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
		cfg.RateLimitPerIP != 20 || cfg.TrustedProxies != nil ||
		cfg.OutboxRetention != 168*time.Hour || cfg.MaintenanceInterval != time.Minute ||
		cfg.LogLevel != slog.LevelInfo || cfg.LogFormat != "json" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestValuesAreRead(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"SMTP_HOST": "mail", "SMTP_PORT": "1025", "SMTP_TLS": "none",
		"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1/32", "LOG_LEVEL": "debug", "LOG_FORMAT": "text", "RATE_LIMIT_PER_IP": "0",
		"OUTBOX_RETENTION": "24h", "MAINTENANCE_INTERVAL": "10s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Host != "mail" || cfg.SMTP.Port != 1025 || cfg.SMTP.TLS != "none" ||
		len(cfg.TrustedProxies) != 2 || cfg.TrustedProxies[1].String() != "192.168.1.1/32" ||
		cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "text" || cfg.RateLimitPerIP != 0 ||
		cfg.OutboxRetention != 24*time.Hour || cfg.MaintenanceInterval != 10*time.Second {
		t.Fatalf("config = %+v", cfg)
	}
}

func TestBadValuesFailNamingTheVariable(t *testing.T) {
	bad := map[string]string{
		"SMTP_PORT":            "70000",
		"SMTP_TLS":             "maybe",
		"TRUSTED_PROXIES":      "10.0.0.0/8,not-a-cidr",
		"LOG_LEVEL":            "loud",
		"LOG_FORMAT":           "xml",
		"RATE_LIMIT_PER_IP":    "-1",
		"MAIL_FROM":            "not an address",
		"OUTBOX_RETENTION":     "0",
		"MAINTENANCE_INTERVAL": "often",
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

func TestDatabaseSettings(t *testing.T) {
	cfg, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseMaxConns != 10 || cfg.DatabaseTimeout != 5*time.Second {
		t.Fatalf("defaults: DATABASE_MAX_CONNS %d, DATABASE_TIMEOUT %v; want 10 and 5s", cfg.DatabaseMaxConns, cfg.DatabaseTimeout)
	}
	cfg, err = Load(env(map[string]string{"DATABASE_MAX_CONNS": "4", "DATABASE_TIMEOUT": "250ms"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseMaxConns != 4 || cfg.DatabaseTimeout != 250*time.Millisecond {
		t.Fatalf("read DATABASE_MAX_CONNS %d, DATABASE_TIMEOUT %v; want 4 and 250ms", cfg.DatabaseMaxConns, cfg.DatabaseTimeout)
	}
	// Both connection string forms pgx accepts are accepted.
	for _, u := range []string{
		"postgresql://app:secret@db1:5432,db2:5433/identity?sslmode=disable",
		"host=db port=5432 user=app password='se cret' dbname=identity sslmode=disable",
	} {
		if _, err := Load(env(map[string]string{"DATABASE_URL": u})); err != nil {
			t.Errorf("DATABASE_URL=%q: %v", u, err)
		}
	}
}

// TestNonFiniteAndNegativeNumbersAreRefused: ParseFloat reads NaN and Inf, durations and
// counts can be written negative; none of them means anything here.
func TestNonFiniteAndNegativeNumbersAreRefused(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"RATE_LIMIT_PER_IP", "NaN"}, {"RATE_LIMIT_PER_IP", "nan"}, {"RATE_LIMIT_PER_IP", "Inf"},
		{"RATE_LIMIT_PER_IP", "+Inf"}, {"RATE_LIMIT_PER_IP", "-Inf"}, {"RATE_LIMIT_PER_IP", "infinity"},
		{"RATE_LIMIT_PER_IP", "1e999"}, {"RATE_LIMIT_PER_IP", "-0.5"},
		{"DATABASE_MAX_CONNS", "-1"}, {"DATABASE_MAX_CONNS", "0"}, {"DATABASE_MAX_CONNS", "NaN"},
		{"DATABASE_TIMEOUT", "-5s"}, {"DATABASE_TIMEOUT", "0s"}, {"DATABASE_TIMEOUT", "NaN"}, {"DATABASE_TIMEOUT", "Inf"},
		{"SMTP_PORT", "-587"}, {"OUTBOX_RETENTION", "-1h"},
	} {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: got %v, want an error naming %s", tc.name, tc.value, err, tc.name)
		}
	}
}

func TestBadDatabaseURLIsRefusedWithoutQuotingIt(t *testing.T) {
	for _, u := range []string{
		"postgres://app:S3cretPW@db:notaport/identity",
		"host=db password='S3cretPW",
		"host=db password=S3cretPW sslmode=bogus",
	} {
		_, err := Load(env(map[string]string{"DATABASE_URL": u}))
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("DATABASE_URL=%q: got %v, want an error naming DATABASE_URL", u, err)
			continue
		}
		if strings.Contains(err.Error(), "S3cretPW") {
			t.Errorf("DATABASE_URL=%q: the error shows the password: %v", u, err)
		}
	}
}

// TestMaskURL covers every form pgx reads a password from: the URL's user info and query
// (password, sslpassword), and key=value settings, quoted or not, with escapes and
// spaces around '='.
func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://app:S3cretPW@db:5432/identity?sslmode=disable", "postgres://app:xxxxx@db:5432/identity?sslmode=disable"},
		{"postgresql://app:S3cretPW@db/identity", "postgresql://app:xxxxx@db/identity"},
		{"postgres://app@db/identity?password=S3cretPW&sslmode=disable", "postgres://app@db/identity?password=xxxxx&sslmode=disable"},
		{"postgres://app@db/identity?sslmode=disable&pass%77ord=S3cretPW", "postgres://app@db/identity?sslmode=disable&pass%77ord=xxxxx"},
		{"postgres://app@db/identity?sslpassword=S3cretPW", "postgres://app@db/identity?sslpassword=xxxxx"},
		{"postgres://app:S3cret%40PW@db1:5432,db2:5433/identity", "postgres://app:xxxxx@db1:5432,db2:5433/identity"},
		{"postgres://app:S3c@retPW@db/identity", "postgres://app:xxxxx@db/identity"},
		{"postgres://db/identity", "postgres://db/identity"},
		{"host=db user=app password=S3cretPW dbname=identity", "host=db user=app password=xxxxx dbname=identity"},
		{"host=db password = S3cretPW dbname=identity", "host=db password = xxxxx dbname=identity"},
		{"host=db password='S3cret PW' dbname=identity", "host=db password='xxxxx' dbname=identity"},
		{`host=db password='S3cret\'PW' dbname=identity`, "host=db password='xxxxx' dbname=identity"},
		{`host=db password=S3cret\ PW dbname=identity`, "host=db password=xxxxx dbname=identity"},
		{"\thost=db\npassword=S3cretPW\tsslpassword=S3cretPW ", "\thost=db\npassword=xxxxx\tsslpassword=xxxxx "},
		// libpq and pgx skip the spaces after "=": the password here is "dbname=identity".
		{"host=db password= dbname=identity", "host=db password= xxxxx"},
		{"host=db password='' dbname=identity", "host=db password='' dbname=identity"},
		{"host=db password='S3cretPW", "(unparsable)"},
		{"S3cretPW", "(unparsable)"},
		{"postgres://app:S3cretPW@db:5432/%zz", "(unparsable)"},
		{"postgres://app@db/identity?pass%zzword=S3cretPW", "(unparsable)"},
	} {
		got := MaskURL(tc.in)
		if got != tc.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "S3cret") || strings.Contains(got, "retPW") {
			t.Errorf("MaskURL(%q) = %q shows the password", tc.in, got)
		}
	}
}

func TestLogValueMasksKeywordValueDatabaseURL(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"DATABASE_URL":  "host=db user=app password=S3cretPW dbname=identity sslmode=disable",
		"SMTP_PASSWORD": "smtp-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []func(*strings.Builder) slog.Handler{
		func(b *strings.Builder) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *strings.Builder) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b strings.Builder
		slog.New(h(&b)).Info("starting", slog.Any("config", cfg))
		if out := b.String(); strings.Contains(out, "S3cretPW") || strings.Contains(out, "smtp-secret") ||
			!strings.Contains(out, "password=xxxxx") {
			t.Errorf("logged: %s", out)
		}
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

func TestDatabaseDirectURL(t *testing.T) {
	cfg, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseDirectURL != "" || cfg.SessionURL() != cfg.DatabaseURL {
		t.Fatalf("unset DATABASE_DIRECT_URL: %q, session URL %q; want empty and DATABASE_URL", cfg.DatabaseDirectURL, cfg.SessionURL())
	}
	direct := "postgres://app:hunter2@db:5432/identity?sslmode=disable"
	cfg, err = Load(env(map[string]string{
		"DATABASE_URL":        "postgres://app:hunter2@pgbouncer:6432/identity?sslmode=disable&default_query_exec_mode=cache_describe",
		"DATABASE_DIRECT_URL": direct,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionURL() != direct {
		t.Fatalf("session URL %q, want DATABASE_DIRECT_URL %q", cfg.SessionURL(), direct)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", slog.Any("config", cfg))
	if out := b.String(); strings.Contains(out, "hunter2") || !strings.Contains(out, `database_direct_url="postgres://app:xxxxx@db:5432`) {
		t.Fatalf("direct URL not logged masked: %s", out)
	}
	_, err = Load(env(map[string]string{"DATABASE_DIRECT_URL": "postgres://app:S3cretPW@db:notaport/identity"}))
	if err == nil || !strings.Contains(err.Error(), "DATABASE_DIRECT_URL") || strings.Contains(err.Error(), "S3cretPW") {
		t.Fatalf("bad DATABASE_DIRECT_URL: got %v, want an error naming it without the password", err)
	}
}

// TestListenURL: the job system LISTENs on DATABASE_DIRECT_URL when set, else on
// DATABASE_URL unless it names an exec mode for a pooler (then it polls: "").
func TestListenURL(t *testing.T) {
	const direct = "postgres://app@db:5432/identity?sslmode=disable"
	tests := []struct {
		url, directURL, want string
	}{
		{"", "", "postgres://postgres@localhost:5432/identity?sslmode=disable"}, // the default: direct
		{direct, "", direct},
		{direct + "&default_query_exec_mode=cache_statement", "", direct + "&default_query_exec_mode=cache_statement"},
		{"postgres://app@pgbouncer:6432/identity?default_query_exec_mode=cache_describe", "", ""},
		{"host=pgbouncer port=6432 dbname=identity default_query_exec_mode='exec'", "", ""},
		{"host=pgbouncer port=6432 dbname=identity default_query_exec_mode = simple_protocol", "", ""},
		{"postgres://app@pgbouncer:6432/identity?default_query_exec_mode=cache_describe", direct, direct},
	}
	for _, tt := range tests {
		vars := map[string]string{}
		if tt.url != "" {
			vars["DATABASE_URL"] = tt.url
		}
		if tt.directURL != "" {
			vars["DATABASE_DIRECT_URL"] = tt.directURL
		}
		cfg, err := Load(env(vars))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.ListenURL(); got != tt.want {
			t.Errorf("DATABASE_URL %q, DATABASE_DIRECT_URL %q: ListenURL() = %q, want %q", tt.url, tt.directURL, got, tt.want)
		}
	}
}

// TestPlainTextAuthOnlyToLoopback: SMTP_TLS=none with SMTP_USERNAME is refused unless
// SMTP_HOST is on this machine, naming the three variables.
func TestPlainTextAuthOnlyToLoopback(t *testing.T) {
	tests := []struct {
		name, host, tls, username string
		ok                        bool
	}{
		{"localhost", "localhost", "none", "identity", true},
		{"LOCALHOST.", "LOCALHOST.", "none", "identity", true},
		{"127.0.0.1", "127.0.0.1", "none", "identity", true},
		{"127.1.2.3", "127.1.2.3", "none", "identity", true},
		{"::1", "::1", "none", "identity", true},
		{"remote name", "smtp.example.com", "none", "identity", false},
		{"remote address", "192.0.2.10", "none", "identity", false},
		{"name ending in localhost", "localhost.example.com", "none", "identity", false},
		{"ipv6 not loopback", "2001:db8::1", "none", "identity", false},
		{"remote without username", "smtp.example.com", "none", "", true},
		{"remote with starttls", "smtp.example.com", "starttls", "identity", true},
		{"remote with tls", "smtp.example.com", "tls", "identity", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(map[string]string{
				"SMTP_HOST": tt.host, "SMTP_TLS": tt.tls, "SMTP_USERNAME": tt.username, "SMTP_PASSWORD": "smtp-secret",
			}))
			if tt.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load accepted an unencrypted SMTP AUTH to a remote host")
			}
			for _, name := range []string{"SMTP_TLS", "SMTP_USERNAME", "SMTP_HOST", tt.host} {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			}
			if strings.Contains(err.Error(), "smtp-secret") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}
