package http

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/httpserver"
)

// authService knows one account and one session token; it counts authentications by
// password (each stands for a hash) and by token (each a query).
type authService struct {
	AdminService // none of its routes is fuzzed: nil
	noWebhooks
	calls, tokenCalls atomic.Int64
}

// goodToken is the one live token authService knows.
const goodToken = "live-session-token"

func (s *authService) AuthenticateToken(_ context.Context, token string) (domain.Session, domain.Account, error) {
	s.tokenCalls.Add(1)
	if token == goodToken {
		return domain.Session{ID: "s1", AccountID: alice.ID}, alice, nil
	}
	return domain.Session{}, domain.Account{}, domain.ErrInvalidToken
}

func (s *authService) SignIn(context.Context, domain.Account) (app.SessionStarted, error) {
	return app.SessionStarted{}, domain.ErrUnauthorized
}

func (s *authService) SignOut(context.Context, domain.Session) error { return domain.ErrUnauthorized }

func (s *authService) SignOutEverywhere(context.Context, domain.Account) error {
	return domain.ErrUnauthorized
}

func (s *authService) ChangePassword(context.Context, domain.Account, domain.Password) error {
	return domain.ErrUnauthorized
}

func (s *authService) RequestReset(context.Context, domain.Email) error { return nil }

func (s *authService) ConfirmReset(context.Context, domain.Email, domain.ResetCode, domain.Password) error {
	return domain.ErrInvalidResetCode
}

func (s *authService) Events(context.Context, domain.Account, string, int) ([]domain.AccountEvent, string, error) {
	return nil, "", nil
}

func (s *authService) Sessions(context.Context, domain.Account) ([]domain.Session, error) {
	return nil, nil
}

func (s *authService) EndSession(context.Context, domain.Account, string) error {
	return domain.ErrSessionNotFound
}

func (s *authService) RequestEmailChange(context.Context, domain.Account, domain.Email) error {
	return domain.ErrUnauthorized
}

func (s *authService) ConfirmEmailChange(context.Context, domain.Account, domain.Session, domain.EmailChangeCode) (domain.Account, error) {
	return domain.Account{}, domain.ErrUnauthorized
}

func (s *authService) DeleteAccount(context.Context, domain.Account) error {
	return domain.ErrUnauthorized
}

var alice = domain.Account{ID: "a1", Email: "alice@example.com", Status: domain.StatusPending, CreatedAt: time.Unix(0, 0)}

func (s *authService) Authenticate(_ context.Context, email domain.Email, password string) (domain.Account, error) {
	s.calls.Add(1)
	if email == "alice@example.com" && password == "correct horse" {
		return alice, nil
	}
	return domain.Account{}, domain.ErrUnauthorized
}

func (s *authService) Register(context.Context, domain.Email, domain.Password) (domain.Account, error) {
	return domain.Account{}, domain.ErrUnauthorized
}

func (s *authService) Activate(context.Context, domain.Account, domain.ActivationCode) (domain.Account, error) {
	return domain.Account{}, domain.ErrUnauthorized
}

func (s *authService) Resend(context.Context, domain.Account) (app.CodeSent, error) {
	return app.CodeSent{}, domain.ErrUnauthorized
}

// FuzzBasicAuth: whatever Authorization header a client sends to an authenticated route
// that takes both schemes, the answer is the user (only for the right credentials or the
// live token) or the one 401 of the contract with its challenges, never a 5xx. Basic
// credentials cost exactly one authentication by password, a Bearer token one lookup and
// no password, and a header that is neither costs nothing (401 at once, both challenges).
func FuzzBasicAuth(f *testing.F) {
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, seed := range []string{
		basic("alice@example.com:correct horse"), basic("alice@example.com:wrong"), basic("alice@example.com"),
		basic(":"), basic("alice@example.com:correct horse:extra"), "Basic", "Basic ", "Basic !!!!",
		"basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com:correct horse")),
		"Bearer abc", "", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("alice@example.com:correct horse")),
		basic("\xff\xfe:\x00"), "Basic\t" + base64.StdEncoding.EncodeToString([]byte("a:b")),
		"Bearer " + goodToken, "bearer " + goodToken, "Bearer  " + goodToken + " ", "Bearer", "Token " + goodToken,
	} {
		f.Add(seed)
	}
	svc := &authService{}
	srv := httpserver.New(httpserver.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	NewHandlers(svc, nil).Register(srv.API())
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/users/me", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		before, beforeTokens := svc.calls.Load(), svc.tokenCalls.Load()
		srv.Handler().ServeHTTP(rec, req)
		email, password, isBasic := req.BasicAuth()
		scheme, token, _ := strings.Cut(header, " ")
		isBearer := strings.EqualFold(scheme, "Bearer")
		// What is not Basic credentials whose user is an email costs no authentication
		// by password (no hash); such credentials cost exactly one, a Bearer token one
		// lookup.
		parsed, msg := domain.ParseEmail(email)
		wantCalls, wantTokens := int64(0), int64(0)
		if isBasic && msg == "" {
			wantCalls = 1
		}
		if isBearer {
			wantTokens = 1
		}
		if n, m := svc.calls.Load()-before, svc.tokenCalls.Load()-beforeTokens; n != wantCalls || m != wantTokens {
			t.Fatalf("Authorization %q: %d authentications and %d token lookups, want %d and %d", header, n, m, wantCalls, wantTokens)
		}
		right := isBasic && msg == "" && parsed == "alice@example.com" && password == "correct horse" ||
			isBearer && strings.TrimSpace(token) == goodToken
		var challenges []string
		switch {
		case isBasic:
			challenges = []string{`Basic realm="identity", charset="UTF-8"`}
		case isBearer:
			challenges = []string{`Bearer realm="identity", error="invalid_token"`}
		default:
			challenges = []string{`Basic realm="identity", charset="UTF-8"`, `Bearer realm="identity"`}
		}
		switch {
		case right && rec.Code != http.StatusOK:
			t.Fatalf("Authorization %q (the right credentials): %d %s", header, rec.Code, rec.Body)
		case !right && (rec.Code != http.StatusUnauthorized ||
			strings.Join(rec.Header().Values("WWW-Authenticate"), " | ") != strings.Join(challenges, " | ") ||
			rec.Header().Get("Content-Type") != "application/problem+json"):
			t.Fatalf("Authorization %q: %d %v %s, want the 401 problem with challenges %v", header, rec.Code, rec.Header(), rec.Body, challenges)
		}
	})
}
