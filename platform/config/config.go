// Package config reads the service's configuration from the environment, once, at start.
// Every variable has a default that works for local development; a value that does not
// parse stops the program with a message naming the variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration. It is passed down by value; nothing else reads the
// environment.
type Config struct {
	DatabaseURL string
	HTTPAddr    string

	SMTP     SMTP
	MailFrom string

	ActivationCodeTTL            time.Duration
	ActivationCodeMaxAttempts    int
	ActivationCodeResendInterval time.Duration

	RateLimitPerIP float64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet

	PasswordHash PasswordHash

	LogLevel  slog.Level
	LogFormat string
}

// SMTP configures the mail provider; Host "" selects the log transport.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	// TLS is "none", "starttls" or "tls".
	TLS string
	// MaxConnections is how many SMTP connections this replica keeps open at most, each
	// reused for many emails (SMTP_MAX_CONNECTIONS; README.md justifies the default).
	MaxConnections int
}

// DefaultSMTPMaxConnections is SMTP_MAX_CONNECTIONS when unset. An email costs four round
// trips on a reused connection, so a replica sends about N / (4 × RTT) emails a second:
// 25 connections send over 100 a second across a 50 ms round trip, above the ~70
// registrations a second a replica's password hashing allows (README.md, Choices).
const DefaultSMTPMaxConnections = 25

// PasswordHash holds the argon2id parameters.
type PasswordHash struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// Load reads the configuration through getenv (os.Getenv in production). It reports every
// bad variable at once.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	cfg := Config{
		DatabaseURL: p.str("DATABASE_URL", "postgres://postgres@localhost:5432/identity?sslmode=disable"),
		HTTPAddr:    p.str("HTTP_ADDR", ":8080"),
		SMTP: SMTP{
			Host:           p.str("SMTP_HOST", ""),
			Port:           p.intRange("SMTP_PORT", 587, 1, 65535),
			Username:       p.str("SMTP_USERNAME", ""),
			Password:       p.str("SMTP_PASSWORD", ""),
			TLS:            p.oneOf("SMTP_TLS", "starttls", "none", "starttls", "tls"),
			MaxConnections: p.intRange("SMTP_MAX_CONNECTIONS", DefaultSMTPMaxConnections, 1, 1000),
		},
		MailFrom:                     p.str("MAIL_FROM", "Identity <no-reply@localhost>"),
		ActivationCodeTTL:            p.duration("ACTIVATION_CODE_TTL", 60*time.Second),
		ActivationCodeMaxAttempts:    p.intRange("ACTIVATION_CODE_MAX_ATTEMPTS", 5, 1, 1000),
		ActivationCodeResendInterval: p.duration("ACTIVATION_CODE_RESEND_INTERVAL", 30*time.Second),
		RateLimitPerIP:               p.float("RATE_LIMIT_PER_IP", 20),
		TrustedProxies:               p.cidrs("TRUSTED_PROXIES"),
		PasswordHash: PasswordHash{
			MemoryKiB:   uint32(p.intRange("PASSWORD_HASH_MEMORY_KIB", 19456, 8, 4<<20)), //nolint:gosec // intRange bounds it
			Iterations:  uint32(p.intRange("PASSWORD_HASH_ITERATIONS", 2, 1, 100)),       //nolint:gosec // intRange bounds it
			Parallelism: uint8(p.intRange("PASSWORD_HASH_PARALLELISM", 1, 1, 255)),       //nolint:gosec // intRange bounds it
		},
		LogLevel:  p.level("LOG_LEVEL", slog.LevelInfo),
		LogFormat: p.oneOf("LOG_FORMAT", "json", "json", "text"),
	}
	if _, err := url.Parse(cfg.DatabaseURL); err != nil {
		p.fail("DATABASE_URL", "is not a URL")
	}
	if _, err := mail.ParseAddress(cfg.MailFrom); err != nil {
		p.fail("MAIL_FROM", fmt.Sprintf("must be an address such as Identity <no-reply@example.com>, got %q", cfg.MailFrom))
	}
	if cfg.PasswordHash.MemoryKiB < 8*uint32(cfg.PasswordHash.Parallelism) {
		p.fail("PASSWORD_HASH_MEMORY_KIB", "must be at least 8 KiB per unit of PASSWORD_HASH_PARALLELISM")
	}
	return cfg, errors.Join(p.errs...)
}

// LogValue renders the configuration for the log with its secrets masked.
func (c Config) LogValue() slog.Value {
	proxies := make([]string, len(c.TrustedProxies))
	for i, n := range c.TrustedProxies {
		proxies[i] = n.String()
	}
	return slog.GroupValue(
		slog.String("database_url", MaskURL(c.DatabaseURL)),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("smtp_host", c.SMTP.Host),
		slog.Int("smtp_port", c.SMTP.Port),
		slog.String("smtp_username", c.SMTP.Username),
		slog.Bool("smtp_password_set", c.SMTP.Password != ""),
		slog.String("smtp_tls", c.SMTP.TLS),
		slog.Int("smtp_max_connections", c.SMTP.MaxConnections),
		slog.String("mail_from", c.MailFrom),
		slog.Duration("activation_code_ttl", c.ActivationCodeTTL),
		slog.Int("activation_code_max_attempts", c.ActivationCodeMaxAttempts),
		slog.Duration("activation_code_resend_interval", c.ActivationCodeResendInterval),
		slog.Float64("rate_limit_per_ip", c.RateLimitPerIP),
		slog.String("trusted_proxies", strings.Join(proxies, ",")),
		slog.Any("password_hash_memory_kib", c.PasswordHash.MemoryKiB),
		slog.Any("password_hash_iterations", c.PasswordHash.Iterations),
		slog.Any("password_hash_parallelism", c.PasswordHash.Parallelism),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
	)
}

// MaskURL hides the password of a connection URL.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	if _, set := u.User.Password(); set {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
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
	if err != nil || f < 0 {
		p.fail(name, fmt.Sprintf("must be a number of at least 0, got %q", v))
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
