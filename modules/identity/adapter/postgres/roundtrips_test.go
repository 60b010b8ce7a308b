package postgres_test

import (
	"context"
	"crypto/rand"
	"slices"
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
	"github.com/acme/identity/platform/outbox/outboxtest"
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
	notifier, err := email.NewNotifier(outboxtest.New(t, pool))
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewStore(pool, notifier)
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	trace.take()

	// A client's request, as in production. The client's budget is checked and a unit of it
	// reserved in a short transaction of its own (no lock on the client outlives it); the
	// change's transaction locks the account and the mailbox (budgets that several accounts
	// share, so no row lock serves), and keeps or gives back the client's unit.
	ctx = app.WithClient(ctx, "192.0.2.1")
	spending := func(k app.Key, kind app.ClientKind) app.Key {
		k.Budgets = app.Budgets{Mailbox: true, ClientKind: kind, ClientLimit: 100}
		return k
	}
	const reserve = "begin LockClientBudget ClientBudgetSpans SpendClientBudget commit "
	step := func(what, want string, key app.Key, change func(*domain.Account, time.Time) error) domain.Account {
		t.Helper()
		acc, err := store.Change(ctx, key, change)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		// River reads the server's version once per process, at its first statement (in
		// production as the job system starts; here, the registration's job insert).
		got := strings.Join(slices.DeleteFunc(trace.take(), func(q string) bool { return q == "PGGetProductAndVersion" }), " ")
		if got != want {
			t.Errorf("%s sent\n  %s\nwant\n  %s", what, got, want)
		}
		return acc
	}
	acc := step("a registration",
		reserve+"begin LockAccountByEmail ClockNow LockMailbox MailboxLedger InsertAccount AppendAccountEvent AppendLedger UpsertActivationCode InsertEmail JobInsertFastMany PGNotifyMany commit",
		spending(app.Key{Email: "rt@example.com"}, app.ClientCodes), func(a *domain.Account, now time.Time) error {
			return a.Register("hash-1", now, policy, rand.Reader)
		})
	// A wrong guess changes the code and the ledgers, not the account.
	step("a wrong guess",
		reserve+"begin LockAccount CodesOfAccount LockMailbox MailboxLedger AppendLedger UpsertActivationCode commit",
		spending(app.ByID(acc.ID), app.ClientGuesses), func(a *domain.Account, now time.Time) error {
			_ = a.Activate(activationCode(t, wrongGuess(a.Code.Value)), now, policy)
			return nil
		})
	// A right guess spends nothing of the client's: its unit is given back, once the
	// change's transaction is over (the client's span is never locked across a change).
	step("an activation",
		reserve+"begin LockAccount CodesOfAccount LockMailbox MailboxLedger AppendAccountEvent UpdateAccount DeleteActivationCode commit GiveBackClientBudget",
		spending(app.ByID(acc.ID), app.ClientGuesses), func(a *domain.Account, now time.Time) error {
			return a.Activate(activationCode(t, a.Code.Value), now, policy)
		})
	// A budget of 0 is off: neither locked, read nor written.
	off := spending(app.Key{Email: "rt-off@example.com"}, app.ClientCodes)
	off.Budgets.ClientLimit = 0
	step("a registration with the client's budget off",
		"begin LockAccountByEmail ClockNow LockMailbox MailboxLedger InsertAccount AppendAccountEvent AppendLedger UpsertActivationCode InsertEmail JobInsertFastMany PGNotifyMany commit",
		off, func(a *domain.Account, now time.Time) error {
			return a.Register("hash-1", now, policy, rand.Reader)
		})
	// A sign-in spends no budget: it touches no ledger, and no lock but the account's.
	step("a sign-in", "begin LockAccount CodesOfAccount InsertSession EvictSessions AppendAccountEvent commit",
		app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
			_, err := a.StartSession(make([]byte, 32), domain.Device{}, now, domain.SessionPolicy{IdleTimeout: time.Hour, MaxAge: time.Hour, PerAccount: 5})
			return err
		})
	// An email change: the request reads the new address's holder (a pending one locked)
	// before its mailbox, and writes the code and two emails (the code and the notice); the
	// confirmation changes the address and what is keyed by it, in the same transaction.
	moving := func(to domain.Email, kind app.ClientKind) app.Key {
		k := spending(app.ByID(acc.ID), kind)
		k.EmailChange, k.NewEmail = true, to
		return k
	}
	changes := domain.EmailChangePolicy{TTL: time.Minute, MaxAttempts: 5, CodesPerDay: 10, GuessesPerDay: 20}
	requested := step("an email-change request",
		reserve+"begin LockAccount CodesOfAccount LockPendingAccountByEmail GetAccountByEmail LockMailbox MailboxLedger AppendLedger UpsertEmailChangeCode InsertEmail InsertEmail JobInsertFastMany PGNotifyMany commit", moving("rt-new@example.com", app.ClientCodes),
		func(a *domain.Account, now time.Time) error {
			return a.RequestEmailChange("rt-new@example.com", now, changes, rand.Reader)
		})
	step("an email change",
		reserve+"begin LockAccount CodesOfAccount LockPendingAccountByEmail GetAccountByEmail LockMailbox MailboxLedger ChangeAccountEmail DeleteOtherSessions MoveSignInFailures AppendAccountEvent DeleteEmailChangeCode commit GiveBackClientBudget",
		moving("", app.ClientGuesses), func(a *domain.Account, now time.Time) error {
			code, _ := domain.ParseEmailChangeCode(requested.EmailChange.Value)
			return a.ConfirmEmailChange(code, "", now, changes)
		})
	// A reset request for an unknown address costs what a known one's would (its budgets
	// checked), and writes nothing but what it spent.
	step("a reset request for an unknown address",
		reserve+"begin LockAccountByEmail ClockNow LockMailbox MailboxLedger commit GiveBackClientBudget",
		spending(app.Key{Email: "nobody@example.com"}, app.ClientCodes), func(a *domain.Account, now time.Time) error {
			if err := a.IssueReset(now, domain.ResetPolicy{TTL: time.Minute, ResetsPerDay: 5}, rand.Reader); !domain.IsNoReset(err) {
				return err
			}
			return nil
		})
}

func wrongGuess(code string) string {
	if code == "0000" {
		return "0001"
	}
	return "0000"
}
