package domain

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Purpose says what an issued code is for; each purpose has its own length, its own
// email, its own slot on the account (Account.Code, Account.Reset, Account.EmailChange)
// and the budgets of the mailbox it spends (Ledger.issued, Ledger.wrong). Every code has
// the one shape of Code and goes through the one life of issue and wrongGuess.
type Purpose string

// The purposes of a code.
const (
	PurposeActivation    Purpose = "activation"
	PurposePasswordReset Purpose = "password_reset"
	// PurposeEmailChange proves the new address of an email change: its code is sent to
	// that address (Code.To), not to the account's.
	PurposeEmailChange Purpose = "email_change"
)

// Digits is how many decimal digits a code of p has.
func (p Purpose) Digits() int {
	if p == PurposePasswordReset || p == PurposeEmailChange {
		return ResetCodeLength
	}
	return activationCodeLength
}

// The lengths of the codes.
const (
	activationCodeLength = 4
	// ResetCodeLength is the number of digits of a reset code, and of an email-change
	// code: both hand over an active account.
	ResetCodeLength = 8
)

// CodePolicy sets how activation codes behave (ACTIVATION_CODE_* configuration).
type CodePolicy struct {
	// TTL is how long a code may be used after it is issued.
	TTL time.Duration
	// MaxAttempts is how many wrong guesses one code accepts.
	MaxAttempts int
	// ResendInterval is the least time between two codes issued to one account.
	ResendInterval time.Duration
	// GuessesPerDay is how many wrong codes one email address may send in any
	// BudgetWindow, across all its codes, resends and re-registrations.
	GuessesPerDay int
	// CodesPerDay is how many codes may be issued to one email address in any
	// BudgetWindow, registrations, re-registrations and resends alike.
	CodesPerDay int
	// ClientGuessesPerDay is how many wrong codes one client may send in any
	// BudgetWindow, across every address; 0 is no limit.
	ClientGuessesPerDay int
	// ClientCodesPerDay is how many codes may be issued at one client's request in any
	// BudgetWindow, across every address; 0 is no limit.
	ClientCodesPerDay int
}

// Code is a code issued to an account, of any purpose: only the latest of each purpose
// counts.
type Code struct {
	Value          string
	IssuedAt       time.Time
	ExpiresAt      time.Time
	FailedAttempts int
	// To is the address an email-change code was sent to, which its confirmation makes
	// the account's; empty for the other purposes, whose codes prove the account's own.
	To Email
}

// live reports whether the code may still be guessed at now under maxAttempts.
func (c *Code) live(now time.Time, maxAttempts int) bool {
	return c != nil && c.FailedAttempts < maxAttempts && now.Before(c.ExpiresAt)
}

// matches compares in constant time, so a guess's timing reveals nothing of the code.
func (c *Code) matches(guess string) bool {
	return c != nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(guess)) == 1
}

// ActivationCode is a well-formed guess at an activation code, as a client sent it:
// exactly four ASCII digits. Only ParseActivationCode makes one.
type ActivationCode struct{ digits string }

// ParseActivationCode checks that s is a well-formed activation code; the message says
// what is wrong otherwise (a malformed code is not a guess).
func ParseActivationCode(s string) (ActivationCode, string) {
	if !allDigits(s, activationCodeLength) {
		return ActivationCode{}, fmt.Sprintf("must be exactly %d digits", activationCodeLength)
	}
	return ActivationCode{digits: s}, ""
}

// ResetCode is a well-formed guess at a password-reset code: exactly eight ASCII digits.
// Only ParseResetCode makes one.
type ResetCode struct{ digits string }

// ParseResetCode checks that s is a well-formed reset code.
func ParseResetCode(s string) (ResetCode, string) {
	if !allDigits(s, ResetCodeLength) {
		return ResetCode{}, fmt.Sprintf("must be exactly %d digits", ResetCodeLength)
	}
	return ResetCode{digits: s}, ""
}

// NewCodeValue draws the digits of a code of purpose p uniformly (leading zeros kept)
// from random, which must be a cryptographic source (crypto/rand.Reader in production).
func NewCodeValue(p Purpose, random io.Reader) (string, error) {
	n := p.Digits()
	v, err := rand.Int(random, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil))
	if err != nil {
		return "", fmt.Errorf("draw %s code: %w", p, err)
	}
	return fmt.Sprintf("%0*d", n, v), nil
}

// allDigits reports whether s is exactly n ASCII digits.
func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Slot is where the account keeps its latest code of purpose p: the domain issues into
// it, and the store loads into it and saves from it, one place that knows the slots.
func (a *Account) Slot(p Purpose) **Code {
	switch p {
	case PurposePasswordReset:
		return &a.Reset
	case PurposeEmailChange:
		return &a.EmailChange
	}
	return &a.Code
}

// issue draws a new code of purpose p valid for ttl, sent to the address to (the
// account's own but for an email change), replacing the account's latest one of p, and
// spends one code of to's mailbox's budget (a.Ledger is that mailbox's) and of the
// client's: the one way a code of any purpose comes to be (CodeIssued: the store saves it
// and its email, unless withheld).
func (a *Account) issue(p Purpose, to Email, withheld bool, ttl time.Duration, now time.Time, random io.Reader) error {
	value, err := NewCodeValue(p, random)
	if err != nil {
		return fmt.Errorf("issue code for account %s: %w", a.ID, err)
	}
	c := &Code{Value: value, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	if p == PurposeEmailChange {
		c.To = to
	}
	*a.Slot(p) = c
	spend(a.Ledger.issued(p), now)
	spend(&a.Client.CodesIssued, now)
	a.record(CodeIssued{Purpose: p, Email: to, Code: value, IssuedAt: now, ExpiresAt: c.ExpiresAt, Withheld: withheld})
	return nil
}

// wrongGuess counts a wrong guess of purpose p: on the latest code of p (when the guess
// was made against a live one), and on the budgets of the mailbox of the address the
// code proves (to; a.Ledger is that mailbox's) and of the client (WrongCode).
func (a *Account) wrongGuess(p Purpose, c *Code, to Email, now time.Time) {
	if c != nil {
		c.FailedAttempts++
	}
	spend(a.Ledger.wrong(p), now)
	spend(&a.Client.WrongGuesses, now)
	a.record(WrongCode{Purpose: p, Email: to, At: now})
}
