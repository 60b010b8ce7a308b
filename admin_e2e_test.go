package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/acme/identity/api"
	"github.com/acme/identity/api/adminclient"
	"github.com/acme/identity/platform/admin"
	"github.com/acme/identity/platform/httpserver"
)

// The administration listener (issue 27) as the binary wires it: ADMIN_ADDR, the admin
// keys of the admin-key commands, the key check, the jobs dashboard and the document
// api/admin.yaml. Its unit tests (platform/admin) check the key check route by route;
// these check the wiring, the commands and the replicas.

// The dashboard's page is text/html, which kin-openapi does not decode by itself: its
// body is a string. Registered before any test runs (the registry is a global map).
func init() {
	openapi3filter.RegisterBodyDecoder("text/html", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	})
}

var loadAdminContract = sync.OnceValues(func() (theContract, error) {
	return loadDocument("api/admin.yaml", api.AdminOpenAPI)
})

// adminContract returns the administration API's document and its router.
func adminContract(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	c, err := loadAdminContract()
	if err != nil {
		t.Fatal(err)
	}
	return c.doc, c.router
}

// adminServing starts a server with ADMIN_ADDR on a free loopback port.
func adminServing(t *testing.T, sc serverConfig) *testServer {
	t.Helper()
	if sc.env == nil {
		sc.env = map[string]string{}
	}
	sc.env["ADMIN_ADDR"] = "127.0.0.1:0"
	ts := startServer(t, sc)
	if ts.admin(t) == "" {
		t.Fatal("ADMIN_ADDR is set, yet the administration API does not listen")
	}
	return ts
}

// admin is the administration API's base URL, "" when it does not listen.
func (ts *testServer) admin(t *testing.T) string {
	t.Helper()
	u, _ := ts.adminURL.Load().(string)
	return u
}

// adminRequest sends method path to the administration listener with the Authorization
// header authorization (none when empty), and validates the exchange against
// api/admin.yaml (but River UI's own pages and API under /admin/jobs/).
func (ts *testServer) adminRequest(t *testing.T, method, path, authorization string) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.admin(t)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return adminDo(t, req)
}

func adminDo(t *testing.T, req *http.Request) response {
	t.Helper()
	sent := requestBody(t, req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := response{Status: res.StatusCode, Header: res.Header, Body: b}
	p := req.URL.Path
	if p != admin.DashboardPrefix+"/" && strings.HasPrefix(p, admin.DashboardPrefix) {
		return r // River UI's own pages and API
	}
	doc, router := adminContract(t)
	if _, _, err := router.FindRoute(req); err != nil && r.Status == http.StatusUnauthorized {
		// The key is checked before the route: without one, no path says whether it
		// exists.
		checkProblem(t, doc, fmt.Sprintf("%s %s -> 401", req.Method, p), r)
		return r
	}
	checkExchange(t, doc, router, req, sent, r)
	return r
}

func bearer(key string) string { return "Bearer " + key }

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// adminKeyCommand runs `identity admin-key args...` against databaseURL, as the binary
// does (run), and returns what it printed.
func adminKeyCommand(databaseURL string, args ...string) (string, error) {
	var out bytes.Buffer
	env := map[string]string{"DATABASE_URL": databaseURL}
	err := run(context.Background(), append([]string{"admin-key"}, args...), func(k string) string { return env[k] }, &out)
	return out.String(), err
}

// createAdminKey makes a key named name and returns it.
func createAdminKey(t *testing.T, databaseURL, name string) string {
	t.Helper()
	out, err := adminKeyCommand(databaseURL, "create", "--name", name)
	if err != nil {
		t.Fatalf("admin-key create --name %s: %v", name, err)
	}
	return strings.TrimSpace(out)
}

var keyShape = regexp.MustCompile(`^idadm_[A-Za-z0-9_-]{43}$`)

// TestAdminKeyCommands drives create, list and revoke as an operator does: the key is
// printed once and has 256 bits; a name is unique; list never shows a key; revoking an
// unknown name fails.
func TestAdminKeyCommands(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{}) // a migrated database
	key := createAdminKey(t, ts.DatabaseURL, "ops")
	if !keyShape.MatchString(key) {
		t.Fatalf("admin-key create printed %q, want idadm_ and 43 base64url characters (256 bits)", key)
	}
	if other := createAdminKey(t, ts.DatabaseURL, "support@example.com"); other == key {
		t.Fatal("two keys are the same")
	}
	if _, err := adminKeyCommand(ts.DatabaseURL, "create", "--name", "ops"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("a second key named ops: %v, want an error saying the name exists", err)
	}
	for _, bad := range [][]string{{"create"}, {"create", "--name", ""}, {"create", "--name", "two words"}, {"create", "--name", "x\nforged"}, {"frobnicate"}, {}} {
		if _, err := adminKeyCommand(ts.DatabaseURL, bad...); err == nil {
			t.Errorf("admin-key %q succeeded, want an error", bad)
		}
	}

	list, err := adminKeyCommand(ts.DatabaseURL, "list")
	if err != nil {
		t.Fatalf("admin-key list: %v", err)
	}
	if strings.Contains(list, "idadm_") || strings.Contains(list, key[6:]) {
		t.Errorf("admin-key list shows a key:\n%s", list)
	}
	rows := strings.Split(strings.TrimSpace(list), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "NAME") || !strings.HasPrefix(rows[1], "ops ") || !strings.HasPrefix(rows[2], "support@example.com ") {
		t.Fatalf("admin-key list:\n%s\nwant a header, ops, support@example.com", list)
	}
	if f := strings.Fields(rows[1]); len(f) != 4 || f[2] != "-" {
		t.Errorf("ops before its revocation: %q, want NAME CREATED_AT - LAST_USED_AT", rows[1])
	}

	if _, err := adminKeyCommand(ts.DatabaseURL, "revoke", "nobody"); err == nil || !strings.Contains(err.Error(), "no admin key") {
		t.Errorf("revoke nobody: %v, want an error naming no such key", err)
	}
	if out, err := adminKeyCommand(ts.DatabaseURL, "revoke", "ops"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke ops: %q, %v", out, err)
	}
	list, _ = adminKeyCommand(ts.DatabaseURL, "list")
	for _, row := range strings.Split(list, "\n") {
		if f := strings.Fields(row); len(f) == 4 && f[0] == "ops" && f[2] == "-" {
			t.Errorf("ops after its revocation has no revoked_at: %q", row)
		}
	}
	if _, err := adminKeyCommand(ts.DatabaseURL, "create", "--name", "ops"); err == nil {
		t.Error("a revoked key's name was reused: the audit trail's actor would name two keys")
	}
}

// TestAdminListenerOffWhenEmpty: without ADMIN_ADDR nothing listens, and no /admin route
// exists on HTTP_ADDR.
func TestAdminListenerOffWhenEmpty(t *testing.T) {
	t.Parallel()
	built := false
	var routes []*httpserverRoute
	ts := startServer(t, serverConfig{
		adminServer: func(*httpserver.Server) { built = true },
		server:      func(s *httpserver.Server) { routes = publicRoutes(s) },
	})
	if built || ts.admin(t) != "" {
		t.Fatal("the administration API is served with ADMIN_ADDR empty")
	}
	checkNoAdminOnPublic(t, ts, routes, "")
}

// TestAdminRoutesOnlyOnAdminAddr: with ADMIN_ADDR set, the administration routes answer
// there, and HTTP_ADDR still has none of them, even with a live key; the administration
// listener serves nothing of the public API.
func TestAdminRoutesOnlyOnAdminAddr(t *testing.T) {
	t.Parallel()
	var routes []*httpserverRoute
	ts := adminServing(t, serverConfig{server: func(s *httpserver.Server) { routes = publicRoutes(s) }})
	key := createAdminKey(t, ts.DatabaseURL, "ops")
	wantStatus(t, ts.adminRequest(t, http.MethodGet, "/admin/jobs/", bearer(key)), http.StatusOK)
	wantStatus(t, ts.adminRequest(t, http.MethodGet, "/admin/openapi.yaml", ""), http.StatusOK)
	checkNoAdminOnPublic(t, ts, routes, key)

	for _, path := range []string{"/v1/users/me", "/healthz", "/readyz", "/openapi.yaml", "/metrics"} {
		res := ts.adminRequest(t, http.MethodGet, path, bearer(key))
		wantProblem(t, res, http.StatusNotFound, "not_found")
	}

	// The platform's conventions hold on the administration listener: the caller's
	// X-Request-ID, the header limit as a problem document, a wrong method.
	req, _ := http.NewRequest(http.MethodGet, ts.admin(t)+"/admin/jobs/", nil)
	req.Header.Set("Authorization", bearer(key))
	req.Header.Set("X-Request-ID", "support-ticket-42")
	if res := adminDo(t, req); res.Header.Get("X-Request-ID") != "support-ticket-42" {
		t.Errorf("X-Request-ID %q, want the caller's", res.Header.Get("X-Request-ID"))
	}
	req, _ = http.NewRequest(http.MethodGet, ts.admin(t)+"/admin/openapi.yaml", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", httpserver.HeaderLimit))
	wantProblem(t, adminDo(t, req), http.StatusRequestHeaderFieldsTooLarge, httpserver.CodeHeadersTooLarge)
	wantProblem(t, ts.adminRequest(t, http.MethodPost, "/admin/openapi.yaml", ""), http.StatusMethodNotAllowed, "method_not_allowed")

	// It stops with the service.
	ts.stop()
	if res, err := http.Get(ts.admin(t) + "/admin/openapi.yaml"); err == nil {
		res.Body.Close()
		t.Error("the administration listener still answers after the service stopped")
	}
}

type httpserverRoute struct{ method, path string }

func publicRoutes(s *httpserver.Server) []*httpserverRoute {
	var out []*httpserverRoute
	for _, r := range s.Routes() {
		out = append(out, &httpserverRoute{r.Method, r.Path})
	}
	return out
}

// checkNoAdminOnPublic checks HTTP_ADDR has no administration route: none mounted, and
// requests there (with key, when not empty) answer 404.
func checkNoAdminOnPublic(t *testing.T, ts *testServer, routes []*httpserverRoute, key string) {
	t.Helper()
	if len(routes) < 10 {
		t.Fatalf("the public server's routes %v: the hook saw almost nothing", routes)
	}
	for _, r := range routes {
		if strings.HasPrefix(r.path, "/admin") {
			t.Errorf("HTTP_ADDR serves %s %s", r.method, r.path)
		}
	}
	for _, path := range []string{"/admin/jobs/", "/admin/jobs/api/jobs", "/admin/openapi.yaml", "/admin/v1/accounts"} {
		req := ts.newRequest(t, http.MethodGet, path, nil, "", "")
		if key != "" {
			req.Header.Set("Authorization", bearer(key))
		}
		wantProblem(t, ts.do(t, req), http.StatusNotFound, "not_found")
	}
}

// TestAdminKeyCheck: the dashboard and the /admin/v1 group refuse every request without a
// live key with 401 and both challenges, and take the key as a Bearer token or as the
// Basic password under any user name.
func TestAdminKeyCheck(t *testing.T) {
	t.Parallel()
	ts := adminServing(t, serverConfig{})
	key := createAdminKey(t, ts.DatabaseURL, "ops")
	revoked := createAdminKey(t, ts.DatabaseURL, "gone")
	if _, err := adminKeyCommand(ts.DatabaseURL, "revoke", "gone"); err != nil {
		t.Fatal(err)
	}
	unknown := "idadm_" + strings.Repeat("A", 43)
	refused := map[string]string{
		"no credentials":            "",
		"a malformed header":        "Basic !!!",
		"a scheme without a value":  "Bearer",
		"an unknown key":            bearer(unknown),
		"an unknown key as Basic":   basic("ops", unknown),
		"a revoked key":             bearer(revoked),
		"a revoked key as Basic":    basic("ops", revoked),
		"the key as the Basic user": basic(key, "x"),
		"the key with a byte more":  bearer(key + "A"),
		"the key cut short":         bearer(key[:len(key)-1]),
		"the key in another scheme": "Token " + key,
		"not a key at all":          bearer("hunter2"),
	}
	for _, path := range []string{"/admin/jobs/", "/admin/jobs/api/jobs?limit=1", "/admin/v1/anything"} {
		for name, authorization := range refused {
			res := ts.adminRequest(t, http.MethodGet, path, authorization)
			wantProblem(t, res, http.StatusUnauthorized, "unauthorized")
			if got := res.Header.Values("WWW-Authenticate"); !slices.Equal(got, []string{admin.BearerChallenge, admin.BasicChallenge}) {
				t.Errorf("%s with %s: WWW-Authenticate %q, want both challenges", path, name, got)
			}
		}
	}
	for name, authorization := range map[string]string{
		"Bearer":             bearer(key),
		"bearer, lower case": "bearer " + key,
		"Basic, any user":    basic("someone", key),
		"Basic, empty user":  basic("", key),
	} {
		res := ts.adminRequest(t, http.MethodGet, "/admin/jobs/", authorization)
		if res.Status != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("the dashboard with the key as %s: %d %s, want 200 text/html", name, res.Status, res.Header.Get("Content-Type"))
		}
		for _, h := range []string{"X-Request-ID", "X-Content-Type-Options", "Cache-Control"} {
			if res.Header.Get(h) == "" {
				t.Errorf("the dashboard with the key as %s: no %s", name, h)
			}
		}
	}
	// River UI's JSON API, as the page calls it.
	res := ts.adminRequest(t, http.MethodGet, "/admin/jobs/api/jobs?limit=5&state=completed", basic("ops", key))
	wantStatus(t, res, http.StatusOK)
	// The document needs no key.
	wantStatus(t, ts.adminRequest(t, http.MethodGet, "/admin/openapi.yaml", ""), http.StatusOK)
}

// TestAdminKeyRevokedOnEveryReplica: two replicas on one database; a key works on both,
// and once revoked through the command, the next request on either is refused.
func TestAdminKeyRevokedOnEveryReplica(t *testing.T) {
	t.Parallel()
	a := adminServing(t, serverConfig{})
	b := adminServing(t, serverConfig{databaseURL: a.DatabaseURL})
	key := createAdminKey(t, a.DatabaseURL, "ops")
	for _, ts := range []*testServer{a, b} {
		wantStatus(t, ts.adminRequest(t, http.MethodGet, "/admin/jobs/", bearer(key)), http.StatusOK)
	}
	if _, err := adminKeyCommand(a.DatabaseURL, "revoke", "ops"); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []*testServer{b, a} { // b first: it never saw the revocation
		wantProblem(t, ts.adminRequest(t, http.MethodGet, "/admin/jobs/", bearer(key)), http.StatusUnauthorized, "unauthorized")
		wantProblem(t, ts.adminRequest(t, http.MethodGet, "/admin/jobs/api/jobs", basic("x", key)), http.StatusUnauthorized, "unauthorized")
	}
}

// TestAdminMetricsBySeriesOfTheirOwn: admin requests are counted by route and status in
// identity_admin_http_*, and never in the public API's series.
func TestAdminMetricsBySeriesOfTheirOwn(t *testing.T) {
	t.Parallel()
	ts := adminServing(t, serverConfig{})
	key := createAdminKey(t, ts.DatabaseURL, "ops")
	wantStatus(t, ts.adminRequest(t, http.MethodGet, "/admin/jobs/", bearer(key)), http.StatusOK)
	wantStatus(t, ts.adminRequest(t, http.MethodGet, "/admin/jobs/", ""), http.StatusUnauthorized)
	wantStatus(t, ts.adminRequest(t, http.MethodGet, "/admin/openapi.yaml", ""), http.StatusOK)
	body := string(ts.request(t, http.MethodGet, "/metrics", nil, "", "").Body)
	for _, want := range []string{
		`identity_admin_http_requests_total{method="GET",route="/admin/jobs/*",status="200"} 1`,
		`identity_admin_http_requests_total{method="GET",route="/admin/jobs/*",status="401"} 1`,
		`identity_admin_http_requests_total{method="GET",route="/admin/openapi.yaml",status="200"} 1`,
		`identity_admin_http_request_duration_seconds_count{method="GET",route="/admin/jobs/*",status="200"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "identity_http_") && strings.Contains(line, `route="/admin`) {
			t.Errorf("an admin route in the public series: %s", line)
		}
	}
}

// TestAdminOpenAPIDocument: api/admin.yaml validates with its examples, is served at
// /admin/openapi.yaml, and its generated client reads it.
func TestAdminOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc, _ := adminContract(t)
	if operations := checkDocument(t, doc); operations < 2 {
		t.Fatalf("api/admin.yaml has %d operations; the walk checked almost nothing", operations)
	}
	ts := adminServing(t, serverConfig{})
	c, err := adminclient.NewClientWithResponses(ts.admin(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.GetAdminOpenAPIWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK || res.HTTPResponse.Header.Get("Content-Type") != "application/yaml" || !bytes.Equal(res.Body, api.AdminOpenAPI) {
		t.Errorf("GET /admin/openapi.yaml: %d %s, want 200 application/yaml with api/admin.yaml", res.StatusCode(), res.HTTPResponse.Header.Get("Content-Type"))
	}
	// The client takes the key in a request editor, as its package documentation shows.
	key := createAdminKey(t, ts.DatabaseURL, "ops")
	dash, err := c.GetJobsDashboardWithResponse(context.Background(), func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", bearer(key))
		return nil
	})
	if err != nil || dash.StatusCode() != http.StatusOK {
		t.Fatalf("the dashboard through the client: %v %v", dash.StatusCode(), err)
	}
	noKey, err := c.GetJobsDashboardWithResponse(context.Background())
	if err != nil || noKey.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("the dashboard through the client without a key: %v %v", noKey.StatusCode(), err)
	}
}

// TestAdminRoutesAreTheDocumentsOperations compares the administration listener's routes
// with api/admin.yaml's paths and methods, both ways; the dashboard's pages and API under
// /admin/jobs/ are River UI's, documented as GET /admin/jobs/.
func TestAdminRoutesAreTheDocumentsOperations(t *testing.T) {
	t.Parallel()
	var served []string
	dashboard := false
	adminServing(t, serverConfig{adminServer: func(s *httpserver.Server) {
		param := regexp.MustCompile(`:(\w+)`)
		for _, r := range s.Routes() {
			if strings.HasPrefix(r.Path, admin.DashboardPrefix) {
				dashboard = dashboard || r.Path == admin.DashboardPrefix+"/*" && r.Method == http.MethodGet
				continue
			}
			if strings.HasPrefix(r.Name, "github.com/labstack/echo/") {
				continue // the catch-alls of group middleware (see TestRoutesAreTheDocumentsOperations)
			}
			served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
		}
	}})
	if !dashboard {
		t.Error("the administration listener does not serve the dashboard at /admin/jobs/*")
	}
	served = append(served, "GET /admin/jobs/")
	doc, _ := adminContract(t)
	sameRoutes(t, doc, served, "the administration listener", "api/admin.yaml")
}

// TestAdminEveryDocumented401 sends every operation of api/admin.yaml that documents a 401
// each request that earns one (no key, a malformed header, an unknown key as Bearer and as
// Basic): 401 with both challenges, validated against the document. It covers the routes
// each module adds.
func TestAdminEveryDocumented401(t *testing.T) {
	t.Parallel()
	ts := adminServing(t, serverConfig{})
	doc, _ := adminContract(t)
	operations := 0
	param := regexp.MustCompile(`\{\w+\}`)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses.Status(http.StatusUnauthorized) == nil {
				continue
			}
			operations++
			concrete := param.ReplaceAllString(path, "00000000-0000-0000-0000-000000000000")
			for name, authorization := range map[string]string{
				"no key": "", "a malformed header": "Basic !!!",
				"an unknown Bearer key": bearer("idadm_" + strings.Repeat("B", 43)),
				"an unknown Basic key":  basic("ops", "idadm_"+strings.Repeat("C", 43)),
			} {
				var body io.Reader
				if op.RequestBody != nil {
					body = strings.NewReader(`{}`)
				}
				req, err := http.NewRequest(method, ts.admin(t)+concrete, body)
				if err != nil {
					t.Fatal(err)
				}
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				if authorization != "" {
					req.Header.Set("Authorization", authorization)
				}
				res := adminDo(t, req)
				if res.Status != http.StatusUnauthorized || len(res.Header.Values("WWW-Authenticate")) != 2 {
					t.Errorf("%s %s with %s: %d %q, want 401 with both challenges", method, path, name, res.Status, res.Header.Values("WWW-Authenticate"))
				}
			}
		}
	}
	if operations < 1 {
		t.Error("no operation of api/admin.yaml documents a 401")
	}
}
