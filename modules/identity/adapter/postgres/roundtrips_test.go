package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/modules/identity/adapter/email"
	"github.com/acme/identity/modules/identity/adapter/postgres"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/outbox"
)

// statements records the SQL each query sends (one round trip each).
type statements struct {
	mu  sync.Mutex
	sql []string
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := strings.TrimSpace(d.SQL)
	if strings.HasPrefix(line, "-- name: ") { // sqlc prefixes each query with its name
		line = strings.Fields(line)[2]
	}
	s.sql = append(s.sql, line)
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statements) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sql
	s.sql = nil
	return out
}

// TestRoundTripsPerChange pins the statements each change sends, so a new one is a
// deliberate choice: the account row is written only when it changed, and a new account
// reads no code.
func TestRoundTripsPerChange(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	trace := &statements{}
	cfg.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	notifier, err := email.NewNotifier(outbox.New())
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewStore(pool, notifier)
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	trace.take()

	// A client's request, as in production: its budget is locked, read and written too.
	// The mailbox's and the client's locks cost one round trip (they guard budgets that
	// several accounts share, so no row lock serves).
	ctx = app.WithClient(ctx, "192.0.2.1")
	acc, err := store.Register(ctx, "rt@example.com", "hash-1", issue)
	if err != nil {
		t.Fatal(err)
	}
	want := "begin InsertAccount LockBudgets LedgerOfMailboxAndClient UpsertActivationCode AppendLedger AppendClientLedger InsertEmail NotifyEmailQueued commit"
	if got := strings.Join(trace.take(), " "); got != want {
		t.Errorf("registration sent\n  %s\nwant\n  %s", got, want)
	}

	// A wrong guess changes the code and the ledger, not the account.
	_, err = store.Update(ctx, acc.ID, func(a *domain.Account, now time.Time) error {
		_ = a.Activate(wrongGuess(a.Code.Value), now, policy)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want = "begin LockAccount LockBudgets LedgerOfMailboxAndClient GetActivationCode UpsertActivationCode AppendLedger AppendClientLedger commit"
	if got := strings.Join(trace.take(), " "); got != want {
		t.Errorf("a wrong guess sent\n  %s\nwant\n  %s", got, want)
	}
}

func wrongGuess(code string) string {
	if code == "0000" {
		return "0001"
	}
	return "0000"
}
