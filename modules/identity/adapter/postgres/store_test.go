package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/modules/identity/adapter/email"
	"github.com/acme/identity/modules/identity/adapter/postgres"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/outbox/outboxtest"
)

var policy = domain.CodePolicy{TTL: time.Minute, MaxAttempts: 5, ResendInterval: 30 * time.Second}

func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool := dbtest.NewPool(t)
	notifier, err := email.NewNotifier(outboxtest.New(t, pool))
	if err != nil {
		t.Fatal(err)
	}
	return postgres.NewStore(pool, notifier), pool
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// register registers email with hash as the use case does: one change by email.
func register(ctx context.Context, store *postgres.Store, email domain.Email, hash string) (domain.Account, error) {
	return store.Change(ctx, app.Key{Email: email, Budgets: app.Budgets{Mailbox: true}}, func(acc *domain.Account, now time.Time) error {
		return acc.Register(hash, now, policy, rand.Reader)
	})
}

// update is a change of the account id that may spend the mailbox's budgets.
func update(ctx context.Context, store *postgres.Store, id string, change func(*domain.Account, time.Time) error) (domain.Account, error) {
	return store.Change(ctx, app.Key{ID: id, Budgets: app.Budgets{Mailbox: true}}, change)
}

// activationCode parses s as a handler does.
func activationCode(t *testing.T, s string) domain.ActivationCode {
	t.Helper()
	c, msg := domain.ParseActivationCode(s)
	if msg != "" {
		t.Fatalf("activation code %q: %s", s, msg)
	}
	return c
}

func TestRegisterWritesAccountCodeAndEmailTogether(t *testing.T) {
	ctx := context.Background()
	store, pool := newStore(t)

	acc, err := register(ctx, store, "alice@example.com", "hash-1")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if acc.ID == "" || acc.Status != domain.StatusPending || acc.Code == nil {
		t.Fatalf("registered = %+v", acc)
	}
	var dbNow time.Time
	if err := pool.QueryRow(ctx, "SELECT now()").Scan(&dbNow); err != nil {
		t.Fatal(err)
	}
	if d := dbNow.Sub(acc.Code.IssuedAt); d < 0 || d > 5*time.Second {
		t.Fatalf("code issued at %v, database now %v: the code must be timed by the database clock", acc.Code.IssuedAt, dbNow)
	}
	if n := count(t, pool, "SELECT count(*) FROM identity.activation_codes WHERE account_id = $1 AND code = $2", acc.ID, acc.Code.Value); n != 1 {
		t.Fatalf("activation code rows = %d, want 1", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM platform.outbox_emails WHERE recipient = 'alice@example.com' AND text_body LIKE '%' || $1 || '%' AND expires_at = $2",
		acc.Code.Value, acc.Code.ExpiresAt); n != 1 {
		t.Fatalf("outbox emails with the code = %d, want 1", n)
	}

	got, err := store.AccountByEmail(ctx, "alice@example.com")
	if err != nil || got.ID != acc.ID || got.PasswordHash != "hash-1" {
		t.Fatalf("AccountByEmail = %+v, %v", got, err)
	}
	if _, err := store.AccountByEmail(ctx, "nobody@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Fatalf("unknown email: got %v, want ErrAccountNotFound", err)
	}
}

func TestRefusedRegistrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	store, pool := newStore(t)
	refused := errors.New("refused")
	_, err := store.Change(ctx, app.Key{Email: "bob@example.com"}, func(acc *domain.Account, now time.Time) error {
		if err := acc.Register("hash-1", now, policy, rand.Reader); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("got %v, want the closure's error", err)
	}
	for _, table := range []string{"identity.accounts", "identity.activation_codes", "platform.outbox_emails"} {
		if n := count(t, pool, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%s has %d rows after a refused registration: half-written", table, n)
		}
	}
}

func TestConcurrentRegistrationsOfOneEmailCreateOne(t *testing.T) {
	ctx := context.Background()
	store, pool := newStore(t)
	const n = 10
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		retries int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := register(ctx, store, "carol@example.com", "hash-1")
			var retry *domain.RetryLaterError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case errors.As(err, &retry):
				retries++
			default:
				t.Errorf("register: %v", err)
			}
		}()
	}
	wg.Wait()
	if created != 1 || retries != n-1 {
		t.Fatalf("created %d, refused %d; want 1 and %d", created, retries, n-1)
	}
	if got := count(t, pool, "SELECT count(*) FROM identity.accounts"); got != 1 {
		t.Fatalf("accounts = %d, want 1", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM platform.outbox_emails"); got != 1 {
		t.Fatalf("emails = %d, want 1", got)
	}
}

func TestUpdateSavesWhatTheDomainChanged(t *testing.T) {
	ctx := context.Background()
	store, pool := newStore(t)
	acc, err := register(ctx, store, "dan@example.com", "hash-1")
	if err != nil {
		t.Fatal(err)
	}
	wrong := "0000"
	if acc.Code.Value == wrong {
		wrong = "0001"
	}
	if _, err := update(ctx, store, acc.ID, func(a *domain.Account, now time.Time) error {
		_ = a.Activate(activationCode(t, wrong), now, policy)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT failed_attempts FROM identity.activation_codes WHERE account_id = $1", acc.ID); n != 1 {
		t.Fatalf("failed_attempts = %d, want 1", n)
	}

	// An error from the closure saves nothing.
	_, err = update(ctx, store, acc.ID, func(a *domain.Account, now time.Time) error {
		_ = a.Activate(activationCode(t, wrong), now, policy)
		return domain.ErrUnauthorized
	})
	if !errors.Is(err, domain.ErrUnauthorized) {
		t.Fatalf("got %v", err)
	}
	if n := count(t, pool, "SELECT failed_attempts FROM identity.activation_codes WHERE account_id = $1", acc.ID); n != 1 {
		t.Fatalf("failed_attempts = %d after a refused change, want 1", n)
	}

	activated, err := update(ctx, store, acc.ID, func(a *domain.Account, now time.Time) error {
		return a.Activate(activationCode(t, acc.Code.Value), now, policy)
	})
	if err != nil || activated.Status != domain.StatusActive || activated.ActivatedAt == nil {
		t.Fatalf("activate: %+v, %v", activated, err)
	}
	if n := count(t, pool, "SELECT count(*) FROM identity.accounts WHERE id = $1 AND status = 'active' AND activated_at IS NOT NULL", acc.ID); n != 1 {
		t.Fatal("the account is not active in the database")
	}
	if n := count(t, pool, "SELECT count(*) FROM identity.activation_codes WHERE account_id = $1", acc.ID); n != 0 {
		t.Fatal("the used code is still stored")
	}

	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
		if _, err := update(ctx, store, id, func(*domain.Account, time.Time) error { return nil }); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("Update(%q): got %v, want ErrAccountNotFound", id, err)
		}
	}
}

func TestConcurrentActivationsActivateOnce(t *testing.T) {
	ctx := context.Background()
	store, _ := newStore(t)
	acc, err := register(ctx, store, "erin@example.com", "hash-1")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		ok, conflicted int
	)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := update(ctx, store, acc.ID, func(a *domain.Account, now time.Time) error {
				return a.Activate(activationCode(t, acc.Code.Value), now, policy)
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, domain.ErrAlreadyActive):
				conflicted++
			default:
				t.Errorf("activate: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || conflicted != 9 {
		t.Fatalf("activations: %d succeeded, %d already active; want 1 and 9", ok, conflicted)
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	pool, err := database.Open(context.Background(), "postgres://postgres@127.0.0.1:1/identity?sslmode=disable&connect_timeout=1", database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	notifier, err := email.NewNotifier(outboxtest.New(t, pool))
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewStore(pool, notifier)
	if _, err := store.AccountByEmail(context.Background(), "a@example.com"); !errors.Is(err, database.ErrUnavailable) {
		t.Fatalf("AccountByEmail on a closed port: got %v, want ErrUnavailable", err)
	}
	if _, err := register(context.Background(), store, "a@example.com", "h"); !errors.Is(err, database.ErrUnavailable) {
		t.Fatalf("Register on a closed port: got %v, want ErrUnavailable", err)
	}
}
