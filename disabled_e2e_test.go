package main

import (
	"net/http"
	"testing"
)

// TestDisabledAccountOnEveryRoute: an account disabled on one replica (its row, as the
// administration API's change leaves it, with a session kept to try its token) answers
// its right credentials with 403 account_disabled on every authenticated route of the
// other, Basic and Bearer alike, and a wrong password with 401; every answer is one the
// OpenAPI document lists (checkContract). Enabled again, it signs in.
func TestDisabledAccountOnEveryRoute(t *testing.T) {
	env := map[string]string{"PASSWORD_FAILURES_BEFORE_DELAY": "100"} // a wrong password on every route
	a := startServer(t, serverConfig{env: env})
	b := startServer(t, serverConfig{env: env, databaseURL: a.DatabaseURL, sender: a.Mail})
	c := a.activated(t, "disabled@example.com")
	token := a.signIn(t, c)
	a.exec(t, `UPDATE identity.accounts SET disabled_at = now() WHERE email = $1`, c.email)

	routes := []struct {
		method, path string
		body         any
		bearer       bool
	}{
		{http.MethodGet, "/v1/users/me", nil, true},
		{http.MethodPost, "/v1/users/me/activation", map[string]string{"code": "1234"}, false},
		{http.MethodPost, "/v1/users/me/activation-code", nil, true},
		{http.MethodPut, "/v1/users/me/password", map[string]string{"password": "a brand new passphrase"}, false},
		{http.MethodPost, "/v1/users/me/email", map[string]string{"email": "elsewhere@example.com"}, false},
		{http.MethodPost, "/v1/users/me/email/confirm", map[string]string{"code": "12345678"}, true},
		{http.MethodGet, "/v1/users/me/events", nil, true},
		{http.MethodPost, "/v1/sessions", nil, false},
		{http.MethodGet, "/v1/sessions", nil, true},
		{http.MethodDelete, "/v1/sessions/0b6f2f36-6f38-4a8e-9b7e-2a9c1c6d4e11", nil, true},
		{http.MethodDelete, "/v1/sessions", nil, true},
		{http.MethodDelete, "/v1/sessions/current", nil, true},
		{http.MethodDelete, "/v1/users/me", nil, false},
	}
	for _, r := range routes {
		if r.path != "/v1/sessions/current" {
			wantProblem(t, b.request(t, r.method, r.path, r.body, c.email, c.password), http.StatusForbidden, "account_disabled")
			wantProblem(t, b.request(t, r.method, r.path, r.body, c.email, "not the password at all"), http.StatusUnauthorized, "unauthorized")
		}
		if r.bearer {
			wantProblem(t, b.bearer(t, r.method, r.path, token, r.body), http.StatusForbidden, "account_disabled")
		}
	}
	if n := a.count(t, `SELECT count(*) FROM identity.accounts WHERE email = $1`, c.email); n != 1 {
		t.Fatalf("%d accounts after the refused deletion, want 1", n)
	}
	a.exec(t, `UPDATE identity.accounts SET disabled_at = NULL WHERE email = $1`, c.email)
	wantStatus(t, b.request(t, http.MethodGet, "/v1/users/me", nil, c.email, c.password), http.StatusOK)
	wantStatus(t, b.bearer(t, http.MethodGet, "/v1/users/me", token, nil), http.StatusOK)
}
