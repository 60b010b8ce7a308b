package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/acme/identity/platform/admin"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/httpserver"
)

// testAdmin is an administration server on a fresh database with one route of a module,
// GET /admin/v1/whoami, answering the request's Actor, and a stub dashboard.
func testAdmin(t *testing.T) (*admin.Keys, http.Handler) {
	t.Helper()
	keys := admin.NewKeys(dbtest.NewPool(t))
	dash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "dashboard "+r.URL.Path) })
	srv := admin.NewServer(admin.Options{Keys: keys, Dashboard: dash}, slog.New(slog.DiscardHandler))
	srv.API().GET("/whoami", func(c echo.Context) error { return c.String(http.StatusOK, admin.Actor(c)) })
	srv.API().POST("/post-only", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	return keys, srv.Handler()
}

func get(h http.Handler, path, authorization string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestKeyCheckLetsALiveKeyThroughAsItsActor(t *testing.T) {
	t.Parallel()
	keys, h := testAdmin(t)
	ctx := context.Background()
	ops, err := keys.Create(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	support, err := keys.Create(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ authorization, actor string }{
		"ops as Bearer":          {"Bearer " + ops, "ops"},
		"ops as Basic":           {basic("anyone", ops), "ops"},
		"support as Basic":       {basic("ops", support), "support"}, // the user name means nothing
		"support as BEARER":      {"BEARER " + support, "support"},
		"ops, Basic with spaces": {"Basic  " + strings.TrimPrefix(basic("x", ops), "Basic "), "ops"},
	} {
		rec := get(h, "/admin/v1/whoami", c.authorization)
		if rec.Code != http.StatusOK || rec.Body.String() != c.actor {
			t.Errorf("%s: %d %q, want 200 %q", name, rec.Code, rec.Body.String(), c.actor)
		}
	}
	// With a key, the router answers as on the public listener: an unknown path is a 404,
	// a wrong method a 405 (not the 404 of a group's middleware).
	for path, status := range map[string]int{"/admin/v1/no-such-route": http.StatusNotFound, "/elsewhere": http.StatusNotFound, "/admin/v1/post-only": http.StatusMethodNotAllowed} {
		if rec := get(h, path, "Bearer "+ops); rec.Code != status {
			t.Errorf("GET %s with the key: %d, want %d", path, rec.Code, status)
		}
	}
	rec := get(h, "/admin/jobs/jobs", "Bearer "+ops)
	if rec.Code != http.StatusOK || rec.Body.String() != "dashboard /admin/jobs/jobs" {
		t.Errorf("the dashboard with the key: %d %q", rec.Code, rec.Body.String())
	}
}

func TestKeyCheckRefusesEverythingElse(t *testing.T) {
	t.Parallel()
	keys, h := testAdmin(t)
	ctx := context.Background()
	key, err := keys.Create(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := keys.Create(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Revoke(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for name, authorization := range map[string]string{
		"none":                   "",
		"a revoked key":          "Bearer " + revoked,
		"a revoked key as Basic": basic("x", revoked),
		"an unknown key":         "Bearer " + admin.KeyPrefix + strings.Repeat("x", 43),
		"the key as the user":    basic(key, ""),
		"Basic without a colon":  "Basic " + base64.StdEncoding.EncodeToString([]byte(key)),
		"Basic, bad base64":      "Basic " + key,
		"another scheme":         "Digest " + key,
		"no scheme":              key,
		"the key's hash":         "Bearer " + base64.RawURLEncoding.EncodeToString(func() []byte { s := sha256.Sum256([]byte(key)); return s[:] }()),
		"the key, one byte off":  "Bearer " + key[:len(key)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(key, "A")],
	} {
		for _, path := range []string{"/admin/v1/whoami", "/admin/v1/no-such-route", "/admin/v1/post-only", "/elsewhere", "/admin/jobs/", "/admin/jobs"} {
			rec := get(h, path, authorization)
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s on %s: %d %s, want a 401 problem", name, path, rec.Code, rec.Header().Get("Content-Type"))
				continue
			}
			if got := rec.Header().Values("WWW-Authenticate"); !slices.Equal(got, []string{admin.BearerChallenge, admin.BasicChallenge}) {
				t.Errorf("%s on %s: WWW-Authenticate %q, want both challenges", name, path, got)
			}
			if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("X-Request-ID") == "" {
				t.Errorf("%s on %s: headers %v lack no-store, nosniff or X-Request-ID", name, path, rec.Header())
			}
		}
	}
}

func TestKeysStoreOnlyAHash(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	keys := admin.NewKeys(pool)
	ctx := context.Background()
	key, err := keys.Create(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, admin.KeyPrefix))
	if !strings.HasPrefix(key, admin.KeyPrefix) || err != nil || len(raw) != 32 {
		t.Fatalf("key %q: want %s and 32 random bytes in base64url", key, admin.KeyPrefix)
	}
	var row string
	var hash []byte
	if err := pool.QueryRow(ctx, `SELECT k::text, key_hash FROM platform.admin_keys k WHERE name = 'ops'`).Scan(&row, &hash); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(key)); string(hash) != string(sum[:]) {
		t.Error("the stored hash is not the key's SHA-256")
	}
	if strings.Contains(row, key) || strings.Contains(row, key[len(admin.KeyPrefix):]) {
		t.Errorf("the row holds the key: %s", row)
	}
	if _, err := keys.Create(ctx, "ops"); !errors.Is(err, admin.ErrNameTaken) {
		t.Errorf("a second ops: %v, want ErrNameTaken", err)
	}
	if _, err := keys.Revoke(ctx, "nobody"); !errors.Is(err, admin.ErrNoSuchKey) {
		t.Errorf("revoke nobody: %v, want ErrNoSuchKey", err)
	}
	for _, bad := range []string{"", "two words", "-dash", "a\nb", strings.Repeat("a", 65), "ünïcode"} {
		if _, err := keys.Create(ctx, bad); !errors.Is(err, admin.ErrBadName) {
			t.Errorf("name %q: %v, want ErrBadName", bad, err)
		}
	}
	first, err := keys.Revoke(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	again, err := keys.Revoke(ctx, "ops")
	if err != nil || !again.Equal(first) {
		t.Errorf("revoking again: %v %v, want the first revocation time %v", again, err, first)
	}
	list, err := keys.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "ops" || list[0].RevokedAt == nil {
		t.Errorf("list: %+v %v", list, err)
	}
}

// TestKeyCheckAnswers503WithoutItsDatabase: a key that cannot be looked up is the
// database's failure (503), never a 401 that would make an operator doubt a good key.
func TestKeyCheckAnswers503WithoutItsDatabase(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	keys := admin.NewKeys(pool)
	key, err := keys.Create(context.Background(), "ops")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer(admin.Options{Keys: keys}, slog.New(slog.DiscardHandler))
	srv.API().GET("/whoami", func(c echo.Context) error { return c.String(http.StatusOK, admin.Actor(c)) })
	pool.Close()
	rec := get(srv.Handler(), "/admin/v1/whoami", "Bearer "+key)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), httpserver.CodeUnavailable) {
		t.Errorf("with the database gone: %d %s, want 503 unavailable", rec.Code, rec.Body.String())
	}
}
