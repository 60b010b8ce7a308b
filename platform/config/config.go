// Package config reads the platform's configuration from the environment, once, at start,
// and offers modules the same reading of their own variables (ModuleEnv, Settings).
// Every variable has a default that works for local development; a value that does not
// parse stops the program with a message naming the variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Config is the platform's configuration. It is passed down by value; nothing else reads
// the environment but the modules, each its own variables through Modules.
type Config struct {
	DatabaseURL string
	// DatabaseDirectURL, when set, is a connection straight to PostgreSQL (not through a
	// transaction-mode pooler such as PgBouncer) for what needs a session of its own:
	// migrations and the outbox's LISTEN. Empty: DATABASE_URL serves for both.
	DatabaseDirectURL string
	// DatabaseMaxConns is the PostgreSQL pool size.
	DatabaseMaxConns int
	// DatabaseTimeout bounds the database work of one request, counted from its first
	// database call; past it the request answers 503.
	DatabaseTimeout time.Duration
	HTTPAddr        string
	// MetricsAddr, when set, is the only address /metrics is served on (not HTTPAddr).
	MetricsAddr string
	// AdminAddr, when set, is the only address the administration API and the jobs
	// dashboard are served on (platform/admin); empty: they are off.
	AdminAddr string

	SMTP     SMTP
	MailFrom string

	// OutboxRetention: finished outbox emails older than this are deleted.
	OutboxRetention time.Duration
	// MaintenanceInterval is how often the retention work runs.
	MaintenanceInterval time.Duration

	RateLimitPerIP float64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
	// ClientIPv6Prefix groups IPv6 addresses into one client, for every per-client limit
	// and budget.
	ClientIPv6Prefix int

	LogLevel  slog.Level
	LogFormat string

	Tracing Tracing

	// Modules is the environment without the platform's variables, from which each module
	// reads its own (ModuleEnv.Settings).
	Modules ModuleEnv
}

// Tracing says whether spans are exported, from OpenTelemetry's standard variables. The
// OpenTelemetry SDK reads the rest of them itself (endpoint, headers, timeouts, sampler,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
type Tracing struct {
	// Enabled: OTEL_TRACES_EXPORTER is otlp, or an OTLP endpoint is set
	// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and
	// OTEL_SDK_DISABLED is not true.
	Enabled bool
	// Protocol is OTLPProtocolHTTP or OTLPProtocolGRPC
	// (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL).
	Protocol string
}

// The OTLP protocols the service can export with.
const (
	OTLPProtocolHTTP = "http/protobuf"
	OTLPProtocolGRPC = "grpc"
)

// SMTP configures the mail provider; Host "" selects the log transport.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	// TLS is "none", "starttls" or "tls".
	TLS string
	// MaxConnections is how many SMTP connections this replica keeps open at most, each
	// reused for many emails (SMTP_MAX_CONNECTIONS; docs/decisions.md justifies the default).
	MaxConnections int
}

// CheckPlainTextAuth refuses AUTH over an unencrypted connection to a server that is not
// on this machine: with TLS "none" and a Username, Host must be a loopback host
// (localhost, 127.0.0.0/8 or ::1), so the password never crosses a network in clear. An
// empty Host (the log transport) opens no connection and passes.
func (s SMTP) CheckPlainTextAuth() error {
	if s.TLS != "none" || s.Username == "" || s.Host == "" || isLoopbackHost(s.Host) {
		return nil
	}
	return fmt.Errorf("SMTP_TLS=none with SMTP_USERNAME set would send the SMTP password unencrypted: "+
		"SMTP_HOST must then be a loopback host (localhost, 127.0.0.0/8 or ::1), got %q; use SMTP_TLS=starttls or tls", s.Host)
}

// isLoopbackHost reports whether host is localhost or a loopback address (127.0.0.0/8,
// ::1), without resolving a name.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DefaultSMTPMaxConnections is SMTP_MAX_CONNECTIONS when unset. An email costs four round
// trips on a reused connection, so a replica sends about N / (4 × RTT) emails a second:
// 25 connections send over 100 a second across a 50 ms round trip, above the ~70
// registrations a second a replica's password hashing allows (docs/decisions.md,
// Email delivery).
const DefaultSMTPMaxConnections = 25

// Load reads the configuration through getenv (os.Getenv in production). It reports every
// bad variable at once.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	cfg := Config{
		DatabaseURL:       p.str("DATABASE_URL", "postgres://postgres@localhost:5432/identity?sslmode=disable"),
		DatabaseDirectURL: p.str("DATABASE_DIRECT_URL", ""),
		DatabaseMaxConns:  p.intRange("DATABASE_MAX_CONNS", 10, 1, 1000),
		DatabaseTimeout:   p.duration("DATABASE_TIMEOUT", 5*time.Second),
		HTTPAddr:          p.str("HTTP_ADDR", ":8080"),
		MetricsAddr:       p.str("METRICS_ADDR", ""),
		AdminAddr:         p.str("ADMIN_ADDR", ""),
		SMTP: SMTP{
			Host:           p.str("SMTP_HOST", ""),
			Port:           p.intRange("SMTP_PORT", 587, 1, 65535),
			Username:       p.str("SMTP_USERNAME", ""),
			Password:       p.str("SMTP_PASSWORD", ""),
			TLS:            p.oneOf("SMTP_TLS", "starttls", "none", "starttls", "tls"),
			MaxConnections: p.intRange("SMTP_MAX_CONNECTIONS", DefaultSMTPMaxConnections, 1, 1000),
		},
		MailFrom:            p.str("MAIL_FROM", "Identity <no-reply@localhost>"),
		OutboxRetention:     p.duration("OUTBOX_RETENTION", 168*time.Hour),
		MaintenanceInterval: p.duration("MAINTENANCE_INTERVAL", time.Minute),
		RateLimitPerIP:      p.float("RATE_LIMIT_PER_IP", 20),
		TrustedProxies:      p.cidrs("TRUSTED_PROXIES"),
		ClientIPv6Prefix:    p.intRange("CLIENT_IPV6_PREFIX", 64, 16, 128),
		LogLevel:            p.level("LOG_LEVEL", slog.LevelInfo),
		LogFormat:           p.oneOf("LOG_FORMAT", "json", "json", "text"),
		Tracing:             p.tracing(),
		Modules:             NewModuleEnv(getenv),
	}
	for _, v := range []struct{ name, url string }{
		{"DATABASE_URL", cfg.DatabaseURL}, {"DATABASE_DIRECT_URL", cfg.DatabaseDirectURL},
	} {
		name, url := v.name, v.url
		// An empty DATABASE_DIRECT_URL is unset; ParseConfig("") would read the PG*
		// variables and ~/.pgpass for nothing.
		if url == "" {
			continue
		}
		if _, err := pgconn.ParseConfig(url); err != nil {
			// pgconn's message may quote the string, password included: say only what is wrong.
			p.fail(name, "must be a PostgreSQL connection string, postgres://… or key=value (it does not parse; details withheld as they could hold the password)")
		}
	}
	if err := cfg.SMTP.CheckPlainTextAuth(); err != nil {
		p.errs = append(p.errs, err)
	}
	if _, err := mail.ParseAddress(cfg.MailFrom); err != nil {
		p.fail("MAIL_FROM", fmt.Sprintf("must be an address such as Identity <no-reply@example.com>, got %q", cfg.MailFrom))
	}
	return cfg, errors.Join(p.errs...)
}

// SessionURL is the connection string for what needs a session of its own (migrations,
// LISTEN): DATABASE_DIRECT_URL when set, else DATABASE_URL.
func (c Config) SessionURL() string {
	if c.DatabaseDirectURL != "" {
		return c.DatabaseDirectURL
	}
	return c.DatabaseURL
}

// ListenURL is the connection string the job system works on and LISTENs on, so that a
// job runs as soon as the transaction that inserted it commits: DATABASE_DIRECT_URL when
// set; else DATABASE_URL, which is then taken to reach PostgreSQL itself (the rule that
// also has the pool prepare its statements) — unless it names a default_query_exec_mode
// other than cache_statement, the sign of a transaction-mode pooler, where LISTEN hears
// nothing: then "" (the job system polls through the main pool).
func (c Config) ListenURL() string {
	if c.DatabaseDirectURL != "" {
		return c.DatabaseDirectURL
	}
	if m := execModeParam.FindStringSubmatch(c.DatabaseURL); m != nil && m[1] != "cache_statement" {
		return ""
	}
	return c.DatabaseURL
}

// execModeParam finds pgx's default_query_exec_mode in a connection string, URL
// (?default_query_exec_mode=exec) or key=value form (default_query_exec_mode='exec').
var execModeParam = regexp.MustCompile(`default_query_exec_mode\s*=\s*'?([A-Za-z_]*)`)

// LogValue renders the configuration for the log with its secrets masked.
func (c Config) LogValue() slog.Value {
	proxies := make([]string, len(c.TrustedProxies))
	for i, n := range c.TrustedProxies {
		proxies[i] = n.String()
	}
	return slog.GroupValue(
		slog.String("database_url", MaskURL(c.DatabaseURL)),
		slog.String("database_direct_url", MaskURL(c.DatabaseDirectURL)),
		slog.Int("database_max_conns", c.DatabaseMaxConns),
		slog.Duration("database_timeout", c.DatabaseTimeout),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("admin_addr", c.AdminAddr),
		slog.String("smtp_host", c.SMTP.Host),
		slog.Int("smtp_port", c.SMTP.Port),
		slog.String("smtp_username", c.SMTP.Username),
		slog.Bool("smtp_password_set", c.SMTP.Password != ""),
		slog.String("smtp_tls", c.SMTP.TLS),
		slog.Int("smtp_max_connections", c.SMTP.MaxConnections),
		slog.String("mail_from", c.MailFrom),
		slog.Duration("outbox_retention", c.OutboxRetention),
		slog.Duration("maintenance_interval", c.MaintenanceInterval),
		slog.Float64("rate_limit_per_ip", c.RateLimitPerIP),
		slog.Int("client_ipv6_prefix", c.ClientIPv6Prefix),
		slog.String("trusted_proxies", strings.Join(proxies, ",")),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.Bool("tracing", c.Tracing.Enabled),
		slog.String("otel_protocol", c.Tracing.Protocol),
	)
}

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(name, why string) {
	p.errs = append(p.errs, fmt.Errorf("%s %s", name, why))
}

func (p *parser) str(name, def string) string {
	if v := p.getenv(name); v != "" {
		return v
	}
	return def
}

func (p *parser) intRange(name string, def, lo, hi int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		p.fail(name, fmt.Sprintf("must be a whole number from %d to %d, got %q", lo, hi, v))
		return def
	}
	return n
}

func (p *parser) float(name string, def float64) float64 {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	// ParseFloat accepts NaN and Inf, which no setting means.
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		p.fail(name, fmt.Sprintf("must be a finite number of at least 0, got %q", v))
		return def
	}
	return f
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		p.fail(name, fmt.Sprintf("must be a positive Go duration such as 60s, got %q", v))
		return def
	}
	return d
}

// durationOrZero is duration where 0 is allowed (it turns the feature off).
func (p *parser) durationOrZero(name string, def time.Duration) time.Duration {
	if v := strings.TrimSpace(p.getenv(name)); v == "0" {
		return 0
	}
	return p.duration(name, def)
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	p.fail(name, fmt.Sprintf("must be one of %s, got %q", strings.Join(allowed, ", "), v))
	return def
}

func (p *parser) level(name string, def slog.Level) slog.Level {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, fmt.Sprintf("must be debug, info, warn or error, got %q", v))
		return def
	}
	return l
}

func (p *parser) cidrs(name string) []*net.IPNet {
	v := p.getenv(name)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var nets []*net.IPNet
	for _, part := range strings.Split(v, ",") {
		_, n, err := net.ParseCIDR(strings.TrimSpace(part))
		if err != nil {
			p.fail(name, fmt.Sprintf("must be comma-separated CIDRs, got %q", part))
			continue
		}
		nets = append(nets, n)
	}
	return nets
}

// boolean returns name's value, true or false (as strconv.ParseBool reads them), or def
// when unset.
func (p *parser) boolean(name string, def bool) bool {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("must be true or false, got %q", v))
		return def
	}
	return b
}

// tracing reads OpenTelemetry's standard variables, as far as the service must know them.
func (p *parser) tracing() Tracing {
	disabled := p.boolean("OTEL_SDK_DISABLED", false)
	exporter := p.oneOf("OTEL_TRACES_EXPORTER", "", "otlp", "none")
	endpoint := false
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		v := strings.TrimSpace(p.getenv(name))
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
			p.fail(name, fmt.Sprintf("must be a URL such as http://collector:4318, got %q", v))
		}
		endpoint = true
	}
	protocol := p.oneOf("OTEL_EXPORTER_OTLP_PROTOCOL", OTLPProtocolHTTP, OTLPProtocolHTTP, OTLPProtocolGRPC)
	if p.getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") != "" {
		protocol = p.oneOf("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol, OTLPProtocolHTTP, OTLPProtocolGRPC)
	}
	on := !disabled && exporter != "none" && (exporter == "otlp" || endpoint)
	return Tracing{Enabled: on, Protocol: protocol}
}
