package http

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

func TestProblemTable(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("activate account 42: %w", err) }
	tests := []struct {
		err        error
		status     int
		code       string
		retryAfter time.Duration
	}{
		{domain.ErrUnauthorized, http.StatusUnauthorized, "unauthorized", 0},
		{domain.ErrAccountNotFound, http.StatusUnauthorized, "unauthorized", 0},
		{domain.ErrEmailTaken, http.StatusConflict, "email_taken", 0},
		{domain.ErrAlreadyActive, http.StatusConflict, "already_active", 0},
		{domain.ErrAccountPending, http.StatusForbidden, "account_pending", 0},
		{domain.ErrCodeExpired, http.StatusBadRequest, "code_expired", 0},
		{&domain.InvalidCodeError{AttemptsRemaining: 2}, http.StatusBadRequest, "invalid_code", 0},
		{domain.ErrInvalidResetCode, http.StatusBadRequest, "invalid_code", 0},
		{domain.ErrInvalidEmailChangeCode, http.StatusBadRequest, "invalid_code", 0},
		{fmt.Errorf("the new address is taken: %w", domain.ErrInvalidEmailChangeCode), http.StatusBadRequest, "invalid_code", 0},
		{&domain.RetryLaterError{Reason: domain.ReasonResendInterval, RetryAfter: 1500 * time.Millisecond}, http.StatusTooManyRequests, "rate_limited", 1500 * time.Millisecond},
		{&domain.RetryLaterError{Reason: domain.ReasonCodeLocked, RetryAfter: 20 * time.Second}, http.StatusTooManyRequests, "too_many_attempts", 20 * time.Second},
		{&domain.RetryLaterError{Reason: domain.ReasonGuessBudget, RetryAfter: 3 * time.Hour}, http.StatusTooManyRequests, "too_many_attempts", 3 * time.Hour},
		{&domain.RetryLaterError{Reason: domain.ReasonCodeBudget, RetryAfter: 20 * time.Hour, Limit: 10}, http.StatusTooManyRequests, "rate_limited", 20 * time.Hour},
		{&domain.ValidationError{Fields: []domain.FieldError{{Field: "code", Message: "m"}}}, http.StatusUnprocessableEntity, "validation_failed", 0},
	}
	for _, tt := range tests {
		for _, err := range []error{tt.err, wrap(tt.err)} {
			p := problemFor(err)
			if p == nil || p.Status != tt.status || p.Code != tt.code || p.RetryAfter != tt.retryAfter {
				t.Errorf("problemFor(%v) = %+v, want %d %s", err, p, tt.status, tt.code)
			}
		}
	}
	if p := problemFor(wrap(&domain.InvalidCodeError{AttemptsRemaining: 2})); p.Extensions[extAttemptsRemaining] != 2 {
		t.Errorf("invalid_code problem does not carry attempts_remaining 2: %+v", p)
	}
	if p := problemFor(domain.ErrUnauthorized); p.Header.Get("WWW-Authenticate") != `Basic realm="identity", charset="UTF-8"` {
		t.Errorf("401 without WWW-Authenticate: %+v", p.Header)
	}
	if p := problemFor(&domain.RetryLaterError{Reason: domain.ReasonCodeBudget, Limit: 10}); !strings.Contains(p.Detail, "received 10 codes") {
		t.Errorf("code budget problem does not name its limit: %q", p.Detail)
	}
	for reason := range retryProblems {
		if p := problemFor(&domain.RetryLaterError{Reason: reason, RetryAfter: time.Second}); strings.Contains(p.Detail, "%!") {
			t.Errorf("reason %s: detail %q", reason, p.Detail)
		}
	}
	if p := problemFor(errors.New("disk on fire")); p != nil {
		t.Errorf("an unknown error mapped to %+v; it must be left to the platform (500)", p)
	}
}
