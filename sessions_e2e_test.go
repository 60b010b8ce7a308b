package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// End-to-end tests of sign-in sessions (issue 19): the lifecycle of a Bearer token on two
// replicas of one database, its idle and absolute expiry (the clock is the data: sessions
// are moved into the past), the idle clock that costs no write per request, eviction past
// SESSIONS_PER_ACCOUNT, sign-out everywhere and the password change that ends them all.

// bearer sends method path with the token.
func (ts *testServer) bearer(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	req := ts.newRequest(t, method, path, body, "", "")
	req.Header.Set("Authorization", "Bearer "+token)
	return ts.do(t, req)
}

// signIn starts a session of c and returns its token.
func (ts *testServer) signIn(t *testing.T, c creds) string {
	t.Helper()
	res := ts.request(t, http.MethodPost, "/v1/sessions", nil, c.email, c.password)
	wantStatus(t, res, http.StatusCreated)
	body := res.JSON(t)
	token, _ := body["token"].(string)
	if len(token) != 43 || body["token_type"] != "Bearer" {
		t.Fatalf("session %v: want a 43-character Bearer token", body)
	}
	return token
}

// activated registers and activates email.
func (ts *testServer) activated(t *testing.T, email string) creds {
	t.Helper()
	c, code := ts.registered(t, email)
	wantUser(t, ts.activate(t, c, code), email, "active")
	return c
}

// wantInvalidToken asserts the 401 of a token that names no live session.
func wantInvalidToken(t *testing.T, res response) {
	t.Helper()
	wantProblem(t, res, http.StatusUnauthorized, "unauthorized")
	if got := res.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != `Bearer realm="identity", error="invalid_token"` {
		t.Fatalf("WWW-Authenticate %q, want the one Bearer invalid_token challenge", got)
	}
}

// sessionTimes reads a session's times, as seconds before now.
func (ts *testServer) lastUsedAgo(t *testing.T, email string) int {
	t.Helper()
	return ts.count(t, `SELECT extract(epoch FROM now() - max(s.last_used_at))::int FROM identity.sessions AS s
	                    JOIN identity.accounts AS a ON a.id = s.account_id WHERE a.email = $1`, email)
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	a := startServer(t, serverConfig{})
	b := startServer(t, serverConfig{databaseURL: a.DatabaseURL, sender: a.Mail})
	c := a.activated(t, "sam@example.com")

	res := a.request(t, http.MethodPost, "/v1/sessions", nil, c.email, c.password)
	wantStatus(t, res, http.StatusCreated)
	body := res.JSON(t)
	token := body["token"].(string)
	expires, err := time.Parse(time.RFC3339Nano, body["expires_at"].(string))
	if err != nil || time.Until(expires) < 23*time.Hour || time.Until(expires) > 25*time.Hour {
		t.Fatalf("expires_at %v (%v), want about 24 h from now (SESSION_IDLE_TIMEOUT)", body["expires_at"], err)
	}
	if user := body["user"].(map[string]any); user["email"] != c.email || user["status"] != "active" {
		t.Fatalf("user %v", user)
	}
	if n := a.count(t, `SELECT count(*) FROM identity.sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, token); n != 1 {
		t.Fatalf("%d sessions stored under the token's SHA-256, want 1 (and never the token)", n)
	}
	// The token works on both replicas, for identity's routes that take it.
	for _, srv := range []*testServer{a, b} {
		wantUser(t, srv.bearer(t, http.MethodGet, "/v1/users/me", token, nil), c.email, "active")
	}
	// Activation and the Basic-only routes do not take it.
	res = a.bearer(t, http.MethodPut, "/v1/users/me/password", token, map[string]string{"password": "another good passphrase"})
	wantProblem(t, res, http.StatusUnauthorized, "unauthorized")
	if got := res.Header.Values("WWW-Authenticate"); len(got) != 1 || !strings.HasPrefix(got[0], "Basic ") {
		t.Fatalf("a Basic-only route answered a token with challenges %q, want Basic's", got)
	}

	// Sign-out on one replica is seen at once on the other, and a revoked token answers
	// like one that never existed.
	wantStatus(t, a.bearer(t, http.MethodDelete, "/v1/sessions/current", token, nil), http.StatusNoContent)
	revoked := b.bearer(t, http.MethodGet, "/v1/users/me", token, nil)
	wantInvalidToken(t, revoked)
	unknown := b.bearer(t, http.MethodGet, "/v1/users/me", strings.Repeat("A", 43), nil)
	wantInvalidToken(t, unknown)
	if string(revoked.Body) != string(unknown.Body) {
		t.Fatalf("a revoked token answered %s, an unknown one %s: they must not differ", revoked.Body, unknown.Body)
	}
	wantInvalidToken(t, b.bearer(t, http.MethodGet, "/v1/users/me", "not a token", nil))

	// Without credentials, a route that takes both schemes offers both.
	res = a.request(t, http.MethodGet, "/v1/users/me", nil, "", "")
	wantProblem(t, res, http.StatusUnauthorized, "unauthorized")
	if got := strings.Join(res.Header.Values("WWW-Authenticate"), " | "); got != `Basic realm="identity", charset="UTF-8" | Bearer realm="identity"` {
		t.Fatalf("challenges %q, want Basic's and Bearer's", got)
	}
}

func TestPendingAccountGetsNoSession(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c, _ := ts.registered(t, "pending@example.com")
	wantProblem(t, ts.request(t, http.MethodPost, "/v1/sessions", nil, c.email, c.password), http.StatusForbidden, "account_pending")
	wantProblem(t, ts.request(t, http.MethodPut, "/v1/users/me/password", map[string]string{"password": "another good passphrase"}, c.email, c.password),
		http.StatusForbidden, "account_pending")
	if n := ts.count(t, `SELECT count(*) FROM identity.sessions`); n != 0 {
		t.Fatalf("%d sessions for a pending account", n)
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"SESSION_IDLE_TIMEOUT": "1h", "SESSION_MAX_AGE": "48h"}})
	c := ts.activated(t, "clock@example.com")

	// The idle clock costs no write per request: it is written once it is a minute old.
	idle := ts.signIn(t, c)
	ts.exec(t, `UPDATE identity.sessions SET last_used_at = last_used_at - interval '30 seconds', created_at = created_at - interval '30 seconds'`)
	wantStatus(t, ts.bearer(t, http.MethodGet, "/v1/users/me", idle, nil), http.StatusOK)
	if ago := ts.lastUsedAgo(t, c.email); ago < 29 {
		t.Fatalf("a use 30 s after the last recorded one wrote the idle clock (now %d s ago): want no write", ago)
	}
	ts.exec(t, `UPDATE identity.sessions SET last_used_at = last_used_at - interval '31 seconds', created_at = created_at - interval '31 seconds'`)
	wantStatus(t, ts.bearer(t, http.MethodGet, "/v1/users/me", idle, nil), http.StatusOK)
	if ago := ts.lastUsedAgo(t, c.email); ago > 1 {
		t.Fatalf("a use a minute after the last recorded one left the idle clock %d s old: want it written", ago)
	}
	// Unused for the idle timeout: ended.
	ts.exec(t, `UPDATE identity.sessions SET last_used_at = last_used_at - interval '61 minutes', created_at = created_at - interval '61 minutes'`)
	wantInvalidToken(t, ts.bearer(t, http.MethodGet, "/v1/users/me", idle, nil))

	// Used all along, but signed in SESSION_MAX_AGE ago: ended.
	old := ts.signIn(t, c)
	ts.exec(t, `UPDATE identity.sessions SET created_at = created_at - interval '47 hours 59 minutes'
	            WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, old)
	wantStatus(t, ts.bearer(t, http.MethodGet, "/v1/users/me", old, nil), http.StatusOK)
	ts.exec(t, `UPDATE identity.sessions SET created_at = created_at - interval '2 minutes'
	            WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, old)
	wantInvalidToken(t, ts.bearer(t, http.MethodGet, "/v1/users/me", old, nil))
}

func TestSessionsPerAccountEndTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"SESSIONS_PER_ACCOUNT": "2"}})
	c := ts.activated(t, "many@example.com")
	first, second := ts.signIn(t, c), ts.signIn(t, c)
	// The first was used since: the second is now the least recently used.
	ts.exec(t, `UPDATE identity.sessions SET last_used_at = last_used_at - interval '10 minutes', created_at = created_at - interval '10 minutes'`)
	wantStatus(t, ts.bearer(t, http.MethodGet, "/v1/users/me", first, nil), http.StatusOK)
	third := ts.signIn(t, c)
	wantInvalidToken(t, ts.bearer(t, http.MethodGet, "/v1/users/me", second, nil))
	for _, token := range []string{first, third} {
		wantStatus(t, ts.bearer(t, http.MethodGet, "/v1/users/me", token, nil), http.StatusOK)
	}
	if n := ts.count(t, `SELECT count(*) FROM identity.sessions`); n != 2 {
		t.Fatalf("%d sessions kept, want SESSIONS_PER_ACCOUNT = 2", n)
	}
}

func TestSignOutEverywhereAndPasswordChangeEndEverySession(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c := ts.activated(t, "leave@example.com")
	other := ts.activated(t, "stay@example.com")
	kept := ts.signIn(t, other)

	// Sign-out everywhere, by token.
	one, two := ts.signIn(t, c), ts.signIn(t, c)
	wantStatus(t, ts.bearer(t, http.MethodDelete, "/v1/sessions", one, nil), http.StatusNoContent)
	for _, token := range []string{one, two} {
		wantInvalidToken(t, ts.bearer(t, http.MethodGet, "/v1/users/me", token, nil))
	}

	// A password change ends every session, and emails a notice with no secret in it.
	three := ts.signIn(t, c)
	newPassword := "a brand new passphrase"
	wantStatus(t, ts.request(t, http.MethodPut, "/v1/users/me/password", map[string]string{"password": newPassword}, c.email, c.password),
		http.StatusNoContent)
	wantInvalidToken(t, ts.bearer(t, http.MethodGet, "/v1/users/me", three, nil))
	wantProblem(t, ts.me(t, c), http.StatusUnauthorized, "unauthorized")
	wantUser(t, ts.me(t, creds{c.email, newPassword}), c.email, "active")
	notice := ts.Mail.waitFor(t, c.email, 2) // the activation code, then the notice
	if notice.Subject != "Your password was changed" {
		t.Fatalf("second email %q, want the notice", notice.Subject)
	}
	for _, secret := range []string{newPassword, c.password, "leave"} {
		if strings.Contains(notice.Text+notice.HTML, secret) {
			t.Fatalf("the notice holds %q", secret)
		}
	}
	// The bad new password is refused like at registration; nothing changes.
	for _, bad := range []string{"short", "password123", "leave@example.com", "qwertyuiop"} {
		wantProblem(t, ts.request(t, http.MethodPut, "/v1/users/me/password", map[string]string{"password": bad}, c.email, newPassword),
			http.StatusUnprocessableEntity, "validation_failed")
	}
	// Other accounts' sessions are untouched.
	wantUser(t, ts.bearer(t, http.MethodGet, "/v1/users/me", kept, nil), other.email, "active")

	// The metrics saw it all.
	m := ts.scrape(t)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"identity_sessions_started_total", nil, 4},
		{"identity_sessions_ended_total", []string{"reason", "sign_out_everywhere"}, 1},
		{"identity_sessions_ended_total", []string{"reason", "password_change"}, 1},
		{"identity_sessions_ended_total", []string{"reason", "sign_out"}, 0},
	} {
		if got := value(m, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if m["identity_sessions_live"] == nil {
		t.Error("no series identity_sessions_live")
	}
}

// TestSessionsYouCanSee: the account's live sessions with the client and User-Agent of
// their sign-in and the current one marked; one ended by its id on one replica stops
// working at once on the other; another account's id answers 404 like an unknown one.
func TestSessionsYouCanSee(t *testing.T) {
	t.Parallel()
	a, b := replicas(t, nil)
	c := a.activated(t, "devices@example.com")
	signInFrom := func(srv *testServer, ip, agent string) string {
		req := srv.newRequest(t, http.MethodPost, "/v1/sessions", nil, c.email, c.password)
		req.Header.Set("X-Forwarded-For", ip)
		req.Header.Set("User-Agent", agent)
		res := srv.do(t, req)
		wantStatus(t, res, http.StatusCreated)
		token, _ := res.JSON(t)["token"].(string)
		return token
	}
	laptop := signInFrom(a, "198.51.100.60", "Laptop/1.0 "+strings.Repeat("x", 300))
	phone := signInFrom(b, "198.51.100.61", "Phone/2.0")

	res := b.bearer(t, http.MethodGet, "/v1/sessions", phone, nil)
	wantStatus(t, res, http.StatusOK)
	list, _ := res.JSON(t)["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("sessions %v, want 2", list)
	}
	newest, oldest := list[0].(map[string]any), list[1].(map[string]any)
	if newest["client"] != "198.51.100.61" || newest["user_agent"] != "Phone/2.0" || newest["current"] != true {
		t.Errorf("the newest session %v, want the phone's, current", newest)
	}
	if ua, _ := oldest["user_agent"].(string); oldest["client"] != "198.51.100.60" || oldest["current"] != false ||
		len([]rune(ua)) != 256 || !strings.HasPrefix(ua, "Laptop/1.0 ") {
		t.Errorf("the oldest session %v, want the laptop's, its User-Agent cut to 256 characters", oldest)
	}
	for _, s := range list {
		if id, _ := s.(map[string]any)["id"].(string); id == laptop || id == phone || id == "" {
			t.Errorf("a session id %q is a token or empty", id)
		}
	}
	// With Basic, no session is current.
	basic := a.request(t, http.MethodGet, "/v1/sessions", nil, c.email, c.password).JSON(t)
	for _, s := range basic["sessions"].([]any) {
		if s.(map[string]any)["current"] != false {
			t.Errorf("a current session under Basic: %v", s)
		}
	}

	// Another account cannot end the laptop's session: 404, as for an unknown id.
	other := a.activated(t, "other-devices@example.com")
	laptopID := oldest["id"].(string)
	for _, id := range []string{laptopID, "00000000-0000-0000-0000-000000000000", "not-an-id"} {
		wantProblem(t, a.request(t, http.MethodDelete, "/v1/sessions/"+id, nil, other.email, other.password), http.StatusNotFound, "not_found")
	}
	wantUser(t, a.bearer(t, http.MethodGet, "/v1/users/me", laptop, nil), c.email, "active")

	// The phone ends the laptop's session on replica b: the laptop is out on replica a.
	wantStatus(t, b.bearer(t, http.MethodDelete, "/v1/sessions/"+laptopID, phone, nil), http.StatusNoContent)
	wantInvalidToken(t, a.bearer(t, http.MethodGet, "/v1/users/me", laptop, nil))
	wantUser(t, a.bearer(t, http.MethodGet, "/v1/users/me", phone, nil), c.email, "active")
	wantProblem(t, b.bearer(t, http.MethodDelete, "/v1/sessions/"+laptopID, phone, nil), http.StatusNotFound, "not_found")
	// Signing out the current session still works, once.
	wantStatus(t, a.bearer(t, http.MethodDelete, "/v1/sessions/current", phone, nil), http.StatusNoContent)
	wantInvalidToken(t, b.bearer(t, http.MethodGet, "/v1/users/me", phone, nil))
}
