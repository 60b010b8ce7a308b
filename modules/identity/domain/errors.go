package domain

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the identity context. The HTTP adapter maps each to one problem code.
var (
	// ErrAccountNotFound: no account has this email or id.
	ErrAccountNotFound = refusal("account not found")
	// ErrUnauthorized: the credentials do not match an account.
	ErrUnauthorized = refusal("unauthorized")
	// ErrInvalidToken: a Bearer token that names no live session (unknown, expired or
	// revoked alike).
	ErrInvalidToken = refusal("invalid token")
	// ErrEmailTaken: an active account already has this email.
	ErrEmailTaken = refusal("email taken")
	// ErrAlreadyActive: the account is active; there is nothing to activate.
	ErrAlreadyActive = refusal("account already active")
	// ErrAccountPending: the account is not active yet, and what was asked needs an
	// active one.
	ErrAccountPending = refusal("account pending")
	// ErrAccountDisabled: an administrator disabled the account; the right credentials
	// are refused (a wrong password is still ErrUnauthorized).
	ErrAccountDisabled = refusal("account disabled")
	// ErrInvalidResetCode: the code is not the mailbox's latest live reset code (wrong,
	// expired, replaced, void after its guesses, or no such account): one answer.
	ErrInvalidResetCode = refusal("invalid password-reset code")
	// ErrInvalidEmailChangeCode: the code is not the account's latest live email-change
	// code (wrong, expired, replaced, void after its guesses, or none at all): one answer.
	ErrInvalidEmailChangeCode = refusal("invalid email-change code")
	// ErrSessionNotFound: no live session of the account has this id (another account's
	// included).
	ErrSessionNotFound = refusal("session not found")
	// ErrCodeExpired: the latest code is past its expiry (or there is none).
	ErrCodeExpired = refusal("activation code expired")
)

// sentinel is a refusal without data; each is compared by identity (errors.Is).
type sentinel struct{ msg string }

func (e *sentinel) Error() string { return e.msg }
func (*sentinel) refused()        {}

func refusal(msg string) error { return &sentinel{msg: msg} }

// IsRefusal reports whether err (or an error it wraps) is the domain refusing what was
// asked, an answer to give the caller (a 4xx), rather than a failure to do it.
func IsRefusal(err error) bool {
	var r interface{ refused() }
	return errors.As(err, &r)
}

// InvalidCodeError is a wrong guess at the activation code. It has been counted.
type InvalidCodeError struct {
	// AttemptsRemaining is how many more wrong guesses the code accepts.
	AttemptsRemaining int
}

func (e *InvalidCodeError) Error() string {
	return fmt.Sprintf("invalid activation code (%d attempts remaining)", e.AttemptsRemaining)
}

func (*InvalidCodeError) refused() {}

// Reason says which limit a RetryLaterError hit.
type Reason string

// The limits that make a caller wait.
const (
	// ReasonResendInterval: the account's previous code is younger than the resend
	// interval (CodePolicy.ResendInterval).
	ReasonResendInterval Reason = "resend_interval"
	// ReasonCodeBudget: the mailbox received its codes for the day (CodePolicy.CodesPerDay).
	ReasonCodeBudget Reason = "code_budget"
	// ReasonGuessBudget: the mailbox took its wrong codes for the day
	// (CodePolicy.GuessesPerDay), whatever code they were made against.
	ReasonGuessBudget Reason = "guess_budget"
	// ReasonClientCodeBudget: codes were issued at this client's request for the day
	// (CodePolicy.ClientCodesPerDay), across every address.
	ReasonClientCodeBudget Reason = "client_code_budget"
	// ReasonClientGuessBudget: this client sent its wrong codes for the day
	// (CodePolicy.ClientGuessesPerDay), across every address.
	ReasonClientGuessBudget Reason = "client_guess_budget"
	// ReasonSignInDelay: the email took too many wrong passwords (SignInHistory.Wait);
	// the password is not checked until the delay has passed.
	ReasonSignInDelay Reason = "sign_in_delay"
	// ReasonCodeLocked: the latest code took its quota of wrong guesses
	// (CodePolicy.MaxAttempts); the wait is until a new code may be issued.
	ReasonCodeLocked Reason = "code_locked"
	// ReasonResetGuessBudget: the mailbox took its wrong reset codes for the day
	// (ResetPolicy.GuessesPerDay).
	ReasonResetGuessBudget Reason = "reset_guess_budget"
)

// RetryLaterError refuses a request that a limit holds back: the caller may try again
// after RetryAfter. It is the one error for "try later"; Reason says which limit.
type RetryLaterError struct {
	Reason Reason
	// RetryAfter is how long the caller must wait.
	RetryAfter time.Duration
	// Limit is the limit's number, where it has one (codes or guesses in the window).
	Limit int
}

func (e *RetryLaterError) Error() string {
	return fmt.Sprintf("retry in %s (%s)", e.RetryAfter, e.Reason)
}

func (*RetryLaterError) refused() {}

func retryLater(reason Reason, wait time.Duration, limit int) error {
	return &RetryLaterError{Reason: reason, RetryAfter: wait, Limit: limit}
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

func (*ValidationError) refused() {}

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
