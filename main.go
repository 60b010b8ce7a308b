// Command identity is the user registration service: a modular monolith serving the
// REST API of every module under modules/ and sending their emails from the outbox.
//
//	identity [serve]   serve HTTP and dispatch emails until SIGINT/SIGTERM (the default)
//	identity migrate   create the database if needed and apply pending migrations
//
// Configuration is read from the environment only; see README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/acme/identity/db"
	"github.com/acme/identity/modules/identity"
	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/httpserver"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/maintenance"
	"github.com/acme/identity/platform/module"
	"github.com/acme/identity/platform/outbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "identity:", err)
		os.Exit(1)
	}
}

const usage = `usage: identity [serve|migrate]
  serve    serve the HTTP API and send queued emails (default)
  migrate  create the database if it is missing and apply pending migrations
Configuration comes from environment variables; see README.md.`

// run is main without the process: it parses the configuration, then serves or migrates
// until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		_, err := fmt.Fprintln(stdout, usage)
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := newLogger(cfg, stdout)

	switch cmd {
	case "migrate":
		w := &lineLogger{logger: logger}
		if err := database.Migrate(ctx, cfg.DatabaseURL, db.Migrations, db.MigrationsDir, w); err != nil {
			return err
		}
		logger.InfoContext(ctx, "database is up to date", slog.String("database_url", config.MaskURL(cfg.DatabaseURL)))
		return nil
	case "serve":
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
		}
		tuneGC(cfg, getenv, logger)
		return serve(ctx, cfg, logger, ln, serveOptions{})
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// constructors lists every bounded context of the binary: adding a module is adding its
// New here.
var constructors = []module.Constructor{
	identity.New,
}

// serveOptions replace production parts in tests; zero values mean production.
type serveOptions struct {
	sender   outbox.Sender
	dispatch outbox.Options
}

// serve wires the platform and the modules and runs them until ctx ends.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, ln net.Listener, opts serveOptions) error {
	logger.InfoContext(ctx, "starting", slog.Any("config", cfg), slog.String("addr", ln.Addr().String()))
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	ob := outbox.New()
	housekeeping := maintenance.NewRunner(pool, cfg.MaintenanceInterval, logger)
	platform := module.Platform{Config: cfg, Pool: pool, Outbox: ob, Maintenance: housekeeping, Logger: logger}
	var modules []module.Module
	for _, newModule := range constructors {
		m, err := newModule(platform)
		if err != nil {
			return err
		}
		modules = append(modules, m)
	}

	sender := opts.sender
	if sender == nil {
		if sender, err = newSender(cfg, logger); err != nil {
			return err
		}
	}
	dispatcher := outbox.NewDispatcher(pool, ob, sender, opts.dispatch, logger)
	workers := []module.Worker{dispatcher.Run, housekeeping.Run}

	srv := httpserver.New(httpserver.Options{
		TrustedProxies: cfg.TrustedProxies,
		RateLimitPerIP: cfg.RateLimitPerIP,
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return err
			}
			for _, m := range modules {
				if err := m.Ready(ctx); err != nil {
					return fmt.Errorf("module %s: %w", m.Name(), err)
				}
			}
			return nil
		},
	}, logger)
	for _, m := range modules {
		m.RegisterRoutes(srv.API())
		workers = append(workers, m.Workers()...)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(workers))
	for _, w := range workers {
		go func() { errc <- w(ctx) }()
	}
	err = srv.Serve(ctx, ln)
	cancel()
	for range workers {
		err = errors.Join(err, <-errc)
	}
	logger.InfoContext(context.WithoutCancel(ctx), "stopped")
	return err
}

// newSender picks the mail transport: SMTP when SMTP_HOST is set, else the log (local
// development: the log is the mailbox).
func newSender(cfg config.Config, logger *slog.Logger) (outbox.Sender, error) {
	if cfg.SMTP.Host == "" {
		return mail.NewLogTransport(logger, cfg.MailFrom), nil
	}
	smtp, err := mail.NewSMTPTransport(cfg.SMTP, cfg.MailFrom)
	if err != nil {
		return nil, fmt.Errorf("SMTP transport (SMTP_* or MAIL_FROM): %w", err)
	}
	logger.Info("emails are sent by SMTP", slog.String("smtp_host", cfg.SMTP.Host),
		slog.Int("smtp_port", cfg.SMTP.Port), slog.String("smtp_tls", cfg.SMTP.TLS))
	return smtp, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// lineLogger turns dbmate's progress output into log lines.
type lineLogger struct {
	logger *slog.Logger
}

func (l *lineLogger) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			l.logger.Info(line, slog.String("component", "migrate"))
		}
	}
	return len(p), nil
}
