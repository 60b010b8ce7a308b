package domain

import (
	"crypto/rand"
	"errors"
	"math"
	"testing"
	"time"
)

func TestGuessBudgetSpansCodesResendsAndReregistrations(t *testing.T) {
	p := CodePolicy{TTL: time.Hour, MaxAttempts: 5, ResendInterval: 30 * time.Second, GuessesPerDay: 12, CodesPerDay: 100}
	a := &Account{ID: "id-1", Email: "alice@example.com", PasswordHash: "h1", Status: StatusPending}
	if err := a.IssueCode(t0, p, rand.Reader); err != nil {
		t.Fatal(err)
	}
	// 5 wrong guesses on the first code, then a re-registration (a takeover: fresh code,
	// fresh counter), then resends: the address's budget counts them all.
	now := t0
	for range 5 {
		_ = a.Activate(ac(wrongGuess(a.Code.Value)), now, p)
	}
	now = now.Add(p.ResendInterval)
	if err := a.Register("h2", now, p, rand.Reader); err != nil {
		t.Fatalf("re-register: %v", err)
	}
	if a.Code.FailedAttempts != 0 {
		t.Fatal("the takeover did not give the new code a fresh counter")
	}
	var invalid *InvalidCodeError
	if err := a.Activate(ac(wrongGuess(a.Code.Value)), now, p); !errors.As(err, &invalid) || invalid.AttemptsRemaining != 4 {
		t.Fatalf("6th wrong guess: got %v, want 4 remaining on the code", err)
	}
	// Guesses 7..12: the attempts remaining follow the address's budget once it is the
	// smaller of the two.
	for i := 7; i <= 12; i++ {
		if a.Code.FailedAttempts >= p.MaxAttempts {
			now = now.Add(p.ResendInterval)
			if err := a.IssueCode(now, p, rand.Reader); err != nil {
				t.Fatal(err)
			}
		}
		err := a.Activate(ac(wrongGuess(a.Code.Value)), now, p)
		if !errors.As(err, &invalid) {
			t.Fatalf("guess %d: got %v", i, err)
		}
		wantLeft := min(p.MaxAttempts-a.Code.FailedAttempts, p.GuessesPerDay-i)
		if invalid.AttemptsRemaining != wantLeft {
			t.Fatalf("guess %d: %d attempts remaining, want %d", i, invalid.AttemptsRemaining, wantLeft)
		}
	}
	if got := len(wrongCodes(a)); got != 12 {
		t.Fatalf("%d wrong guesses recorded for the store, want 12", got)
	}

	// The budget is spent: a fresh code does not help, and even the right code is refused.
	now = now.Add(p.ResendInterval)
	if err := a.IssueCode(now, p, rand.Reader); err != nil {
		t.Fatal(err)
	}
	var spent *RetryLaterError
	err := a.Activate(ac(a.Code.Value), now, p)
	if !asRetry(err, &spent, ReasonGuessBudget) {
		t.Fatalf("right code with the budget spent: got %v, want GuessBudgetError", err)
	}
	if want := t0.Add(BudgetWindow).Sub(now); spent.RetryAfter != want {
		t.Fatalf("RetryAfter = %v, want %v (until the first guess at t0 leaves the window)", spent.RetryAfter, want)
	}
	if a.Status != StatusPending || a.Code.FailedAttempts != 0 {
		t.Fatal("a refused activation changed the account")
	}

	// Once the oldest guess leaves the window, one more guess is allowed, and the right
	// code works.
	later := t0.Add(BudgetWindow)
	if err := a.IssueCode(later, p, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if err := a.Activate(ac(a.Code.Value), later, p); err != nil {
		t.Fatalf("right code once a guess left the window: %v", err)
	}
}

func TestGuessBudgetRetryAfterFollowsTheOldestCountedGuess(t *testing.T) {
	p := CodePolicy{TTL: time.Hour, MaxAttempts: 1000, ResendInterval: time.Second, GuessesPerDay: 3, CodesPerDay: 10}
	// Guesses at t0-23h, t0-2h, t0-1h: the budget of 3 is spent until t0+1h, when the
	// first leaves the window.
	a := &Account{Status: StatusPending, Code: &Code{Value: "1234", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		Ledger: Ledger{WrongGuesses: Instants(t0.Add(-time.Hour), t0.Add(-2*time.Hour), t0.Add(-23*time.Hour))}}
	var spent *RetryLaterError
	if err := a.Activate(ac("0000"), t0, p); !asRetry(err, &spent, ReasonGuessBudget) || spent.RetryAfter != time.Hour {
		t.Fatalf("got %v, want GuessBudgetError retry in 1h", err)
	}
	// An instant exactly 24 h old is out of the window ("any 24 hours" is half-open).
	a.Ledger.WrongGuesses[2].At = t0.Add(-BudgetWindow)
	var invalid *InvalidCodeError
	if err := a.Activate(ac("0000"), t0, p); !errors.As(err, &invalid) || invalid.AttemptsRemaining != 0 {
		t.Fatalf("with one guess out of the window: got %v, want InvalidCodeError with 0 remaining", err)
	}
	if err := a.Activate(ac("1234"), t0, p); !asRetry(err, &spent, ReasonGuessBudget) || spent.RetryAfter != 22*time.Hour {
		t.Fatalf("after the last allowed guess: got %v, want GuessBudgetError retry in 22h", err)
	}
}

func TestCodeBudget(t *testing.T) {
	p := CodePolicy{TTL: time.Minute, MaxAttempts: 5, ResendInterval: 30 * time.Second, GuessesPerDay: 20, CodesPerDay: 3}
	a := &Account{ID: "id-1", Email: "alice@example.com", PasswordHash: "h1", Status: StatusPending}
	now := t0
	if err := a.IssueCode(now, p, rand.Reader); err != nil {
		t.Fatal(err)
	}
	now = now.Add(p.ResendInterval)
	if err := a.Register("h2", now, p, rand.Reader); err != nil {
		t.Fatal(err)
	}
	now = now.Add(p.ResendInterval)
	if err := a.IssueCode(now, p, rand.Reader); err != nil {
		t.Fatal(err)
	}
	// Three codes in a minute: the fourth waits until the first is 24 h old, whether it is
	// a resend or a re-registration, and nothing changes meanwhile.
	now = now.Add(p.ResendInterval)
	var budget *RetryLaterError
	if err := a.IssueCode(now, p, rand.Reader); !asRetry(err, &budget, ReasonCodeBudget) || budget.RetryAfter != t0.Add(BudgetWindow).Sub(now) {
		t.Fatalf("4th code by resend: got %v, want CodeBudgetError until t0+24h", err)
	}
	if err := a.Register("h3", now, p, rand.Reader); !asRetry(err, &budget, ReasonCodeBudget) {
		t.Fatalf("4th code by re-registration: got %v, want CodeBudgetError", err)
	}
	if a.PasswordHash != "h2" || len(issued(a)) != 3 {
		t.Fatalf("a refused code changed the account: hash %q, %d issued", a.PasswordHash, len(issued(a)))
	}
	if err := a.IssueCode(t0.Add(BudgetWindow), p, rand.Reader); err != nil {
		t.Fatalf("once the first code left the window: %v", err)
	}

	// Inside the resend interval and over the budget: the longer wait wins.
	b := &Account{Status: StatusPending, Code: &Code{IssuedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		Ledger: Ledger{CodesIssued: Instants(t0, t0.Add(-time.Hour), t0.Add(-2*time.Hour))}}
	var retry *RetryLaterError
	if err := b.IssueCode(t0.Add(time.Second), p, rand.Reader); !asRetry(err, &budget, ReasonCodeBudget) || budget.RetryAfter != 22*time.Hour-time.Second {
		t.Fatalf("budget wait longer than resend wait: got %v", err)
	}
	b.Ledger.CodesIssued = Instants(t0, t0.Add(-time.Hour), t0.Add(-BudgetWindow+10*time.Second))
	if err := b.IssueCode(t0.Add(time.Second), p, rand.Reader); !asRetry(err, &retry, ReasonResendInterval) || retry.RetryAfter != 29*time.Second {
		t.Fatalf("resend wait longer than budget wait: got %v, want RetryLaterError of 29s", err)
	}
}

func TestBudgetOfZeroIsNoLimit(t *testing.T) {
	if w := budgetWait(Instants(t0), 0, t0); w != 0 {
		t.Fatalf("budgetWait with limit 0 = %v, want 0", w)
	}
}

func TestClientBudgets(t *testing.T) {
	p := CodePolicy{TTL: time.Hour, MaxAttempts: 5, ResendInterval: time.Second, GuessesPerDay: 20, CodesPerDay: 10,
		ClientGuessesPerDay: 3, ClientCodesPerDay: 2}
	// What the client spent at other addresses: 2 wrong codes and 1 code issued, an hour ago.
	spent := Ledger{WrongGuesses: Instants(t0.Add(-time.Hour), t0.Add(-time.Hour)), CodesIssued: Instants(t0.Add(-time.Hour))}
	a := &Account{ID: "id-1", Email: "alice@example.com", Status: StatusPending, Client: spent}
	if err := a.IssueCode(t0, p, rand.Reader); err != nil {
		t.Fatalf("the client's 2nd code: %v", err)
	}
	var retry *RetryLaterError
	if err := a.IssueCode(t0.Add(time.Minute), p, rand.Reader); !asRetry(err, &retry, ReasonClientCodeBudget) ||
		retry.RetryAfter != 23*time.Hour-time.Minute || retry.Limit != 2 {
		t.Fatalf("the client's 3rd code: got %v, want the client's code budget until its first code is 24 h old", err)
	}
	var invalid *InvalidCodeError
	if err := a.Activate(ac(wrongGuess(a.Code.Value)), t0, p); !errors.As(err, &invalid) || invalid.AttemptsRemaining != 0 {
		t.Fatalf("the client's 3rd wrong code: got %v, want InvalidCodeError with 0 remaining (the client's budget)", err)
	}
	if err := a.Activate(ac(a.Code.Value), t0, p); !asRetry(err, &retry, ReasonClientGuessBudget) || retry.RetryAfter != 23*time.Hour {
		t.Fatalf("the right code with the client's guesses spent: got %v, want the client's guess budget", err)
	}
	// 0 is no limit.
	p.ClientGuessesPerDay, p.ClientCodesPerDay = 0, 0
	if err := a.Activate(ac(a.Code.Value), t0, p); err != nil {
		t.Fatalf("without client budgets: %v", err)
	}
}

// TestBudgetOfCounts: a tally of counts (a client's, kept per span of time and stamped
// with each span's end) is decided by its units: room while fewer than the limit are in
// the window, and the wait until the count holding the limit-th newest unit leaves it.
func TestBudgetOfCounts(t *testing.T) {
	spans := Tally{
		{At: t0.Add(15 * time.Minute), Units: 3}, // the span under way
		{At: t0.Add(-time.Hour), Units: 40_000},
		{At: t0.Add(-23 * time.Hour), Units: 60_000},
		{At: t0.Add(-BudgetWindow), Units: 500_000}, // left the window
	}
	for _, tc := range []struct {
		limit int
		left  int
		wait  time.Duration
	}{
		{limit: 0, left: math.MaxInt},
		{limit: 10_000_000, left: 10_000_000 - 100_003},
		{limit: 100_004, left: 1},
		{limit: 100_003, wait: time.Hour},               // all three in the window: the oldest must leave
		{limit: 40_003, wait: 23 * time.Hour},           // the span of an hour ago holds the limit-th unit
		{limit: 40_002, wait: 23 * time.Hour},           // likewise, with units to spare in it
		{limit: 3, wait: 24*time.Hour + 15*time.Minute}, // the span under way must leave
		{limit: 1, wait: 24*time.Hour + 15*time.Minute},
	} {
		if got := budgetLeft(spans, tc.limit, t0); got != tc.left {
			t.Errorf("budgetLeft(limit %d) = %d, want %d", tc.limit, got, tc.left)
		}
		if got := budgetWait(spans, tc.limit, t0); got != tc.wait {
			t.Errorf("budgetWait(limit %d) = %v, want %v", tc.limit, got, tc.wait)
		}
	}
	if got := spans.Units(); got != 600_003 {
		t.Errorf("Units() = %d, want 600003", got)
	}
}
