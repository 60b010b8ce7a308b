package identity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/acme/identity/modules/identity"
	"github.com/acme/identity/platform/admin"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/httpserver"
)

// adminServer serves identity's public routes and its administration routes, the latter
// at /admin/v1 behind a stub of the platform's key check: "Bearer key-NAME" is the key
// named NAME, anything else a 401.
type adminServer struct {
	url    string
	api    *identity.API
	pool   *pgxpool.Pool
	t      *testing.T
	router routers.Router // of api/admin.yaml, which every admin answer must keep
}

// adminDocument is api/admin.yaml, validated, and its router.
func adminDocument(t *testing.T) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../../api/admin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/admin.yaml is not valid: %v", err)
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return router
}

func newAdminServer(t *testing.T, onDelete func(ctx context.Context, tx pgx.Tx, id string) error) *adminServer {
	t.Helper()
	pool := dbtest.NewPool(t)
	m := newModule(t, pool)
	if onDelete != nil {
		m.API().OnAccountDeletion(onDelete)
	}
	srv := httpserver.New(httpserver.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.RegisterRoutes(srv.API())
	e, ok := srv.Handler().(*echo.Echo)
	if !ok {
		t.Fatal("the server's handler is not echo")
	}
	m.RegisterAdminRoutes(e.Group("/admin/v1", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("Cache-Control", "no-store") // as the listener does
			name, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer key-")
			if !ok {
				p := httpserver.NewProblem(http.StatusUnauthorized, httpserver.CodeUnauthorized, "An admin key is required.")
				p.Header = http.Header{"Www-Authenticate": {`Bearer realm="identity-admin", Basic realm="identity-admin", charset="UTF-8"`}}
				return p
			}
			admin.SetActor(c, name)
			return next(c)
		}
	}))
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return &adminServer{url: ts.URL, api: m.API(), pool: pool, t: t, router: adminDocument(t)}
}

// call sends a request with auth ("key-NAME" as an admin key, "Bearer TOKEN", or
// "email:password" as Basic) and returns the status and the decoded JSON body.
func (s *adminServer) call(method, path, auth string, body string) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(auth, "key-"):
		req.Header.Set("Authorization", "Bearer "+auth)
	case strings.HasPrefix(auth, "Bearer "):
		req.Header.Set("Authorization", auth)
	case auth != "":
		user, password, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(user, password)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if strings.HasPrefix(path, "/admin/") {
		s.checkAdminDocument(req, res, raw)
	}
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			s.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
		}
	}
	return res.StatusCode, out
}

// checkAdminDocument fails the test when the answer to req is not one api/admin.yaml
// lists for its operation (status, headers, body).
func (s *adminServer) checkAdminDocument(req *http.Request, res *http.Response, body []byte) {
	s.t.Helper()
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		s.t.Errorf("%s %s is no operation of api/admin.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		s.t.Errorf("%s %s -> %d is not what api/admin.yaml says: %v\n%s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
}

// emails returns the subjects and text bodies queued to addr, oldest first.
func (s *adminServer) emails(addr string) (subjects, bodies []string) {
	s.t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT subject, text_body FROM platform.outbox_emails WHERE recipient = $1 ORDER BY id`, addr)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var subject, body string
		if err := rows.Scan(&subject, &body); err != nil {
			s.t.Fatal(err)
		}
		subjects, bodies = append(subjects, subject), append(bodies, body)
	}
	return subjects, bodies
}

// activeAccount registers and activates email over HTTP and returns its id.
func (s *adminServer) activeAccount(email, password string) string {
	s.t.Helper()
	if st, _ := s.call(http.MethodPost, "/v1/users", "", `{"email": "`+email+`", "password": "`+password+`"}`); st != http.StatusCreated {
		s.t.Fatalf("register %s: %d", email, st)
	}
	_, bodies := s.emails(email)
	code := regexp.MustCompile(`(?m)^[0-9]{4}$`).FindString(bodies[len(bodies)-1])
	st, user := s.call(http.MethodPost, "/v1/users/me/activation", email+":"+password, `{"code": "`+code+`"}`)
	if st != http.StatusOK {
		s.t.Fatalf("activate %s: %d", email, st)
	}
	return user["id"].(string)
}

// TestAdminAccountRoutes drives every identity route of the administration API over
// HTTP on the real database, with a disabled account refused on both schemes.
func TestAdminAccountRoutes(t *testing.T) {
	var (
		mu      sync.Mutex
		deleted []string
	)
	s := newAdminServer(t, func(_ context.Context, _ pgx.Tx, id string) error {
		mu.Lock()
		defer mu.Unlock()
		deleted = append(deleted, id)
		return nil
	})
	const email, password = "alice@example.com", "correct horse battery"
	basic, wrong := email+":"+password, email+":not the password at all"
	id := s.activeAccount(email, password)
	st, session := s.call(http.MethodPost, "/v1/sessions", basic, "")
	if st != http.StatusCreated {
		t.Fatalf("sign in: %d", st)
	}
	bearer := "Bearer " + session["token"].(string)
	const key = "key-support"

	t.Run("401 without a key", func(t *testing.T) {
		for _, path := range []string{"/admin/v1/accounts", "/admin/v1/accounts/" + id, "/admin/v1/events"} {
			if st, body := s.call(http.MethodGet, path, "", ""); st != http.StatusUnauthorized || body["code"] != "unauthorized" {
				t.Errorf("GET %s without a key: %d %v", path, st, body)
			}
		}
	})

	t.Run("200: the list by prefix and the account", func(t *testing.T) {
		st, list := s.call(http.MethodGet, "/admin/v1/accounts?email=ALI&status=active&disabled=false", key, "")
		accounts, _ := list["accounts"].([]any)
		if st != http.StatusOK || len(accounts) != 1 || accounts[0].(map[string]any)["id"] != id || list["next_after"] != nil {
			t.Fatalf("GET /accounts?email=ALI: %d %v", st, list)
		}
		st, acc := s.call(http.MethodGet, "/admin/v1/accounts/"+id, key, "")
		clients, _ := acc["known_clients"].([]any)
		if st != http.StatusOK || acc["email"] != email || acc["sessions"] != float64(1) || len(clients) != 1 ||
			acc["last_sign_in_at"] == nil || acc["disabled_at"] != nil || acc["password_hash"] != nil {
			t.Fatalf("GET /accounts/{id}: %d %v", st, acc)
		}
	})

	t.Run("422: malformed queries", func(t *testing.T) {
		for _, q := range []string{"/admin/v1/accounts?limit=0", "/admin/v1/accounts?limit=101", "/admin/v1/accounts?status=gone",
			"/admin/v1/accounts?disabled=yes", "/admin/v1/accounts?after=nope", "/admin/v1/events?type=account.nothing",
			"/admin/v1/events?since=yesterday", "/admin/v1/events?before=nope", "/admin/v1/accounts/" + id + "/events?limit=500"} {
			if st, body := s.call(http.MethodGet, q, key, ""); st != http.StatusUnprocessableEntity || body["code"] != "validation_failed" {
				t.Errorf("GET %s: %d %v, want 422", q, st, body)
			}
		}
		if st, body := s.call(http.MethodPost, "/admin/v1/accounts/"+id+"/disable", key, `{"reason": "`+strings.Repeat("x", 501)+`"}`); st != http.StatusUnprocessableEntity {
			t.Errorf("a 501-character reason: %d %v", st, body)
		}
	})

	t.Run("404: unknown and malformed ids", func(t *testing.T) {
		for _, other := range []string{"0b6f2f36-6f38-4a8e-9b7e-2a9c1c6d4e11", "not-an-id"} {
			for _, r := range []struct{ method, path string }{
				{http.MethodGet, ""}, {http.MethodPost, "/disable"}, {http.MethodPost, "/enable"},
				{http.MethodDelete, "/sessions"}, {http.MethodPost, "/password-reset"}, {http.MethodDelete, ""},
				{http.MethodGet, "/events"},
			} {
				path := "/admin/v1/accounts/" + other + r.path
				if st, body := s.call(r.method, path, key, ""); st != http.StatusNotFound || body["code"] != "not_found" {
					t.Errorf("%s %s: %d %v, want 404 not_found", r.method, path, st, body)
				}
			}
		}
	})

	t.Run("a disabled account: 403 on both schemes, 401 for a wrong password, nothing emailed but its notice", func(t *testing.T) {
		before, _ := s.emails(email)
		for range 2 { // the second changes nothing
			if st, body := s.call(http.MethodPost, "/admin/v1/accounts/"+id+"/disable", key, `{"reason": "card testing, ticket 4411"}`); st != http.StatusNoContent {
				t.Fatalf("disable: %d %v", st, body)
			}
		}
		if st, body := s.call(http.MethodGet, "/v1/users/me", bearer, ""); st != http.StatusUnauthorized {
			t.Errorf("the token after the disable: %d %v, want 401 (its session ended)", st, body)
		}
		if acc, err := s.api.Account(context.Background(), id); err != nil || acc.DisabledAt == nil {
			t.Errorf("API.Account of the disabled account: %+v, %v; want its DisabledAt", acc, err)
		}
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/v1/users/me"}, {http.MethodPost, "/v1/sessions"}, {http.MethodGet, "/v1/sessions"},
		} {
			if st, body := s.call(r.method, r.path, basic, ""); st != http.StatusForbidden || body["code"] != "account_disabled" || body["status"] != float64(403) {
				t.Errorf("%s %s, the right password: %d %v, want 403 account_disabled", r.method, r.path, st, body)
			}
			if st, body := s.call(r.method, r.path, wrong, ""); st != http.StatusUnauthorized || body["code"] != "unauthorized" {
				t.Errorf("%s %s, a wrong password: %d %v, want 401", r.method, r.path, st, body)
			}
		}
		if st, _ := s.call(http.MethodPost, "/v1/password-reset", "", `{"email": "`+email+`"}`); st != http.StatusAccepted {
			t.Errorf("a reset request: %d, want 202", st)
		}
		if st, _ := s.call(http.MethodPost, "/admin/v1/accounts/"+id+"/password-reset", key, ""); st != http.StatusAccepted {
			t.Errorf("an administrator's reset: %d, want 202", st)
		}
		if st, body := s.call(http.MethodPost, "/v1/users", "", `{"email": "`+email+`", "password": "another good passphrase"}`); st != http.StatusConflict {
			t.Errorf("a registration of the address: %d %v, want 409", st, body)
		}
		// Nothing is sent here (no sender runs): what was queued before the disable was
		// dropped unsent, and the notice is the one email left.
		subjects, bodies := s.emails(email)
		if len(subjects) != 1 || subjects[0] != "Your account was disabled" {
			t.Fatalf("emails after the disable: %q (%d before), want the one notice", subjects, len(before))
		}
		if strings.Contains(bodies[len(bodies)-1], "4411") {
			t.Errorf("the notice tells the reason: %s", bodies[len(bodies)-1])
		}
		st, list := s.call(http.MethodGet, "/admin/v1/accounts?disabled=true", key, "")
		if accounts, _ := list["accounts"].([]any); st != http.StatusOK || len(accounts) != 1 || accounts[0].(map[string]any)["disabled_at"] == nil {
			t.Errorf("GET /accounts?disabled=true: %d %v", st, list)
		}
		if st, _ := s.call(http.MethodPost, "/admin/v1/accounts/"+id+"/enable", key, ""); st != http.StatusNoContent {
			t.Fatalf("enable: %d", st)
		}
		if st, _ := s.call(http.MethodPost, "/admin/v1/accounts/"+id+"/enable", key, ""); st != http.StatusNoContent {
			t.Fatalf("enable again: %d", st)
		}
		if st, body := s.call(http.MethodGet, "/v1/users/me", basic, ""); st != http.StatusOK {
			t.Errorf("the right password after the enable: %d %v", st, body)
		}
	})

	t.Run("204: the sessions revoked, 202: a reset code emailed", func(t *testing.T) {
		st, session := s.call(http.MethodPost, "/v1/sessions", basic, "")
		if st != http.StatusCreated {
			t.Fatalf("sign in: %d", st)
		}
		if st, _ := s.call(http.MethodDelete, "/admin/v1/accounts/"+id+"/sessions", key, ""); st != http.StatusNoContent {
			t.Fatalf("revoke: %d", st)
		}
		if st, _ := s.call(http.MethodGet, "/v1/users/me", "Bearer "+session["token"].(string), ""); st != http.StatusUnauthorized {
			t.Errorf("a revoked token: %d, want 401", st)
		}
		if st, _ := s.call(http.MethodPost, "/admin/v1/accounts/"+id+"/password-reset", key, ""); st != http.StatusAccepted {
			t.Fatalf("reset: %d", st)
		}
		subjects, bodies := s.emails(email)
		if subjects[len(subjects)-1] != "Your password-reset code" || !regexp.MustCompile(`(?m)^[0-9]{8}$`).MatchString(bodies[len(bodies)-1]) {
			t.Errorf("the last email: %q", subjects[len(subjects)-1])
		}
	})

	t.Run("every administrator's change is an event with data.actor", func(t *testing.T) {
		st, page := s.call(http.MethodGet, "/admin/v1/accounts/"+id+"/events", key, "")
		if st != http.StatusOK {
			t.Fatalf("events: %d", st)
		}
		var got []string
		for _, e := range page["events"].([]any) {
			ev := e.(map[string]any)
			if data := ev["data"].(map[string]any); data["actor"] != nil {
				got = append(got, ev["type"].(string)+" by "+data["actor"].(string))
			}
		}
		want := []string{"account.sessions_revoked by support", "account.enabled by support", "account.disabled by support"}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("the administrator's events, newest first: %q, want %q", got, want)
		}
		st, trail := s.call(http.MethodGet, "/admin/v1/events?type=account.disabled&limit=10", key, "")
		events, _ := trail["events"].([]any)
		if st != http.StatusOK || len(events) != 1 || trail["next_before"] != nil {
			t.Fatalf("GET /events?type=account.disabled: %d %v", st, trail)
		}
		if data := events[0].(map[string]any)["data"].(map[string]any); data["actor"] != "support" || data["reason"] != "card testing, ticket 4411" {
			t.Errorf("the disable's data: %v", data)
		}
	})

	t.Run("204: the deletion of self-service, its hook included; the trail stays", func(t *testing.T) {
		if st, _ := s.call(http.MethodDelete, "/admin/v1/accounts/"+id, key, ""); st != http.StatusNoContent {
			t.Fatalf("delete: %d", st)
		}
		mu.Lock()
		if len(deleted) != 1 || deleted[0] != id {
			t.Errorf("the deletion hook ran for %v, want once for %s", deleted, id)
		}
		mu.Unlock()
		if st, _ := s.call(http.MethodGet, "/admin/v1/accounts/"+id, key, ""); st != http.StatusNotFound {
			t.Errorf("the deleted account: %d, want 404", st)
		}
		if st, _ := s.call(http.MethodGet, "/v1/users/me", basic, ""); st != http.StatusUnauthorized {
			t.Errorf("the deleted account's password: %d, want 401", st)
		}
		subjects, _ := s.emails(email)
		if subjects[len(subjects)-1] != "Your account was deleted" {
			t.Errorf("emails after the deletion: %q", subjects)
		}
		st, page := s.call(http.MethodGet, "/admin/v1/accounts/"+id+"/events?limit=1", key, "")
		events, _ := page["events"].([]any)
		if st != http.StatusOK || len(events) != 1 || page["next_before"] == nil {
			t.Fatalf("the deleted account's events: %d %v", st, page)
		}
		if ev := events[0].(map[string]any); ev["type"] != "account.deleted" || ev["data"].(map[string]any)["actor"] != "support" {
			t.Errorf("the newest event: %v", ev)
		}
	})
}
