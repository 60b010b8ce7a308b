package domain

import (
	"crypto/subtle"
	"errors"
	"fmt"
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

// ResetCodeLength is the number of digits of a reset code.
const ResetCodeLength = 8

// ResetCode is the latest password-reset code of an account.
type ResetCode struct {
	Value          string
	IssuedAt       time.Time
	ExpiresAt      time.Time
	FailedAttempts int
}

// errNoReset says a reset request sends nothing (unknown or pending email, resend
// interval, a budget spent); the caller answers as if it had.
var errNoReset = errors.New("no reset code issued")

// IsNoReset reports whether err is a reset request that sent nothing.
func IsNoReset(err error) bool { return errors.Is(err, errNoReset) }

// NewResetCodeValue draws eight digits uniformly from a cryptographic source.
func NewResetCodeValue(random io.Reader) (string, error) {
	v, err := drawDigits(random, ResetCodeLength)
	if err != nil {
		return "", fmt.Errorf("draw reset code: %w", err)
	}
	return v, nil
}

// ValidResetCodeFormat reports whether s is exactly eight ASCII digits.
func ValidResetCodeFormat(s string) bool { return allDigits(s, ResetCodeLength) }

// IssueReset issues a reset code to an active account, replacing any earlier one, and
// emails it (CodeIssued with PurposePasswordReset). Unless the account is active, the
// account's last code is older than the resend interval, and the mailbox's and the
// client's daily budgets have room, it issues nothing (IsNoReset): the request answers
// the same either way. An account the store did not find (no ID) is never active.
func (a *Account) IssueReset(now time.Time, p ResetPolicy, random io.Reader) error {
	switch {
	case a.ID == "" || a.Status != StatusActive:
		return errNoReset
	case a.Reset != nil && now.Before(a.Reset.IssuedAt.Add(p.ResendInterval)):
		return errNoReset
	case budgetWait(a.Ledger.ResetsIssued, p.ResetsPerDay, now) > 0,
		budgetWait(a.Client.CodesIssued, p.ClientCodesPerDay, now) > 0:
		return errNoReset
	}
	value, err := NewResetCodeValue(random)
	if err != nil {
		return fmt.Errorf("issue reset code for account %s: %w", a.ID, err)
	}
	a.Reset = &ResetCode{Value: value, IssuedAt: now, ExpiresAt: now.Add(p.TTL)}
	a.Ledger.ResetsIssued = append([]time.Time{now}, a.Ledger.ResetsIssued...)
	a.Client.CodesIssued = append([]time.Time{now}, a.Client.CodesIssued...)
	a.record(CodeIssued{Purpose: PurposePasswordReset, Email: a.Email, Code: value, IssuedAt: now, ExpiresAt: a.Reset.ExpiresAt})
	return nil
}

// ConfirmReset replaces the password with passwordHash when guess is the account's latest
// live reset code: the code is used up, every session ends and a notice is emailed
// (PasswordChanged). Past the mailbox's or the client's daily guesses it refuses with a
// *RetryLaterError, before looking at the code, for an unknown email too. Every miss —
// a wrong, expired, replaced or void code, a pending account, no account at all — is
// ErrInvalidResetCode and counts as a wrong guess of the mailbox and the client, so that
// an unknown email answers exactly like a known one.
func (a *Account) ConfirmReset(guess, passwordHash string, now time.Time, p ResetPolicy) error {
	if wait := budgetWait(a.Ledger.WrongResets, p.GuessesPerDay, now); wait > 0 {
		return retryLater(ReasonResetGuessBudget, wait, p.GuessesPerDay)
	}
	if wait := budgetWait(a.Client.WrongGuesses, p.ClientGuessesPerDay, now); wait > 0 {
		return retryLater(ReasonClientGuessBudget, wait, p.ClientGuessesPerDay)
	}
	c := a.Reset
	live := a.ID != "" && a.Status == StatusActive && c != nil &&
		c.FailedAttempts < p.MaxAttempts && now.Before(c.ExpiresAt)
	if !live || subtle.ConstantTimeCompare([]byte(c.Value), []byte(guess)) != 1 {
		if live {
			c.FailedAttempts++
		}
		a.Ledger.WrongResets = append([]time.Time{now}, a.Ledger.WrongResets...)
		a.Client.WrongGuesses = append([]time.Time{now}, a.Client.WrongGuesses...)
		a.record(WrongCode{Purpose: PurposePasswordReset, At: now})
		return ErrInvalidResetCode
	}
	a.Reset = nil
	a.PasswordHash = passwordHash
	a.record(PasswordChanged{Email: a.Email, At: now})
	return nil
}
