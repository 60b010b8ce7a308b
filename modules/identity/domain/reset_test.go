package domain

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

var resetPolicy = ResetPolicy{TTL: 15 * time.Minute, ResendInterval: time.Minute, MaxAttempts: 5, GuessesPerDay: 20, ResetsPerDay: 5,
	ClientGuessesPerDay: 50, ClientCodesPerDay: 100}

func TestIssueResetOnlyToActiveAccountsWithinBudget(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for name, acc := range map[string]Account{
		"unknown": {Email: "nobody@example.com"},
		"pending": {ID: "p", Email: "p@example.com", Status: StatusPending},
		"inside the resend interval": {ID: "a", Email: "a@example.com", Status: StatusActive,
			Reset: &Code{Value: "12345678", IssuedAt: now.Add(-30 * time.Second), ExpiresAt: now.Add(14 * time.Minute)}},
		"the mailbox's resets spent": {ID: "a", Email: "a@example.com", Status: StatusActive,
			Ledger: Ledger{ResetsIssued: Instants(now.Add(-time.Hour), now.Add(-2*time.Hour), now.Add(-3*time.Hour), now.Add(-4*time.Hour), now.Add(-5*time.Hour))}},
	} {
		if err := acc.IssueReset(now, resetPolicy, rand.Reader); !IsNoReset(err) || len(acc.Events()) != 0 {
			t.Errorf("%s: IssueReset = %v with events %v, want no reset and nothing recorded", name, err, acc.Events())
		}
	}
	// The activation budget spent is no reason: the budgets are apart.
	acc := Account{ID: "a", Email: "a@example.com", Status: StatusActive,
		Ledger: Ledger{CodesIssued: Tally{{At: now.Add(-time.Minute), Units: 10}}, WrongGuesses: Tally{{At: now.Add(-time.Minute), Units: 20}}}}
	if err := acc.IssueReset(now, resetPolicy, rand.Reader); err != nil {
		t.Fatalf("IssueReset with the activation budgets spent: %v", err)
	}
	e, ok := acc.Events()[0].(CodeIssued)
	if !ok || e.Purpose != PurposePasswordReset || !validResetCode(e.Code) || !e.ExpiresAt.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("event %#v, want an 8-digit reset code valid 15 minutes", acc.Events()[0])
	}
}

func TestConfirmReset(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	live := func() Account {
		return Account{ID: "a", Email: "a@example.com", Status: StatusActive, PasswordHash: "old",
			Reset: &Code{Value: "12345678", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(14 * time.Minute)}}
	}
	acc := live()
	if err := acc.ConfirmReset(rc("12345678"), "new", now, resetPolicy); err != nil || acc.PasswordHash != "new" || acc.Reset != nil {
		t.Fatalf("the right code: %v, hash %q, code %v", err, acc.PasswordHash, acc.Reset)
	}
	if _, ok := acc.Events()[0].(PasswordChanged); !ok {
		t.Fatalf("events %v, want PasswordChanged", acc.Events())
	}
	misses := map[string]Account{
		"a wrong code":   live(),
		"no account":     {Email: "nobody@example.com"},
		"no code":        {ID: "a", Email: "a@example.com", Status: StatusActive},
		"a pending one":  {ID: "p", Email: "p@example.com", Status: StatusPending},
		"expired":        {ID: "a", Email: "a@example.com", Status: StatusActive, Reset: &Code{Value: "12345678", IssuedAt: now.Add(-16 * time.Minute), ExpiresAt: now.Add(-time.Minute)}},
		"void (guessed)": {ID: "a", Email: "a@example.com", Status: StatusActive, Reset: &Code{Value: "12345678", IssuedAt: now, ExpiresAt: now.Add(time.Minute), FailedAttempts: 5}},
	}
	for name, acc := range misses {
		guess := "12345678"
		if name == "a wrong code" {
			guess = "87654321"
		}
		err := acc.ConfirmReset(rc(guess), "new", now, resetPolicy)
		if !errors.Is(err, ErrInvalidResetCode) || acc.PasswordHash == "new" || acc.Ledger.WrongResets.Units() != 1 || acc.Client.WrongGuesses.Units() != 1 {
			t.Errorf("%s: %v (hash %q, %d mailbox and %d client guesses), want one miss counted", name, err, acc.PasswordHash,
				acc.Ledger.WrongResets.Units(), acc.Client.WrongGuesses.Units())
		}
	}
	// A code takes MaxAttempts wrong guesses; then the right one is a miss too.
	guessed := live()
	for i := range resetPolicy.MaxAttempts {
		if err := guessed.ConfirmReset(rc("87654321"), "new", now, resetPolicy); !errors.Is(err, ErrInvalidResetCode) || guessed.Reset.FailedAttempts != i+1 {
			t.Fatalf("wrong guess %d: %v, %d attempts counted", i+1, err, guessed.Reset.FailedAttempts)
		}
	}
	if err := guessed.ConfirmReset(rc("12345678"), "new", now, resetPolicy); !errors.Is(err, ErrInvalidResetCode) || guessed.PasswordHash == "new" {
		t.Fatalf("the right code after %d wrong guesses: %v, want a miss", resetPolicy.MaxAttempts, err)
	}
	spent := live()
	for range 20 {
		spent.Ledger.WrongResets = append(spent.Ledger.WrongResets, Count{At: now.Add(-time.Hour), Units: 1})
	}
	var later *RetryLaterError
	if err := spent.ConfirmReset(rc("12345678"), "new", now, resetPolicy); !errors.As(err, &later) || later.Reason != ReasonResetGuessBudget {
		t.Fatalf("past 20 wrong reset codes: %v, want the reset guess budget", err)
	}
	// Activation's wrong guesses are no reason.
	other := live()
	other.Ledger.WrongGuesses = Tally{{At: now.Add(-time.Hour), Units: 20}}
	if err := other.ConfirmReset(rc("12345678"), "new", now, resetPolicy); err != nil {
		t.Fatalf("with activation's guesses spent: %v", err)
	}
}
