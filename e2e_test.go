package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/httpserver"
	"github.com/acme/identity/platform/poll"
)

// End-to-end tests of the contract's /v1 routes: the real server in-process on a fresh
// database, driven over HTTP, grouped by route and status code.

const pw = "correct horse battery"

type creds struct{ email, password string }

func (ts *testServer) register(t *testing.T, email, password string) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/v1/users", map[string]string{"email": email, "password": password}, "", "")
}

func (ts *testServer) activate(t *testing.T, c creds, code string) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/v1/users/me/activation", map[string]string{"code": code}, c.email, c.password)
}

func (ts *testServer) resend(t *testing.T, c creds) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/v1/users/me/activation-code", nil, c.email, c.password)
}

func (ts *testServer) me(t *testing.T, c creds) response {
	t.Helper()
	return ts.request(t, http.MethodGet, "/v1/users/me", nil, c.email, c.password)
}

// registered registers email and returns its credentials and emailed code.
func (ts *testServer) registered(t *testing.T, email string) (creds, string) {
	t.Helper()
	res := ts.register(t, email, pw)
	wantStatus(t, res, http.StatusCreated)
	return creds{email, pw}, codeIn(t, ts.Mail.waitFor(t, email, 1))
}

// ageCode moves the latest code of email into the past by d, as if d had passed.
func (ts *testServer) ageCode(t *testing.T, email string, d time.Duration) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), ts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(context.Background(), `
		UPDATE identity.activation_codes SET issued_at = issued_at - $2::bigint * interval '1 millisecond',
		                            expires_at = expires_at - $2::bigint * interval '1 millisecond'
		WHERE account_id = (SELECT id FROM identity.accounts WHERE email = $1)`, email, d.Milliseconds())
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("age code of %s: %v (%d rows)", email, err, tag.RowsAffected())
	}
}

func wrongCode(code string) string {
	if code == "0000" {
		return "0001"
	}
	return "0000"
}

func wantStatus(t *testing.T, res response, status int) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d; body: %s", res.Status, status, res.Body)
	}
}

// wantProblem checks res is an RFC 9457 problem with status and code.
func wantProblem(t *testing.T, res response, status int, code string) map[string]any {
	t.Helper()
	wantStatus(t, res, status)
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	p := res.JSON(t)
	// The whole document: a missing member is nil, which no comparison below accepts.
	detail, _ := p["detail"].(string)
	if p["code"] != code || p["status"] != float64(status) || p["type"] != httpserver.ProblemTypeBase+code ||
		p["title"] != http.StatusText(status) || detail == "" {
		t.Fatalf("problem = %v, want type %s, title %q, status %d, code %q and a detail",
			p, httpserver.ProblemTypeBase+code, http.StatusText(status), status, code)
	}
	for member := range p {
		switch member {
		case "type", "title", "status", "detail", "code", "errors", "attempts_remaining":
		default:
			t.Fatalf("problem = %v: unknown member %q", p, member)
		}
	}
	return p
}

// wantUser checks res carries a user with email and status, and nothing secret.
func wantUser(t *testing.T, res response, email, status string) map[string]any {
	t.Helper()
	u := res.JSON(t)
	if u["email"] != email || u["status"] != status || u["id"] == "" {
		t.Fatalf("user = %v, want %s %s", u, email, status)
	}
	if _, err := time.Parse(time.RFC3339, u["created_at"].(string)); err != nil {
		t.Fatalf("created_at: %v", err)
	}
	if status == "pending" && u["activated_at"] != nil {
		t.Fatalf("pending user has activated_at %v", u["activated_at"])
	}
	if status == "active" {
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(u["activated_at"])); err != nil {
			t.Fatalf("activated_at: %v", err)
		}
	}
	if len(u) != 5 {
		t.Fatalf("user has fields %v, want exactly id, email, status, created_at, activated_at", u)
	}
	return u
}

func TestRegister(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})

	t.Run("201 pending user, one email", func(t *testing.T) {
		res := ts.register(t, "  Alice@Example.COM ", pw)
		wantStatus(t, res, http.StatusCreated)
		u := wantUser(t, res, "alice@example.com", "pending")
		msg := ts.Mail.waitFor(t, "alice@example.com", 1)
		// A field that is the code, or holds it beside no other digit (a bare substring
		// test also finds 4 random digits in the id or in created_at's clock).
		code := codeIn(t, msg)
		alone := regexp.MustCompile(`(^|[^0-9])` + code + `([^0-9]|$)`)
		for k, v := range u {
			if s := fmt.Sprint(v); k != "id" && k != "created_at" && alone.MatchString(s) {
				t.Fatalf("the response's %s (%q) contains the code", k, s)
			}
		}
		if strings.Contains(string(res.Body), pw) || strings.Contains(string(res.Body), "argon2") {
			t.Fatal("the response contains the password or its hash")
		}
	})
	t.Run("409 email_taken for an active account, any case", func(t *testing.T) {
		c, code := ts.registered(t, "bob@example.com")
		wantStatus(t, ts.activate(t, c, code), http.StatusOK)
		wantProblem(t, ts.register(t, "BOB@example.com", "another password"), http.StatusConflict, "email_taken")
	})
	t.Run("429 rate_limited re-registering a pending account too soon", func(t *testing.T) {
		ts.registered(t, "carol@example.com")
		res := ts.register(t, "carol@example.com", "another password")
		wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
		if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 30 {
			t.Fatalf("Retry-After %q, want 1..30 seconds", res.Header.Get("Retry-After"))
		}
	})
	t.Run("201 re-registration replaces a pending account", func(t *testing.T) {
		old, oldCode := ts.registered(t, "dan@example.com")
		ts.ageCode(t, "dan@example.com", 31*time.Second)
		res := ts.register(t, "dan@example.com", "the real owner")
		wantStatus(t, res, http.StatusCreated)
		wantUser(t, res, "dan@example.com", "pending")
		owner := creds{"dan@example.com", "the real owner"}
		newCode := codeIn(t, ts.Mail.waitFor(t, "dan@example.com", 2))

		wantProblem(t, ts.me(t, old), http.StatusUnauthorized, "unauthorized")
		if oldCode != newCode {
			p := wantProblem(t, ts.activate(t, owner, oldCode), http.StatusBadRequest, "invalid_code")
			if p["attempts_remaining"] != float64(4) {
				t.Fatalf("attempts_remaining = %v, want 4", p["attempts_remaining"])
			}
		}
		wantUser(t, ts.activate(t, owner, newCode), "dan@example.com", "active")
	})
	t.Run("422 validation_failed lists every bad field", func(t *testing.T) {
		for _, tc := range []struct {
			body   string
			fields []string
		}{
			{`{}`, []string{"email", "password"}},
			{`{"email":"not-an-email","password":"short"}`, []string{"email", "password"}},
			{`{"email":"erin@example.com"}`, []string{"password"}},
			{`{"email":"erin@example.com","password":"erin@example.com"}`, []string{"password"}},
			{`{"email":"erin@example.com","password":"password"}`, []string{"password"}},
			{`{"email":"` + strings.Repeat("a", 250) + `@example.com","password":"long enough"}`, []string{"email"}},
			{`{"email":"erin@example.com","password":"` + strings.Repeat("p", 129) + `"}`, []string{"password"}},
		} {
			p := wantProblem(t, ts.request(t, http.MethodPost, "/v1/users", tc.body, "", ""), http.StatusUnprocessableEntity, "validation_failed")
			var got []string
			for _, e := range p["errors"].([]any) {
				f := e.(map[string]any)
				if f["message"] == "" {
					t.Errorf("field %v has no message", f["field"])
				}
				got = append(got, f["field"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("body %s: error fields %v, want %v", tc.body, got, tc.fields)
			}
		}
		if n := len(ts.Mail.to("erin@example.com")); n != 0 {
			t.Fatalf("%d emails sent for invalid registrations", n)
		}
	})
	t.Run("400 malformed_json", func(t *testing.T) {
		for _, body := range []string{``, `{`, `[]`, `"a string"`, `null`, `42`, `{"email":"a@b.c"} trailing`, `{"email":"a@example.com",}`} {
			wantProblem(t, ts.request(t, http.MethodPost, "/v1/users", body, "", ""), http.StatusBadRequest, "malformed_json")
		}
	})
	t.Run("415 for another content type; a charset is fine", func(t *testing.T) {
		for ct, want := range map[string]int{
			"text/plain":                        http.StatusUnsupportedMediaType,
			"":                                  http.StatusUnsupportedMediaType,
			"application/x-www-form-urlencoded": http.StatusUnsupportedMediaType,
			"application/json; charset=utf-8":   http.StatusCreated,
		} {
			email := fmt.Sprintf("ct%d@example.com", len(ct))
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/users", strings.NewReader(`{"email":"`+email+`","password":"long enough 1"}`))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			res := ts.do(t, req)
			if want == http.StatusCreated {
				wantStatus(t, res, want)
			} else {
				wantProblem(t, res, want, "unsupported_media_type")
			}
		}
	})
	t.Run("413 for a body over 64 KiB", func(t *testing.T) {
		big := `{"email":"frank@example.com","password":"` + strings.Repeat("x", 70*1024) + `"}`
		wantProblem(t, ts.request(t, http.MethodPost, "/v1/users", big, "", ""), http.StatusRequestEntityTooLarge, "payload_too_large")
	})
}

func TestActivate(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})

	t.Run("200 active user", func(t *testing.T) {
		c, code := ts.registered(t, "alice@example.com")
		wantUser(t, ts.activate(t, c, code), "alice@example.com", "active")
		wantUser(t, ts.me(t, c), "alice@example.com", "active")
	})
	t.Run("409 already_active", func(t *testing.T) {
		c, code := ts.registered(t, "bob@example.com")
		wantStatus(t, ts.activate(t, c, code), http.StatusOK)
		wantProblem(t, ts.activate(t, c, code), http.StatusConflict, "already_active")
	})
	t.Run("422 for a code that is not four digits, not counted", func(t *testing.T) {
		c, code := ts.registered(t, "carol@example.com")
		for _, body := range []string{`{"code":"123"}`, `{"code":"12345"}`, `{"code":"12a4"}`, `{}`, `{"code":""}`, `{"code":"١٢٣٤"}`} {
			res := ts.request(t, http.MethodPost, "/v1/users/me/activation", body, c.email, c.password)
			wantProblem(t, res, http.StatusUnprocessableEntity, "validation_failed")
		}
		p := wantProblem(t, ts.request(t, http.MethodPost, "/v1/users/me/activation", `{"code":1234}`, c.email, c.password),
			http.StatusUnprocessableEntity, "validation_failed")
		if fmt.Sprint(p["errors"]) != "[map[field:code message:must be a string]]" {
			t.Fatalf("errors = %v", p["errors"])
		}
		p = wantProblem(t, ts.activate(t, c, wrongCode(code)), http.StatusBadRequest, "invalid_code")
		if p["attempts_remaining"] != float64(4) {
			t.Fatalf("attempts_remaining = %v after malformed codes, want 4: they must not count", p["attempts_remaining"])
		}
	})
	t.Run("five wrong guesses, then 429 too_many_attempts even for the right code", func(t *testing.T) {
		c, code := ts.registered(t, "dan@example.com")
		for want := 4; want >= 0; want-- {
			p := wantProblem(t, ts.activate(t, c, wrongCode(code)), http.StatusBadRequest, "invalid_code")
			if p["attempts_remaining"] != float64(want) {
				t.Fatalf("attempts_remaining = %v, want %d", p["attempts_remaining"], want)
			}
		}
		wantProblem(t, ts.activate(t, c, code), http.StatusTooManyRequests, "too_many_attempts")
		wantProblem(t, ts.activate(t, c, wrongCode(code)), http.StatusTooManyRequests, "too_many_attempts")
		// A new code lifts the lock.
		ts.ageCode(t, c.email, 31*time.Second)
		wantStatus(t, ts.resend(t, c), http.StatusAccepted)
		wantUser(t, ts.activate(t, c, codeIn(t, ts.Mail.waitFor(t, c.email, 2))), c.email, "active")
	})
	t.Run("400 code_expired, then a new code works", func(t *testing.T) {
		c, code := ts.registered(t, "erin@example.com")
		ts.ageCode(t, c.email, 61*time.Second)
		wantProblem(t, ts.activate(t, c, code), http.StatusBadRequest, "code_expired")
		wantStatus(t, ts.resend(t, c), http.StatusAccepted)
		wantUser(t, ts.activate(t, c, codeIn(t, ts.Mail.waitFor(t, c.email, 2))), c.email, "active")
	})
	t.Run("a superseded code is never accepted", func(t *testing.T) {
		c, first := ts.registered(t, "frank@example.com")
		var second string
		for n := 2; ; n++ { // a new draw may repeat the old code; draw until it differs
			ts.ageCode(t, c.email, 31*time.Second)
			wantStatus(t, ts.resend(t, c), http.StatusAccepted)
			if second = codeIn(t, ts.Mail.waitFor(t, c.email, n)); second != first {
				break
			}
		}
		wantProblem(t, ts.activate(t, c, first), http.StatusBadRequest, "invalid_code")
		wantUser(t, ts.activate(t, c, second), c.email, "active")
	})
	t.Run("10 concurrent activations with the right code: one 200, nine 409", func(t *testing.T) {
		c, code := ts.registered(t, "grace@example.com")
		statuses := concurrently(10, func() int { return ts.activate(t, c, code).Status })
		if statuses[http.StatusOK] != 1 || statuses[http.StatusConflict] != 9 {
			t.Fatalf("statuses %v, want one 200 and nine 409", statuses)
		}
	})
}

func TestCodeExpiresAfterTTL(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c, code := ts.registered(t, "alice@example.com")
	// Expiry is judged on the database's clock: the code is made older there instead of
	// the test waiting for it (and past the resend interval, so a new one may be asked).
	ts.exec(t, `UPDATE identity.activation_codes
	            SET issued_at = issued_at - interval '2 minutes', expires_at = expires_at - interval '2 minutes'
	            WHERE account_id = (SELECT id FROM identity.accounts WHERE email = $1)`, c.email)
	wantProblem(t, ts.activate(t, c, code), http.StatusBadRequest, "code_expired")
	res := ts.resend(t, c)
	wantStatus(t, res, http.StatusAccepted)
	wantUser(t, ts.activate(t, c, codeIn(t, ts.Mail.waitFor(t, c.email, 2))), c.email, "active")
}

func TestResendCode(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})

	t.Run("429 rate_limited inside the resend interval", func(t *testing.T) {
		c, _ := ts.registered(t, "alice@example.com")
		res := ts.resend(t, c)
		wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
		if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 30 {
			t.Fatalf("Retry-After %q, want whole seconds in 1..30", res.Header.Get("Retry-After"))
		}
	})
	t.Run("202 with expires_at and resend_after; a new email", func(t *testing.T) {
		c, _ := ts.registered(t, "bob@example.com")
		ts.ageCode(t, c.email, 31*time.Second)
		before := time.Now()
		res := ts.resend(t, c)
		wantStatus(t, res, http.StatusAccepted)
		body := res.JSON(t)
		expires, err1 := time.Parse(time.RFC3339, fmt.Sprint(body["expires_at"]))
		resendAfter, err2 := time.Parse(time.RFC3339, fmt.Sprint(body["resend_after"]))
		if err1 != nil || err2 != nil || len(body) != 2 {
			t.Fatalf("body %v: %v %v", body, err1, err2)
		}
		if d := expires.Sub(before); d < 55*time.Second || d > 65*time.Second {
			t.Fatalf("expires_at %v is %v from now, want about 60s", expires, d)
		}
		if d := resendAfter.Sub(before); d < 25*time.Second || d > 35*time.Second {
			t.Fatalf("resend_after %v is %v from now, want about 30s", resendAfter, d)
		}
		ts.Mail.waitFor(t, c.email, 2)
	})
	t.Run("409 already_active", func(t *testing.T) {
		c, code := ts.registered(t, "carol@example.com")
		wantStatus(t, ts.activate(t, c, code), http.StatusOK)
		wantProblem(t, ts.resend(t, c), http.StatusConflict, "already_active")
	})
}

func TestMe(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c, _ := ts.registered(t, "alice@example.com")
	wantUser(t, ts.me(t, c), "alice@example.com", "pending")
	wantUser(t, ts.me(t, creds{"ALICE@example.com", pw}), "alice@example.com", "pending")
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c, code := ts.registered(t, "alice@example.com")

	headers := map[string]string{
		"missing":            "",
		"unknown email":      "Basic " + base64.StdEncoding.EncodeToString([]byte("nobody@example.com:"+pw)),
		"wrong password":     "Basic " + base64.StdEncoding.EncodeToString([]byte(c.email+":wrong password")),
		"not base64":         "Basic !!!not-base64!!!",
		"no colon":           "Basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com")),
		"bearer":             "Bearer abc.def.ghi",
		"empty basic":        "Basic ",
		"sql in email":       "Basic " + base64.StdEncoding.EncodeToString([]byte("' OR 1=1 --:x")),
		"huge":               "Basic " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 5000)+":"+strings.Repeat("b", 5000))), // 13 KiB: past 16, 431
		"nul bytes":          "Basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com\x00:"+pw+"\x00")),
		"invalid utf8 email": "Basic " + base64.StdEncoding.EncodeToString([]byte("\xff\xfe@example.com:"+pw)),
	}
	routes := []struct {
		method, path, body string
		bearerToo          bool // the route takes a session token too
	}{
		{http.MethodGet, "/v1/users/me", "", true},
		{http.MethodPost, "/v1/users/me/activation", `{"code":"` + code + `"}`, false},
		{http.MethodPost, "/v1/users/me/activation", `not json at all`, false}, // authentication comes before the body
		{http.MethodPost, "/v1/users/me/activation-code", "", true},
	}
	for name, h := range headers {
		for _, r := range routes {
			req, _ := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader(r.body))
			req.Header.Set("Content-Type", "application/json")
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			res := ts.do(t, req)
			p := wantProblem(t, res, http.StatusUnauthorized, "unauthorized")
			if name == "bearer" && r.bearerToo {
				// A token, if one the route takes: the RFC 6750 answer (sessions_e2e_test.go).
				if got := res.Header.Get("WWW-Authenticate"); got != `Bearer realm="identity", error="invalid_token"` {
					t.Fatalf("%s %s (%s): WWW-Authenticate %q", r.method, r.path, name, got)
				}
				continue
			}
			// The first challenge is Basic's (a route that takes tokens offers Bearer's too).
			if got := res.Header.Get("WWW-Authenticate"); got != `Basic realm="identity", charset="UTF-8"` {
				t.Fatalf("%s %s (%s): WWW-Authenticate %q", r.method, r.path, name, got)
			}
			if fmt.Sprint(p["detail"]) != "Send the account's email and password with HTTP Basic authentication." {
				t.Fatalf("%s: the detail differs between causes: %v", name, p["detail"])
			}
		}
	}
	// None of that touched the account.
	wantUser(t, ts.activate(t, c, code), c.email, "active")
}

func TestConcurrentRegistrationsOfOneEmail(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	statuses := concurrently(10, func() int { return ts.register(t, "alice@example.com", pw).Status })
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusTooManyRequests] != 9 {
		t.Fatalf("statuses %v, want one 201 and nine 429", statuses)
	}
	ts.Mail.waitFor(t, "alice@example.com", 1)
	// Instead of waiting for a second email that should never come: the outbox holds one
	// email for the address, and it is finished, so no other can be on its way.
	if n := ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1`, "alice@example.com"); n != 1 {
		t.Fatalf("%d emails queued, want exactly 1", n)
	}
	poll.Until(t, 5*time.Second, "the email is recorded sent", func() bool {
		return ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1 AND sent_at IS NOT NULL`, "alice@example.com") == 1
	})
	if n := len(ts.Mail.to("alice@example.com")); n != 1 {
		t.Fatalf("%d emails, want exactly 1", n)
	}
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c, _ := ts.registered(t, "alice@example.com")
	tenKB := strings.Repeat("x", 10*1024)
	bodies := []string{
		`{"email":"'; DROP TABLE identity.accounts; --","password":"long enough pass"}`,
		`{"email":"a@example.com' OR '1'='1","password":"long enough pass"}`,
		`{"email":"` + tenKB + `@example.com","password":"` + tenKB + `"}`,
		`{"email":"` + tenKB + `","password":"long enough pass"}`,
		`{"email":["a@example.com"],"password":"long enough pass"}`,
		`{"email":{"$ne":null},"password":"long enough pass"}`,
		`{"email":"a@example.com","password":12345678}`,
		`{"email":true,"password":null}`,
		`{"email":"nul\u0000@example.com","password":"long enough pass"}`,
		`{"email":"a@example.com","password":"nul\u0000nul\u0000nul"}`,
		"{\"email\":\"\xff\xfe@example.com\",\"password\":\"long enough pass\"}",
		`{"email":"a@example.com","password":"` + strings.Repeat("x", 100*1024) + `"}`,
		strings.Repeat("[", 100*1024),
		`{"email":"<script>alert(1)</script>@example.com","password":"long enough pass"}`,
		`{"email":"a@example.com","email":"b@example.com","password":"x"}`,
		"\ufeff{}",
	}
	for _, body := range bodies {
		for _, r := range []struct{ path, user, password string }{
			{"/v1/users", "", ""},
			{"/v1/users/me/activation", c.email, c.password},
		} {
			res := ts.request(t, http.MethodPost, r.path, body, r.user, r.password)
			short := body
			if len(short) > 60 {
				short = short[:60] + "…"
			}
			if res.Status < 400 || res.Status >= 500 {
				t.Errorf("POST %s %q: status %d, want 4xx; body %s", r.path, short, res.Status, res.Body)
				continue
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("POST %s %q: Content-Type %q", r.path, short, ct)
			}
		}
	}
	// The accounts table is intact and holds exactly the one account.
	wantUser(t, ts.me(t, c), c.email, "pending")
	if n := len(ts.Mail.messages); n != 1 {
		t.Fatalf("%d emails were queued, want 1", n)
	}
}

func TestConventions(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})

	t.Run("X-Request-ID is echoed when sane, replaced otherwise", func(t *testing.T) {
		for sent, keep := range map[string]bool{"abc-123_X.y:z": true, "": false, "has spaces": false, strings.Repeat("a", 200): false, "évil": false} {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/healthz", nil)
			if sent != "" {
				req.Header.Set("X-Request-ID", sent)
			}
			got := ts.do(t, req).Header.Get("X-Request-ID")
			if keep && got != sent || !keep && (got == "" || got == sent) {
				t.Errorf("sent %q, got %q", sent, got)
			}
		}
		if got := ts.register(t, "bad", "x").Header.Get("X-Request-ID"); got == "" {
			t.Error("an error response has no X-Request-ID")
		}
	})
	t.Run("health", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			res := ts.request(t, http.MethodGet, path, nil, "", "")
			if res.Status != http.StatusOK || res.JSON(t)["status"] != "ok" {
				t.Errorf("%s: %d %s", path, res.Status, res.Body)
			}
			if head := ts.request(t, http.MethodHead, path, nil, "", ""); head.Status != http.StatusOK {
				t.Errorf("HEAD %s: %d", path, head.Status)
			}
		}
	})
	t.Run("404 and 405 are problems", func(t *testing.T) {
		wantProblem(t, ts.request(t, http.MethodGet, "/v1/nothing", nil, "", ""), http.StatusNotFound, "not_found")
		wantProblem(t, ts.request(t, http.MethodDelete, "/v1/users", nil, "", ""), http.StatusMethodNotAllowed, "method_not_allowed")
	})
	t.Run("no secret in the log but the log-transport email", func(t *testing.T) {
		c, code := ts.registered(t, "secret@example.com")
		wantStatus(t, ts.activate(t, c, wrongCode(code)), http.StatusBadRequest)
		logs := ts.logs.String()
		for _, secret := range []string{pw, "argon2id$", `"code":"` + code} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains %q", secret)
			}
		}
	})
}

func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: the service must start, answer 503 and keep running.
	ts := startServer(t, serverConfig{databaseURL: "postgres://postgres@127.0.0.1:1/identity?sslmode=disable&connect_timeout=1"})
	wantStatus(t, ts.request(t, http.MethodGet, "/healthz", nil, "", ""), http.StatusOK)
	wantProblem(t, ts.request(t, http.MethodGet, "/readyz", nil, "", ""), http.StatusServiceUnavailable, "unavailable")
	wantProblem(t, ts.register(t, "alice@example.com", pw), http.StatusServiceUnavailable, "unavailable")
	wantProblem(t, ts.me(t, creds{"alice@example.com", pw}), http.StatusServiceUnavailable, "unavailable")
}

// concurrently runs f n times at once and counts the statuses it returns.
func concurrently(n int, f func() int) map[int]int {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
		count = map[int]int{}
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s := f()
			mu.Lock()
			count[s]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return count
}
