package http

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/httpserver"
)

// authService knows one account; it counts authentications (each stands for a hash).
type authService struct{ calls atomic.Int64 }

var alice = domain.Account{ID: "a1", Email: "alice@example.com", Status: domain.StatusPending, CreatedAt: time.Unix(0, 0)}

func (s *authService) Authenticate(_ context.Context, email, password string) (domain.Account, error) {
	s.calls.Add(1)
	if email == "alice@example.com" && password == "correct horse" {
		return alice, nil
	}
	return domain.Account{}, domain.ErrUnauthorized
}

func (s *authService) Register(context.Context, string, string) (domain.Account, error) {
	return domain.Account{}, domain.ErrUnauthorized
}

func (s *authService) Activate(context.Context, domain.Account, string) (domain.Account, error) {
	return domain.Account{}, domain.ErrUnauthorized
}

func (s *authService) Resend(context.Context, domain.Account) (app.CodeSent, error) {
	return app.CodeSent{}, domain.ErrUnauthorized
}

// FuzzBasicAuth: whatever Authorization header a client sends to an authenticated route,
// the answer is the user (only for the right credentials) or the one 401 of the contract
// with its challenge, never a 5xx; Basic credentials cost exactly one authentication, a
// header that is none costs none (the contract: 401 at once, without hashing).
func FuzzBasicAuth(f *testing.F) {
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, seed := range []string{
		basic("alice@example.com:correct horse"), basic("alice@example.com:wrong"), basic("alice@example.com"),
		basic(":"), basic("alice@example.com:correct horse:extra"), "Basic", "Basic ", "Basic !!!!",
		"basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com:correct horse")),
		"Bearer abc", "", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("alice@example.com:correct horse")),
		basic("\xff\xfe:\x00"), "Basic\t" + base64.StdEncoding.EncodeToString([]byte("a:b")),
	} {
		f.Add(seed)
	}
	svc := &authService{}
	srv := httpserver.New(httpserver.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	NewHandlers(svc).Register(srv.API())
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/users/me", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		before := svc.calls.Load()
		srv.Handler().ServeHTTP(rec, req)
		email, password, ok := req.BasicAuth()
		// A header that is not Basic credentials costs no authentication (no hash):
		// nothing about any account depends on it; Basic credentials cost exactly one.
		want := int64(0)
		if ok {
			want = 1
		}
		if n := svc.calls.Load() - before; n != want {
			t.Fatalf("Authorization %q: %d authentications, want exactly %d", header, n, want)
		}
		right := ok && email == "alice@example.com" && password == "correct horse"
		switch {
		case right && rec.Code != http.StatusOK:
			t.Fatalf("Authorization %q (the right credentials): %d %s", header, rec.Code, rec.Body)
		case !right && (rec.Code != http.StatusUnauthorized ||
			rec.Header().Get("WWW-Authenticate") != `Basic realm="identity", charset="UTF-8"` ||
			rec.Header().Get("Content-Type") != "application/problem+json"):
			t.Fatalf("Authorization %q: %d %v %s, want the 401 problem with its challenge", header, rec.Code, rec.Header(), rec.Body)
		}
	})
}
