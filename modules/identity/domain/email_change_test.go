package domain

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

var changePolicy = EmailChangePolicy{TTL: 15 * time.Minute, MaxAttempts: 5, CodesPerDay: 10, GuessesPerDay: 20,
	ClientCodesPerDay: 100, ClientGuessesPerDay: 50}

// spentAt is n instants an hour ago: a budget of n spent.
func spentAt(now time.Time, n int) Tally {
	out := make(Tally, n)
	for i := range out {
		out[i] = Count{At: now.Add(-time.Hour), Units: 1}
	}
	return out
}

func activeAccount() Account {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return Account{ID: "a", Email: "old@example.com", Status: StatusActive, PasswordHash: "hash", ActivatedAt: &at}
}

func TestRequestEmailChange(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	acc := activeAccount()
	if err := acc.RequestEmailChange("new@example.com", now, changePolicy, rand.Reader); err != nil {
		t.Fatalf("RequestEmailChange: %v", err)
	}
	c := acc.EmailChange
	if c == nil || c.To != "new@example.com" || !validResetCode(c.Value) || !c.ExpiresAt.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("the code %+v, want 8 digits for new@example.com valid 15 minutes", c)
	}
	if acc.Email != "old@example.com" || acc.Code != nil || acc.Reset != nil {
		t.Fatalf("a request changed the account: %+v", acc)
	}
	// The code goes to the new address and spends its mailbox's activation budget (the
	// ledger loaded is the new address's) and the client's; the old address is told.
	if acc.Ledger.CodesIssued.Units() != 1 || acc.Client.CodesIssued.Units() != 1 || acc.Ledger.ResetsIssued.Units() != 0 {
		t.Errorf("ledgers %+v, client %+v: want one code of activation's budget and one of the client's", acc.Ledger, acc.Client)
	}
	events := acc.Events()
	issued, ok := events[0].(CodeIssued)
	if len(events) != 2 || !ok || issued.Purpose != PurposeEmailChange || issued.Email != "new@example.com" ||
		issued.Code != c.Value || issued.Withheld {
		t.Fatalf("events %#v, want the code emailed to the new address, then the notice", events)
	}
	if notice, ok := events[1].(EmailChangeRequested); !ok || notice.Email != "old@example.com" || !notice.At.Equal(now) {
		t.Fatalf("event %#v, want the notice to the old address", events[1])
	}
	// Only the latest code counts: a second request replaces it, to another address too.
	first := *c
	if err := acc.RequestEmailChange("other@example.com", now, changePolicy, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if acc.EmailChange.To != "other@example.com" || *acc.EmailChange == first {
		t.Errorf("a second request left %+v", acc.EmailChange)
	}
}

func TestRequestEmailChangeToAnActiveAccountsAddressSendsItNothing(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for status, withheld := range map[Status]bool{StatusActive: true, StatusPending: false} {
		acc := activeAccount()
		acc.Holder = &AddressHolder{ID: "h", Status: status}
		if err := acc.RequestEmailChange("taken@example.com", now, changePolicy, rand.Reader); err != nil {
			t.Fatalf("%s holder: %v", status, err)
		}
		// Spent and answered alike: only the code's email differs.
		issued, _ := acc.Events()[0].(CodeIssued)
		if issued.Withheld != withheld || acc.EmailChange == nil || acc.Ledger.CodesIssued.Units() != 1 || acc.Client.CodesIssued.Units() != 1 {
			t.Errorf("a %s holder: withheld %v, code %v, ledgers %+v %+v; want withheld %v and the same spending",
				status, issued.Withheld, acc.EmailChange, acc.Ledger, acc.Client, withheld)
		}
		if _, ok := acc.Events()[1].(EmailChangeRequested); !ok {
			t.Errorf("a %s holder: no notice to the old address", status)
		}
	}
}

func TestRequestEmailChangeRefusals(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var verr *ValidationError
	acc := activeAccount()
	if err := acc.RequestEmailChange("old@example.com", now, changePolicy, rand.Reader); !errors.As(err, &verr) ||
		verr.Fields[0].Field != "email" {
		t.Errorf("the account's own address: %v, want a validation error on email", err)
	}
	pending := Account{ID: "p", Email: "p@example.com", Status: StatusPending}
	if err := pending.RequestEmailChange("new@example.com", now, changePolicy, rand.Reader); !errors.Is(err, ErrAccountPending) {
		t.Errorf("a pending account: %v, want ErrAccountPending", err)
	}
	var later *RetryLaterError
	mailbox := activeAccount()
	mailbox.Ledger.CodesIssued = spentAt(now, 10)
	if err := mailbox.RequestEmailChange("new@example.com", now, changePolicy, rand.Reader); !errors.As(err, &later) ||
		later.Reason != ReasonCodeBudget || later.RetryAfter != 23*time.Hour {
		t.Errorf("the new mailbox's codes spent: %v, want the code budget for 23 h", err)
	}
	client := activeAccount()
	client.Client.CodesIssued = spentAt(now, 100)
	if err := client.RequestEmailChange("new@example.com", now, changePolicy, rand.Reader); !errors.As(err, &later) ||
		later.Reason != ReasonClientCodeBudget {
		t.Errorf("the client's codes spent: %v, want the client's code budget", err)
	}
	for name, acc := range map[string]Account{"own": acc, "pending": pending, "mailbox": mailbox, "client": client} {
		if len(acc.Events()) != 0 || acc.EmailChange != nil {
			t.Errorf("%s: a refused request recorded %v, code %v", name, acc.Events(), acc.EmailChange)
		}
	}
	// The reset budget spent is no reason: email-change codes are activation's kind.
	resets := activeAccount()
	resets.Ledger.ResetsIssued = spentAt(now, 10)
	if err := resets.RequestEmailChange("new@example.com", now, changePolicy, rand.Reader); err != nil {
		t.Errorf("with the reset budget spent: %v", err)
	}
}

func TestConfirmEmailChange(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	live := func() Account {
		acc := activeAccount()
		acc.EmailChange = &Code{Value: "12345678", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(14 * time.Minute), To: "new@example.com"}
		acc.Reset = &Code{Value: "87654321", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(14 * time.Minute)}
		return acc
	}
	acc := live()
	if err := acc.ConfirmEmailChange(ec("12345678"), "session-1", now, changePolicy); err != nil {
		t.Fatalf("the right code: %v", err)
	}
	if acc.Email != "new@example.com" || acc.EmailChange != nil || acc.Reset != nil {
		t.Fatalf("after the confirmation: email %s, code %v, reset %v; want the new address and no code", acc.Email, acc.EmailChange, acc.Reset)
	}
	if events := acc.Events(); len(events) != 1 || events[0] != (EmailChanged{From: "old@example.com", To: "new@example.com", At: now, Keep: "session-1"}) {
		t.Fatalf("events %#v, want EmailChanged keeping the session", events)
	}
	// A pending account that holds the address is replaced; an active one keeps it.
	replacing := live()
	replacing.Holder = &AddressHolder{ID: "p", Status: StatusPending}
	if err := replacing.ConfirmEmailChange(ec("12345678"), "", now, changePolicy); err != nil {
		t.Fatal(err)
	}
	if events := replacing.Events(); len(events) != 2 || events[0] != (AccountReplaced{ID: "p"}) {
		t.Fatalf("events %#v, want the pending holder replaced, then the change", events)
	}
	// An active holder is left to the store's unique constraint: the domain does not check
	// then insert.
	taken := live()
	taken.Holder = &AddressHolder{ID: "h", Status: StatusActive}
	if err := taken.ConfirmEmailChange(ec("12345678"), "", now, changePolicy); err != nil || len(taken.Events()) != 1 {
		t.Fatalf("the address held by an active account: %v, events %#v; want the change recorded for the constraint to decide", err, taken.Events())
	}

	misses := map[string]Account{
		"a wrong code": live(),
		"no code":      activeAccount(),
		"expired": func() Account {
			a := live()
			a.EmailChange.IssuedAt, a.EmailChange.ExpiresAt = now.Add(-16*time.Minute), now.Add(-time.Minute)
			return a
		}(),
		"void (guessed)": func() Account { a := live(); a.EmailChange.FailedAttempts = 5; return a }(),
	}
	for name, acc := range misses {
		guess := "12345678"
		if name == "a wrong code" {
			guess = "11111111"
		}
		err := acc.ConfirmEmailChange(ec(guess), "", now, changePolicy)
		if !errors.Is(err, ErrInvalidEmailChangeCode) || acc.Email != "old@example.com" ||
			acc.Ledger.WrongGuesses.Units() != 1 || acc.Client.WrongGuesses.Units() != 1 {
			t.Errorf("%s: %v (email %s, %d mailbox and %d client guesses), want one miss counted", name, err, acc.Email,
				acc.Ledger.WrongGuesses.Units(), acc.Client.WrongGuesses.Units())
		}
		wrong, ok := acc.Events()[0].(WrongCode)
		want := Email("new@example.com") // the mailbox of the address the code proves
		if name == "no code" {
			want = "old@example.com"
		}
		if !ok || wrong.Purpose != PurposeEmailChange || wrong.Email != want {
			t.Errorf("%s: events %#v, want a wrong email-change code counted for %s", name, acc.Events(), want)
		}
	}
	// A code takes MaxAttempts wrong guesses; then the right one is a miss too.
	guessed := live()
	for i := range changePolicy.MaxAttempts {
		if err := guessed.ConfirmEmailChange(ec("11111111"), "", now, changePolicy); !errors.Is(err, ErrInvalidEmailChangeCode) ||
			guessed.EmailChange.FailedAttempts != i+1 {
			t.Fatalf("wrong guess %d: %v, %d attempts counted", i+1, err, guessed.EmailChange.FailedAttempts)
		}
	}
	if err := guessed.ConfirmEmailChange(ec("12345678"), "", now, changePolicy); !errors.Is(err, ErrInvalidEmailChangeCode) {
		t.Fatalf("the right code after %d wrong guesses: %v, want a miss", changePolicy.MaxAttempts, err)
	}
	// Past the mailbox's or the client's daily guesses, no code is looked at.
	var later *RetryLaterError
	mailbox := live()
	mailbox.Ledger.WrongGuesses = spentAt(now, 20)
	if err := mailbox.ConfirmEmailChange(ec("12345678"), "", now, changePolicy); !errors.As(err, &later) || later.Reason != ReasonGuessBudget {
		t.Errorf("past the mailbox's guesses: %v, want the guess budget", err)
	}
	client := live()
	client.Client.WrongGuesses = spentAt(now, 50)
	if err := client.ConfirmEmailChange(ec("12345678"), "", now, changePolicy); !errors.As(err, &later) || later.Reason != ReasonClientGuessBudget {
		t.Errorf("past the client's guesses: %v, want the client's guess budget", err)
	}
	pending := Account{ID: "p", Email: "p@example.com", Status: StatusPending}
	if err := pending.ConfirmEmailChange(ec("12345678"), "", now, changePolicy); !errors.Is(err, ErrAccountPending) {
		t.Errorf("a pending account: %v, want ErrAccountPending", err)
	}
}

func TestANewPasswordCancelsAnEmailChange(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	acc := activeAccount()
	acc.EmailChange = &Code{Value: "12345678", IssuedAt: now, ExpiresAt: now.Add(time.Minute), To: "new@example.com"}
	if err := acc.ChangePassword("new-hash", now); err != nil || acc.EmailChange != nil {
		t.Fatalf("ChangePassword: %v, email-change code %v; want it void", err, acc.EmailChange)
	}
}

func TestParseEmailChangeCode(t *testing.T) {
	for _, bad := range []string{"", "1234", "123456789", "1234567a", "１２３４５６７８"} {
		if c, msg := ParseEmailChangeCode(bad); msg == "" || c != (EmailChangeCode{}) {
			t.Errorf("ParseEmailChangeCode(%q) = %v, %q; want a message and no code", bad, c, msg)
		}
	}
	if c, msg := ParseEmailChangeCode("04271953"); msg != "" || c != ec("04271953") {
		t.Errorf("ParseEmailChangeCode(04271953) = %v, %q", c, msg)
	}
}
