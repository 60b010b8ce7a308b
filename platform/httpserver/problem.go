package httpserver

import (
	"fmt"
	"net/http"
	"time"
)

// Problem is an RFC 9457 problem document, and the error a handler returns to have one
// rendered. Code is the stable, machine-readable code of the contract.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	// Errors lists the invalid fields of a validation_failed problem.
	Errors []FieldError `json:"errors,omitempty"`
	// AttemptsRemaining is set on invalid_code problems.
	AttemptsRemaining *int `json:"attempts_remaining,omitempty"`

	// RetryAfter, when positive, is sent as the Retry-After header (whole seconds, >= 1).
	RetryAfter time.Duration `json:"-"`
	// Header holds extra response headers, such as WWW-Authenticate.
	Header http.Header `json:"-"`
	// Cause is the error behind the problem: logged for 5xx, never sent.
	Cause error `json:"-"`
}

// FieldError is one invalid request field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ProblemTypeBase prefixes the type URI of every problem: the URI names the code.
const ProblemTypeBase = "https://identity.example.com/problems/"

// NewProblem returns a problem with status, code and detail, titled by the status.
func NewProblem(status int, code, detail string) *Problem {
	return &Problem{
		Type:   ProblemTypeBase + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
}

func (p *Problem) Error() string {
	if p.Cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", p.Status, p.Code, p.Detail, p.Cause)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
}

func (p *Problem) Unwrap() error { return p.Cause }

// The codes the platform itself produces; modules add their own.
const (
	CodeMalformedJSON        = "malformed_json"
	CodeValidationFailed     = "validation_failed"
	CodeUnauthorized         = "unauthorized"
	CodeRateLimited          = "rate_limited"
	CodeUnavailable          = "unavailable"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeInternal             = "internal_error"
)
