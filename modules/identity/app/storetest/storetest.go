// Package storetest is the contract of the ports the use cases consume — app.Store
// (accounts through the one change path, codes of every purpose, budgets, the sign-in
// history) and app.SessionStore — as one test suite, run against every implementation:
// the fake the use cases' tests rely on (app) and the PostgreSQL store
// (adapter/postgres). A behaviour the fake has and the real store lacks, or the other way
// round, fails here first.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
)

var (
	policy = domain.CodePolicy{TTL: time.Minute, MaxAttempts: 3, ResendInterval: 30 * time.Second,
		GuessesPerDay: 20, CodesPerDay: 10}
	resets = domain.ResetPolicy{TTL: 15 * time.Minute, ResendInterval: time.Minute, MaxAttempts: 5,
		GuessesPerDay: 20, ResetsPerDay: 5}
	sessions = domain.SessionPolicy{IdleTimeout: time.Hour, MaxAge: 24 * time.Hour, PerAccount: 2}
	changes  = domain.EmailChangePolicy{TTL: 15 * time.Minute, MaxAttempts: 5, CodesPerDay: 10, GuessesPerDay: 20}
)

// Subject is one store under test, and what the suite needs to see around it.
type Subject struct {
	Store    app.Store
	Sessions app.SessionStore
	// Emailed returns the codes of the emails queued to addr, oldest first ("" for a
	// notice, an email without a code), read from the outbox for a real store.
	Emailed func(t *testing.T, addr domain.Email) []string
	// Delete deletes the account id as the retention of stale pending accounts does.
	Delete func(t *testing.T, id string)
	// ClientUnits counts the units the client's budgets hold, of every kind and age (a
	// unit given back is none).
	ClientUnits func(t *testing.T, client string) int
}

// The keys of the changes the suite makes, as the use cases make them.
func byEmail(email domain.Email) app.Key {
	return app.Key{Email: email, Budgets: app.Budgets{Mailbox: true}}
}
func byID(id string) app.Key { return app.Key{ID: id, Budgets: app.Budgets{Mailbox: true}} }

// moving is the key of an email change of the account id: to the address to (a request),
// or to its code's (a confirmation, to empty).
func moving(id string, to domain.Email) app.Key {
	return app.Key{ID: id, EmailChange: true, NewEmail: to, Budgets: app.Budgets{Mailbox: true}}
}

// requestChange is a request's change of address to to.
func requestChange(to domain.Email) func(*domain.Account, time.Time) error {
	return func(acc *domain.Account, now time.Time) error {
		return acc.RequestEmailChange(to, now, changes, rand.Reader)
	}
}

// confirmChange is a confirmation's change with the code s, keeping the session keep.
func confirmChange(t *testing.T, s, keep string) func(*domain.Account, time.Time) error {
	t.Helper()
	code, msg := domain.ParseEmailChangeCode(s)
	if msg != "" {
		t.Fatalf("email-change code %q: %s", s, msg)
	}
	return func(acc *domain.Account, now time.Time) error {
		return acc.ConfirmEmailChange(code, keep, now, changes)
	}
}

// register is a registration's change.
func register(hash string, p domain.CodePolicy) func(*domain.Account, time.Time) error {
	return func(acc *domain.Account, now time.Time) error { return acc.Register(hash, now, p, rand.Reader) }
}

// activationCode and resetCode parse a code as a handler does.
func activationCode(t *testing.T, s string) domain.ActivationCode {
	t.Helper()
	c, msg := domain.ParseActivationCode(s)
	if msg != "" {
		t.Fatalf("activation code %q: %s", s, msg)
	}
	return c
}

func resetCode(t *testing.T, s string) domain.ResetCode {
	t.Helper()
	c, msg := domain.ParseResetCode(s)
	if msg != "" {
		t.Fatalf("reset code %q: %s", s, msg)
	}
	return c
}

// Run runs the contract against the subjects newSubject makes, a fresh empty store per
// test.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	ctx := context.Background()
	newStore := func(t *testing.T) app.Store { return newSubject(t).Store }
	// registered is a new pending account of email.
	registered := func(t *testing.T, s app.Store, email domain.Email) domain.Account {
		t.Helper()
		acc, err := s.Change(ctx, byEmail(email), register("hash-1", policy))
		if err != nil {
			t.Fatalf("register %s: %v", email, err)
		}
		return acc
	}
	// active is a new active account of email.
	active := func(t *testing.T, s app.Store, email domain.Email) domain.Account {
		t.Helper()
		acc := registered(t, s, email)
		acc, err := s.Change(ctx, byID(acc.ID), func(a *domain.Account, now time.Time) error {
			return a.Activate(activationCode(t, a.Code.Value), now, policy)
		})
		if err != nil {
			t.Fatalf("activate %s: %v", email, err)
		}
		return acc
	}

	t.Run("an unknown account is ErrAccountNotFound, an unknown email an account with no id", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.AccountByEmail(ctx, "nobody@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("AccountByEmail: %v", err)
		}
		for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-an-id", ""} {
			if _, err := s.AccountByID(ctx, id); !errors.Is(err, domain.ErrAccountNotFound) {
				t.Errorf("AccountByID(%q): %v", id, err)
			}
			_, err := s.Change(ctx, app.ByID(id), func(*domain.Account, time.Time) error { t.Error("closure ran"); return nil })
			if !errors.Is(err, domain.ErrAccountNotFound) {
				t.Errorf("Change(%q): %v", id, err)
			}
		}
		ran := false
		if _, err := s.Change(ctx, byEmail("nobody@example.com"), func(acc *domain.Account, now time.Time) error {
			ran = true
			if acc.ID != "" || acc.Email != "nobody@example.com" || acc.Status != "" || now.IsZero() {
				t.Errorf("an unknown email: %+v at %v", acc, now)
			}
			return acc.IssueReset(now, resets, rand.Reader) // sends nothing: no account
		}); !domain.IsNoReset(err) || !ran {
			t.Errorf("Change(unknown email) = %v (ran %v), want the closure's refusal", err, ran)
		}
		if _, err := s.AccountByEmail(ctx, "nobody@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("a change of an unknown email made an account: %v", err)
		}
	})

	t.Run("register creates a pending account that both lookups find", func(t *testing.T) {
		s := newStore(t)
		acc, err := s.Change(ctx, byEmail("alice@example.com"), func(acc *domain.Account, now time.Time) error {
			if acc.ID != "" || now.IsZero() {
				t.Errorf("decide got %+v at %v, want an address with no account", acc, now)
			}
			return acc.Register("hash-1", now, policy, rand.Reader)
		})
		if err != nil || acc.ID == "" || acc.Code == nil || acc.Status != domain.StatusPending {
			t.Fatalf("register = %+v, %v", acc, err)
		}
		byEmail, err := s.AccountByEmail(ctx, "alice@example.com")
		if err != nil || byEmail.ID != acc.ID || byEmail.Status != domain.StatusPending || byEmail.PasswordHash != "hash-1" {
			t.Errorf("AccountByEmail = %+v, %v", byEmail, err)
		}
		byID, err := s.AccountByID(ctx, acc.ID)
		if err != nil || byID.Email != "alice@example.com" || byID.ActivatedAt != nil || byID.CreatedAt.IsZero() {
			t.Errorf("AccountByID = %+v, %v", byID, err)
		}
	})

	t.Run("a change by email hands the closure the existing account, whole", func(t *testing.T) {
		s := newStore(t)
		first := registered(t, s, "bob@example.com")
		if _, err := s.Change(ctx, byEmail("bob@example.com"), func(acc *domain.Account, _ time.Time) error {
			if acc.ID != first.ID || acc.PasswordHash != "hash-1" || acc.Code == nil || acc.Code.Value != first.Code.Value ||
				len(acc.Ledger.CodesIssued) != 1 {
				t.Errorf("decide got %+v, want the account %s as saved", acc, first.ID)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a closure's error saves nothing", func(t *testing.T) {
		s := newStore(t)
		refused := errors.New("refused")
		if _, err := s.Change(ctx, byEmail("carol@example.com"), func(acc *domain.Account, now time.Time) error {
			if err := register("hash-1", policy)(acc, now); err != nil {
				return err
			}
			return refused
		}); !errors.Is(err, refused) {
			t.Fatalf("Change: %v, want the closure's error", err)
		}
		if _, err := s.AccountByEmail(ctx, "carol@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("a refused registration left an account: %v", err)
		}
		acc := registered(t, s, "carol@example.com")
		if _, err := s.Change(ctx, byID(acc.ID), func(acc *domain.Account, now time.Time) error {
			if err := acc.Activate(activationCode(t, acc.Code.Value), now, policy); err != nil {
				return err
			}
			return refused
		}); !errors.Is(err, refused) {
			t.Fatalf("Change: %v, want the closure's error", err)
		}
		if got, err := s.AccountByID(ctx, acc.ID); err != nil || got.Status != domain.StatusPending {
			t.Errorf("a refused activation was saved: %+v, %v", got, err)
		}
	})

	t.Run("what the closure changes is saved, and loaded back", func(t *testing.T) {
		s := newStore(t)
		acc := registered(t, s, "dave@example.com")
		code := acc.Code.Value
		var invalid *domain.InvalidCodeError
		if _, err := s.Change(ctx, byID(acc.ID), func(acc *domain.Account, now time.Time) error {
			if err := acc.Activate(activationCode(t, wrongGuess(code)), now, policy); !errors.As(err, &invalid) {
				t.Errorf("a wrong code: %v", err)
			}
			return nil // the counted attempt is saved
		}); err != nil {
			t.Fatal(err)
		}
		activated, err := s.Change(ctx, byID(acc.ID), func(acc *domain.Account, now time.Time) error {
			if acc.Code == nil || acc.Code.FailedAttempts != 1 || acc.Code.Value != code || len(acc.Ledger.WrongGuesses) != 1 {
				t.Errorf("loaded code %+v and ledger %+v, want %s with 1 failed attempt", acc.Code, acc.Ledger, code)
			}
			return acc.Activate(activationCode(t, code), now, policy)
		})
		if err != nil || activated.Status != domain.StatusActive {
			t.Fatalf("activate: %+v, %v", activated, err)
		}
		got, err := s.AccountByID(ctx, acc.ID)
		if err != nil || got.Status != domain.StatusActive || got.ActivatedAt == nil || got.Code != nil {
			t.Errorf("after activation AccountByID = %+v, %v", got, err)
		}
	})

	t.Run("a reset request leaves a pending account's activation code as it was", func(t *testing.T) {
		// A request about one purpose never changes another's state: the defect of a
		// second change path that saved an account it had loaded without its code.
		s := newStore(t)
		acc := registered(t, s, "fred@example.com")
		want := *acc.Code
		if _, err := s.Change(ctx, byEmail("fred@example.com"), func(acc *domain.Account, now time.Time) error {
			if acc.Code == nil {
				t.Error("a change by email loaded the account without its activation code")
			}
			return acc.IssueReset(now, resets, rand.Reader) // a pending account gets none
		}); !domain.IsNoReset(err) {
			t.Fatalf("reset request of a pending account: %v", err)
		}
		// A change that decides nothing (a reset request that sends nothing) saves nothing.
		if _, err := s.Change(ctx, byEmail("fred@example.com"), func(acc *domain.Account, now time.Time) error {
			if err := acc.IssueReset(now, resets, rand.Reader); err != nil && !domain.IsNoReset(err) {
				return err
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		after, err := s.Change(ctx, byID(acc.ID), func(acc *domain.Account, _ time.Time) error {
			if acc.Code == nil || *acc.Code != want {
				t.Errorf("the activation code after a reset request: %+v, want %+v", acc.Code, want)
			}
			return nil
		})
		if err != nil || after.Code == nil {
			t.Fatalf("load after reset request: %+v, %v", after, err)
		}
		if _, err := s.Change(ctx, byID(acc.ID), func(acc *domain.Account, now time.Time) error {
			return acc.Activate(activationCode(t, want.Value), now, policy)
		}); err != nil {
			t.Errorf("activation with the emailed code after a stranger's reset request: %v", err)
		}
	})

	t.Run("a reset code is saved apart from the activation code, used up once, and void after a new password", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		acc := active(t, s, "gina@example.com")
		issued, err := s.Change(ctx, byEmail("gina@example.com"), func(acc *domain.Account, now time.Time) error {
			return acc.IssueReset(now, resets, rand.Reader)
		})
		if err != nil || issued.Reset == nil || len(issued.Reset.Value) != domain.ResetCodeLength {
			t.Fatalf("reset request: %+v, %v", issued.Reset, err)
		}
		code := issued.Reset.Value
		if got := sub.Emailed(t, "gina@example.com"); len(got) != 2 || got[1] != code {
			t.Errorf("emailed %v, want the activation code, then the reset code %s", got, code)
		}
		if _, err := s.Change(ctx, byEmail("gina@example.com"), func(acc *domain.Account, now time.Time) error {
			if err := acc.ConfirmReset(resetCode(t, wrongGuess(code)), "hash-x", now, resets); !errors.Is(err, domain.ErrInvalidResetCode) {
				t.Errorf("a wrong reset code: %v", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Change(ctx, byEmail("gina@example.com"), func(acc *domain.Account, now time.Time) error {
			if acc.Reset == nil || acc.Reset.FailedAttempts != 1 || len(acc.Ledger.WrongResets) != 1 || len(acc.Ledger.WrongGuesses) != 0 {
				t.Errorf("loaded reset code %+v, ledger %+v; want 1 wrong reset guess, counted apart", acc.Reset, acc.Ledger)
			}
			return acc.ConfirmReset(resetCode(t, code), "hash-2", now, resets)
		}); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		got, err := s.AccountByID(ctx, acc.ID)
		if err != nil || got.PasswordHash != "hash-2" || got.Reset != nil {
			t.Errorf("after the reset: %+v, %v", got, err)
		}
		if _, err := s.Change(ctx, byEmail("gina@example.com"), func(acc *domain.Account, now time.Time) error {
			return acc.ConfirmReset(resetCode(t, code), "hash-3", now, resets)
		}); !errors.Is(err, domain.ErrInvalidResetCode) {
			t.Errorf("a used reset code again: %v", err)
		}
		// A new code, then a password change: the code is void.
		if _, err := s.Change(ctx, byEmail("gina@example.com"), func(acc *domain.Account, now time.Time) error {
			acc.Reset = nil // past the resend interval, as far as this test goes
			return acc.IssueReset(now, resets, rand.Reader)
		}); err != nil {
			t.Fatal(err)
		}
		changed, err := s.Change(ctx, app.ByID(acc.ID), func(acc *domain.Account, now time.Time) error {
			return acc.ChangePassword("hash-4", now)
		})
		if err != nil || changed.Reset != nil {
			t.Fatalf("change password: %+v, %v", changed.Reset, err)
		}
		if got, _ := s.AccountByID(ctx, acc.ID); got.Reset != nil {
			t.Errorf("a reset code outlived a password change: %+v", got.Reset)
		}
		if got := sub.Emailed(t, "gina@example.com"); len(got) != 5 || got[2] != "" || got[4] != "" {
			t.Errorf("emailed %v, want activation, reset, notice, reset, notice", got)
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
				acc, err := sub.Store.Change(ctx, byEmail("erin@example.com"), register("hash-1", policy))
				var retry *domain.RetryLaterError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
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

	t.Run("concurrent activations with the right code: exactly one succeeds", func(t *testing.T) {
		s := newStore(t)
		acc := registered(t, s, "hank@example.com")
		const n = 6
		results := make(chan error, n)
		for range n {
			go func() {
				_, err := s.Change(ctx, byID(acc.ID), func(a *domain.Account, now time.Time) error {
					return a.Activate(activationCode(t, acc.Code.Value), now, policy)
				})
				results <- err
			}()
		}
		ok, already := 0, 0
		for range n {
			switch err := <-results; {
			case err == nil:
				ok++
			case errors.Is(err, domain.ErrAlreadyActive):
				already++
			default:
				t.Errorf("activation: %v", err)
			}
		}
		if ok != 1 || already != n-1 {
			t.Errorf("%d activations: %d succeeded, %d already active; want 1 and %d", n, ok, already, n-1)
		}
	})

	t.Run("a takeover gives a new id; the old one is gone with its sessions", func(t *testing.T) {
		sub := newSubject(t)
		p := policy
		p.ResendInterval = 0
		old, err := sub.Store.Change(ctx, byEmail("ivy@example.com"), register("hash-1", p))
		if err != nil {
			t.Fatal(err)
		}
		replaced, err := sub.Store.Change(ctx, byEmail("ivy@example.com"), register("hash-2", p))
		if err != nil || replaced.ID == "" || replaced.ID == old.ID || replaced.Code == nil || replaced.Code.FailedAttempts != 0 {
			t.Fatalf("takeover: %+v, %v; want a new id (old %s)", replaced, err, old.ID)
		}
		if _, err := sub.Store.AccountByID(ctx, old.ID); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("the replaced account: %v, want it gone", err)
		}
		if _, err := sub.Store.Change(ctx, app.ByID(old.ID), func(*domain.Account, time.Time) error { return nil }); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("a change of the replaced account: %v, want ErrAccountNotFound", err)
		}
		got, err := sub.Store.AccountByEmail(ctx, "ivy@example.com")
		if err != nil || got.ID != replaced.ID || got.PasswordHash != "hash-2" {
			t.Errorf("AccountByEmail after takeover = %+v, %v", got, err)
		}
	})

	t.Run("exactly one email per issued code", func(t *testing.T) {
		sub := newSubject(t)
		p := policy
		p.ResendInterval = 0
		acc, err := sub.Store.Change(ctx, byEmail("fay@example.com"), register("hash-1", p))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{acc.Code.Value}
		for range 2 {
			acc, err = sub.Store.Change(ctx, byID(acc.ID), func(acc *domain.Account, now time.Time) error {
				return acc.IssueCode(now, p, rand.Reader)
			})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, acc.Code.Value)
		}
		// A change that issues no code (a wrong guess) emails nothing; a refused one neither.
		if _, err := sub.Store.Change(ctx, byID(acc.ID), func(acc *domain.Account, now time.Time) error {
			_ = acc.Activate(activationCode(t, wrongGuess(acc.Code.Value)), now, p)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Store.Change(ctx, byID(acc.ID), func(acc *domain.Account, now time.Time) error {
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
		reg := func(hash string) (domain.Account, error) {
			return sub.Store.Change(ctx, byEmail("gus@example.com"), register(hash, p))
		}
		guessWrong := func(id string) {
			t.Helper()
			if _, err := sub.Store.Change(ctx, byID(id), func(acc *domain.Account, now time.Time) error {
				var invalid *domain.InvalidCodeError
				if err := acc.Activate(activationCode(t, wrongGuess(acc.Code.Value)), now, p); !errors.As(err, &invalid) {
					t.Errorf("a wrong guess: %v", err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		first, err := reg("hash-1") // code 1
		if err != nil {
			t.Fatal(err)
		}
		guessWrong(first.ID)        // guess 1
		again, err := reg("hash-2") // code 2, a re-registration
		if err != nil {
			t.Fatal(err)
		}
		guessWrong(again.ID) // guess 2
		sub.Delete(t, again.ID)
		third, err := reg("hash-3") // code 3, a new account of the same address
		if err != nil {
			t.Fatal(err)
		}
		guessWrong(third.ID) // guess 3: the budget is spent
		var retry *domain.RetryLaterError
		if _, err := reg("hash-4"); !errors.As(err, &retry) || retry.Reason != domain.ReasonCodeBudget {
			t.Errorf("a 4th code for the address: %v, want the code budget spent", err)
		}
		if _, err := sub.Store.Change(ctx, byID(third.ID), func(acc *domain.Account, now time.Time) error {
			return acc.Activate(activationCode(t, acc.Code.Value), now, p)
		}); !errors.As(err, &retry) || retry.Reason != domain.ReasonGuessBudget {
			t.Errorf("the right code after 3 wrong ones across re-registration and deletion: %v, want the guess budget spent", err)
		}
	})

	t.Run("a deleted account is gone with its unsent emails and sessions, and its ledger stays", func(t *testing.T) {
		sub := newSubject(t)
		p := domain.CodePolicy{TTL: time.Minute, MaxAttempts: 10, ResendInterval: 0, GuessesPerDay: 20, CodesPerDay: 3}
		acc, err := sub.Store.Change(ctx, byEmail("ida@example.com"), register("hash", p)) // code 1
		if err != nil {
			t.Fatal(err)
		}
		acc, err = sub.Store.Change(ctx, byID(acc.ID), func(a *domain.Account, now time.Time) error {
			return a.Activate(activationCode(t, a.Code.Value), now, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		token := signIn(t, sub.Store, acc.ID)
		if got := sub.Emailed(t, "ida@example.com"); len(got) != 1 {
			t.Fatalf("emailed %v before the deletion, want one code", got)
		}
		if _, err := sub.Store.Change(ctx, app.ByID(acc.ID), func(a *domain.Account, _ time.Time) error {
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
		if _, _, err := sub.Sessions.UseSession(ctx, token, sessions); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("a session of the deleted account: %v, want ErrInvalidToken", err)
		}
		if got := sub.Emailed(t, "ida@example.com"); len(got) != 1 || got[0] != "" {
			t.Errorf("emailed %v after the deletion, want the unsent code gone and the deletion's notice alone", got)
		}
		if known, _, err := sub.Store.SignedIn(ctx, "ida@example.com", "198.51.100.7", acc.ID); known || err != nil {
			t.Errorf("SignedIn of the deleted account: %v, %v; want not known", known, err)
		}
		if _, err := sub.Store.Change(ctx, app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
			return a.SignedInFrom("198.51.100.7", now, false)
		}); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("a new client of the deleted account: %v, want ErrAccountNotFound", err)
		}
		p.ResendInterval = 0
		for range 2 { // codes 2 and 3: the budget's last
			again, err := sub.Store.Change(ctx, byEmail("ida@example.com"), register("hash", p))
			if err != nil || again.ID == acc.ID {
				t.Fatalf("register after the deletion: id %s (was %s), %v; want a new account", again.ID, acc.ID, err)
			}
		}
		var retry *domain.RetryLaterError
		if _, err := sub.Store.Change(ctx, byEmail("ida@example.com"), register("hash", p)); !errors.As(err, &retry) || retry.Reason != domain.ReasonCodeBudget {
			t.Errorf("a 4th code for the address: %v, want the code budget spent across the deletion", err)
		}
	})

	t.Run("sessions: started with their account, used, ended one, all, and by a new password", func(t *testing.T) {
		sub := newSubject(t)
		acc := active(t, sub.Store, "jack@example.com")
		first := signIn(t, sub.Store, acc.ID)
		sess, got, err := sub.Sessions.UseSession(ctx, first, sessions)
		if err != nil || got.ID != acc.ID || sess.AccountID != acc.ID || sess.ID == "" {
			t.Fatalf("UseSession = %+v, %+v, %v", sess, got, err)
		}
		if _, _, err := sub.Sessions.UseSession(ctx, sha([]byte("no such token")), sessions); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("an unknown token: %v", err)
		}
		list, err := sub.Sessions.SessionsOf(ctx, acc.ID, sessions)
		if err != nil || len(list) != 1 || list[0].ID != sess.ID || list[0].Client != device.Client ||
			list[0].UserAgent != device.UserAgent || list[0].CreatedAt.IsZero() || list[0].LastUsedAt.IsZero() {
			t.Fatalf("SessionsOf = %+v, %v; want the one session with its device", list, err)
		}
		endSession := func(account, id string) error {
			_, err := sub.Store.Change(ctx, app.ByID(account), func(a *domain.Account, _ time.Time) error {
				a.EndSession(id)
				return nil
			})
			return err
		}
		// Another account cannot end it: the same answer as an unknown id.
		other := active(t, sub.Store, "other@example.com")
		for _, id := range []string{sess.ID, "00000000-0000-0000-0000-000000000000", "not an id"} {
			if err := endSession(other.ID, id); !errors.Is(err, domain.ErrSessionNotFound) {
				t.Errorf("another account ends session %q: %v, want ErrSessionNotFound", id, err)
			}
		}
		if _, _, err := sub.Sessions.UseSession(ctx, first, sessions); err != nil {
			t.Errorf("a session another account tried to end: %v", err)
		}
		if err := endSession(acc.ID, sess.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sub.Sessions.UseSession(ctx, first, sessions); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("an ended session: %v", err)
		}
		if err := endSession(acc.ID, sess.ID); !errors.Is(err, domain.ErrSessionNotFound) {
			t.Errorf("ending an ended session: %v, want ErrSessionNotFound", err)
		}
		// Past PerAccount (2), the least recently used ends.
		a, b := signIn(t, sub.Store, acc.ID), signIn(t, sub.Store, acc.ID)
		c := signIn(t, sub.Store, acc.ID)
		if _, _, err := sub.Sessions.UseSession(ctx, a, sessions); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("the oldest of 3 sessions with 2 per account: %v, want ended", err)
		}
		for _, tok := range [][]byte{b, c} {
			if _, _, err := sub.Sessions.UseSession(ctx, tok, sessions); err != nil {
				t.Errorf("a session within the limit: %v", err)
			}
		}
		if _, err := sub.Store.Change(ctx, app.ByID(acc.ID), func(a *domain.Account, _ time.Time) error {
			a.EndSessions()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, tok := range [][]byte{b, c} {
			if _, _, err := sub.Sessions.UseSession(ctx, tok, sessions); !errors.Is(err, domain.ErrInvalidToken) {
				t.Errorf("a session after signing out everywhere: %v", err)
			}
		}
		d := signIn(t, sub.Store, acc.ID)
		if _, err := sub.Store.Change(ctx, app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
			return a.ChangePassword("hash-2", now)
		}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sub.Sessions.UseSession(ctx, d, sessions); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("a session after a password change: %v", err)
		}
	})

	t.Run("sign-in history: attempts, their settlement, known clients, and a new password", func(t *testing.T) {
		s := newStore(t)
		acc := active(t, s, "kim@example.com")
		const owner, stranger, laptop = "203.0.113.1", "198.51.100.2", "192.0.2.3"
		history := func(client string) domain.SignInHistory {
			t.Helper()
			var h domain.SignInHistory
			attempt, err := s.Attempt(ctx, "kim@example.com", client, func(got domain.SignInHistory, _ time.Time) error {
				h = got
				return errRefused
			})
			if !errors.Is(err, errRefused) || attempt != 0 {
				t.Fatalf("a refused attempt: %d, %v", attempt, err)
			}
			return h
		}
		try := func(client string, settle func(int64) error) {
			t.Helper()
			attempt, err := s.Attempt(ctx, "kim@example.com", client, func(domain.SignInHistory, time.Time) error { return nil })
			if err != nil || attempt == 0 {
				t.Fatalf("Attempt: %d, %v", attempt, err)
			}
			if err := settle(attempt); err != nil {
				t.Fatal(err)
			}
		}
		// A right password: the history settles it, and a client the account does not
		// know yet is made known by a change (as app.Service.Authenticate does).
		signedIn := func(client string) func(int64) error {
			return func(int64) error {
				known, _, err := s.SignedIn(ctx, "kim@example.com", client, acc.ID)
				if err != nil || known {
					return err
				}
				_, err = s.Change(ctx, app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
					return a.SignedInFrom(client, now, false)
				})
				return err
			}
		}
		failed := func(attempt int64) error { return s.Failed(ctx, attempt) }
		withdrawn := func(attempt int64) error { return s.Withdraw(ctx, attempt) }

		try(owner, signedIn(owner))
		try(laptop, signedIn(laptop))
		try(stranger, failed)
		try(stranger, failed)
		try(stranger, withdrawn)
		if h := history(stranger); h.Known || len(h.Failures) != 2 || !h.Failures[0].Checked || h.Failures[0].Client != stranger {
			t.Errorf("the stranger's history: %+v, want 2 checked failures, not known", h)
		}
		if h := history(owner); !h.Known {
			t.Errorf("the owner's history: %+v, want known", h)
		}
		try(owner, failed) // the owner's typo
		try(owner, signedIn(owner))
		if h := history(owner); len(h.Failures) != 2 {
			t.Errorf("after the owner signed in: %d failures, want the stranger's 2 (the owner's own ended)", len(h.Failures))
		}
		// A new password from the owner: every failure ends, the laptop is a stranger again.
		if _, err := s.Change(app.WithClient(ctx, owner), app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
			return a.ChangePassword("hash-2", now)
		}); err != nil {
			t.Fatal(err)
		}
		if h := history(stranger); len(h.Failures) != 0 {
			t.Errorf("failures after a password change: %+v, want none", h.Failures)
		}
		if h := history(laptop); h.Known {
			t.Error("a client that knew the old password is still known after a password change")
		}
		if h := history(owner); !h.Known {
			t.Error("the client that changed the password is not known")
		}
	})

	t.Run("account events: one per change, none for a refused one, in pages, without an address once deleted", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		const client = "203.0.113.40"
		cctx := app.WithOrigin(ctx, app.Origin{Client: client, RequestID: "req-1"})
		acc, err := s.Change(cctx, byEmail("lea@example.com"), register("hash-1", policy))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Change(cctx, byID(acc.ID), func(a *domain.Account, now time.Time) error {
			if err := a.Activate(activationCode(t, a.Code.Value), now, policy); err != nil {
				return err
			}
			return errRefused // rolled back: no event
		}); !errors.Is(err, errRefused) {
			t.Fatal(err)
		}
		if _, err := s.Change(cctx, byID(acc.ID), func(a *domain.Account, now time.Time) error {
			return a.Activate(activationCode(t, a.Code.Value), now, policy)
		}); err != nil {
			t.Fatal(err)
		}
		signIn(t, s, acc.ID)
		for range 2 { // a new client is an event once, and a notice once
			if _, err := s.Change(cctx, app.ByID(acc.ID), func(a *domain.Account, now time.Time) error {
				return a.SignedInFrom(client, now, true)
			}); err != nil {
				t.Fatal(err)
			}
		}
		if got := sub.Emailed(t, "lea@example.com"); len(got) != 2 || got[1] != "" {
			t.Errorf("emailed %v, want the activation code and one notice of the new client", got)
		}
		for _, change := range []func(*domain.Account, time.Time) error{
			func(a *domain.Account, now time.Time) error { return a.ChangePassword("hash-2", now) },
			func(a *domain.Account, _ time.Time) error { a.EndSessions(); return nil },
		} {
			if _, err := s.Change(app.WithOrigin(ctx, app.Origin{Actor: "support"}), app.ByID(acc.ID), change); err != nil {
				t.Fatal(err)
			}
		}
		events, err := s.EventsOf(ctx, acc.ID, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, e := range events {
			types = append(types, e.Type)
			if e.AccountID != acc.ID || e.ID == "" || e.OccurredAt.IsZero() {
				t.Errorf("event %+v", e)
			}
		}
		want := []string{domain.EventSessionsRevoked, domain.EventPasswordChanged, domain.EventSignedIn,
			domain.EventSignedIn, domain.EventActivated, domain.EventRegistered}
		if !slices.Equal(types, want) {
			t.Fatalf("events, newest first: %v, want %v", types, want)
		}
		if events[5].Data["email"] != "lea@example.com" || events[4].Data["email"] != "lea@example.com" {
			t.Errorf("registered and activated carry the email: %v, %v", events[5].Data, events[4].Data)
		}
		if events[2].Data["client"] != client || events[3].Data["session_id"] == nil || events[3].Data["session_id"] == "" {
			t.Errorf("signed_in data: a session %v, a client %v", events[3].Data, events[2].Data)
		}
		if events[0].Data["actor"] != "support" || events[1].Data["actor"] != "support" {
			t.Errorf("an administrator's changes carry the actor: %v, %v", events[0].Data, events[1].Data)
		}
		// Keyset pages.
		page, err := s.EventsOf(ctx, acc.ID, events[1].ID, 2)
		if err != nil || len(page) != 2 || page[0].ID != events[2].ID || page[1].ID != events[3].ID {
			t.Errorf("the page before %s: %+v, %v", events[1].ID, page, err)
		}
		if page, err := s.EventsOf(ctx, acc.ID, "00000000-0000-0000-0000-000000000000", 2); err != nil || len(page) != 0 {
			t.Errorf("the page before an unknown event: %+v, %v", page, err)
		}
		// A deletion: one more event, and no address left in any.
		if _, err := s.Change(ctx, app.ByID(acc.ID), func(a *domain.Account, _ time.Time) error { a.Delete(); return nil }); err != nil {
			t.Fatal(err)
		}
		events, err = s.EventsOf(ctx, acc.ID, "", 100)
		if err != nil || len(events) != 7 || events[0].Type != domain.EventDeleted {
			t.Fatalf("after the deletion: %d events, newest %+v, %v", len(events), events[0], err)
		}
		for _, e := range events {
			if _, ok := e.Data["email"]; ok {
				t.Errorf("%s keeps the address after the deletion: %v", e.Type, e.Data)
			}
		}
	})

	t.Run("an email change: its code saved with its address, emailed there, counted on that mailbox; confirmed once", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		acc := active(t, s, "moving@example.com")
		kept, ended := signIn(t, s, acc.ID), signIn(t, s, acc.ID)
		list, err := sub.Sessions.SessionsOf(ctx, acc.ID, sessions)
		if err != nil || len(list) != 2 {
			t.Fatalf("SessionsOf = %+v, %v", list, err)
		}
		keep := list[1].ID // the older session, kept
		if _, err := s.Change(ctx, byEmail("moving@example.com"), func(a *domain.Account, now time.Time) error {
			return a.IssueReset(now, resets, rand.Reader)
		}); err != nil {
			t.Fatal(err)
		}
		// A wrong password counted against the old address.
		attempt, err := s.Attempt(ctx, "moving@example.com", "198.51.100.99", func(domain.SignInHistory, time.Time) error { return nil })
		if err != nil || s.Failed(ctx, attempt) != nil {
			t.Fatalf("a failure: %v", err)
		}
		requested, err := s.Change(ctx, moving(acc.ID, "moved+new@example.com"), requestChange("moved+new@example.com"))
		if err != nil || requested.EmailChange == nil || requested.EmailChange.To != "moved+new@example.com" {
			t.Fatalf("request: %+v, %v", requested.EmailChange, err)
		}
		code := requested.EmailChange.Value
		if got := sub.Emailed(t, "moved+new@example.com"); len(got) != 1 || got[0] != code {
			t.Errorf("emailed to the new address %v, want the code %s", got, code)
		}
		if got := sub.Emailed(t, "moving@example.com"); len(got) != 3 || got[2] != "" {
			t.Errorf("emailed to the old address %v, want the activation and reset codes, then a notice", got)
		}
		// Loaded back with its address and apart from the other codes; a wrong guess is
		// counted on the new address's mailbox (moved+other@ shares it), not the old one's.
		if _, err := s.Change(ctx, moving(acc.ID, ""), func(a *domain.Account, now time.Time) error {
			if a.EmailChange == nil || *a.EmailChange != *requested.EmailChange || a.Reset == nil || a.Code != nil {
				t.Errorf("loaded codes: change %+v, reset %+v, activation %+v", a.EmailChange, a.Reset, a.Code)
			}
			if len(a.Ledger.CodesIssued) != 1 || a.Holder != nil {
				t.Errorf("loaded the new mailbox's ledger %+v and holder %+v, want its one code and no holder", a.Ledger, a.Holder)
			}
			if err := confirmChange(t, wrongGuess(code), keep)(a, now); !errors.Is(err, domain.ErrInvalidEmailChangeCode) {
				t.Errorf("a wrong code: %v", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Change(ctx, moving(acc.ID, "moved+other@example.com"), func(a *domain.Account, _ time.Time) error {
			if len(a.Ledger.WrongGuesses) != 1 || a.EmailChange.FailedAttempts != 1 {
				t.Errorf("the new mailbox's ledger %+v and code %+v, want the wrong guess on both", a.Ledger, a.EmailChange)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Change(ctx, byID(acc.ID), func(a *domain.Account, _ time.Time) error {
			if len(a.Ledger.WrongGuesses) != 0 {
				t.Errorf("the old mailbox's ledger %+v took the wrong guess", a.Ledger)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		moved, err := s.Change(ctx, moving(acc.ID, ""), confirmChange(t, code, keep))
		if err != nil || moved.Email != "moved+new@example.com" || moved.EmailChange != nil || moved.Reset != nil {
			t.Fatalf("confirm: %+v, %v", moved, err)
		}
		if got, err := s.AccountByEmail(ctx, "moved+new@example.com"); err != nil || got.ID != acc.ID || got.Email != "moved+new@example.com" {
			t.Errorf("AccountByEmail(new) = %+v, %v", got, err)
		}
		if _, err := s.AccountByEmail(ctx, "moving@example.com"); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("AccountByEmail(old) after the change: %v, want ErrAccountNotFound", err)
		}
		if _, err := s.Change(ctx, byID(acc.ID), func(a *domain.Account, _ time.Time) error {
			if a.EmailChange != nil || a.Reset != nil {
				t.Errorf("codes after the change: %+v, %+v; want none", a.EmailChange, a.Reset)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Every session but the kept one ended.
		if _, _, err := sub.Sessions.UseSession(ctx, ended, sessions); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("another session after the change: %v, want it ended", err)
		}
		if sess, _, err := sub.Sessions.UseSession(ctx, kept, sessions); err != nil || sess.ID != keep {
			t.Errorf("the confirming session after the change: %+v, %v; want it kept", sess, err)
		}
		// The wrong passwords of the old address count against the new one.
		history := func(email domain.Email) domain.SignInHistory {
			var h domain.SignInHistory
			_, _ = s.Attempt(ctx, email, "198.51.100.98", func(got domain.SignInHistory, _ time.Time) error { h = got; return errRefused })
			return h
		}
		if h := history("moved+new@example.com"); len(h.Failures) != 1 || h.Failures[0].Client != "198.51.100.99" {
			t.Errorf("the new address's failures %+v, want the old address's one", h.Failures)
		}
		if h := history("moving@example.com"); len(h.Failures) != 0 {
			t.Errorf("the old address's failures %+v, want them moved", h.Failures)
		}
		events, err := s.EventsOf(ctx, acc.ID, "", 1)
		if err != nil || len(events) != 1 || events[0].Type != domain.EventEmailChanged || events[0].Data["email"] != "moved+new@example.com" {
			t.Errorf("the newest event %+v, %v; want account.email_changed with the new address", events, err)
		}
		// Used up.
		if _, err := s.Change(ctx, moving(acc.ID, ""), confirmChange(t, code, keep)); !errors.Is(err, domain.ErrInvalidEmailChangeCode) {
			t.Errorf("the code again: %v", err)
		}
		// Each email once.
		if got := sub.Emailed(t, "moved+new@example.com"); len(got) != 1 {
			t.Errorf("emailed to the new address %v, want the code alone", got)
		}
	})

	t.Run("an email change to an active account's address is counted but sends it nothing, and never confirms", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		holder := active(t, s, "holder@example.com")
		acc := active(t, s, "mover@example.com")
		requested, err := s.Change(ctx, moving(acc.ID, "holder@example.com"), func(a *domain.Account, now time.Time) error {
			if a.Holder == nil || a.Holder.ID != holder.ID || a.Holder.Status != domain.StatusActive || len(a.Ledger.CodesIssued) != 1 {
				t.Errorf("loaded holder %+v and ledger %+v, want the active holder and its mailbox's one code", a.Holder, a.Ledger)
			}
			return requestChange("holder@example.com")(a, now)
		})
		if err != nil || requested.EmailChange == nil {
			t.Fatalf("request: %+v, %v", requested.EmailChange, err)
		}
		if got := sub.Emailed(t, "holder@example.com"); len(got) != 1 {
			t.Errorf("emailed to the active holder %v, want its activation code alone", got)
		}
		if got := sub.Emailed(t, "mover@example.com"); len(got) != 2 || got[1] != "" {
			t.Errorf("emailed to the mover %v, want the notice all the same", got)
		}
		if _, err := s.Change(ctx, byID(holder.ID), func(a *domain.Account, _ time.Time) error {
			if len(a.Ledger.CodesIssued) != 2 {
				t.Errorf("the holder's mailbox %+v, want the withheld code counted", a.Ledger)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Change(ctx, moving(acc.ID, ""), confirmChange(t, requested.EmailChange.Value, "")); !errors.Is(err, domain.ErrEmailTaken) {
			t.Errorf("confirming an active account's address: %v, want ErrEmailTaken", err)
		}
		// The unique constraint decides, whatever the change was told of the holder (as
		// when an account took the address after it was loaded), and nothing is saved.
		token := signIn(t, s, acc.ID)
		if _, err := s.Change(ctx, moving(acc.ID, ""), func(a *domain.Account, now time.Time) error {
			a.Holder = nil
			return confirmChange(t, requested.EmailChange.Value, "")(a, now)
		}); !errors.Is(err, domain.ErrEmailTaken) {
			t.Errorf("a change to a taken address, its holder unseen: %v, want ErrEmailTaken from the constraint", err)
		}
		if got, err := s.AccountByID(ctx, acc.ID); err != nil || got.Email != "mover@example.com" {
			t.Errorf("the mover after a refused change: %+v, %v", got, err)
		}
		if _, _, err := sub.Sessions.UseSession(ctx, token, sessions); err != nil {
			t.Errorf("a session after a refused change: %v, want it kept", err)
		}
		if _, err := s.Change(ctx, moving(acc.ID, ""), func(a *domain.Account, _ time.Time) error {
			if a.EmailChange == nil || a.EmailChange.FailedAttempts != 0 {
				t.Errorf("the code after a refused change: %+v, want it as it was", a.EmailChange)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.AccountByEmail(ctx, "holder@example.com"); err != nil || got.ID != holder.ID {
			t.Errorf("the holder after the attempt: %+v, %v", got, err)
		}
	})

	t.Run("an email change replaces a pending account that holds the address", func(t *testing.T) {
		sub := newSubject(t)
		s := sub.Store
		pending := registered(t, s, "claimed@example.com")
		acc := active(t, s, "claimer@example.com")
		requested, err := s.Change(ctx, moving(acc.ID, "claimed@example.com"), requestChange("claimed@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if got := sub.Emailed(t, "claimed@example.com"); len(got) != 2 || got[1] != requested.EmailChange.Value {
			t.Errorf("emailed to the pending address %v, want its activation code, then the email-change code", got)
		}
		moved, err := s.Change(ctx, moving(acc.ID, ""), func(a *domain.Account, now time.Time) error {
			if a.Holder == nil || a.Holder.ID != pending.ID || a.Holder.Status != domain.StatusPending {
				t.Errorf("loaded holder %+v, want the pending account %s", a.Holder, pending.ID)
			}
			return confirmChange(t, requested.EmailChange.Value, "")(a, now)
		})
		if err != nil || moved.ID != acc.ID || moved.Email != "claimed@example.com" {
			t.Fatalf("confirm: %+v, %v", moved, err)
		}
		if _, err := s.AccountByID(ctx, pending.ID); !errors.Is(err, domain.ErrAccountNotFound) {
			t.Errorf("the replaced pending account: %v, want it gone", err)
		}
		if got, err := s.AccountByEmail(ctx, "claimed@example.com"); err != nil || got.ID != acc.ID || got.Status != domain.StatusActive {
			t.Errorf("AccountByEmail(claimed) = %+v, %v; want the claimer", got, err)
		}
		if _, err := s.Change(ctx, byEmail("claimed@example.com"), register("hash-2", domain.CodePolicy{TTL: time.Minute, CodesPerDay: 10})); !errors.Is(err, domain.ErrEmailTaken) {
			t.Errorf("registering the claimed address: %v, want ErrEmailTaken", err)
		}
	})

	t.Run("two accounts confirming one address: one wins by the constraint, the other is refused", func(t *testing.T) {
		for round := range 3 {
			s := newStore(t)
			target := domain.Email(fmt.Sprintf("contested%d@example.com", round))
			var codes []string
			var ids []string
			for i := range 2 {
				acc := active(t, s, domain.Email(fmt.Sprintf("rival%d-%d@example.com", round, i)))
				requested, err := s.Change(ctx, moving(acc.ID, target), requestChange(target))
				if err != nil {
					t.Fatal(err)
				}
				ids, codes = append(ids, acc.ID), append(codes, requested.EmailChange.Value)
			}
			results := make(chan error, 2)
			start := make(chan struct{})
			for i := range 2 {
				go func() {
					<-start
					_, err := s.Change(ctx, moving(ids[i], ""), confirmChange(t, codes[i], ""))
					results <- err
				}()
			}
			close(start)
			won, taken := 0, 0
			for range 2 {
				switch err := <-results; {
				case err == nil:
					won++
				case errors.Is(err, domain.ErrEmailTaken):
					taken++
				default:
					t.Errorf("a concurrent confirmation: %v", err)
				}
			}
			if won != 1 || taken != 1 {
				t.Fatalf("two confirmations of %s: %d won, %d refused as taken; want 1 and 1", target, won, taken)
			}
			if got, err := s.AccountByEmail(ctx, target); err != nil || !slices.Contains(ids, got.ID) {
				t.Errorf("AccountByEmail(%s) = %+v, %v", target, got, err)
			}
		}
	})

	t.Run("a client's budget: exact under concurrency, bounded, given back, and off at 0", func(t *testing.T) {
		sub := newSubject(t)
		const client, limit, n = "198.51.100.9", 3, 8
		p := policy
		p.ClientGuessesPerDay = limit
		guessKey := func(id string) app.Key {
			return app.Key{ID: id, Budgets: app.Budgets{Mailbox: true, ClientKind: app.ClientGuesses, ClientLimit: limit}}
		}
		var accounts []domain.Account
		for i := range n {
			accounts = append(accounts, registered(t, sub.Store, domain.Email(fmt.Sprintf("client%d@example.com", i))))
		}
		cctx := app.WithClient(ctx, client)
		// A right guess spends nothing: its reserved unit is given back.
		if _, err := sub.Store.Change(cctx, guessKey(accounts[0].ID), func(a *domain.Account, now time.Time) error {
			return a.Activate(activationCode(t, a.Code.Value), now, p)
		}); err != nil {
			t.Fatal(err)
		}
		if got := sub.ClientUnits(t, client); got != 0 {
			t.Errorf("after a right guess the client's budgets hold %d units, want 0", got)
		}
		results := make(chan error, n-1)
		for _, acc := range accounts[1:] {
			go func() {
				var outcome error
				_, err := sub.Store.Change(cctx, guessKey(acc.ID), func(a *domain.Account, now time.Time) error {
					outcome = a.Activate(activationCode(t, wrongGuess(a.Code.Value)), now, p)
					var invalid *domain.InvalidCodeError
					if errors.As(outcome, &invalid) {
						return nil
					}
					return outcome
				})
				results <- errors.Join(err, outcome)
			}()
		}
		wrong, refused := 0, 0
		for range n - 1 {
			var invalid *domain.InvalidCodeError
			var retry *domain.RetryLaterError
			switch err := <-results; {
			case errors.As(err, &invalid):
				wrong++
			case errors.As(err, &retry) && retry.Reason == domain.ReasonClientGuessBudget:
				refused++
			default:
				t.Errorf("a concurrent wrong guess: %v", err)
			}
		}
		if wrong != limit || refused != n-1-limit {
			t.Errorf("%d concurrent wrong guesses from one client with a budget of %d: %d counted, %d refused", n-1, limit, wrong, refused)
		}
		if got := sub.ClientUnits(t, client); got != limit {
			t.Errorf("the client's budgets hold %d units, want %d", got, limit)
		}
		// A budget of 0 is off: nothing is written for it.
		const other = "198.51.100.10"
		if _, err := sub.Store.Change(app.WithClient(ctx, other), app.Key{Email: "zero@example.com",
			Budgets: app.Budgets{Mailbox: true, ClientKind: app.ClientCodes, ClientLimit: 0}}, register("hash", policy)); err != nil {
			t.Fatal(err)
		}
		if got := sub.ClientUnits(t, other); got != 0 {
			t.Errorf("a budget of 0 wrote %d units to the client's budgets, want none", got)
		}
	})

	runAdmin(t, newSubject, registered, active)
}

// device is the device of the suite's sign-ins.
var device = domain.Device{Client: "198.51.100.50", UserAgent: "storetest/1.0"}

// errRefused is a decision that refuses, to read what a closure was shown.
var errRefused = errors.New("refused by the test")

// signIn starts a session of the active account id and returns its token's hash.
func signIn(t *testing.T, s app.Store, id string) []byte {
	t.Helper()
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		t.Fatal(err)
	}
	hash := sha(token)
	if _, err := s.Change(context.Background(), app.ByID(id), func(a *domain.Account, now time.Time) error {
		_, err := a.StartSession(hash, device, now, sessions)
		return err
	}); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	return hash
}

func sha(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// wrongGuess is a code of code's length that is not code.
func wrongGuess(code string) string {
	wrong := make([]byte, len(code))
	for i := range wrong {
		wrong[i] = '0'
	}
	if string(wrong) == code {
		wrong[0] = '1'
	}
	return string(wrong)
}
