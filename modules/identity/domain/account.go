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

// CodeIssued is the event of a new activation code: it must be emailed to Email.
type CodeIssued struct {
	Email     Email
	Code      string
	ExpiresAt time.Time
}

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

	issued []CodeIssued
}

// Issued returns the codes issued since the account was loaded, to be emailed by the
// store in the same transaction that saves the account.
func (a *Account) Issued() []CodeIssued { return a.issued }

// IssueCode issues a new code, voiding every earlier one, unless the account is active or
// its previous code is younger than the policy's resend interval.
func (a *Account) IssueCode(now time.Time, p CodePolicy, random io.Reader) error {
	if a.Status == StatusActive {
		return ErrAlreadyActive
	}
	if err := a.checkResendInterval(now, p); err != nil {
		return err
	}
	return a.issue(now, p, random)
}

// Reregister lets a new registration take over a pending account with the same email: a
// new password, a fresh creation time and a new code. An active account is never taken.
func (a *Account) Reregister(passwordHash string, now time.Time, p CodePolicy, random io.Reader) error {
	if a.Status == StatusActive {
		return ErrEmailTaken
	}
	if err := a.checkResendInterval(now, p); err != nil {
		return err
	}
	a.PasswordHash = passwordHash
	a.CreatedAt = now
	return a.issue(now, p, random)
}

// Activate checks guess against the latest code. A wrong guess is counted on the code and
// returned as *InvalidCodeError; the account must be saved even then.
func (a *Account) Activate(guess string, now time.Time, p CodePolicy) error {
	if a.Status == StatusActive {
		return ErrAlreadyActive
	}
	c := a.Code
	switch {
	case c == nil:
		return ErrCodeExpired
	case c.FailedAttempts >= p.MaxAttempts:
		return ErrTooManyAttempts
	case !now.Before(c.ExpiresAt):
		return ErrCodeExpired
	case !c.matches(guess):
		c.FailedAttempts++
		return &InvalidCodeError{AttemptsRemaining: max(p.MaxAttempts-c.FailedAttempts, 0)}
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

func (a *Account) checkResendInterval(now time.Time, p CodePolicy) error {
	if a.Code == nil {
		return nil
	}
	if wait := a.ResendAfter(p).Sub(now); wait > 0 {
		return &RetryLaterError{RetryAfter: wait}
	}
	return nil
}

func (a *Account) issue(now time.Time, p CodePolicy, random io.Reader) error {
	value, err := NewCodeValue(random)
	if err != nil {
		return fmt.Errorf("issue code for account %s: %w", a.ID, err)
	}
	a.Code = &ActivationCode{Value: value, IssuedAt: now, ExpiresAt: now.Add(p.TTL)}
	a.issued = append(a.issued, CodeIssued{Email: a.Email, Code: value, ExpiresAt: a.Code.ExpiresAt})
	return nil
}
