package httpserver

import (
	"encoding/json"
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
	// Extensions are the members a module adds to its problems (RFC 9457 §3.2), such as
	// identity's attempts_remaining: rendered next to the standard members, which they
	// can never replace. Set them with With.
	Extensions map[string]any `json:"-"`

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

// With sets the extension member name to value and returns p. The names of the standard
// members (type, title, status, detail, code, errors) are refused: a module cannot change
// what every problem means.
func (p *Problem) With(name string, value any) *Problem {
	if standardMembers[name] {
		panic(fmt.Sprintf("httpserver: problem extension %q is a standard member", name))
	}
	if p.Extensions == nil {
		p.Extensions = map[string]any{}
	}
	p.Extensions[name] = value
	return p
}

var standardMembers = map[string]bool{"type": true, "title": true, "status": true, "detail": true, "code": true, "errors": true}

// MarshalJSON renders the standard members, then the extensions.
func (p *Problem) MarshalJSON() ([]byte, error) {
	type standard Problem // without the method: no recursion
	doc, err := json.Marshal((*standard)(p))
	if err != nil || len(p.Extensions) == 0 {
		return doc, err
	}
	members := make(map[string]json.RawMessage, len(p.Extensions))
	for name, value := range p.Extensions {
		if standardMembers[name] {
			continue
		}
		raw, err := json.Marshal(value)
		if err != nil {
			return nil, fmt.Errorf("problem extension %s: %w", name, err)
		}
		members[name] = raw
	}
	ext, err := json.Marshal(members) // sorted by name: a stable document
	if err != nil || len(members) == 0 {
		return doc, err
	}
	// doc is {...} and ext is {...}: join them into one object.
	return append(append(doc[:len(doc)-1:len(doc)-1], ','), ext[1:]...), nil
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
