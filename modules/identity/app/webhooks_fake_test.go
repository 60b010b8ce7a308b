package app

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/acme/identity/modules/identity/domain"
)

// fakeWebhooks keeps endpoints in memory (no attempts: deliveries are the real store's
// jobs).
type fakeWebhooks struct {
	mu  sync.Mutex
	all []domain.Webhook
	now time.Time
}

func (f *fakeWebhooks) CreateWebhook(_ context.Context, w domain.Webhook) (domain.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(time.Millisecond)
	w.ID, w.CreatedAt, w.Events = uuid.NewString(), f.now, slices.Clone(w.Events)
	f.all = append(f.all, w)
	return w, nil
}

func (f *fakeWebhooks) Webhooks(context.Context) ([]domain.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]domain.Webhook, len(f.all))
	for i, w := range f.all {
		w.Secret = ""
		out[i] = w
	}
	return out, nil
}

func (f *fakeWebhooks) DeleteWebhook(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.all, func(w domain.Webhook) bool { return w.ID == id })
	if i < 0 {
		return fmt.Errorf("webhook %s: %w", id, domain.ErrWebhookNotFound)
	}
	f.all = slices.Delete(f.all, i, i+1)
	return nil
}

func (f *fakeWebhooks) WebhookAttempts(_ context.Context, id string, _ int) ([]domain.WebhookAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.all, func(w domain.Webhook) bool { return w.ID == id }) {
		return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrWebhookNotFound)
	}
	return nil, nil
}

// NewFakeWebhooks is the fake of app.Webhooks, for the contract suite.
func NewFakeWebhooks() Webhooks {
	return &fakeWebhooks{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}
