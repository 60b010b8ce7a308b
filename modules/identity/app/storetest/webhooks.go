package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
)

// RunWebhooks is the contract of app.Webhooks, run against every implementation: the
// endpoints are created with an id and a creation time, listed oldest first without their
// secret, deleted once (an unknown or malformed id is domain.ErrWebhookNotFound, for the
// attempts too), and a new endpoint has no attempt.
func RunWebhooks(t *testing.T, newWebhooks func(t *testing.T) app.Webhooks) {
	ctx := context.Background()
	t.Run("create, list without the secret, attempts, delete once", func(t *testing.T) {
		ws := newWebhooks(t)
		first, err := ws.CreateWebhook(ctx, domain.Webhook{URL: "https://a.example.com/hook",
			Events: []string{domain.EventActivated, domain.EventDeleted}, Secret: "whsec_AAAA"})
		if err != nil {
			t.Fatal(err)
		}
		if first.ID == "" || first.CreatedAt.IsZero() || first.Secret != "whsec_AAAA" {
			t.Fatalf("created %+v: want an id, a creation time and the secret back", first)
		}
		second, err := ws.CreateWebhook(ctx, domain.Webhook{URL: "https://b.example.com/hook",
			Events: []string{domain.EventSignedIn}, Secret: "whsec_BBBB"})
		if err != nil {
			t.Fatal(err)
		}
		list, err := ws.Webhooks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != first.ID || list[1].ID != second.ID {
			t.Fatalf("listed %+v, want the two endpoints oldest first", list)
		}
		for _, w := range list {
			if w.Secret != "" || w.DisabledAt != nil {
				t.Errorf("listed %+v: want no secret and live", w)
			}
		}
		if !slices.Equal(list[0].Events, first.Events) || list[0].URL != first.URL {
			t.Errorf("listed %+v, want %+v", list[0], first)
		}
		attempts, err := ws.WebhookAttempts(ctx, first.ID, 10)
		if err != nil || len(attempts) != 0 {
			t.Errorf("attempts of a new endpoint: %v, %v; want none", attempts, err)
		}
		if err := ws.DeleteWebhook(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{first.ID, "not-an-id", "00000000-0000-0000-0000-000000000000"} {
			if err := ws.DeleteWebhook(ctx, id); !errors.Is(err, domain.ErrWebhookNotFound) {
				t.Errorf("delete %q: %v, want ErrWebhookNotFound", id, err)
			}
			if _, err := ws.WebhookAttempts(ctx, id, 10); !errors.Is(err, domain.ErrWebhookNotFound) {
				t.Errorf("attempts of %q: %v, want ErrWebhookNotFound", id, err)
			}
		}
		if list, err := ws.Webhooks(ctx); err != nil || len(list) != 1 || list[0].ID != second.ID {
			t.Errorf("after the deletion: %+v, %v; want the second alone", list, err)
		}
	})
}
