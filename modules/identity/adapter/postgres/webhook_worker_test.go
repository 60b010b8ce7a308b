package postgres_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/acme/identity/modules/identity/adapter/postgres"
)

// TestWebhookWorker: a delivery whose endpoint was disabled (a 410) or deleted since its
// job was queued, or whose event is gone, ends without sending; a failed attempt is
// recorded and returned for a retry, without the endpoint's URL, and the last one is
// counted given up.
func TestWebhookWorker(t *testing.T) {
	ctx := context.Background()
	_, pool := newStore(t)
	var (
		mu       sync.Mutex
		posts    int
		outcomes []string
		answer   = 500
	)
	post := func(context.Context, string, string, string, []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		posts++
		return answer, nil
	}
	observe := func(o string) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, o)
	}
	w := postgres.NewWebhookWorker(pool, post, time.Second, observe, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var live, disabled, event string
	if err := pool.QueryRow(ctx, `INSERT INTO identity.webhook_endpoints (url, events, secret)
		VALUES ('https://crm.example.com/hook?token=s3cret', '{account.registered}', 'whsec_AAAA') RETURNING id::text`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO identity.webhook_endpoints (url, events, secret, disabled_at, disabled_reason)
		VALUES ('https://gone.example.com/', '{account.registered}', 'whsec_BBBB', now(), 'answered 410 Gone') RETURNING id::text`).Scan(&disabled); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO identity.account_events (account_id, type, occurred_at)
		VALUES (gen_random_uuid(), 'account.registered', now()) RETURNING id::text`).Scan(&event); err != nil {
		t.Fatal(err)
	}
	job := func(endpoint, event string, attempt int) *river.Job[postgres.WebhookArgs] {
		return &river.Job[postgres.WebhookArgs]{
			JobRow: &rivertype.JobRow{ID: 1, Attempt: attempt, MaxAttempts: postgres.WebhookMaxAttempts},
			Args:   postgres.WebhookArgs{EndpointID: endpoint, EventID: event},
		}
	}

	for name, j := range map[string]*river.Job[postgres.WebhookArgs]{
		"a disabled endpoint": job(disabled, event, 1),
		"a deleted endpoint":  job("00000000-0000-0000-0000-000000000000", event, 1),
		"an event gone":       job(live, "00000000-0000-0000-0000-000000000000", 1),
	} {
		if err := w.Work(ctx, j); err != nil {
			t.Errorf("%s: %v, want the job to end", name, err)
		}
	}
	if posts != 0 || count(t, pool, `SELECT count(*) FROM identity.webhook_attempts`) != 0 {
		t.Fatalf("%d posts and some attempts for deliveries that must end unsent", posts)
	}

	err := w.Work(ctx, job(live, event, 1))
	if err == nil || strings.Contains(err.Error(), "s3cret") || errors.Is(err, &river.JobCancelError{}) {
		t.Fatalf("a 500: %v; want an error to retry, without the URL", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM identity.webhook_attempts WHERE endpoint_id = $1 AND status = 500
		AND error = 'answered 500'`, live); n != 1 {
		t.Fatalf("%d attempts recorded with the 500, want 1", n)
	}
	if err := w.Work(ctx, job(live, event, postgres.WebhookMaxAttempts)); err == nil {
		t.Fatal("the last attempt's 500 ended the job without an error")
	}
	want := []string{postgres.DeliverySkipped, postgres.DeliverySkipped, postgres.DeliverySkipped,
		postgres.DeliveryFailed, postgres.DeliveryGaveUp}
	if strings.Join(outcomes, ",") != strings.Join(want, ",") {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}
}
