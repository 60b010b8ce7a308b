package domain

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the identity context. The HTTP adapter maps each to one problem code.
var (
	// ErrAccountNotFound: no account has this email or id.
	ErrAccountNotFound = errors.New("account not found")
	// ErrUnauthorized: the credentials do not match an account.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrEmailTaken: an active account already has this email.
	ErrEmailTaken = errors.New("email taken")
	// ErrAlreadyActive: the account is active; there is nothing to activate.
	ErrAlreadyActive = errors.New("account already active")
	// ErrCodeExpired: the latest code is past its expiry (or there is none).
	ErrCodeExpired = errors.New("activation code expired")
	// ErrTooManyAttempts: the latest code took its quota of wrong guesses.
	ErrTooManyAttempts = errors.New("too many wrong activation codes")
)

// InvalidCodeError is a wrong guess at the activation code. It has been counted.
type InvalidCodeError struct {
	// AttemptsRemaining is how many more wrong guesses the code accepts.
	AttemptsRemaining int
}

func (e *InvalidCodeError) Error() string {
	return fmt.Sprintf("invalid activation code (%d attempts remaining)", e.AttemptsRemaining)
}

// RetryLaterError refuses a new code because the previous one is too recent.
type RetryLaterError struct {
	// RetryAfter is how long the caller must wait.
	RetryAfter time.Duration
}

func (e *RetryLaterError) Error() string {
	return fmt.Sprintf("a new code can be issued in %s", e.RetryAfter)
}

// CodeLockedError refuses an activation because the latest code took its quota of wrong
// guesses (CodePolicy.MaxAttempts). It matches ErrTooManyAttempts.
type CodeLockedError struct {
	// RetryAfter is how long until a new code may be issued (at least a second).
	RetryAfter time.Duration
}

func (e *CodeLockedError) Error() string {
	return fmt.Sprintf("%v; a new code can be issued in %s", ErrTooManyAttempts, e.RetryAfter)
}

// Is makes errors.Is(err, ErrTooManyAttempts) hold.
func (e *CodeLockedError) Is(target error) bool { return target == ErrTooManyAttempts }

// GuessBudgetError refuses an activation because the address took its wrong guesses for
// the day (CodePolicy.GuessesPerDay), whatever code they were made against.
type GuessBudgetError struct {
	// RetryAfter is how long until the oldest counted guess leaves the window.
	RetryAfter time.Duration
}

func (e *GuessBudgetError) Error() string {
	return fmt.Sprintf("too many wrong activation codes for this address; retry in %s", e.RetryAfter)
}

// CodeBudgetError refuses a new code because the address received its codes for the day
// (CodePolicy.CodesPerDay).
type CodeBudgetError struct {
	// RetryAfter is how long until the oldest counted code leaves the window.
	RetryAfter time.Duration
	// Limit is the number of codes an address may receive in the window.
	Limit int
}

func (e *CodeBudgetError) Error() string {
	return fmt.Sprintf("%d codes were issued to this address in 24 h; retry in %s", e.Limit, e.RetryAfter)
}

// FieldError is one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every invalid field of one request.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("validation failed on %d field(s)", len(e.Fields))
}

// Add records a bad field.
func (e *ValidationError) Add(field, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: message})
}

// Err returns e when it holds a field, nil otherwise.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}
