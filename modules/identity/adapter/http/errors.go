package http

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/httpserver"
)

// Problem codes of the identity context (the platform's codes are in httpserver).
const (
	codeEmailTaken      = "email_taken"
	codeAlreadyActive   = "already_active"
	codeAccountPending  = "account_pending"
	codeAccountDisabled = "account_disabled"
	codeInvalidCode     = "invalid_code"
	codeTooManyAttempts = "too_many_attempts"
	codeCodeExpired     = "code_expired"
)

// extAttemptsRemaining is identity's extension member of invalid_code problems: the wrong
// guesses the code still accepts.
const extAttemptsRemaining = "attempts_remaining"

// retryProblems is the problem code and detail of each limit a caller must wait for.
var retryProblems = map[domain.Reason]struct{ code, detail string }{
	domain.ReasonResendInterval: {httpserver.CodeRateLimited,
		"A code was issued to this account moments ago; wait before asking for another."},
	domain.ReasonCodeBudget: {httpserver.CodeRateLimited,
		"This address received %d codes in 24 hours; retry after the time in Retry-After."},
	domain.ReasonGuessBudget: {codeTooManyAttempts,
		"This address took too many wrong codes in 24 hours; retry after the time in Retry-After with a new code."},
	domain.ReasonClientCodeBudget: {httpserver.CodeRateLimited,
		"Too many codes were issued at this client's request in 24 hours; retry after the time in Retry-After."},
	domain.ReasonClientGuessBudget: {codeTooManyAttempts,
		"This client sent too many wrong codes in 24 hours; retry after the time in Retry-After."},
	domain.ReasonSignInDelay: {httpserver.CodeRateLimited,
		"Too many wrong passwords for this email; the password is not checked until the time in Retry-After."},
	domain.ReasonResetGuessBudget: {codeTooManyAttempts,
		"Too many wrong reset codes for this address in 24 hours; retry after the time in Retry-After."},
	domain.ReasonCodeLocked: {codeTooManyAttempts,
		"The code took too many wrong guesses; request a new code (possible after the time in Retry-After)."},
}

// adminProblemFor is problemFor for the administration API, where the account is named
// by its id in the path: an id that names no account (malformed, unknown, deleted) is
// 404 not_found, not the 401 of an account whose credentials named none.
func adminProblemFor(err error) *httpserver.Problem {
	if errors.Is(err, domain.ErrAccountNotFound) {
		return httpserver.NewProblem(http.StatusNotFound, httpserver.CodeNotFound, "No account has this id.")
	}
	return problemFor(err)
}

// problemFor is the one table from the identity context's errors to problems. It matches
// with errors.Is/As, so wrapped errors map too; anything else is left to the platform's
// error handler (503 for an unreachable database, a logged 500 otherwise).
func problemFor(err error) *httpserver.Problem {
	var (
		invalid *domain.InvalidCodeError
		retry   *domain.RetryLaterError
		verr    *domain.ValidationError
	)
	switch {
	case errors.Is(err, domain.ErrUnauthorized), errors.Is(err, domain.ErrAccountNotFound):
		p := httpserver.NewProblem(http.StatusUnauthorized, httpserver.CodeUnauthorized,
			"Send the account's email and password with HTTP Basic authentication.")
		p.Header = http.Header{"Www-Authenticate": {basicChallenge}}
		return p
	case errors.Is(err, domain.ErrInvalidToken):
		p := httpserver.NewProblem(http.StatusUnauthorized, httpserver.CodeUnauthorized,
			"The Bearer token names no live session: sign in again (POST /v1/sessions).")
		p.Header = http.Header{"Www-Authenticate": {invalidTokenChallenge}}
		return p
	case errors.Is(err, domain.ErrWebhookNotFound):
		return httpserver.NewProblem(http.StatusNotFound, httpserver.CodeNotFound, "No webhook endpoint has this id.")
	case errors.Is(err, domain.ErrSessionNotFound):
		return httpserver.NewProblem(http.StatusNotFound, httpserver.CodeNotFound, "No live session of this account has this id.")
	case errors.Is(err, domain.ErrEmailTaken):
		return httpserver.NewProblem(http.StatusConflict, codeEmailTaken, "An active account already uses this email.")
	case errors.Is(err, domain.ErrAccountPending):
		return httpserver.NewProblem(http.StatusForbidden, codeAccountPending,
			"The account is not active yet: activate it with the emailed code first.")
	case errors.Is(err, domain.ErrAccountDisabled):
		return httpserver.NewProblem(http.StatusForbidden, codeAccountDisabled,
			"The account was disabled by the service's administrators.")
	case errors.Is(err, domain.ErrAlreadyActive):
		return httpserver.NewProblem(http.StatusConflict, codeAlreadyActive, "The account is already active.")
	case errors.As(err, &retry):
		rp, ok := retryProblems[retry.Reason]
		if !ok {
			return nil // a reason without a problem is a bug: the platform logs a 500
		}
		detail := rp.detail
		if strings.Contains(detail, "%d") {
			detail = fmt.Sprintf(detail, retry.Limit)
		}
		p := httpserver.NewProblem(http.StatusTooManyRequests, rp.code, detail)
		p.RetryAfter = retry.RetryAfter
		return p
	case errors.Is(err, domain.ErrInvalidResetCode):
		return httpserver.NewProblem(http.StatusBadRequest, codeInvalidCode,
			"The code is not this address's latest password-reset code, or it has expired: request a new one.")
	case errors.Is(err, domain.ErrInvalidEmailChangeCode):
		return httpserver.NewProblem(http.StatusBadRequest, codeInvalidCode,
			"The code is not this account's latest email-change code, or it has expired: request a new one.")
	case errors.Is(err, domain.ErrCodeExpired):
		return httpserver.NewProblem(http.StatusBadRequest, codeCodeExpired,
			"The activation code has expired; request a new code.")
	case errors.As(err, &invalid):
		return httpserver.NewProblem(http.StatusBadRequest, codeInvalidCode, "The activation code is wrong.").
			With(extAttemptsRemaining, invalid.AttemptsRemaining)
	case errors.As(err, &verr):
		fields := make([]httpserver.FieldError, len(verr.Fields))
		for i, f := range verr.Fields {
			fields[i] = httpserver.FieldError{Field: f.Field, Message: f.Message}
		}
		return httpserver.ValidationProblem(fields)
	}
	return nil
}
