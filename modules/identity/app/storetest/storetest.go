// Package storetest is the contract of app.Store as one test suite, run against every
// implementation: the fake the use cases' tests rely on (app) and the PostgreSQL store
// (adapter/postgres). A behaviour the fake has and the real store lacks, or the other way
// round, fails here first.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
)

var policy = domain.CodePolicy{TTL: time.Minute, MaxAttempts: 3, ResendInterval: 30 * time.Second,
	GuessesPerDay: 20, CodesPerDay: 10}

// Run runs the contract against the stores newStore makes, a fresh empty one per test.
func Run(t *testing.T, newStore func(t *testing.T) app.Store) {
	ctx := context.Background()
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
}
