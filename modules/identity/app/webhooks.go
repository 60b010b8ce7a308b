package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/acme/identity/modules/identity/domain"
)

// Webhooks keeps the webhook endpoints and their delivery attempts (the deliveries
// themselves are jobs the store's changes insert).
type Webhooks interface {
	// CreateWebhook stores w (its URL, events and secret) and returns it with its id and
	// creation time.
	CreateWebhook(ctx context.Context, w domain.Webhook) (domain.Webhook, error)
	// Webhooks returns every endpoint, oldest first, without its secret.
	Webhooks(ctx context.Context) ([]domain.Webhook, error)
	// DeleteWebhook deletes the endpoint id and its attempts; domain.ErrWebhookNotFound
	// when there is none.
	DeleteWebhook(ctx context.Context, id string) error
	// WebhookAttempts returns the endpoint's delivery attempts, newest first, at most
	// limit; domain.ErrWebhookNotFound when there is no such endpoint.
	WebhookAttempts(ctx context.Context, id string, limit int) ([]domain.WebhookAttempt, error)
}

// URLGuard checks an endpoint's URL before it is registered (scheme, and the addresses
// its host resolves to); a refusal is a *domain.ValidationError of "url".
type URLGuard interface {
	CheckURL(ctx context.Context, url string) error
}

// webhookSetup is what WithWebhooks configures.
type webhookSetup struct {
	store Webhooks
	guard URLGuard
}

// WithWebhooks has the service manage webhook endpoints in store, their URLs checked by
// guard.
func WithWebhooks(store Webhooks, guard URLGuard) Option {
	return func(s *Service) { s.webhooks = webhookSetup{store: store, guard: guard} }
}

var errNoWebhooks = errors.New("webhooks are not configured (app.WithWebhooks)")

// maxAttemptsPage is the most attempts one page of WebhookAttempts holds.
const maxAttemptsPage = 100

// CreateWebhook registers an endpoint for the event types events, with a new secret
// (returned here, and never again).
func (s *Service) CreateWebhook(ctx context.Context, url string, events []string) (w domain.Webhook, err error) {
	ctx, end := s.start(ctx, "create_webhook")
	defer func() { end("", err) }()
	if s.webhooks.store == nil {
		return domain.Webhook{}, errNoWebhooks
	}
	var verr domain.ValidationError
	if err := s.webhooks.guard.CheckURL(ctx, url); err != nil {
		var v *domain.ValidationError
		if !errors.As(err, &v) {
			return domain.Webhook{}, fmt.Errorf("check webhook url: %w", err)
		}
		verr.Fields = append(verr.Fields, v.Fields...)
	}
	if err := domain.CheckWebhookEvents(events); err != nil {
		var v *domain.ValidationError
		errors.As(err, &v)
		verr.Fields = append(verr.Fields, v.Fields...)
	}
	if err := verr.Err(); err != nil {
		return domain.Webhook{}, err
	}
	secret, err := domain.NewWebhookSecret(s.random)
	if err != nil {
		return domain.Webhook{}, err
	}
	w, err = s.webhooks.store.CreateWebhook(ctx, domain.Webhook{URL: url, Events: events, Secret: secret})
	if err != nil {
		return domain.Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	return w, nil
}

// Webhooks returns every endpoint, without its secret.
func (s *Service) Webhooks(ctx context.Context) (ws []domain.Webhook, err error) {
	ctx, end := s.start(ctx, "list_webhooks")
	defer func() { end("", err) }()
	if s.webhooks.store == nil {
		return nil, errNoWebhooks
	}
	ws, err = s.webhooks.store.Webhooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return ws, nil
}

// DeleteWebhook deletes the endpoint id: nothing more is sent to it.
func (s *Service) DeleteWebhook(ctx context.Context, id string) (err error) {
	ctx, end := s.start(ctx, "delete_webhook")
	defer func() { end("", err) }()
	if s.webhooks.store == nil {
		return errNoWebhooks
	}
	if err := s.webhooks.store.DeleteWebhook(ctx, id); err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}

// WebhookAttempts returns the endpoint's delivery attempts, newest first, at most limit
// (0: maxAttemptsPage).
func (s *Service) WebhookAttempts(ctx context.Context, id string, limit int) (as []domain.WebhookAttempt, err error) {
	ctx, end := s.start(ctx, "webhook_deliveries")
	defer func() { end("", err) }()
	if s.webhooks.store == nil {
		return nil, errNoWebhooks
	}
	if limit <= 0 || limit > maxAttemptsPage {
		limit = maxAttemptsPage
	}
	as, err = s.webhooks.store.WebhookAttempts(ctx, id, limit)
	if err != nil {
		return nil, fmt.Errorf("webhook %s deliveries: %w", id, err)
	}
	return as, nil
}
