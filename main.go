// Command identity is the user registration service: a modular monolith serving the
// REST API of every module under modules/ and running their jobs (the emails of the
// outbox, the retention work) on the platform's job system.
//
//	identity [serve]   serve HTTP and run the jobs until SIGINT/SIGTERM (the default)
//	identity migrate   create the database if needed and apply pending migrations
//	identity admin-key create --name NAME | list | revoke NAME
//	                   manage the keys of the administration API (ADMIN_ADDR)
//
// Configuration is read from the environment only; see README.md.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/api"
	"github.com/acme/identity/db"
	"github.com/acme/identity/modules/identity"
	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/httpserver"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/maintenance"
	"github.com/acme/identity/platform/metrics"
	"github.com/acme/identity/platform/module"
	"github.com/acme/identity/platform/outbox"
	"github.com/acme/identity/platform/tracing"
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

const usage = `usage: identity [serve|migrate|admin-key]
  serve    serve the HTTP API and send queued emails (default)
  migrate  create the database if it is missing and apply pending migrations
  admin-key create --name NAME   make a key of the administration API; it is printed once
  admin-key list                 list the keys (names and times, never a key)
  admin-key revoke NAME          revoke a key at once, on every replica
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
		// DATABASE_DIRECT_URL when set: past any pooler (Migrate works through one too).
		if err := database.Migrate(ctx, cfg.SessionURL(), db.Migrations, db.MigrationsDir, w); err != nil {
			return err
		}
		logger.InfoContext(ctx, "database is up to date", slog.String("database_url", config.MaskURL(cfg.SessionURL())))
		return nil
	case "serve":
		listen := func() (net.Listener, error) {
			ln, err := net.Listen("tcp", cfg.HTTPAddr)
			if err != nil {
				return nil, fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
			}
			return ln, nil
		}
		settings, err := loadModuleSettings(cfg.Modules)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		tuneGC(settings.identity.PasswordHash, getenv, logger)
		return serve(ctx, cfg, settings, logger, listen, serveOptions{})
	case "admin-key":
		return adminKey(ctx, cfg, args[1:], stdout)
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// moduleSettings are the variables of the modules that main reads itself, once: identity's
// (its PASSWORD_HASH_* size the garbage collector too, gc.go). Any other module reads its
// own in its New.
type moduleSettings struct {
	identity identity.Settings
}

func loadModuleSettings(env config.ModuleEnv) (moduleSettings, error) {
	id, err := identity.LoadSettings(env)
	if err != nil {
		return moduleSettings{}, err
	}
	return moduleSettings{identity: id}, nil
}

// newModules builds every bounded context of the binary, in dependency order: a module
// gets the platform and the public API of the modules it needs (typed by the interface
// it declares). Adding a module is adding its New here; `make module` writes that line
// above the marker.
func newModules(p module.Platform, s moduleSettings) ([]module.Module, error) {
	identityModule, err := identity.New(p, s.identity)
	if err != nil {
		return nil, err
	}
	modules := []module.Module{identityModule}
	// make module: new modules above this line.
	return modules, nil
}

// serveOptions replace production parts in tests; zero values mean production.
type serveOptions struct {
	sender   outbox.Sender
	dispatch outbox.Options
	// jobs tunes the job system (its DirectURL, Timeout and Tracer come from the
	// configuration).
	jobs jobs.Options
	// tracer replaces the tracing of the OTEL_* variables (an in-memory exporter).
	tracer trace.TracerProvider
	// backlogEvery replaces metrics.DefaultBacklogRefresh.
	backlogEvery time.Duration
	// metricsAddr, when set, is told the address /metrics listens on (METRICS_ADDR).
	metricsAddr func(string)
	// server, when set, is given the HTTP server once every route is mounted.
	server func(*httpserver.Server)
	// adminAddr, when set, is told the address the administration API listens on
	// (ADMIN_ADDR).
	adminAddr func(string)
	// adminServer, when set, is given the administration server once every route is
	// mounted.
	adminServer func(*httpserver.Server)
}

// serve wires the platform and the modules and runs them until ctx ends. It listens once
// the modules are built: a module's bad variable stops the program before it serves.
func serve(ctx context.Context, cfg config.Config, settings moduleSettings, logger *slog.Logger, listen func() (net.Listener, error), opts serveOptions) error {
	logger.InfoContext(ctx, "starting", slog.Any("config", cfg))
	tr, err := tracing.New(ctx, cfg.Tracing)
	if err != nil {
		return err
	}
	if opts.tracer != nil {
		tr = tracing.FromProvider(opts.tracer)
	}
	defer func() {
		// After the workers stopped: the spans of the last emails are exported too.
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(shutdownCtx); err != nil {
			logger.WarnContext(shutdownCtx, "tracing", slog.Any("error", err))
		}
	}()
	var (
		// A direct URL beside DATABASE_URL says that DATABASE_URL goes through a pooler:
		// then no named prepared statements (docs/decisions.md).
		dbOpts = database.Options{MaxConns: cfg.DatabaseMaxConns, Timeout: cfg.DatabaseTimeout,
			BehindPooler: cfg.DatabaseDirectURL != ""}
		observers []echo.MiddlewareFunc
		tracer    trace.TracerProvider // nil: tracing off, modules make no spans
	)
	if tr.Enabled() {
		dbOpts.QueryTracer = tr.QueryTracer()
		observers = append(observers, tr.Middleware())
		tracer = tr.Provider()
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL, dbOpts)
	if err != nil {
		return err
	}
	// The shutdown clock starts with the signal: everything below is bounded so the
	// process exits within the contract's 10 s (see stopDeadline).
	var stopping atomic.Pointer[time.Time]
	context.AfterFunc(ctx, func() { now := time.Now(); stopping.Store(&now) })
	defer func() {
		if !database.Close(pool, min(poolCloseGrace, stopDeadline(&stopping, poolCloseBy))) {
			// pgx ends an interrupted connection with a cancel request to the server,
			// which a lost database never answers: pgxpool's Close would wait for it.
			st := pool.Stat()
			logger.Error("shutdown: database connections still closing; abandoned",
				slog.Int("acquired", int(st.AcquiredConns())), slog.Int("idle", int(st.IdleConns())))
		}
	}()

	mx := metrics.New(logger)
	mx.Pool(pool)
	// The administration listener is traced alike, and measured in series of its own.
	adminObservers := append(slices.Clone(observers), mx.AdminMiddleware())
	observers = append(observers, mx.Middleware())

	sender := opts.sender
	if sender == nil {
		if sender, err = newSender(cfg, logger); err != nil {
			return err
		}
	}
	if c, ok := sender.(io.Closer); ok {
		// The SMTP pool says QUIT on its open connections once the job system has stopped
		// (1 s at most).
		defer func() { _ = c.Close() }()
	}
	sender = mx.Sender(sender)
	if tr.Enabled() {
		sender = tr.Sender(sender)
	}
	// One job system per replica (River): it works on a small pool of its own straight to
	// PostgreSQL and LISTENs there (DATABASE_DIRECT_URL, else DATABASE_URL when it reaches
	// PostgreSQL itself: config.ListenURL), and polls through the main pool behind a pooler
	// with no direct URL; every insert uses the transaction of the change that causes it.
	jobOpts := opts.jobs
	jobOpts.DirectURL, jobOpts.Timeout, jobOpts.Tracer = cfg.ListenURL(), cfg.DatabaseTimeout, tracer
	js, err := jobs.New(ctx, pool, jobOpts, logger)
	if err != nil {
		return err
	}
	defer js.Close() // after its Run, among the workers, has returned
	// The outbox owns its defaults (one send per SMTP connection among them); main gives
	// it what the configuration says.
	dispatch := opts.dispatch
	dispatch.QueryTimeout = cmp.Or(dispatch.QueryTimeout, cfg.DatabaseTimeout)
	ob, err := outbox.New(js, sender, dispatch, logger)
	if err != nil {
		return err
	}
	housekeeping, err := maintenance.NewRunner(js, cfg.MaintenanceInterval, logger)
	if err != nil {
		return err
	}
	if err := housekeeping.Add(maintenance.Task{Name: "outbox.finished_emails", Batch: outbox.DeleteFinishedEmails(cfg.OutboxRetention)}); err != nil {
		return err
	}
	mx.Maintenance(housekeeping.Removed)
	platform := module.Platform{Env: cfg.Modules, Pool: pool, Jobs: js, Outbox: ob, Maintenance: housekeeping,
		Metrics: mx.Registerer(), Tracer: tracer, Logger: logger}
	modules, err := newModules(platform, settings)
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("listen on METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		logger.InfoContext(ctx, "serving /metrics", slog.String("metrics_addr", metricsLn.Addr().String()))
		defer func() { _ = metricsLn.Close() }() // closed already once served
		if opts.metricsAddr != nil {
			opts.metricsAddr(metricsLn.Addr().String())
		}
	}
	var adminLn net.Listener
	if cfg.AdminAddr != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("listen on ADMIN_ADDR %s: %w", cfg.AdminAddr, err)
		}
		logger.InfoContext(ctx, "serving the administration API", slog.String("admin_addr", adminLn.Addr().String()))
		defer func() { _ = adminLn.Close() }() // closed already once served
		if opts.adminAddr != nil {
			opts.adminAddr(adminLn.Addr().String())
		}
	}
	ln, err := listen()
	if err != nil {
		return err
	}
	logger.InfoContext(ctx, "listening", slog.String("addr", ln.Addr().String()))

	backlog := mx.Outbox(metrics.OutboxSource{Queued: ob.Queued, Stats: ob.Stats,
		Backlog: ob.Backlog, RefreshEvery: opts.backlogEvery})
	jobCounts := mx.Jobs(metrics.JobsSource{Counts: js.Counts, Worked: js.Worked, RefreshEvery: opts.backlogEvery})
	workers := []module.Worker{js.Run, backlog, jobCounts}
	metricsHandler := mx.Handler()
	if metricsLn != nil {
		workers = append(workers, func(ctx context.Context) error { return mx.Serve(ctx, metricsLn) })
		metricsHandler = nil // on METRICS_ADDR only
	}

	srv := httpserver.New(httpserver.Options{
		Observers:        observers,
		OpenAPI:          api.OpenAPI,
		Metrics:          metricsHandler,
		TrustedProxies:   cfg.TrustedProxies,
		RateLimitPerIP:   cfg.RateLimitPerIP,
		ClientIPv6Prefix: cfg.ClientIPv6Prefix,
		DatabaseTimeout:  cfg.DatabaseTimeout,
		Ready:            pool.Ping,
	}, logger)
	for _, m := range modules {
		m.RegisterRoutes(srv.API())
		if r, ok := m.(module.Runner); ok {
			workers = append(workers, r.Workers()...)
		}
	}
	if opts.server != nil {
		opts.server(srv)
	}
	if adminLn != nil {
		adminSrv, err := newAdminServer(ctx, cfg, js, pool, modules, adminObservers, logger)
		if err != nil {
			return err
		}
		if opts.adminServer != nil {
			opts.adminServer(adminSrv)
		}
		// It drains with the main server, within the same shutdown schedule.
		workers = append(workers, func(ctx context.Context) error { return adminSrv.Serve(ctx, adminLn) })
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(workers))
	for _, w := range workers {
		go func() { errc <- w(ctx) }()
	}
	err = srv.Serve(ctx, ln)
	cancel()
	waitWorkers := time.NewTimer(stopDeadline(&stopping, workersStopBy))
	defer waitWorkers.Stop()
	for stopped := 0; stopped < len(workers); stopped++ {
		select {
		case werr := <-errc:
			err = errors.Join(err, werr)
			continue
		case <-waitWorkers.C:
			logger.Error("shutdown: background workers still running; abandoned", slog.Int("workers", len(workers)-stopped))
		}
		break
	}
	logger.InfoContext(context.WithoutCancel(ctx), "stopped")
	return err
}

// The shutdown schedule, from the signal: the HTTP server drains and cuts within
// httpserver.DrainTimeout + httpserver.CutGrace (7 s), the job system lets the jobs under
// way finish within its ShutdownGrace, cancels the others (an unsent email goes back to
// its queue) and abandons what ignores that after AbandonAfter (5 s + 2 s), workers are
// waited for until workersStopBy, and the pool gets poolCloseGrace to close, never past
// poolCloseBy: half a second of the contract's 10 s is left to spare.
const (
	workersStopBy  = 8500 * time.Millisecond
	poolCloseBy    = 9500 * time.Millisecond
	poolCloseGrace = time.Second
)

// stopDeadline is how long is left until at after the signal (stopping holds its time),
// at least a moment; with no signal (serving failed), at.
func stopDeadline(stopping *atomic.Pointer[time.Time], at time.Duration) time.Duration {
	start := stopping.Load()
	if start == nil {
		return at
	}
	return max(time.Until(start.Add(at)), 10*time.Millisecond)
}

// newSender picks the mail transport: SMTP when SMTP_HOST is set, else the log (local
// development: the log is the mailbox).
func newSender(cfg config.Config, logger *slog.Logger) (outbox.Sender, error) {
	if cfg.SMTP.Host == "" {
		return mail.NewLogTransport(logger, cfg.MailFrom), nil
	}
	smtp, err := mail.NewSMTPTransport(cfg.SMTP, cfg.MailFrom, logger)
	if err != nil {
		return nil, fmt.Errorf("SMTP transport (SMTP_* or MAIL_FROM): %w", err)
	}
	logger.Info("emails are sent by SMTP", slog.String("smtp_host", cfg.SMTP.Host),
		slog.Int("smtp_port", cfg.SMTP.Port), slog.String("smtp_tls", cfg.SMTP.TLS),
		slog.Int("smtp_max_connections", smtp.MaxConcurrent()))
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
