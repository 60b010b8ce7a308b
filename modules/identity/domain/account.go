package domain

import (
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

// Account is the aggregate of the identity context: a registration, its latest code of
// each purpose, and what its mailbox (or, for an email change, the new address's) and the
// requesting client spent of their budgets.
// Change it only through its methods, inside the store's one change path (app.Store's
// Change), which loads all of it, locks it, and saves what the methods changed and
// recorded.
//
// An account with no ID is an address that no account has: the store hands one to a
// change that looks an email up (a registration, a reset request), so that an unknown
// email costs and answers what a known one does; of it, only what it spent is saved,
// unless it registers.
type Account struct {
	ID           string
	Email        Email
	PasswordHash string
	Status       Status
	CreatedAt    time.Time
	// ActivatedAt is nil while the account is pending.
	ActivatedAt *time.Time
	// DisabledAt is when an administrator disabled the account (Disable); nil while it
	// is enabled.
	DisabledAt *time.Time
	// Code is the latest activation code; nil once the account is active.
	Code *Code
	// Reset is the latest password-reset code; nil when there is none.
	Reset *Code
	// EmailChange is the latest email-change code, with the address it was sent to
	// (Code.To); nil when there is none.
	EmailChange *Code
	// Holder is the account that holds the new address of an email change, loaded with
	// the changes about it (app.Key.EmailChange); nil when no account holds it.
	Holder *AddressHolder
	// Ledger is what the account's mailbox spent of its daily budgets (loaded for the
	// changes that may spend them).
	Ledger Ledger
	// Client is what the client making this change spent of its daily budgets, across
	// every address (empty when the change is not a client's or spends none of them).
	Client Ledger

	events []Event
}

// Events returns what happened to the account since it was loaded, in order, for the
// store to save (rows, ledger entries, emails) in the transaction that saves the account.
func (a *Account) Events() []Event { return a.events }

func (a *Account) record(e Event) { a.events = append(a.events, e) }

// Delete deletes the account, whatever its status (AccountDeleted): once saved, the
// account, its codes and its sessions are gone, and a later registration of its address
// is a new account with a new id.
func (a *Account) Delete() { a.record(AccountDeleted{ID: a.ID, Email: a.Email}) }

// Register makes the address a new pending account with passwordHash and issues its
// first activation code: an address no account has becomes one (AccountRegistered); a
// pending account is taken over (AccountReplaced, then AccountRegistered: its id, codes
// and sessions go, and the new account gets a new id, so nothing another module keyed by
// the old id can be reached with the new password); an active one is never taken
// (ErrEmailTaken). Inside the resend interval of the pending account's last code, or
// past the mailbox's or the client's daily codes, it refuses with a *RetryLaterError.
// The mailbox's budgets stay, whatever happens to its accounts.
func (a *Account) Register(passwordHash string, now time.Time, p CodePolicy, random io.Reader) error {
	if err := a.CanRegister(now, p); err != nil {
		return err
	}
	if a.ID != "" {
		a.record(AccountReplaced{ID: a.ID})
	}
	a.ID = "" // a new account: the store gives it its id
	a.PasswordHash, a.Status, a.CreatedAt, a.ActivatedAt = passwordHash, StatusPending, now, nil
	a.Code, a.Reset, a.EmailChange = nil, nil, nil
	a.record(AccountRegistered{Email: a.Email, At: now})
	return a.issue(PurposeActivation, a.Email, false, p.TTL, now, random)
}

// CanRegister returns what Register would refuse the address with (ErrEmailTaken, a
// *RetryLaterError), changing nothing: a request checks it before it pays for the new
// password's hash.
//
// A disabled account's address is taken, pending or active: an administrator holds it,
// and a registration must not lift the disable by taking the account over.
func (a *Account) CanRegister(now time.Time, p CodePolicy) error {
	if a.Status == StatusActive || a.Disabled() {
		return ErrEmailTaken
	}
	return a.checkIssuable(now, p)
}

// IssueCode issues a new activation code, voiding every earlier one, unless the account
// is active, its previous code is younger than the policy's resend interval, or its
// address has had its codes for the day.
func (a *Account) IssueCode(now time.Time, p CodePolicy, random io.Reader) error {
	if err := a.Usable(); err != nil {
		return err
	}
	if a.Status == StatusActive {
		return ErrAlreadyActive
	}
	if err := a.checkIssuable(now, p); err != nil {
		return err
	}
	return a.issue(PurposeActivation, a.Email, false, p.TTL, now, random)
}

// Activate checks guess against the latest code, in this order: the account is not
// active yet, its address has wrong guesses left for the day, the code has wrong guesses
// left, the code has not expired, and it matches. A wrong guess is counted on the code and
// on the address's ledger and returned as *InvalidCodeError; the account must be saved even
// then.
func (a *Account) Activate(guess ActivationCode, now time.Time, p CodePolicy) error {
	if err := a.Usable(); err != nil {
		return err
	}
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
	case !c.matches(guess.digits):
		a.wrongGuess(PurposeActivation, c, a.Email, now)
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
	a.record(AccountActivated{Email: a.Email, At: now})
	return nil
}

// SignedInFrom records a right password from client, which the account did not know
// (ClientSignedIn): from now on it is one of the account's known clients. With notify,
// an active account is told of the sign-in by email (not a pending one: its owner has
// proved no address yet, and registers from the client it signs in from). A disabled
// account signs in from nowhere (ErrAccountDisabled).
func (a *Account) SignedInFrom(client string, now time.Time, notify bool) error {
	if err := a.Usable(); err != nil {
		return err
	}
	a.record(ClientSignedIn{Client: client, At: now, Notify: notify && a.Status == StatusActive, Email: a.Email})
	return nil
}

// Rehash replaces the password hash with passwordHash, the same password hashed with the
// current parameters (a right password whose hash was made with others): nothing else
// changes, and it records no event.
func (a *Account) Rehash(passwordHash string) { a.PasswordHash = passwordHash }

// setPassword replaces the password hash (PasswordChanged, Reset telling how): every
// earlier reset code is void, so none may replace the new password, and so is an email
// change under way, which the old password asked for (the notice of an email change tells
// its owner to change the password if it was not theirs: that cancels it).
func (a *Account) setPassword(passwordHash string, now time.Time, reset bool) {
	a.PasswordHash = passwordHash
	a.Reset, a.EmailChange = nil, nil
	a.record(PasswordChanged{Email: a.Email, At: now, Reset: reset})
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
		spent  Tally
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
