package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/platform/poll"
)

// TestPendingAccountsAreDeletedAfterTheirRetention: the service's own maintenance worker
// deletes a pending account whose last code is older than PENDING_ACCOUNT_RETENTION, and
// nothing else; its address can register again.
func TestPendingAccountsAreDeletedAfterTheirRetention(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{
		"PENDING_ACCOUNT_RETENTION": "1h",
		"MAINTENANCE_INTERVAL":      "50ms",
	}})
	stale, _ := ts.registered(t, "stale@example.com")
	fresh, _ := ts.registered(t, "fresh@example.com")
	active, code := ts.registered(t, "active@example.com")
	wantUser(t, ts.activate(t, active, code), active.email, "active")
	ts.ageCode(t, stale.email, 61*time.Minute)

	poll.Until(t, 5*time.Second, "the stale pending account is deleted", func() bool {
		return ts.count(t, `SELECT count(*) FROM identity.accounts WHERE email = $1`, stale.email) == 0
	})
	wantProblem(t, ts.me(t, stale), http.StatusUnauthorized, "unauthorized")
	wantUser(t, ts.me(t, fresh), fresh.email, "pending")
	wantUser(t, ts.me(t, active), active.email, "active")
	wantStatus(t, ts.register(t, stale.email, pw), http.StatusCreated)

	metrics := string(ts.request(t, http.MethodGet, "/metrics", nil, "", "").Body)
	for _, want := range []string{
		`identity_maintenance_removed_rows_total{task="identity.pending_accounts"} 1`,
		`identity_maintenance_removed_rows_total{task="outbox.finished_emails"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
