package domain

import (
	"errors"
	"io"
	"time"
)

// ResetPolicy sets how password-reset codes behave (PASSWORD_RESET_* configuration and the
// per-client budgets shared with activation).
type ResetPolicy struct {
	// TTL is how long a reset code may be used after it is issued.
	TTL time.Duration
	// ResendInterval is the least time between two reset codes of one account.
	ResendInterval time.Duration
	// MaxAttempts is how many wrong guesses one code takes before it is void.
	MaxAttempts int
	// GuessesPerDay is how many wrong reset codes one mailbox may send in any
	// BudgetWindow.
	GuessesPerDay int
	// ResetsPerDay is how many reset codes may be issued to one mailbox in any
	// BudgetWindow.
	ResetsPerDay int
	// ClientGuessesPerDay and ClientCodesPerDay are the client's budgets, shared with
	// activation (CodePolicy's); 0 is no limit.
	ClientGuessesPerDay int
	ClientCodesPerDay   int
}

// errNoReset says a reset request sends nothing (unknown or pending email, resend
// interval, a budget spent, a disabled account); the caller answers as if it had.
var errNoReset = errors.New("no reset code issued")

// IsNoReset reports whether err is a reset request that sent nothing.
func IsNoReset(err error) bool { return errors.Is(err, errNoReset) }

// IssueReset issues a reset code to an active account, replacing any earlier one, and
// emails it (CodeIssued with PurposePasswordReset). Unless the account is active, the
// account's last code is older than the resend interval, and the mailbox's and the
// client's daily budgets have room, it issues nothing (IsNoReset): the request answers
// the same either way. It touches nothing but the reset code: an account's activation
// code, its resend interval and its retention are another purpose's. An address no
// account has (no ID) is never active.
func (a *Account) IssueReset(now time.Time, p ResetPolicy, random io.Reader) error {
	switch {
	case a.ID == "" || a.Status != StatusActive || a.Disabled():
		return errNoReset // a disabled account gets no email but its notice
	case a.Reset != nil && now.Before(a.Reset.IssuedAt.Add(p.ResendInterval)):
		return errNoReset
	case budgetWait(a.Ledger.ResetsIssued, p.ResetsPerDay, now) > 0,
		budgetWait(a.Client.CodesIssued, p.ClientCodesPerDay, now) > 0:
		return errNoReset
	}
	return a.issue(PurposePasswordReset, a.Email, false, p.TTL, now, random)
}

// CheckResetCode tells whether guess is the account's latest live reset code, without
// using it up: past the mailbox's or the client's daily guesses it refuses with a
// *RetryLaterError, before looking at the code, for an unknown email too. Every miss —
// a wrong, expired, replaced or void code, a pending account, no account at all — is
// ErrInvalidResetCode and counts as a wrong guess of the mailbox and the client (and of
// the code, when it is live), so that an unknown email answers exactly like a known one.
// A request checks the code this way before it pays for the new password's hash.
func (a *Account) CheckResetCode(guess ResetCode, now time.Time, p ResetPolicy) error {
	if wait := budgetWait(a.Ledger.WrongResets, p.GuessesPerDay, now); wait > 0 {
		return retryLater(ReasonResetGuessBudget, wait, p.GuessesPerDay)
	}
	if wait := budgetWait(a.Client.WrongGuesses, p.ClientGuessesPerDay, now); wait > 0 {
		return retryLater(ReasonClientGuessBudget, wait, p.ClientGuessesPerDay)
	}
	c := a.Reset
	live := a.ID != "" && a.Status == StatusActive && !a.Disabled() && c.live(now, p.MaxAttempts)
	if !live || !c.matches(guess.digits) {
		if !live {
			c = nil
		}
		a.wrongGuess(PurposePasswordReset, c, a.Email, now)
		return ErrInvalidResetCode
	}
	return nil
}

// ConfirmReset replaces the password with passwordHash when guess is the account's latest
// live reset code (CheckResetCode, whose refusals it returns): the code is used up, and
// the change is a password change (PasswordChanged: every session ends, every failure of
// the email ends, the clients that knew the old password are strangers again, a notice is
// emailed).
func (a *Account) ConfirmReset(guess ResetCode, passwordHash string, now time.Time, p ResetPolicy) error {
	if err := a.CheckResetCode(guess, now, p); err != nil {
		return err
	}
	a.Reset = nil
	a.setPassword(passwordHash, now, true)
	return nil
}
