package main

import (
	"net/http"
	"testing"
)

// TestMyEvents: the account's own audit trail (GET /v1/users/me/events), newest first,
// one event per change with the request's id, in keyset pages, Basic or Bearer.
func TestMyEvents(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c := ts.activated(t, "trail@example.com")
	token := ts.signIn(t, c)

	res := ts.bearer(t, http.MethodGet, "/v1/users/me/events", token, nil)
	wantStatus(t, res, http.StatusOK)
	body := res.JSON(t)
	events, _ := body["events"].([]any)
	var types []string
	for _, e := range events {
		ev, _ := e.(map[string]any)
		types = append(types, ev["type"].(string))
	}
	// The first Basic request from this client (the activation) is a sign-in from a client
	// new to the account; the session is another; the known client's next ones are not.
	want := []string{"account.signed_in", "account.activated", "account.signed_in", "account.registered"}
	if len(types) != len(want) || body["next_before"] != nil {
		t.Fatalf("events %v, next %v; want %v and no next page", types, body["next_before"], want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events %v, want %v", types, want)
		}
	}
	newest, _ := events[0].(map[string]any)
	if data, _ := newest["data"].(map[string]any); data["client"] != "127.0.0.1" || data["session_id"] == nil {
		t.Errorf("the session's event: %v", newest)
	}
	registered, _ := events[3].(map[string]any)
	if data, _ := registered["data"].(map[string]any); data["email"] != c.email {
		t.Errorf("the registration's event: %v", registered)
	}

	// Pages of 2, with Basic.
	page := ts.request(t, http.MethodGet, "/v1/users/me/events?limit=2", nil, c.email, c.password)
	wantStatus(t, page, http.StatusOK)
	first := page.JSON(t)
	next, _ := first["next_before"].(string)
	if got, _ := first["events"].([]any); len(got) != 2 || next == "" {
		t.Fatalf("first page %v", first)
	}
	second := ts.request(t, http.MethodGet, "/v1/users/me/events?limit=2&before="+next, nil, c.email, c.password).JSON(t)
	if got, _ := second["events"].([]any); len(got) != 2 || second["next_before"] != nil ||
		got[1].(map[string]any)["type"] != "account.registered" {
		t.Fatalf("second page %v", second)
	}

	for _, bad := range []string{"?limit=0", "?limit=101", "?limit=x", "?before=not-an-id"} {
		wantProblem(t, ts.bearer(t, http.MethodGet, "/v1/users/me/events"+bad, token, nil), http.StatusUnprocessableEntity, "validation_failed")
	}
	wantProblem(t, ts.request(t, http.MethodGet, "/v1/users/me/events", nil, "", ""), http.StatusUnauthorized, "unauthorized")

	// The metric counts what committed, by type.
	m := ts.scrape(t)
	for kind, want := range map[string]float64{"account.registered": 1, "account.activated": 1, "account.signed_in": 2, "account.deleted": 0} {
		if got := value(m, "identity_account_events_written_total", "type", kind); got != want {
			t.Errorf("identity_account_events_written_total{type=%q} = %v, want %v", kind, got, want)
		}
	}
}
