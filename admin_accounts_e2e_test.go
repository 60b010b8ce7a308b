package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// End-to-end tests of identity's account routes on the real administration listener
// (ADMIN_ADDR, a key made by admin-key create): every exchange is validated against
// api/admin.yaml (adminDo), every public one against api/openapi.yaml.

// adminSend sends method path with a JSON body (none when empty) and the key.
func (ts *testServer) adminSend(t *testing.T, method, path, key, body string) response {
	t.Helper()
	var req *http.Request
	var err error
	if body != "" {
		req, err = http.NewRequest(method, ts.admin(t)+path, strings.NewReader(body))
	} else {
		req, err = http.NewRequest(method, ts.admin(t)+path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", bearer(key))
	return adminDo(t, req)
}

// TestAdminDisablesAnAccount: a disable through the listener ends the account's session
// at once, its right password then answers 403 account_disabled on another replica and a
// wrong one 401, its owner is emailed the notice alone; an enable lifts it; the events
// name the key as data.actor.
func TestAdminDisablesAnAccount(t *testing.T) {
	a := adminServing(t, serverConfig{})
	b := startServer(t, serverConfig{databaseURL: a.DatabaseURL, sender: a.Mail})
	key := createAdminKey(t, a.DatabaseURL, "support-eve")
	c := a.activated(t, "target@example.com")
	token := a.signIn(t, c)
	var id string
	if err := json.Unmarshal(b.request(t, http.MethodGet, "/v1/users/me", nil, c.email, c.password).Body, &struct {
		ID *string `json:"id"`
	}{&id}); err != nil || id == "" {
		t.Fatalf("the account's id: %v", err)
	}
	sent := len(a.Mail.to(c.email))

	wantStatus(t, a.adminSend(t, http.MethodPost, "/admin/v1/accounts/"+id+"/disable", key, `{"reason": "phishing reports, ticket 9"}`), http.StatusNoContent)
	wantStatus(t, a.adminSend(t, http.MethodPost, "/admin/v1/accounts/"+id+"/disable", key, ""), http.StatusNoContent)
	wantInvalidToken(t, b.bearer(t, http.MethodGet, "/v1/users/me", token, nil))
	wantProblem(t, b.request(t, http.MethodGet, "/v1/users/me", nil, c.email, c.password), http.StatusForbidden, "account_disabled")
	wantProblem(t, b.request(t, http.MethodPost, "/v1/sessions", nil, c.email, c.password), http.StatusForbidden, "account_disabled")
	wantProblem(t, b.request(t, http.MethodGet, "/v1/users/me", nil, c.email, "not the password at all"), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, b.request(t, http.MethodPost, "/v1/password-reset", map[string]string{"email": c.email}, "", ""), http.StatusAccepted)
	notice := a.Mail.waitFor(t, c.email, sent+1)
	if notice.Subject != "Your account was disabled" || strings.Contains(notice.Text, "phishing") {
		t.Errorf("the notice: %q\n%s", notice.Subject, notice.Text)
	}
	res := a.adminSend(t, http.MethodGet, "/admin/v1/accounts/"+id, key, "")
	wantStatus(t, res, http.StatusOK)
	if body := res.JSON(t); body["disabled_at"] == nil || body["sessions"] != float64(0) {
		t.Errorf("the disabled account: %v", body)
	}
	wantStatus(t, a.adminSend(t, http.MethodPost, "/admin/v1/accounts/"+id+"/enable", key, ""), http.StatusNoContent)
	wantStatus(t, b.request(t, http.MethodGet, "/v1/users/me", nil, c.email, c.password), http.StatusOK)
	if got := a.Mail.to(c.email); len(got) != sent+1 {
		t.Errorf("%d emails to the account, want %d: the notice alone (the reset request sent nothing)", len(got), sent+1)
	}

	res = a.adminSend(t, http.MethodGet, "/admin/v1/accounts/"+id+"/events?limit=2", key, "")
	wantStatus(t, res, http.StatusOK)
	var page struct {
		Events []struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(res.Body, &page); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(page.Events)
	if len(page.Events) != 2 || page.Events[0].Type != "account.enabled" || page.Events[1].Type != "account.disabled" ||
		page.Events[0].Data["actor"] != "support-eve" || page.Events[1].Data["actor"] != "support-eve" ||
		page.Events[1].Data["reason"] != "phishing reports, ticket 9" {
		t.Errorf("the newest events: %s; want enabled then disabled, by support-eve", got)
	}
	wantProblem(t, a.adminSend(t, http.MethodPost, "/admin/v1/accounts/not-an-id/disable", key, ""), http.StatusNotFound, "not_found")
}

// TestAdminAccountPagesUnderInserts: the pages of GET /admin/v1/accounts walked while
// accounts are registered concurrently show every account that existed at the start
// exactly once, in id order.
func TestAdminAccountPagesUnderInserts(t *testing.T) {
	ts := adminServing(t, serverConfig{})
	key := createAdminKey(t, ts.DatabaseURL, "support-pages")
	existing := map[string]bool{}
	for i := range 9 {
		res := ts.request(t, http.MethodPost, "/v1/users", map[string]string{"email": fmt.Sprintf("page%02d@example.com", i), "password": "a good long passphrase"}, "", "")
		wantStatus(t, res, http.StatusCreated)
		existing[res.JSON(t)["id"].(string)] = true
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 8 {
			res := ts.request(t, http.MethodPost, "/v1/users", map[string]string{"email": fmt.Sprintf("page-new%02d@example.com", i), "password": "a good long passphrase"}, "", "")
			if res.Status != http.StatusCreated {
				t.Errorf("a concurrent registration: %d", res.Status)
			}
		}
	}()
	seen := map[string]int{}
	after, last := "", ""
	for pages := 0; pages < 50; pages++ {
		path := "/admin/v1/accounts?email=PAGE&limit=2"
		if after != "" {
			path += "&after=" + after
		}
		res := ts.adminSend(t, http.MethodGet, path, key, "")
		wantStatus(t, res, http.StatusOK)
		var page struct {
			Accounts []struct {
				ID string `json:"id"`
			} `json:"accounts"`
			NextAfter *string `json:"next_after"`
		}
		if err := json.Unmarshal(res.Body, &page); err != nil {
			t.Fatal(err)
		}
		for _, acc := range page.Accounts {
			if acc.ID <= last {
				t.Errorf("%s after %s: not in id order", acc.ID, last)
			}
			seen[acc.ID]++
			last = acc.ID
		}
		if page.NextAfter == nil {
			break
		}
		after = *page.NextAfter
	}
	wg.Wait()
	for id := range existing {
		if seen[id] != 1 {
			t.Errorf("the account %s was seen %d times, want once", id, seen[id])
		}
	}
}
