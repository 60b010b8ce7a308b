package domain

import (
	"fmt"
	"io"
	"time"
)

// Status is where an account is in its life.
type Status string

// The statuses of an account.
const (
	StatusPending Status = "pending"
	StatusActive  Status = "active"
)

// Account is the aggregate of the identity context: a registration and its latest code.
// Change it only through its methods, inside the store's update transaction.
type Account struct {
	ID           string
	Email        Email
	PasswordHash string
	Status       Status
	CreatedAt    time.Time
	// ActivatedAt is nil while the account is pending.
	ActivatedAt *time.Time
	// Code is the latest activation code; nil once the account is active.
	Code *ActivationCode
	// Reset is the latest password-reset code; loaded only by the reset use cases (the
	// store's ResetByEmail), nil otherwise.
	Reset *ResetCode
	// Ledger is what the account's mailbox spent of its daily budgets.
	Ledger Ledger
	// Client is what the client making this change spent of its daily budgets, across
	// every address (empty when the change is not a client's).
	Client Ledger

	events []Event
}

// Events returns what happened to the account since it was loaded, in order, for the
// store to save (ledger entries, emails) in the transaction that saves the account.
func (a *Account) Events() []Event { return a.events }

func (a *Account) record(e Event) { a.events = append(a.events, e) }

// Delete deletes the account, whatever its status (AccountDeleted): once saved, the
// account, its codes and its sessions are gone, and a later registration of its address
// is a new account with a new id.
func (a *Account) Delete() { a.record(AccountDeleted{ID: a.ID, Email: a.Email}) }

// Deleted reports whether the account recorded its deletion since it was loaded.
func (a *Account) Deleted() bool {
	for _, e := range a.events {
		if _, ok := e.(AccountDeleted); ok {
			return true
		}
	}
	return false
}

// IssueCode issues a new code, voiding every earlier one, unless the account is active,
// its previous code is younger than the policy's resend interval, or its address has had
// its codes for the day.
func (a *Account) IssueCode(now time.Time, p CodePolicy, random io.Reader) error {
	if a.Status == StatusActive {
		return ErrAlreadyActive
	}
	if err := a.checkIssuable(now, p); err != nil {
		return err
	}
	return a.issue(now, p, random)
}

// Reregister lets a new registration take over a pending account with the same email: a
// new account (a new id, AccountReplaced), a new password, a fresh creation time and a new
// code; the mailbox's budgets stay. An active account is never taken.
func (a *Account) Reregister(passwordHash string, now time.Time, p CodePolicy, random io.Reader) error {
	if a.Status == StatusActive {
		return ErrEmailTaken
	}
	if err := a.checkIssuable(now, p); err != nil {
		return err
	}
	a.record(AccountReplaced{ID: a.ID})
	a.ID = "" // a new account: the store gives it its id
	a.PasswordHash = passwordHash
	a.CreatedAt = now
	return a.issue(now, p, random)
}

// Activate checks guess against the latest code, in this order: the account is not
// active yet, its address has wrong guesses left for the day, the code has wrong guesses
// left, the code has not expired, and it matches. A wrong guess is counted on the code and
// on the address's ledger and returned as *InvalidCodeError; the account must be saved even
// then.
func (a *Account) Activate(guess string, now time.Time, p CodePolicy) error {
	if a.Status == StatusActive {
		return ErrAlreadyActive
	}
	if wait := budgetWait(a.Ledger.WrongGuesses, p.GuessesPerDay, now); wait > 0 {
		return retryLater(ReasonGuessBudget, wait, p.GuessesPerDay)
	}
	if wait := budgetWait(a.Client.WrongGuesses, p.ClientGuessesPerDay, now); wait > 0 {
		return retryLater(ReasonClientGuessBudget, wait, p.ClientGuessesPerDay)
	}
	c := a.Code
	switch {
	case c == nil:
		return ErrCodeExpired
	case c.FailedAttempts >= p.MaxAttempts:
		_, wait, _ := a.issueWait(now, p)
		// At least a second: a locked code is refused until a new one is issued, which
		// even with no wait left takes a request.
		return retryLater(ReasonCodeLocked, max(wait, time.Second), p.MaxAttempts)
	case !now.Before(c.ExpiresAt):
		return ErrCodeExpired
	case !c.matches(guess):
		c.FailedAttempts++
		a.Ledger.WrongGuesses = append([]time.Time{now}, a.Ledger.WrongGuesses...)
		a.Client.WrongGuesses = append([]time.Time{now}, a.Client.WrongGuesses...)
		a.record(WrongCode{Purpose: PurposeActivation, At: now})
		return &InvalidCodeError{AttemptsRemaining: min(
			max(p.MaxAttempts-c.FailedAttempts, 0),
			budgetLeft(a.Ledger.WrongGuesses, p.GuessesPerDay, now),
			budgetLeft(a.Client.WrongGuesses, p.ClientGuessesPerDay, now),
		)}
	}
	at := now
	a.Status = StatusActive
	a.ActivatedAt = &at
	a.Code = nil
	return nil
}

// ResendAfter is when the next code may be issued.
func (a *Account) ResendAfter(p CodePolicy) time.Time {
	if a.Code == nil {
		return time.Time{}
	}
	return a.Code.IssuedAt.Add(p.ResendInterval)
}

// checkIssuable refuses a new code while the previous one is younger than the resend
// interval, while the mailbox has had its codes for the day, or while the client has had
// its codes for the day; when several hold, the error is the one with the longest wait.
func (a *Account) checkIssuable(now time.Time, p CodePolicy) error {
	if reason, wait, limit := a.issueWait(now, p); wait > 0 {
		return retryLater(reason, wait, limit)
	}
	return nil
}

// issueWait is how long until a new code may be issued (zero or less: now), and which
// limit sets it (with its number).
func (a *Account) issueWait(now time.Time, p CodePolicy) (reason Reason, wait time.Duration, limit int) {
	reason = ReasonResendInterval
	if a.Code != nil {
		wait = a.ResendAfter(p).Sub(now)
	}
	for _, b := range []struct {
		reason Reason
		spent  []time.Time
		limit  int
	}{
		{ReasonCodeBudget, a.Ledger.CodesIssued, p.CodesPerDay},
		{ReasonClientCodeBudget, a.Client.CodesIssued, p.ClientCodesPerDay},
	} {
		if w := budgetWait(b.spent, b.limit, now); w > 0 && w >= wait {
			reason, wait, limit = b.reason, w, b.limit
		}
	}
	return reason, wait, limit
}

func (a *Account) issue(now time.Time, p CodePolicy, random io.Reader) error {
	value, err := NewCodeValue(random)
	if err != nil {
		return fmt.Errorf("issue code for account %s: %w", a.ID, err)
	}
	a.Code = &ActivationCode{Value: value, IssuedAt: now, ExpiresAt: now.Add(p.TTL)}
	a.Ledger.CodesIssued = append([]time.Time{now}, a.Ledger.CodesIssued...)
	a.Client.CodesIssued = append([]time.Time{now}, a.Client.CodesIssued...)
	a.record(CodeIssued{Purpose: PurposeActivation, Email: a.Email, Code: value, IssuedAt: now, ExpiresAt: a.Code.ExpiresAt})
	return nil
}
