package http

import (
	"context"

	"github.com/acme/identity/modules/identity/domain"
)

// noWebhooks is the webhook use cases of a test service that has none.
type noWebhooks struct{}

func (noWebhooks) CreateWebhook(context.Context, string, []string) (domain.Webhook, error) {
	return domain.Webhook{}, domain.ErrWebhookNotFound
}
func (noWebhooks) Webhooks(context.Context) ([]domain.Webhook, error) { return nil, nil }
func (noWebhooks) DeleteWebhook(context.Context, string) error        { return domain.ErrWebhookNotFound }
func (noWebhooks) WebhookAttempts(context.Context, string, int) ([]domain.WebhookAttempt, error) {
	return nil, domain.ErrWebhookNotFound
}
