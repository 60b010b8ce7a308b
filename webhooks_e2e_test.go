package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/poll"
)

// received is one delivery a receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is a webhook endpoint: it keeps every delivery and answers what respond says
// (by the number of deliveries of that webhook-id it got, 1 for the first).
type receiver struct {
	URL     string
	mu      sync.Mutex
	got     []received
	respond func(id string, n int) int
}

func newReceiver(t *testing.T, respond func(id string, n int) int) *receiver {
	t.Helper()
	r := &receiver{respond: respond}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: body})
		n := 0
		for _, g := range r.got {
			if g.Header.Get("webhook-id") == req.Header.Get("webhook-id") {
				n++
			}
		}
		r.mu.Unlock()
		status := http.StatusNoContent
		if r.respond != nil {
			status = r.respond(req.Header.Get("webhook-id"), n)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hook"
	return r
}

func (r *receiver) deliveries() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// byID counts the deliveries of each webhook-id.
func (r *receiver) byID() map[string]int {
	out := map[string]int{}
	for _, d := range r.deliveries() {
		out[d.Header.Get("webhook-id")]++
	}
	return out
}

// hookServer is a test server with the administration API on ADMIN_ADDR and an admin
// key to call it with.
type hookServer struct {
	*testServer
	key string
}

// startWebhookServer starts the service with ADMIN_ADDR and an admin key named keyName
// (unique in the database: a replica of another's database names its own).
func startWebhookServer(t *testing.T, env map[string]string, databaseURL, keyName string) hookServer {
	t.Helper()
	e := map[string]string{}
	for k, v := range env {
		e[k] = v
	}
	ts := adminServing(t, serverConfig{env: e, databaseURL: databaseURL})
	return hookServer{testServer: ts, key: createAdminKey(t, ts.DatabaseURL, keyName)}
}

// adminJSON sends an administration request with the key and body as JSON (none when
// nil), checked against api/admin.yaml.
func (hs hookServer) adminJSON(t *testing.T, method, path string, body any) response {
	t.Helper()
	req := hs.newRequest(t, method, path, body, "", "")
	u, err := neturl.Parse(hs.admin(t) + path)
	if err != nil {
		t.Fatal(err)
	}
	req.URL, req.Host = u, u.Host
	req.Header.Set("Authorization", bearer(hs.key))
	return adminDo(t, req)
}

var allowPrivate = map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}

// createWebhook registers an endpoint and returns its id and secret.
func (hs hookServer) createWebhook(t *testing.T, url string, events ...string) (id, secret string) {
	t.Helper()
	res := hs.adminJSON(t, http.MethodPost, "/admin/v1/webhooks", map[string]any{"url": url, "events": events})
	wantStatus(t, res, http.StatusCreated)
	body := res.JSON(t)
	id, _ = body["id"].(string)
	secret, _ = body["secret"].(string)
	if id == "" || !strings.HasPrefix(secret, "whsec_") || len(secret) < len("whsec_")+32 || body["url"] != url {
		t.Fatalf("created %v", body)
	}
	return id, secret
}

// eventIDs are the ids of the audit trail's events, by type.
func (ts *testServer) eventIDs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var ids, types []string
	ts.queryStrings(t, `SELECT id::text, type FROM identity.account_events ORDER BY seq`, &ids, &types)
	for i := range ids {
		out[ids[i]] = types[i]
	}
	return out
}

// verifySignatures checks every delivery's signature with the Standard Webhooks
// reference library (test/webhooks/verify.mjs, node), not with our code.
func verifySignatures(t *testing.T, secret string, ds []received) {
	t.Helper()
	dir := filepath.Join("test", "webhooks")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("test/webhooks/node_modules is missing: run `npm ci` in test/webhooks (.ci/run does)")
		}
		t.Skip("test/webhooks/node_modules is missing: run `npm ci` in test/webhooks to verify the signatures with the reference library")
	}
	type delivery struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	in := struct {
		Secret     string     `json:"secret"`
		Deliveries []delivery `json:"deliveries"`
	}{Secret: secret}
	for _, d := range ds {
		in.Deliveries = append(in.Deliveries, delivery{Body: string(d.Body), Headers: map[string]string{
			"webhook-id": d.Header.Get("webhook-id"), "webhook-timestamp": d.Header.Get("webhook-timestamp"),
			"webhook-signature": d.Header.Get("webhook-signature"),
		}})
	}
	input, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "verify.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the reference library refused a signature: %v: %s", err, stderr.String())
	}
	var ids []string
	if err := json.Unmarshal(out, &ids); err != nil || len(ids) != len(ds) {
		t.Fatalf("verify.mjs printed %s (%v); want %d ids", out, err, len(ds))
	}
}

// TestWebhooksEveryEventType: an endpoint subscribed to every type gets one signed
// delivery of every event of the account's lifecycle, its body the event as the trail
// keeps it, its signature verified by the specification's reference library; the
// attempts are readable through the administration API.
func TestWebhooksEveryEventType(t *testing.T) {
	t.Parallel()
	ts := startWebhookServer(t, allowPrivate, "", "webhooks")
	hook := newReceiver(t, nil)
	endpoint, secret := ts.createWebhook(t, hook.URL, "account.registered", "account.activated", "account.signed_in",
		"account.password_changed", "account.password_reset", "account.email_changed", "account.disabled",
		"account.enabled", "account.sessions_revoked", "account.deleted")

	// The lifecycle: registered, activated (and signed_in: a client new to the account),
	// signed_in (a session), disabled and enabled (the administration API), password_changed,
	// password_reset, email_changed, sessions_revoked, deleted.
	c := ts.activated(t, "hooked@example.com")
	ts.signIn(t, c)
	var me struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(ts.request(t, http.MethodGet, "/v1/users/me", nil, c.email, c.password).Body, &me); err != nil || me.ID == "" {
		t.Fatalf("the account's id: %v", err)
	}
	wantStatus(t, ts.adminJSON(t, http.MethodPost, "/admin/v1/accounts/"+me.ID+"/disable", map[string]string{"reason": "a test"}), http.StatusNoContent)
	wantStatus(t, ts.adminJSON(t, http.MethodPost, "/admin/v1/accounts/"+me.ID+"/enable", nil), http.StatusNoContent)
	wantStatus(t, ts.request(t, http.MethodPut, "/v1/users/me/password", map[string]string{"password": "another horse battery"},
		c.email, c.password), http.StatusNoContent)
	c.password = "another horse battery"
	wantStatus(t, ts.requestReset(t, c.email), http.StatusAccepted)
	code := resetCodeIn(t, ts.Mail.waitForSubject(t, c.email, "Your password-reset code"))
	wantStatus(t, ts.confirmReset(t, c.email, code, "third horse battery"), http.StatusNoContent)
	c.password = "third horse battery"
	wantStatus(t, ts.changeEmail(t, c, "moved@example.com"), http.StatusAccepted)
	code = emailChangeCodeIn(t, ts.Mail.waitForSubject(t, "moved@example.com", "Confirm your new email address"))
	wantStatus(t, ts.confirmEmail(t, c, code), http.StatusOK)
	c.email = "moved@example.com"
	wantStatus(t, ts.request(t, http.MethodDelete, "/v1/sessions", nil, c.email, c.password), http.StatusNoContent)
	wantStatus(t, ts.request(t, http.MethodDelete, "/v1/users/me", nil, c.email, c.password), http.StatusNoContent)

	events := ts.eventIDs(t)
	var types []string
	for _, typ := range events {
		if !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	sort.Strings(types)
	// Every type of the contract.
	want := []string{"account.activated", "account.deleted", "account.disabled", "account.email_changed", "account.enabled",
		"account.password_changed", "account.password_reset", "account.registered", "account.sessions_revoked", "account.signed_in"}
	if !slices.Equal(types, want) {
		t.Fatalf("the lifecycle wrote %v, want %v", types, want)
	}
	poll.Until(t, 30*time.Second, "every event is delivered", func() bool { return len(hook.byID()) == len(events) })
	ds := hook.deliveries()
	for _, d := range ds {
		var full map[string]any
		if err := json.Unmarshal(d.Body, &full); err != nil {
			t.Fatalf("delivery body %s: %v", d.Body, err)
		}
		id := d.Header.Get("webhook-id")
		if full["id"] != id || full["type"] != events[id] || full["account_id"] == "" || full["occurred_at"] == nil ||
			full["data"] == nil || d.Header.Get("Content-Type") != "application/json" {
			t.Errorf("delivery %s: %s (headers %v); want the event %s", id, d.Body, d.Header, events[id])
		}
	}
	if n := len(ds); n != len(events) {
		t.Errorf("%d deliveries of %d events: some were sent twice", n, len(events))
	}

	var page struct {
		Deliveries []struct {
			EventID     string    `json:"event_id"`
			AttemptedAt time.Time `json:"attempted_at"`
			Status      *int      `json:"status"`
			Error       string    `json:"error"`
		} `json:"deliveries"`
	}
	// The receiver has every body before the last attempt's record commits (the worker
	// records it once the answer came): wait for the records, then expect no more.
	poll.Until(t, 30*time.Second, "every attempt is recorded", func() bool {
		res := ts.adminJSON(t, http.MethodGet, "/admin/v1/webhooks/"+endpoint+"/deliveries?limit=100", nil)
		wantStatus(t, res, http.StatusOK)
		if err := json.Unmarshal(res.Body, &page); err != nil {
			t.Fatal(err)
		}
		return len(page.Deliveries) >= len(events)
	})
	if len(page.Deliveries) != len(events) {
		t.Fatalf("%d attempts listed, want %d", len(page.Deliveries), len(events))
	}
	for i, d := range page.Deliveries {
		if d.Status == nil || *d.Status != http.StatusNoContent || d.Error != "" || events[d.EventID] == "" {
			t.Errorf("attempt %+v", d)
		}
		if i > 0 && d.AttemptedAt.After(page.Deliveries[i-1].AttemptedAt) {
			t.Errorf("attempts not newest first")
		}
	}
	verifySignatures(t, secret, ds) // last: it skips outside CI when node_modules are missing
}

// TestWebhookRetriesAndGone: an endpoint that answers 500 gets the event again (same
// webhook-id) until it answers 2xx, every attempt recorded; one that answers 410 is
// disabled at once and gets nothing more.
func TestWebhookRetriesAndGone(t *testing.T) {
	t.Parallel()
	ts := startWebhookServer(t, allowPrivate, "", "webhooks")
	flaky := newReceiver(t, func(_ string, n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	gone := newReceiver(t, func(string, int) int { return http.StatusGone })
	flakyID, _ := ts.createWebhook(t, flaky.URL, "account.registered")
	goneID, _ := ts.createWebhook(t, gone.URL, "account.registered")

	wantStatus(t, ts.register(t, "flaky@example.com", pw), http.StatusCreated)
	poll.Until(t, 30*time.Second, "the flaky endpoint gets the event a second time", func() bool {
		return len(flaky.deliveries()) == 2
	})
	ds := flaky.deliveries()
	if a, b := ds[0].Header.Get("webhook-id"), ds[1].Header.Get("webhook-id"); a != b || a == "" {
		t.Errorf("the retry's webhook-id %q, the first's %q; want the same", b, a)
	}
	poll.Until(t, 10*time.Second, "both attempts are recorded", func() bool {
		return ts.count(t, `SELECT count(*) FROM identity.webhook_attempts WHERE endpoint_id = $1`, flakyID) == 2
	})
	statuses := ts.count(t, `SELECT count(*) FROM identity.webhook_attempts WHERE endpoint_id = $1
		AND ((status = 500 AND error = 'answered 500') OR (status = 200 AND error = ''))`, flakyID)
	if statuses != 2 {
		t.Errorf("the attempts are not a 500 then a 200")
	}

	poll.Until(t, 10*time.Second, "the gone endpoint is disabled", func() bool {
		return ts.count(t, `SELECT count(*) FROM identity.webhook_endpoints WHERE id = $1 AND disabled_at IS NOT NULL`, goneID) == 1
	})
	res := ts.adminJSON(t, http.MethodGet, "/admin/v1/webhooks", nil)
	wantStatus(t, res, http.StatusOK)
	if !strings.Contains(string(res.Body), `"disabled_at"`) || strings.Contains(string(res.Body), "whsec_") {
		t.Errorf("the list %s: want the disabled endpoint marked, and no secret", res.Body)
	}
	wantStatus(t, ts.register(t, "second@example.com", pw), http.StatusCreated)
	poll.Until(t, 30*time.Second, "the flaky endpoint gets the second event", func() bool { return len(flaky.byID()) == 2 })
	if n := len(gone.deliveries()); n != 1 {
		t.Errorf("the disabled endpoint got %d deliveries, want only the one it answered 410", n)
	}
	if n := ts.count(t, `SELECT count(*) FROM river.river_job WHERE kind = 'identity.webhook_delivery' AND args->>'endpoint_id' = $1`, goneID); n != 1 {
		t.Errorf("%d delivery jobs for the disabled endpoint, want the first alone", n)
	}

	// The metrics: each outcome counted (each event's first attempt to the flaky endpoint
	// fails); nothing left undelivered once the jobs settle.
	for outcome, want := range map[string]float64{"delivered": 2, "failed_attempt": 2, "gone": 1} {
		poll.Until(t, 10*time.Second, "identity_webhooks_deliveries_total{outcome="+outcome+"} counts its attempts", func() bool {
			return value(ts.scrape(t), "identity_webhooks_deliveries_total", "outcome", outcome) == want
		})
	}
	poll.Until(t, 10*time.Second, "the oldest undelivered age falls to 0", func() bool {
		return value(ts.scrape(t), "identity_webhooks_oldest_undelivered_seconds") == 0
	})
}

// TestWebhookReplicas: two replicas on one database deliver each event once.
func TestWebhookReplicas(t *testing.T) {
	t.Parallel()
	a := startWebhookServer(t, allowPrivate, "", "replica-a")
	b := startWebhookServer(t, allowPrivate, a.DatabaseURL, "replica-b")
	hook := newReceiver(t, nil)
	a.createWebhook(t, hook.URL, "account.registered")
	const accounts = 10
	for i := range accounts {
		ts := a.testServer
		if i%2 == 1 {
			ts = b.testServer
		}
		wantStatus(t, ts.register(t, "replica"+string(rune('a'+i))+"@example.com", pw), http.StatusCreated)
	}
	poll.Until(t, 30*time.Second, "every registration is delivered", func() bool { return len(hook.byID()) == accounts })
	// Wait for the jobs to settle: a second send would come from a job still running.
	poll.Until(t, 10*time.Second, "the delivery jobs are completed", func() bool {
		return a.count(t, `SELECT count(*) FROM river.river_job WHERE kind = 'identity.webhook_delivery' AND state = 'completed'`) == accounts
	})
	for id, n := range hook.byID() {
		if n != 1 {
			t.Errorf("webhook-id %s delivered %d times", id, n)
		}
	}
}

// TestWebhookAdmin: the administration routes' refusals, and the address guard without
// WEBHOOK_ALLOW_PRIVATE: a loopback endpoint is refused at registration, and one that
// got in anyway (written to the table) is refused at delivery, never connected to.
func TestWebhookAdmin(t *testing.T) {
	t.Parallel()
	ts := startWebhookServer(t, nil, "", "webhooks")
	hook := newReceiver(t, nil)
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"url": hook.URL, "events": []string{"account.activated"}}, "url"},
		{map[string]any{"url": strings.Replace(hook.URL, "http://", "https://", 1), "events": []string{"account.activated"}}, "url"},
		{map[string]any{"url": "ftp://example.com/", "events": []string{"account.activated"}}, "url"},
		{map[string]any{"events": []string{"account.activated"}}, "url"},
		{map[string]any{"url": "https://93.184.216.34/hook", "events": []string{"account.exploded"}}, "events"},
		{map[string]any{"url": "https://93.184.216.34/hook", "events": []string{}}, "events"},
	} {
		res := ts.adminJSON(t, http.MethodPost, "/admin/v1/webhooks", c.body)
		p := wantProblem(t, res, http.StatusUnprocessableEntity, "validation_failed")
		if !strings.Contains(string(res.Body), `"`+c.field+`"`) {
			t.Errorf("%v: %v; want the field %s named", c.body, p, c.field)
		}
	}
	wantProblem(t, ts.adminJSON(t, http.MethodPost, "/admin/v1/webhooks", "not an object"), http.StatusBadRequest, "malformed_json")
	// A public address is accepted (not called: no event).
	id, _ := ts.createWebhook(t, "https://93.184.216.34/hook", "account.activated")
	wantStatus(t, ts.adminJSON(t, http.MethodDelete, "/admin/v1/webhooks/"+id, nil), http.StatusNoContent)
	for _, path := range []string{"/admin/v1/webhooks/" + id, "/admin/v1/webhooks/not-an-id"} {
		wantProblem(t, ts.adminJSON(t, http.MethodDelete, path, nil), http.StatusNotFound, "not_found")
		wantProblem(t, ts.adminJSON(t, http.MethodGet, path+"/deliveries", nil), http.StatusNotFound, "not_found")
	}

	// A loopback endpoint in the table (as if its name had resolved elsewhere at
	// registration): every delivery is refused by the dialer, recorded, never sent.
	var loopback string
	ts.queryStrings(t, `INSERT INTO identity.webhook_endpoints (url, events, secret)
		VALUES ('`+strings.Replace(hook.URL, "http://", "https://", 1)+`', '{account.registered}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')
		RETURNING id::text`, &loopback)
	wantStatus(t, ts.register(t, "guarded@example.com", pw), http.StatusCreated)
	poll.Until(t, 10*time.Second, "the refused attempt is recorded", func() bool {
		return ts.count(t, `SELECT count(*) FROM identity.webhook_attempts WHERE status IS NULL AND error LIKE '%refused 127.0.0.1%'`) >= 1
	})
	if n := len(hook.deliveries()); n != 0 {
		t.Errorf("the loopback endpoint was called %d times", n)
	}
}

// waitForSubject waits for an email to to with subject and returns the latest.
func (m *mailbox) waitForSubject(t *testing.T, to, subject string) mail.Message {
	t.Helper()
	var found mail.Message
	poll.Until(t, 5*time.Second, "an email "+subject+" to "+to, func() bool {
		for _, msg := range m.to(to) {
			if msg.Subject == subject {
				found = msg
			}
		}
		return found.Subject != ""
	})
	return found
}

// queryStrings runs sql and scans its rows' columns into dest (one slice per column;
// a single row into a *string).
func (ts *testServer) queryStrings(t *testing.T, sql string, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), ts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]string, len(dest))
		ptrs := make([]any, len(dest))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, d := range dest {
			switch d := d.(type) {
			case *[]string:
				*d = append(*d, vals[i])
			case *string:
				*d = vals[i]
			default:
				t.Fatal(errors.New("queryStrings: dest must be *string or *[]string"))
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
