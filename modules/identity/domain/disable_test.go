package domain

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDisableAndEnable(t *testing.T) {
	now := time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC)
	acc := activeAccount()
	acc.Reset = &Code{Value: "12345678", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	acc.EmailChange = &Code{Value: "87654321", IssuedAt: now, ExpiresAt: now.Add(time.Hour), To: "new@example.com"}
	reason, _ := ParseDisableReason("  chargeback fraud, ticket 42  ")
	acc.Disable(reason, now)
	if acc.DisabledAt == nil || !acc.DisabledAt.Equal(now) || !acc.Disabled() {
		t.Fatalf("DisabledAt %v, want %v", acc.DisabledAt, now)
	}
	if acc.Reset != nil || acc.EmailChange != nil {
		t.Errorf("codes after a disable: reset %+v, email change %+v; want both void", acc.Reset, acc.EmailChange)
	}
	want := AccountDisabled{Email: acc.Email, At: now, Reason: "chargeback fraud, ticket 42"}
	if ev := acc.Events(); len(ev) != 1 || ev[0] != want {
		t.Fatalf("events %#v, want %#v", ev, want)
	}
	// Disabling a disabled account changes nothing and records nothing: the first stands.
	acc.Disable(reason, now.Add(time.Hour))
	if len(acc.Events()) != 1 || !acc.DisabledAt.Equal(now) {
		t.Errorf("a second disable: events %#v, DisabledAt %v", acc.Events(), acc.DisabledAt)
	}
	acc.Enable(now.Add(2 * time.Hour))
	if acc.DisabledAt != nil {
		t.Errorf("DisabledAt %v after Enable", acc.DisabledAt)
	}
	if ev := acc.Events(); len(ev) != 2 || ev[1] != (AccountEnabled{At: now.Add(2 * time.Hour)}) {
		t.Fatalf("events %#v, want the disable then the enable", ev)
	}
	acc.Enable(now.Add(3 * time.Hour))
	if len(acc.Events()) != 2 {
		t.Errorf("enabling an enabled account recorded %#v", acc.Events()[2:])
	}
}

// TestDisabledAccountRefuses: whatever its owner asks is refused with ErrAccountDisabled
// (after its credentials, by the use case), and nothing is emailed to it: a reset request
// sends nothing, a reset code is a miss, a registration of its address is refused as
// taken (pending too), and it keeps its address against another account's email change.
func TestDisabledAccountRefuses(t *testing.T) {
	now := time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC)
	disabled := func(status Status) *Account {
		a := activeAccount()
		if status == StatusPending {
			a.Status, a.ActivatedAt = StatusPending, nil
			a.Code = &Code{Value: "1234", IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Hour + time.Minute)}
		}
		a.Disable(DisableReason{}, now.Add(-time.Minute))
		a.events = nil
		return &a
	}
	sessions := SessionPolicy{IdleTimeout: time.Hour, MaxAge: 2 * time.Hour, PerAccount: 3}
	for name, tc := range map[string]struct {
		status Status
		do     func(a *Account) error
		want   error
	}{
		"sign in":             {StatusActive, func(a *Account) error { _, err := a.StartSession([]byte("h"), Device{}, now, sessions); return err }, ErrAccountDisabled},
		"a new client":        {StatusActive, func(a *Account) error { return a.SignedInFrom("192.0.2.1", now, true) }, ErrAccountDisabled},
		"change the password": {StatusActive, func(a *Account) error { return a.ChangePassword("new", now) }, ErrAccountDisabled},
		"request an email change": {StatusActive, func(a *Account) error {
			return a.RequestEmailChange("new@example.com", now, changePolicy, rand.Reader)
		}, ErrAccountDisabled},
		"confirm an email change": {StatusActive, func(a *Account) error { return a.ConfirmEmailChange(ec("12345678"), "", now, changePolicy) }, ErrAccountDisabled},
		"a reset code":            {StatusActive, func(a *Account) error { return a.CheckResetCode(rc("12345678"), now, resetPolicy) }, ErrInvalidResetCode},
		"activate":                {StatusPending, func(a *Account) error { return a.Activate(ac("1234"), now, policy) }, ErrAccountDisabled},
		"a new activation code":   {StatusPending, func(a *Account) error { return a.IssueCode(now, policy, rand.Reader) }, ErrAccountDisabled},
		"register, active":        {StatusActive, func(a *Account) error { return a.Register("h", now, policy, rand.Reader) }, ErrEmailTaken},
		"register, pending":       {StatusPending, func(a *Account) error { return a.Register("h", now, policy, rand.Reader) }, ErrEmailTaken},
	} {
		t.Run(name, func(t *testing.T) {
			a := disabled(tc.status)
			if err := tc.do(a); !errors.Is(err, tc.want) {
				t.Errorf("%v, want %v", err, tc.want)
			}
			for _, e := range a.Events() {
				if _, wrong := e.(WrongCode); !wrong {
					t.Errorf("a disabled account recorded %#v", e)
				}
			}
		})
	}
	t.Run("a reset request sends nothing", func(t *testing.T) {
		a := disabled(StatusActive)
		if err := a.IssueReset(now, resetPolicy, rand.Reader); !IsNoReset(err) || len(a.Events()) != 0 || a.Reset != nil {
			t.Errorf("IssueReset: %v, events %#v", err, a.Events())
		}
	})
	t.Run("a disabled holder keeps its address", func(t *testing.T) {
		a := activeAccount()
		a.Holder = &AddressHolder{ID: "h", Status: StatusPending, Disabled: true}
		if err := a.RequestEmailChange("held@example.com", now, changePolicy, rand.Reader); err != nil {
			t.Fatal(err)
		}
		if issued := a.Events()[0].(CodeIssued); !issued.Withheld {
			t.Errorf("the code to a disabled holder's address was sent: %#v", issued)
		}
		code := a.EmailChange.Value
		if err := a.ConfirmEmailChange(ec(code), "", now, changePolicy); err != nil {
			t.Fatal(err)
		}
		for _, e := range a.Events() {
			if _, replaced := e.(AccountReplaced); replaced {
				t.Errorf("a disabled pending holder was replaced: %#v", a.Events())
			}
		}
	})
}

func TestParseDisableReason(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "",
		"  spam  ":                           "spam",
		strings.Repeat("é", 500):             strings.Repeat("é", 500),
		strings.Repeat("x", 501):             "!",
		"line\nbreak":                        "!",
		"nul\x00":                            "!",
		"an operator's note, ticket #1234 ✓": "an operator's note, ticket #1234 ✓",
	} {
		r, msg := ParseDisableReason(in)
		if (msg != "") != (want == "!") || (msg == "" && r.String() != want) {
			t.Errorf("ParseDisableReason(%q) = %q, %q; want %q", in, r, msg, want)
		}
	}
}
