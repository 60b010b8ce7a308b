// Package storetest is the contract of app.Store as one test suite, run against every
// implementation: the fake the use cases' tests rely on (app) and the PostgreSQL store
// (adapter/postgres). A behaviour the fake has and the real store lacks, or the other way
// round, fails here first.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
)

var policy = domain.CodePolicy{TTL: time.Minute, MaxAttempts: 3, ResendInterval: 30 * time.Second,
	GuessesPerDay: 20, CodesPerDay: 10}

// Subject is one store under test, and what the suite needs to see around it.
type Subject struct {
	Store app.Store
	// Emailed returns the codes queued for email to addr, oldest first (read from the
	// outbox, for a real store).
	Emailed func(t *testing.T, addr domain.Email) []string
	// Delete deletes the account id as the retention of stale pending accounts does.
	Delete func(t *testing.T, id string)
}

// Run runs the contract against the subjects newSubject makes, a fresh empty store per
// test.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	ctx := context.Background()
	newStore := func(t *testing.T) app.Store { return newSubject(t).Store }
	issue := func(acc *domain.Account, now time.Time, created bool) error {
		if !created {
			return acc.Reregister("hash-2", now, policy, rand.Reader)
		}
		return acc.IssueCode(now, policy, rand.Reader)
	}

	t.Run("an unknown account is ErrAccountNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.AccountByEmail(ctx, "nobody@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("AccountByEmail: %v", err)
		}
		for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-an-id", ""} {
			if _, err := s.AccountByID(ctx, id); !errors.Is(err, domain.ErrAccountNotFound) {
				t.Errorf("AccountByID(%q): %v", id, err)
			}
			_, err := s.Update(ctx, id, func(*domain.Account, time.Time) error { t.Error("closure ran"); return nil })
			if !errors.Is(err, domain.ErrAccountNotFound) {
				t.Errorf("Update(%q): %v", id, err)
			}
		}
	})

	t.Run("register creates a pending account that both lookups find", func(t *testing.T) {
		s := newStore(t)
		var sawCreated bool
		acc, err := s.Register(ctx, "alice@example.com", "hash-1", func(acc *domain.Account, now time.Time, created bool) error {
			sawCreated = created
			if now.IsZero() || acc.Email != "alice@example.com" || acc.PasswordHash != "hash-1" || acc.Status != domain.StatusPending {
				t.Errorf("decide got %+v at %v", acc, now)
			}
			return issue(acc, now, created)
		})
		if err != nil || !sawCreated || acc.ID == "" || acc.Code == nil {
			t.Fatalf("Register = %+v, %v (created %v)", acc, err, sawCreated)
		}
		byEmail, err := s.AccountByEmail(ctx, "alice@example.com")
		if err != nil || byEmail.ID != acc.ID || byEmail.Status != domain.StatusPending || byEmail.PasswordHash != "hash-1" {
			t.Errorf("AccountByEmail = %+v, %v", byEmail, err)
		}
		byID, err := s.AccountByID(ctx, acc.ID)
		if err != nil || byID.Email != "alice@example.com" || byID.ActivatedAt != nil {
			t.Errorf("AccountByID = %+v, %v", byID, err)
		}
	})

	t.Run("register of a known email hands decide the existing account", func(t *testing.T) {
		s := newStore(t)
		first, err := s.Register(ctx, "bob@example.com", "hash-1", issue)
		if err != nil {
			t.Fatal(err)
		}
		sawCreated := true
		second, err := s.Register(ctx, "bob@example.com", "hash-2", func(acc *domain.Account, _ time.Time, created bool) error {
			sawCreated = created
			if acc.ID != first.ID || acc.PasswordHash != "hash-1" || acc.Code == nil {
				t.Errorf("decide got %+v, want the account %s as saved", acc, first.ID)
			}
			return nil
		})
		if err != nil || sawCreated || second.ID != first.ID {
			t.Fatalf("second Register = %+v, %v (created %v)", second, err, sawCreated)
		}
	})

	t.Run("a closure's error saves nothing", func(t *testing.T) {
		s := newStore(t)
		refused := errors.New("refused")
		if _, err := s.Register(ctx, "carol@example.com", "hash-1", func(acc *domain.Account, now time.Time, created bool) error {
			if err := issue(acc, now, created); err != nil {
				return err
			}
			return refused
		}); !errors.Is(err, refused) {
			t.Fatalf("Register: %v, want the closure's error", err)
		}
		if _, err := s.AccountByEmail(ctx, "carol@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("a refused registration left an account: %v", err)
		}
		acc, err := s.Register(ctx, "carol@example.com", "hash-1", issue)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, acc.ID, func(acc *domain.Account, now time.Time) error {
			if err := acc.Activate(acc.Code.Value, now, policy); err != nil {
				return err
			}
			return refused
		}); !errors.Is(err, refused) {
			t.Fatalf("Update: %v, want the closure's error", err)
		}
		if got, err := s.AccountByID(ctx, acc.ID); err != nil || got.Status != domain.StatusPending {
			t.Errorf("a refused activation was saved: %+v, %v", got, err)
		}
	})

	t.Run("what the closure changes is saved, and loaded back", func(t *testing.T) {
		s := newStore(t)
		acc, err := s.Register(ctx, "dave@example.com", "hash-1", issue)
		if err != nil {
			t.Fatal(err)
		}
		code := acc.Code.Value
		wrong := "0000"
		if code == wrong {
			wrong = "1111"
		}
		var invalid *domain.InvalidCodeError
		if _, err := s.Update(ctx, acc.ID, func(acc *domain.Account, now time.Time) error {
			if err := acc.Activate(wrong, now, policy); !errors.As(err, &invalid) {
				t.Errorf("a wrong code: %v", err)
			}
			return nil // the counted attempt is saved
		}); err != nil {
			t.Fatal(err)
		}
		active, err := s.Update(ctx, acc.ID, func(acc *domain.Account, now time.Time) error {
			if acc.Code == nil || acc.Code.FailedAttempts != 1 || acc.Code.Value != code {
				t.Errorf("loaded code %+v, want %s with 1 failed attempt", acc.Code, code)
			}
			return acc.Activate(code, now, policy)
		})
		if err != nil || active.Status != domain.StatusActive {
			t.Fatalf("activate: %+v, %v", active, err)
		}
		got, err := s.AccountByID(ctx, acc.ID)
		if err != nil || got.Status != domain.StatusActive || got.ActivatedAt == nil || got.Code != nil {
			t.Errorf("after activation AccountByID = %+v, %v", got, err)
		}
	})

	t.Run("concurrent registrations of one email make one account and one email", func(t *testing.T) {
		sub := newSubject(t)
		const n = 8
		var (
			wg              sync.WaitGroup
			mu              sync.Mutex
			created, waited int
			ids             = map[string]bool{}
			code            string
			unexpected      []error
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var wasCreated bool
				acc, err := sub.Store.Register(ctx, "erin@example.com", "hash-1", func(acc *domain.Account, now time.Time, c bool) error {
					wasCreated = c
					return issue(acc, now, c)
				})
				var retry *domain.RetryLaterError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && wasCreated:
					created++
					ids[acc.ID] = true
					code = acc.Code.Value
				case errors.As(err, &retry) && retry.Reason == domain.ReasonResendInterval:
					waited++
				default:
					unexpected = append(unexpected, err)
				}
			}()
		}
		wg.Wait()
		if created != 1 || waited != n-1 || len(unexpected) > 0 {
			t.Fatalf("%d registrations: %d created, %d told to wait, unexpected %v; want 1 and %d", n, created, waited, unexpected, n-1)
		}
		acc, err := sub.Store.AccountByEmail(ctx, "erin@example.com")
		if err != nil || !ids[acc.ID] {
			t.Fatalf("AccountByEmail = %+v, %v; want the one created", acc, err)
		}
		if got := sub.Emailed(t, "erin@example.com"); len(got) != 1 || got[0] != code {
			t.Errorf("emailed %v, want the one code %s", got, code)
		}
	})

	t.Run("exactly one email per issued code", func(t *testing.T) {
		sub := newSubject(t)
		p := policy
		p.ResendInterval = 0
		var want []string
		acc, err := sub.Store.Register(ctx, "fay@example.com", "hash-1", func(acc *domain.Account, now time.Time, _ bool) error {
			return acc.IssueCode(now, p, rand.Reader)
		})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, acc.Code.Value)
		for range 2 {
			acc, err = sub.Store.Update(ctx, acc.ID, func(acc *domain.Account, now time.Time) error {
				return acc.IssueCode(now, p, rand.Reader)
			})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, acc.Code.Value)
		}
		// A change that issues no code (a wrong guess) emails nothing; a refused one neither.
		if _, err := sub.Store.Update(ctx, acc.ID, func(acc *domain.Account, now time.Time) error {
			_ = acc.Activate(wrongGuess(acc.Code.Value), now, p)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Store.Update(ctx, acc.ID, func(acc *domain.Account, now time.Time) error {
			if err := acc.IssueCode(now, p, rand.Reader); err != nil {
				return err
			}
			return errors.New("refused")
		}); err == nil {
			t.Fatal("a refused change succeeded")
		}
		if got := sub.Emailed(t, "fay@example.com"); !slices.Equal(got, want) {
			t.Errorf("emailed %v, want each issued code once, in order: %v", got, want)
		}
	})

	t.Run("the ledger outlives re-registration and deletion", func(t *testing.T) {
		sub := newSubject(t)
		p := domain.CodePolicy{TTL: time.Minute, MaxAttempts: 10, ResendInterval: 0, GuessesPerDay: 3, CodesPerDay: 3}
		register := func(hash string) (domain.Account, error) {
			return sub.Store.Register(ctx, "gus@example.com", hash, func(acc *domain.Account, now time.Time, created bool) error {
				if created {
					return acc.IssueCode(now, p, rand.Reader)
				}
				return acc.Reregister(hash, now, p, rand.Reader)
			})
		}
		guessWrong := func(id string) {
			t.Helper()
			if _, err := sub.Store.Update(ctx, id, func(acc *domain.Account, now time.Time) error {
				var invalid *domain.InvalidCodeError
				if err := acc.Activate(wrongGuess(acc.Code.Value), now, p); !errors.As(err, &invalid) {
					t.Errorf("a wrong guess: %v", err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		first, err := register("hash-1") // code 1
		if err != nil {
			t.Fatal(err)
		}
		guessWrong(first.ID)             // guess 1
		again, err := register("hash-2") // code 2, a re-registration
		if err != nil {
			t.Fatal(err)
		}
		guessWrong(again.ID) // guess 2
		sub.Delete(t, again.ID)
		third, err := register("hash-3") // code 3, a new account of the same address
		if err != nil {
			t.Fatal(err)
		}
		guessWrong(third.ID) // guess 3: the budget is spent
		var retry *domain.RetryLaterError
		if _, err := register("hash-4"); !errors.As(err, &retry) || retry.Reason != domain.ReasonCodeBudget {
			t.Errorf("a 4th code for the address: %v, want the code budget spent", err)
		}
		if _, err := sub.Store.Update(ctx, third.ID, func(acc *domain.Account, now time.Time) error {
			return acc.Activate(acc.Code.Value, now, p)
		}); !errors.As(err, &retry) || retry.Reason != domain.ReasonGuessBudget {
			t.Errorf("the right code after 3 wrong ones across re-registration and deletion: %v, want the guess budget spent", err)
		}
	})

	t.Run("a deleted account is gone with its unsent emails, and its ledger stays", func(t *testing.T) {
		sub := newSubject(t)
		p := domain.CodePolicy{TTL: time.Minute, MaxAttempts: 10, ResendInterval: 0, GuessesPerDay: 20, CodesPerDay: 2}
		register := func() (domain.Account, error) {
			return sub.Store.Register(ctx, "ida@example.com", "hash", func(acc *domain.Account, now time.Time, _ bool) error {
				return acc.IssueCode(now, p, rand.Reader)
			})
		}
		acc, err := register() // code 1
		if err != nil {
			t.Fatal(err)
		}
		if got := sub.Emailed(t, "ida@example.com"); len(got) != 1 {
			t.Fatalf("emailed %v before the deletion, want one code", got)
		}
		if _, err := sub.Store.Update(ctx, acc.ID, func(a *domain.Account, _ time.Time) error {
			a.Delete()
			return nil
		}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := sub.Store.AccountByID(ctx, acc.ID); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("AccountByID after the deletion: %v, want ErrAccountNotFound", err)
		}
		if _, err := sub.Store.AccountByEmail(ctx, "ida@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("AccountByEmail after the deletion: %v, want ErrAccountNotFound", err)
		}
		if got := sub.Emailed(t, "ida@example.com"); len(got) != 0 {
			t.Errorf("emailed %v after the deletion, want the unsent email gone", got)
		}
		again, err := register() // code 2, the budget's last
		if err != nil || again.ID == acc.ID {
			t.Fatalf("register after the deletion: id %s (was %s), %v; want a new account", again.ID, acc.ID, err)
		}
		var retry *domain.RetryLaterError
		if _, err := sub.Store.Update(ctx, again.ID, func(a *domain.Account, now time.Time) error {
			return a.IssueCode(now, p, rand.Reader)
		}); !errors.As(err, &retry) || retry.Reason != domain.ReasonCodeBudget {
			t.Errorf("a 3rd code for the address: %v, want the code budget spent across the deletion", err)
		}
	})
}

// wrongGuess is a code that is not code.
func wrongGuess(code string) string {
	if code == "0000" {
		return "1111"
	}
	return "0000"
}
