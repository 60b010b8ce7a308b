package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/acme/identity/modules/identity"
	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/httpserver"
	"github.com/acme/identity/platform/module"
	"github.com/acme/identity/platform/outbox/outboxtest"
)

// newModule builds identity on pool with cheap password hashing, as main would.
func newModule(t *testing.T, pool *pgxpool.Pool) *identity.Module {
	t.Helper()
	env := map[string]string{"PASSWORD_HASH_MEMORY_KIB": "1024", "PASSWORD_HASH_ITERATIONS": "1"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	settings, err := identity.LoadSettings(cfg.Modules)
	if err != nil {
		t.Fatal(err)
	}
	m, err := identity.New(module.Platform{Env: cfg.Modules, Pool: pool, Outbox: outboxtest.New(t, pool)}, settings)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAPI drives identity's public API as another module uses it: a route of its own
// behind API.Authenticate, and the lookup by id, on the real database.
func TestAPI(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := dbtest.NewPool(t)
	m := newModule(t, pool)
	srv := httpserver.New(httpserver.Options{}, logger)
	m.RegisterRoutes(srv.API())
	// The route of a consumer: its handler reads the account the middleware put in the
	// request's context.
	probeHandler := func(c echo.Context) error {
		acc, ok := identity.AccountFrom(c.Request().Context())
		if !ok {
			return errors.New("no account in the context")
		}
		return c.JSON(http.StatusOK, map[string]any{"id": acc.ID, "email": acc.Email, "active": acc.Active})
	}
	srv.API().GET("/probe", probeHandler, m.API().Authenticate)
	srv.API().GET("/probe-pending-too", probeHandler, m.API().AuthenticatePendingToo)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	res, err := http.Post(ts.URL+"/v1/users", "application/json",
		strings.NewReader(`{"email": "Alice@Example.com", "password": "correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	var user struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&user); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d, %v", res.StatusCode, err)
	}
	_ = res.Body.Close()

	probeAt := func(t *testing.T, path, email, password string) (int, http.Header, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		if email != "" {
			req.SetBasicAuth(email, password)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, res.Header, body
	}
	probe := func(t *testing.T, email, password string) (int, http.Header, map[string]any) {
		t.Helper()
		return probeAt(t, "/v1/probe", email, password)
	}

	t.Run("a pending account is refused unless the module asks for it", func(t *testing.T) {
		if status, _, body := probe(t, "alice@example.com", "correct horse"); status != http.StatusForbidden || body["code"] != "account_pending" {
			t.Fatalf("pending account through Authenticate: got %d %v, want 403 account_pending", status, body)
		}
		status, _, body := probeAt(t, "/v1/probe-pending-too", "alice@example.com", "correct horse")
		want := map[string]any{"id": user.ID, "email": "alice@example.com", "active": false}
		if status != http.StatusOK || body["id"] != want["id"] || body["email"] != want["email"] || body["active"] != want["active"] {
			t.Fatalf("pending account through AuthenticatePendingToo: got %d %v, want 200 %v", status, body, want)
		}
		if _, err := m.API().Account(context.Background(), user.ID); !errors.Is(err, identity.ErrAccountPending) {
			t.Fatalf("Account of a pending account: %v, want ErrAccountPending", err)
		}
	})
	for name, creds := range map[string][2]string{
		"wrong password": {"alice@example.com", "wrong horse"},
		"unknown email":  {"bob@example.com", "correct horse"},
		"no credentials": {"", ""},
	} {
		t.Run(name+" is identity's 401", func(t *testing.T) {
			status, header, body := probe(t, creds[0], creds[1])
			if status != http.StatusUnauthorized || body["code"] != httpserver.CodeUnauthorized ||
				header.Get("WWW-Authenticate") != `Basic realm="identity", charset="UTF-8"` ||
				header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %v %v, want 401 unauthorized with WWW-Authenticate", status, header, body)
			}
		})
	}

	t.Run("lookup by id", func(t *testing.T) {
		acc, err := m.API().AccountPendingToo(context.Background(), user.ID)
		if err != nil || acc.ID != user.ID || acc.Email != "alice@example.com" || acc.Active || acc.ActivatedAt != nil {
			t.Fatalf("AccountPendingToo(%s) = %+v, %v", user.ID, acc, err)
		}
		for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", ""} {
			if _, err := m.API().Account(context.Background(), id); !errors.Is(err, identity.ErrAccountNotFound) {
				t.Errorf("Account(%q): %v, want ErrAccountNotFound", id, err)
			}
		}
	})
	t.Run("no account outside an authenticated request", func(t *testing.T) {
		if acc, ok := identity.AccountFrom(context.Background()); ok {
			t.Fatalf("AccountFrom(background) = %+v, true", acc)
		}
	})
	t.Run("an active account reaches the handler with the account", func(t *testing.T) {
		var text string
		if err := pool.QueryRow(context.Background(),
			"SELECT text_body FROM platform.outbox_emails WHERE recipient = 'alice@example.com' ORDER BY id DESC LIMIT 1").Scan(&text); err != nil {
			t.Fatal(err)
		}
		code := regexp.MustCompile(`(?m)^[0-9]{4}$`).FindString(text)
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/users/me/activation", strings.NewReader(`{"code": "`+code+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("alice@example.com", "correct horse")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("activate with %q: %d", code, res.StatusCode)
		}
		status, _, body := probe(t, "alice@example.com", "correct horse")
		if status != http.StatusOK || body["id"] != user.ID || body["active"] != true {
			t.Fatalf("got %d %v, want 200 with the active account", status, body)
		}
		if acc, err := m.API().Account(context.Background(), user.ID); err != nil || !acc.Active || acc.ActivatedAt == nil {
			t.Fatalf("Account(%s) = %+v, %v", user.ID, acc, err)
		}
	})
}
