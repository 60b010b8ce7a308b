package identity_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/modules/identity"
	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/httpserver"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/module"
	"github.com/acme/identity/platform/outbox/outboxtest"
	"github.com/acme/identity/platform/poll"
)

// newModuleWithJobs builds identity on pool with a job system of its own (not running
// yet: runJobs starts it once the subscribers are in), as main would.
func newModuleWithJobs(t *testing.T, pool *pgxpool.Pool) (*identity.Module, *jobs.Jobs) {
	t.Helper()
	env := map[string]string{"PASSWORD_HASH_MEMORY_KIB": "1024", "PASSWORD_HASH_ITERATIONS": "1"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	settings, err := identity.LoadSettings(cfg.Modules)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	js, err := jobs.New(context.Background(), pool, jobs.Options{PollInterval: 50 * time.Millisecond,
		ShutdownGrace: time.Second, AbandonAfter: 500 * time.Millisecond}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(js.Close)
	m, err := identity.New(module.Platform{Env: cfg.Modules, Pool: pool, Jobs: js, Outbox: outboxtest.New(t, pool), Logger: logger}, settings)
	if err != nil {
		t.Fatal(err)
	}
	return m, js
}

// runJobs runs js until the test ends.
func runJobs(t *testing.T, js *jobs.Jobs) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- js.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("job system: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the job system did not stop within 10 s")
		}
	})
}

// TestSubscribers: a subscriber gets each event of its types in a job of its own, in
// the transaction that completes the job: one that fails at first gets the event once in
// its table when it succeeds (its failed attempt's write rolled back), while another
// subscriber of the same event got it already; a change that rolls back (a deletion
// whose hook fails) leaves no job; a deleted account's event reaches its subscriber
// without the address.
func TestSubscribers(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	if _, err := pool.Exec(ctx, `CREATE SCHEMA probe;
		CREATE TABLE probe.a (event_id uuid NOT NULL, type text NOT NULL, account_id uuid NOT NULL, email text);
		CREATE TABLE probe.b (event_id uuid NOT NULL, type text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	m, js := newModuleWithJobs(t, pool)
	var (
		aHealthy   atomic.Bool // a fails until this is set
		aFailures  atomic.Int64
		hookFails  atomic.Bool
		mu         sync.Mutex
		registered identity.Event
	)
	hookFails.Store(true)
	err := m.API().Subscribe("test.a", []string{identity.EventRegistered, identity.EventDeleted},
		func(ctx context.Context, tx pgx.Tx, e identity.Event) error {
			email, _ := e.Data["email"].(string)
			if _, err := tx.Exec(ctx, `INSERT INTO probe.a VALUES ($1, $2, $3, NULLIF($4, ''))`, e.ID, e.Type, e.AccountID, email); err != nil {
				return err
			}
			if !aHealthy.Load() {
				aFailures.Add(1)
				return errors.New("a is down") // its write above rolls back
			}
			if e.Type == identity.EventRegistered {
				mu.Lock()
				registered = e
				mu.Unlock()
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.API().Subscribe("test.b", []string{identity.EventRegistered},
		func(ctx context.Context, tx pgx.Tx, e identity.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO probe.b VALUES ($1, $2)`, e.ID, e.Type)
			return err
		}); err != nil {
		t.Fatal(err)
	}
	if err := m.API().Subscribe("test.b", []string{identity.EventActivated}, nil); err == nil {
		t.Error("a second subscriber named test.b was accepted")
	}
	if err := m.API().Subscribe("test.c", []string{"account.exploded"},
		func(context.Context, pgx.Tx, identity.Event) error { return nil }); err == nil {
		t.Error("a subscription to an unknown type was accepted")
	}
	m.API().OnAccountDeletion(func(context.Context, pgx.Tx, string) error {
		if hookFails.Load() {
			return errors.New("the hook fails: the deletion rolls back")
		}
		return nil
	})
	runJobs(t, js)
	srv := httpserver.New(httpserver.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.RegisterRoutes(srv.API())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	const email, password = "subscriber@example.com", "correct horse"
	res, err := http.Post(ts.URL+"/v1/users", "application/json",
		strings.NewReader(`{"email": "`+email+`", "password": "`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d", res.StatusCode)
	}
	var accountID, eventID string
	if err := pool.QueryRow(ctx, `SELECT account_id::text, id::text FROM identity.account_events WHERE type = 'account.registered'`).
		Scan(&accountID, &eventID); err != nil {
		t.Fatal(err)
	}

	// b gets it while a keeps failing: a's job does not hold b's back.
	poll.Until(t, 30*time.Second, "subscriber b gets the registration", func() bool {
		return count(`SELECT count(*) FROM probe.b`) == 1
	})
	poll.Until(t, 30*time.Second, "subscriber a fails once", func() bool { return aFailures.Load() >= 1 })
	if n := count(`SELECT count(*) FROM probe.a`); n != 0 {
		t.Fatalf("a failed, yet its table has %d rows (its write did not roll back with its job)", n)
	}
	aHealthy.Store(true)
	poll.Until(t, 30*time.Second, "subscriber a gets the registration once it recovers", func() bool {
		return count(`SELECT count(*) FROM probe.a`) == 1
	})
	mu.Lock()
	got := registered
	mu.Unlock()
	if got.ID != eventID || got.AccountID != accountID || got.Data["email"] != email || got.OccurredAt.IsZero() {
		t.Errorf("a got %+v; want event %s of account %s with its email", got, eventID, accountID)
	}

	// A deletion that rolls back: no event, no job.
	del := func() int {
		req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/v1/users/me", nil)
		req.SetBasicAuth(email, password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	if status := del(); status != http.StatusInternalServerError {
		t.Fatalf("deletion with a failing hook: %d, want 500", status)
	}
	if n := count(`SELECT count(*) FROM river.river_job WHERE kind = 'identity.event_subscriber' AND args->>'type' = 'account.deleted'`); n != 0 {
		t.Fatalf("a rolled-back deletion left %d subscriber jobs", n)
	}
	hookFails.Store(false)
	if status := del(); status != http.StatusNoContent {
		t.Fatalf("deletion: %d, want 204", status)
	}
	poll.Until(t, 30*time.Second, "subscriber a gets the deletion", func() bool {
		return count(`SELECT count(*) FROM probe.a WHERE type = 'account.deleted'`) == 1
	})
	// Each subscriber got each event once, and a deleted account's events have lost the address.
	if n := count(`SELECT count(*) FROM probe.a WHERE type = 'account.deleted' AND email IS NOT NULL`); n != 0 {
		t.Errorf("the deletion's event carried an email")
	}
	time.Sleep(300 * time.Millisecond) // a duplicate run, if any, would land by now (poll every 50 ms)
	if a, b := count(`SELECT count(*) FROM probe.a`), count(`SELECT count(*) FROM probe.b`); a != 2 || b != 1 {
		t.Errorf("a has %d rows, b %d; want 2 (registered, deleted) and 1 (registered)", a, b)
	}
	if n := count(`SELECT count(*) FROM river.river_job WHERE kind = 'identity.event_subscriber' AND state <> 'completed'`); n != 0 {
		t.Errorf("%d subscriber jobs are not completed", n)
	}
}
