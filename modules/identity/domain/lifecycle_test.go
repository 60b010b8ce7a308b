package domain

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRegisterAnAddressNoAccountHas(t *testing.T) {
	a := &Account{Email: "new@example.com"}
	if err := a.Register("h1", t0, policy, rand.Reader); err != nil {
		t.Fatal(err)
	}
	events := a.Events()
	if len(events) != 2 || events[0] != (AccountRegistered{Email: "new@example.com", At: t0}) {
		t.Fatalf("events %v, want AccountRegistered then CodeIssued", events)
	}
	if _, ok := events[1].(CodeIssued); !ok || a.Status != StatusPending || a.ID != "" || a.Code == nil || a.Ledger.CodesIssued.Units() != 1 {
		t.Fatalf("registered %+v", a)
	}
}

func TestRegisterTakesOverWithANewAccount(t *testing.T) {
	a := pendingAccount(t)
	a.events = nil
	later := t0.Add(policy.ResendInterval)
	if err := a.Register("h2", later, policy, rand.Reader); err != nil {
		t.Fatal(err)
	}
	events := a.Events()
	if len(events) != 3 || events[0] != (AccountReplaced{ID: "id-1"}) || events[1] != (AccountRegistered{Email: a.Email, At: later}) {
		t.Fatalf("events %v, want AccountReplaced, AccountRegistered, CodeIssued", events)
	}
	if a.ID != "" || a.PasswordHash != "h2" || !a.CreatedAt.Equal(later) || a.Reset != nil {
		t.Fatalf("after a takeover %+v, want a new account (no id yet)", a)
	}
}

func TestCanRegisterChangesNothing(t *testing.T) {
	a := pendingAccount(t)
	before := fmt.Sprintf("%+v %+v", *a, *a.Code)
	if err := a.CanRegister(t0.Add(time.Second), policy); !isRetry(err, ReasonResendInterval) {
		t.Errorf("inside the resend interval: %v", err)
	}
	if err := a.CanRegister(t0.Add(policy.ResendInterval), policy); err != nil {
		t.Errorf("past it: %v", err)
	}
	if after := fmt.Sprintf("%+v %+v", *a, *a.Code); after != before {
		t.Errorf("CanRegister changed the account:\n%s\n%s", before, after)
	}
	active := Account{ID: "x", Status: StatusActive}
	if err := active.CanRegister(t0, policy); !errors.Is(err, ErrEmailTaken) {
		t.Errorf("an active account: %v", err)
	}
}

// TestAResetTouchesOnlyItsPurpose: a reset request of a pending account issues nothing
// and leaves the activation code; an active account's reset code leaves the activation
// slot as it was.
func TestAResetTouchesOnlyItsPurpose(t *testing.T) {
	a := pendingAccount(t)
	code := *a.Code
	if err := a.IssueReset(t0, resetPolicy, rand.Reader); !IsNoReset(err) {
		t.Fatalf("a pending account's reset: %v", err)
	}
	if a.Code == nil || *a.Code != code || a.Reset != nil || len(a.Events()) != 1 {
		t.Errorf("a refused reset changed the account: code %+v, reset %+v, events %v", a.Code, a.Reset, a.Events())
	}
}

func TestCheckResetCodeUsesNothingUp(t *testing.T) {
	now := t0
	a := &Account{ID: "a", Email: "a@example.com", Status: StatusActive, PasswordHash: "old",
		Reset: &Code{Value: "12345678", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}}
	if err := a.CheckResetCode(rc("12345678"), now, resetPolicy); err != nil || a.Reset == nil || len(a.Events()) != 0 {
		t.Fatalf("the right code checked: %v, reset %+v, events %v; want nothing used", err, a.Reset, a.Events())
	}
	if err := a.ConfirmReset(rc("12345678"), "new", now, resetPolicy); err != nil {
		t.Fatal(err)
	}
	if e, ok := a.Events()[0].(PasswordChanged); !ok || !e.Reset || a.Reset != nil || a.PasswordHash != "new" {
		t.Errorf("after the reset: events %v, reset %+v", a.Events(), a.Reset)
	}
}

func TestAPasswordChangeVoidsTheResetCode(t *testing.T) {
	a := &Account{ID: "a", Email: "a@example.com", Status: StatusActive,
		Reset: &Code{Value: "12345678", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute)}}
	if err := a.ChangePassword("new", t0); err != nil {
		t.Fatal(err)
	}
	if e, ok := a.Events()[0].(PasswordChanged); !ok || e.Reset || a.Reset != nil {
		t.Errorf("events %v, reset %+v; want a change (not a reset) and the code void", a.Events(), a.Reset)
	}
}

func TestAPasswordPrintsMasked(t *testing.T) {
	p, msg := ParsePassword("a secret passphrase", "")
	if msg != "" {
		t.Fatal(msg)
	}
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %s %#v", p, p, p, p)} {
		if s == "" || containsSecret(s) {
			t.Errorf("printed %q", s)
		}
	}
	if p.Plain() != "a secret passphrase" {
		t.Errorf("Plain = %q", p.Plain())
	}
}

func containsSecret(s string) bool {
	for i := 0; i+6 <= len(s); i++ {
		if s[i:i+6] == "secret" {
			return true
		}
	}
	return false
}
