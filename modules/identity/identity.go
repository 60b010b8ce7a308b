// Package identity is the public face of the identity bounded context: registration of
// accounts by email and password, activation by an emailed 4-digit code. main builds it
// with New and wires it as a module.Module, and hands its API (Module.API: Basic
// authentication for other modules' routes, AccountFrom, a lookup by id, what to do
// inside an account's deletion) to the modules that need it. Other modules may import
// this package, never its domain, app or adapter packages.
package identity

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acme/identity/modules/identity/adapter/argon2id"
	"github.com/acme/identity/modules/identity/adapter/email"
	identityhttp "github.com/acme/identity/modules/identity/adapter/http"
	"github.com/acme/identity/modules/identity/adapter/postgres"
	"github.com/acme/identity/modules/identity/adapter/strength"
	"github.com/acme/identity/modules/identity/adapter/webhook"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/platform/admission"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/maintenance"
	"github.com/acme/identity/platform/module"
)

// PasswordMinScore is the lowest zxcvbn score (0 to 4) a new password may have: 2,
// "somewhat guessable", at least 10^6 guesses, protection from throttled online
// attacks. Online guessing is throttled (at most 100 wrong passwords per email in 7 days
// for a stranger, PASSWORD_FAILURES_BEFORE_DELAY) and a stolen database holds argon2id
// hashes (27 ms and 19 MiB each), so 10^6 guesses is 10^4 weeks online, and ~7.5 CPU-hours
// offline per account; 3 would also refuse "long enough", which the e2e tests use. See
// docs/decisions.md, "Password rules".
const PasswordMinScore = 2

// Module is the identity context, ready to be wired.
type Module struct {
	handlers *identityhttp.Handlers
	api      *API
	workers  []module.Worker
}

var (
	_ module.Module      = (*Module)(nil)
	_ module.Runner      = (*Module)(nil)
	_ module.AdminRouter = (*Module)(nil)
)

// New builds the module on the platform p with its settings (LoadSettings: ACTIVATION_*,
// PASSWORD_HASH_*, PENDING_ACCOUNT_RETENTION, ...; main reads them once, for the garbage
// collector too), registers its metrics, and adds its retention tasks (periodic jobs) to
// the platform's maintenance runner.
func New(p module.Platform, settings Settings) (*Module, error) {
	codes := settings.Codes
	notifier, err := email.NewNotifier(p.Outbox)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	store := postgres.NewStore(p.Pool, notifier)
	logger := p.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ph := settings.PasswordHash
	var (
		observeWait admission.Observer
		hashOpts    []argon2id.Option // by default no spans (argon2id's no-op tracer)
		appOpts     = []app.Option{
			app.WithSignInPolicy(settings.SignIn),
			app.WithSessions(store, settings.Sessions),
			app.WithPasswordReset(settings.Resets),
			app.WithEmailChange(settings.EmailChange),
			app.WithPasswordStrength(strength.New(PasswordMinScore)),
			app.WithNewClientNotice(settings.NotifyNewClientSignIn),
			app.WithWebhooks(store, webhook.Guard{AllowPrivate: settings.WebhookAllowPrivate}),
		}
		mx *metrics
	)
	if p.Tracer != nil {
		hashOpts = append(hashOpts, argon2id.WithTracerProvider(p.Tracer))
		appOpts = append(appOpts, app.WithTracerProvider(p.Tracer))
	}
	if p.Metrics != nil {
		if mx, err = newMetrics(p.Metrics); err != nil {
			return nil, fmt.Errorf("identity metrics: %w", err)
		}
		hashOpts = append(hashOpts, argon2id.WithObserver(mx.observeHash))
		store.ObserveEvents(mx.observeEvent)
		appOpts = append(appOpts, app.WithObserver(mx.observeUseCase))
		observeWait = mx.observeWait
	}
	gate := admission.NewGate(ph.Concurrency, ph.QueueLength, ph.QueueTimeout, observeWait)
	if mx != nil {
		if err := mx.registerSlots(p.Metrics, gate, ph.Concurrency); err != nil {
			return nil, fmt.Errorf("identity metrics: %w", err)
		}
	}
	hasher := argon2id.New(
		argon2id.Params{MemoryKiB: ph.MemoryKiB, Iterations: ph.Iterations, Parallelism: ph.Parallelism},
		gate, hashOpts...,
	)
	svc, err := app.NewService(store, hasher, codes, rand.Reader, appOpts...)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if p.Maintenance != nil {
		idle, old := postgres.PurgeSessions(settings.Sessions)
		tasks := []maintenance.Task{
			{Name: "identity.activation_ledger", Batch: postgres.PruneActivationLedger},
			{Name: "identity.client_budgets", Batch: postgres.PruneClientBudgets},
			{Name: "identity.sign_in_failures", Batch: postgres.PruneSignInFailures},
			{Name: "identity.sign_in_clients", Batch: postgres.PruneSignInClients},
			{Name: "identity.reset_codes", Batch: postgres.PurgeExpiredResetCodes},
			{Name: "identity.email_change_codes", Batch: postgres.PurgeExpiredEmailChangeCodes},
			{Name: "identity.account_events", Batch: postgres.PurgeAccountEvents(settings.AuditRetention)},
			{Name: "identity.webhook_attempts", Batch: postgres.PurgeWebhookAttempts(settings.AuditRetention)},
			{Name: "identity.idle_sessions", Batch: idle},
			{Name: "identity.old_sessions", Batch: old},
		}
		if retention := settings.PendingAccountRetention; retention > 0 {
			tasks = append(tasks, maintenance.Task{
				Name: "identity.pending_accounts", Batch: postgres.DeleteStalePendingAccounts(retention),
			})
		}
		for _, t := range tasks {
			if err := p.Maintenance.Add(t); err != nil {
				return nil, fmt.Errorf("identity: %w", err)
			}
		}
	}
	h := identityhttp.NewHandlers(svc, gate.Screen)
	m := &Module{handlers: h, api: &API{handlers: h, accounts: svc, deletions: store, subscribers: store}}
	if mx != nil {
		m.workers = append(m.workers, mx.refreshSessions(store.EstimateSessions))
	}
	if p.Jobs != nil {
		if err := startEvents(p, store, settings, mx, logger); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		if mx != nil {
			m.workers = append(m.workers, mx.refreshUndelivered(func(ctx context.Context) (time.Time, error) {
				return p.Jobs.OldestUnfinished(ctx, postgres.KindWebhook)
			}))
		}
	}
	return m, nil
}

// Queue sizes of the account events' jobs on each replica: a subscriber's handler is a
// few queries; a delivery may wait out its 10 s timeout, so a few slow endpoints must not
// hold every worker.
const (
	subscriberWorkers = 4
	webhookWorkers    = 16
)

// startEvents has every change insert its events' jobs (a subscriber's, a webhook
// delivery's) and registers their queues and workers with the job system.
func startEvents(p module.Platform, store *postgres.Store, settings Settings, mx *metrics, logger *slog.Logger) error {
	store.UseJobs(p.Jobs)
	if err := p.Jobs.AddQueue(postgres.QueueSubscriber, jobs.Queue{MaxWorkers: subscriberWorkers}); err != nil {
		return err
	}
	if err := p.Jobs.AddQueue(postgres.QueueWebhooks, jobs.Queue{MaxWorkers: webhookWorkers}); err != nil {
		return err
	}
	if err := jobs.AddWorker(p.Jobs, postgres.NewSubscriberWorker(store, logger.With(slog.String("component", "subscribers")))); err != nil {
		return err
	}
	client := webhook.NewClient(webhook.Guard{AllowPrivate: settings.WebhookAllowPrivate})
	post := func(ctx context.Context, url, secret, eventID string, body []byte) (int, error) {
		return client.Post(ctx, webhook.Message{URL: url, Secret: secret, ID: eventID, Body: body})
	}
	var observe func(string)
	if mx != nil {
		observe = mx.observeDelivery
	}
	return jobs.AddWorker(p.Jobs, postgres.NewWebhookWorker(p.Pool, post, webhook.Timeout, observe,
		logger.With(slog.String("component", "webhooks"))))
}

// API is identity's public API, for the modules that need it.
func (m *Module) API() *API { return m.api }

// Name implements module.Module.
func (m *Module) Name() string { return "identity" }

// Workers implements module.Runner: the estimate of the sessions held for the metrics,
// when they are kept.
func (m *Module) Workers() []module.Worker { return m.workers }

// RegisterRoutes implements module.Module: the /v1/users and /v1/sessions routes.
func (m *Module) RegisterRoutes(api *echo.Group) { m.handlers.Register(api) }

// RegisterAdminRoutes implements module.AdminRouter: identity's routes of the
// administration API (accounts, the audit trail, webhooks).
func (m *Module) RegisterAdminRoutes(admin *echo.Group) { m.handlers.RegisterAdmin(admin) }
