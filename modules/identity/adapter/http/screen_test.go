package http

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/admission"
	"github.com/acme/identity/platform/httpserver"
)

// screenService is authService that also counts registrations.
type screenService struct {
	authService
	registrations atomic.Int64
}

func (s *screenService) Register(context.Context, domain.Email, domain.Password) (domain.Account, error) {
	s.registrations.Add(1)
	return alice, nil
}

// TestSaturatedGateRefusesBeforeTheWork: while the hashing gate is full, a registration
// and a request with Basic credentials are refused with 503 and Retry-After before their
// body is read or their password judged or verified (the use case is never called); a
// request with a session token, which costs no hash, is served; credentials that are not
// Basic credentials get their 401 as ever. With room at the gate, all go through.
func TestSaturatedGateRefusesBeforeTheWork(t *testing.T) {
	var full atomic.Bool
	screen := func(context.Context) error {
		if full.Load() {
			return fmt.Errorf("%w (test)", admission.ErrBusy)
		}
		return nil
	}
	svc := &screenService{}
	srv := httpserver.New(httpserver.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	NewHandlers(svc, screen).Register(srv.API())
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com:correct horse"))
	do := func(method, path, auth, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	register := func() *httptest.ResponseRecorder {
		return do(http.MethodPost, "/v1/users", "", `{"email": "bob@example.com", "password": "correct horse battery"}`)
	}

	full.Store(true)
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"registration":      register(),
		"Basic credentials": do(http.MethodGet, "/v1/users/me", basic, ""),
		"sign-in":           do(http.MethodPost, "/v1/sessions", basic, ""),
	} {
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s while the gate is full: %d (Retry-After %q), want 503 with Retry-After", name, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if n, m := svc.registrations.Load(), svc.calls.Load(); n != 0 || m != 0 {
		t.Errorf("while the gate is full: %d registrations and %d authentications by password reached the use cases, want none", n, m)
	}
	if rec := do(http.MethodGet, "/v1/users/me", "Bearer "+goodToken, ""); rec.Code != http.StatusOK {
		t.Errorf("a session token while the gate is full: %d, want 200 (it costs no hash)", rec.Code)
	}
	if rec := do(http.MethodGet, "/v1/users/me", "Basic !!!!", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("malformed Basic credentials while the gate is full: %d, want 401", rec.Code)
	}

	full.Store(false)
	if rec := register(); rec.Code != http.StatusCreated {
		t.Errorf("a registration with room at the gate: %d, want 201", rec.Code)
	}
	if rec := do(http.MethodGet, "/v1/users/me", basic, ""); rec.Code != http.StatusOK {
		t.Errorf("Basic credentials with room at the gate: %d, want 200", rec.Code)
	}
	if n, m := svc.registrations.Load(), svc.calls.Load(); n != 1 || m != 1 {
		t.Errorf("with room at the gate: %d registrations and %d authentications, want 1 and 1", n, m)
	}
}
