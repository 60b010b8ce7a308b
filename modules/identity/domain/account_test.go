package domain

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

var (
	policy = CodePolicy{TTL: time.Minute, MaxAttempts: 5, ResendInterval: 30 * time.Second, GuessesPerDay: 20, CodesPerDay: 10}
	t0     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func pendingAccount(t *testing.T) *Account {
	t.Helper()
	a := &Account{ID: "id-1", Email: "alice@example.com", PasswordHash: "h1", Status: StatusPending, CreatedAt: t0}
	if err := a.IssueCode(t0, policy, rand.Reader); err != nil {
		t.Fatalf("issue code: %v", err)
	}
	return a
}

func wrongGuess(code string) string {
	if code == "0000" {
		return "0001"
	}
	return "0000"
}

func TestIssueCode(t *testing.T) {
	a := pendingAccount(t)
	if a.Code == nil || !validCode(a.Code.Value) {
		t.Fatalf("code = %+v, want four digits", a.Code)
	}
	if !a.Code.ExpiresAt.Equal(t0.Add(time.Minute)) || !a.Code.IssuedAt.Equal(t0) {
		t.Fatalf("code times = %v..%v, want %v..%v", a.Code.IssuedAt, a.Code.ExpiresAt, t0, t0.Add(time.Minute))
	}
	if got := issued(a); len(got) != 1 || got[0].Code != a.Code.Value || got[0].Email != a.Email {
		t.Fatalf("issued events = %+v, want one for the code", got)
	}

	var retry *RetryLaterError
	err := a.IssueCode(t0.Add(10*time.Second), policy, rand.Reader)
	if !asRetry(err, &retry, ReasonResendInterval) || retry.RetryAfter != 20*time.Second {
		t.Fatalf("issue inside resend interval: got %v, want RetryLaterError of 20s", err)
	}
	if err := a.IssueCode(t0.Add(30*time.Second), policy, rand.Reader); err != nil {
		t.Fatalf("issue after resend interval: %v", err)
	}
	if len(issued(a)) != 2 {
		t.Fatalf("issued %d codes, want 2", len(issued(a)))
	}

	a.Status = StatusActive
	if err := a.IssueCode(t0.Add(time.Hour), policy, rand.Reader); !errors.Is(err, ErrAlreadyActive) {
		t.Fatalf("issue to active account: got %v, want ErrAlreadyActive", err)
	}
}

func TestNewCodeValueIsFourDigitsFromTheSource(t *testing.T) {
	// A source of zeros draws 0: the value must still have four digits.
	got, err := NewCodeValue(PurposeActivation, bytes.NewReader(make([]byte, 64)))
	if err != nil || got != "0000" {
		t.Fatalf("NewCodeValue(PurposeActivation, zeros) = %q, %v; want 0000", got, err)
	}
	if _, err := NewCodeValue(PurposeActivation, bytes.NewReader(nil)); err == nil {
		t.Fatal("NewCodeValue on an empty source: want an error")
	}
	seen := map[string]bool{}
	for range 200 {
		v, err := NewCodeValue(PurposeActivation, rand.Reader)
		if err != nil || !validCode(v) {
			t.Fatalf("NewCodeValue = %q, %v", v, err)
		}
		seen[v] = true
	}
	if len(seen) < 150 {
		t.Fatalf("200 draws gave only %d distinct codes: not random", len(seen))
	}
}

func TestActivate(t *testing.T) {
	t.Run("right code activates and consumes the code", func(t *testing.T) {
		a := pendingAccount(t)
		now := t0.Add(59 * time.Second)
		if err := a.Activate(ac(a.Code.Value), now, policy); err != nil {
			t.Fatalf("activate: %v", err)
		}
		if a.Status != StatusActive || a.ActivatedAt == nil || !a.ActivatedAt.Equal(now) || a.Code != nil {
			t.Fatalf("account after activation = %+v", a)
		}
		if err := a.Activate(ac("1234"), now, policy); !errors.Is(err, ErrAlreadyActive) {
			t.Fatalf("second activation: got %v, want ErrAlreadyActive", err)
		}
	})
	t.Run("expired at exactly the TTL", func(t *testing.T) {
		a := pendingAccount(t)
		if err := a.Activate(ac(a.Code.Value), t0.Add(time.Minute), policy); !errors.Is(err, ErrCodeExpired) {
			t.Fatalf("got %v, want ErrCodeExpired", err)
		}
		if a.Status != StatusPending {
			t.Fatal("an expired code activated the account")
		}
	})
	t.Run("wrong guesses count down, then every guess is refused", func(t *testing.T) {
		a := pendingAccount(t)
		right, wrong := a.Code.Value, wrongGuess(a.Code.Value)
		for want := 4; want >= 0; want-- {
			var invalid *InvalidCodeError
			err := a.Activate(ac(wrong), t0, policy)
			if !errors.As(err, &invalid) || invalid.AttemptsRemaining != want {
				t.Fatalf("wrong guess: got %v, want InvalidCodeError with %d remaining", err, want)
			}
		}
		if err := a.Activate(ac(right), t0, policy); !isRetry(err, ReasonCodeLocked) {
			t.Fatalf("right code after 5 wrong guesses: got %v, want ErrTooManyAttempts", err)
		}
		var locked *RetryLaterError
		if err := a.Activate(ac(right), t0.Add(10*time.Second), policy); !asRetry(err, &locked, ReasonCodeLocked) || locked.RetryAfter != 20*time.Second {
			t.Fatalf("locked code 10 s after it was issued: got %v, want CodeLockedError retry in 20 s (the resend interval)", err)
		}
		if err := a.IssueCode(t0.Add(policy.ResendInterval), policy, rand.Reader); err != nil {
			t.Fatalf("new code: %v", err)
		}
		if err := a.Activate(ac(a.Code.Value), t0.Add(policy.ResendInterval), policy); err != nil {
			t.Fatalf("new code after lock-out: %v", err)
		}
	})
	t.Run("only the latest code counts", func(t *testing.T) {
		a := pendingAccount(t)
		first := a.Code.Value
		later := t0.Add(policy.ResendInterval)
		for a.Code.Value == first { // a new draw may repeat the old code; draw until it differs
			if err := a.IssueCode(later, policy, rand.Reader); err != nil {
				t.Fatalf("reissue: %v", err)
			}
			later = later.Add(policy.ResendInterval)
		}
		var invalid *InvalidCodeError
		if err := a.Activate(ac(first), later, policy); !errors.As(err, &invalid) {
			t.Fatalf("superseded code: got %v, want InvalidCodeError", err)
		}
	})
	t.Run("no code", func(t *testing.T) {
		a := &Account{Status: StatusPending}
		if err := a.Activate(ac("1234"), t0, policy); !errors.Is(err, ErrCodeExpired) {
			t.Fatalf("got %v, want ErrCodeExpired", err)
		}
	})
}

func TestRegisterTakesOverAPendingAccount(t *testing.T) {
	a := pendingAccount(t)
	var retry *RetryLaterError
	if err := a.Register("h2", t0.Add(time.Second), policy, rand.Reader); !asRetry(err, &retry, ReasonResendInterval) {
		t.Fatalf("re-register inside resend interval: got %v, want RetryLaterError", err)
	}
	if a.PasswordHash != "h1" {
		t.Fatal("a refused re-registration changed the password")
	}
	later := t0.Add(policy.ResendInterval)
	if err := a.Register("h2", later, policy, rand.Reader); err != nil {
		t.Fatalf("re-register: %v", err)
	}
	if a.PasswordHash != "h2" || !a.CreatedAt.Equal(later) || !a.Code.IssuedAt.Equal(later) || a.Code.FailedAttempts != 0 {
		t.Fatalf("account after takeover = %+v, code %+v", a, a.Code)
	}
	a.Status = StatusActive
	if err := a.Register("h3", later.Add(time.Hour), policy, rand.Reader); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("re-register active: got %v, want ErrEmailTaken", err)
	}
}

func TestParseActivationCode(t *testing.T) {
	for s, want := range map[string]bool{
		"0000": true, "1234": true, "9999": true,
		"123": false, "12345": false, "12a4": false, "": false, " 123": false,
		"١٢٣٤": false, // Arabic-Indic digits are not ASCII
	} {
		if _, msg := ParseActivationCode(s); (msg == "") != want {
			t.Errorf("ParseActivationCode(%q) says %q, want valid %v", s, msg, want)
		}
	}
	for s, want := range map[string]bool{"12345678": true, "1234": false, "1234567a": false} {
		if _, msg := ParseResetCode(s); (msg == "") != want {
			t.Errorf("ParseResetCode(%q) says %q, want valid %v", s, msg, want)
		}
	}
}

// TestDelete: any account may be deleted, and the deletion names the account and its
// address for the store.
func TestDelete(t *testing.T) {
	active := Account{ID: "id-2", Email: "bob@example.com", Status: StatusActive}
	for _, a := range []*Account{pendingAccount(t), &active} {
		a.Delete()
		events := a.Events()
		last, ok := events[len(events)-1].(AccountDeleted)
		if !ok || last != (AccountDeleted{ID: a.ID, Email: a.Email}) {
			t.Errorf("%s (%s): events %v, want AccountDeleted of %s last", a.ID, a.Status, events, a.Email)
		}
	}
}
