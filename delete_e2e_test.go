package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/poll"
)

// End-to-end tests of DELETE /v1/users/me: what goes with the account, in one
// transaction (its sessions, its unsent emails), and what stays (the mailbox's budgets).

// unsentNotices is a mail sender that delivers every email to its mailbox but the notices
// of a password change, which it fails as a temporary error: they stay in the outbox,
// unsent, retried with backoff.
type unsentNotices struct{ *mailbox }

func (s unsentNotices) Send(ctx context.Context, msg mail.Message) error {
	if msg.Subject == "Your password was changed" {
		return errors.New("421 try again later")
	}
	return s.mailbox.Send(ctx, msg)
}

func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	box := &mailbox{}
	ts := startServer(t, serverConfig{sender: unsentNotices{box}})
	ts.Mail = box // registered and activated read the codes from it

	const email, otherEmail = "del@example.com", "kept@example.com"
	unsent := func(t *testing.T, to string) int {
		t.Helper()
		return ts.count(t, `SELECT count(*) FROM platform.outbox_emails
		                    WHERE recipient = $1 AND sent_at IS NULL AND dropped_at IS NULL AND failed_at IS NULL`, to)
	}
	// Each account has a notice that its sender refused once, unsent.
	changed := func(t *testing.T, c creds) creds {
		t.Helper()
		c2 := creds{c.email, "a brand new passphrase"}
		wantStatus(t, ts.request(t, http.MethodPut, "/v1/users/me/password", map[string]string{"password": c2.password}, c.email, c.password),
			http.StatusNoContent)
		poll.Until(t, 5*time.Second, "the notice to "+c.email+" is tried and refused", func() bool {
			return ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1 AND last_error IS NOT NULL
			                    AND sent_at IS NULL`, c.email) == 1
		})
		return c2
	}
	c := changed(t, ts.activated(t, email))
	other := changed(t, ts.activated(t, otherEmail))
	token, otherToken := ts.signIn(t, c), ts.signIn(t, other)
	old := wantUser(t, ts.me(t, c), email, "active")
	if n := unsent(t, email); n != 1 {
		t.Fatalf("%d unsent emails to %s before the deletion, want the notice", n, email)
	}
	ledger := ts.count(t, `SELECT count(*) FROM identity.activation_ledger WHERE mailbox = $1`, email)
	if ledger != 1 {
		t.Fatalf("%d ledger rows of %s, want the code issued", ledger, email)
	}

	// Basic only: a session token cannot delete the account.
	wantProblem(t, ts.bearer(t, http.MethodDelete, "/v1/users/me", token, nil), http.StatusUnauthorized, "unauthorized")
	wantProblem(t, ts.request(t, http.MethodDelete, "/v1/users/me", nil, email, "not the password"), http.StatusUnauthorized, "unauthorized")
	wantUser(t, ts.me(t, c), email, "active")

	res := ts.request(t, http.MethodDelete, "/v1/users/me", nil, c.email, c.password)
	wantStatus(t, res, http.StatusNoContent)
	if len(res.Body) != 0 {
		t.Fatalf("204 with a body: %q", res.Body)
	}
	if got := value(ts.scrape(t), "identity_accounts_deleted_total"); got != 1 {
		t.Errorf("identity_accounts_deleted_total = %v, want 1", got)
	}

	// Gone: the account, its sessions (the token is dead), its unsent email.
	if n := ts.count(t, `SELECT count(*) FROM identity.accounts WHERE email = $1`, email); n != 0 {
		t.Errorf("%d accounts of %s after the deletion", n, email)
	}
	if n := ts.count(t, `SELECT count(*) FROM identity.sessions WHERE account_id = $1`, old["id"]); n != 0 {
		t.Errorf("%d sessions of the deleted account", n)
	}
	wantInvalidToken(t, ts.bearer(t, http.MethodGet, "/v1/users/me", token, nil))
	wantProblem(t, ts.me(t, c), http.StatusUnauthorized, "unauthorized")
	wantProblem(t, ts.request(t, http.MethodDelete, "/v1/users/me", nil, c.email, c.password), http.StatusUnauthorized, "unauthorized")
	// The one email that still leaves: the deletion's notice, queued after the unsent
	// emails were deleted.
	notice := box.waitFor(t, email, 2) // after the activation code
	if notice.Subject != "Your account was deleted" || strings.Contains(notice.Text, "del@") {
		t.Errorf("the last email to %s: %q, want the deletion's notice (no local part in it)\n%s", email, notice.Subject, notice.Text)
	}
	poll.Until(t, 5*time.Second, "the deletion's notice is recorded sent", func() bool { return unsent(t, email) == 0 })
	// Kept: the sent emails' records (until OUTBOX_RETENTION), the mailbox's ledger
	// (until its window passes), and every other account with its emails and sessions.
	if n := ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1 AND sent_at IS NOT NULL`, email); n != 2 {
		t.Errorf("%d sent emails to %s after the deletion, want the activation email's record and the notice's", n, email)
	}
	if n := ts.count(t, `SELECT count(*) FROM identity.activation_ledger WHERE mailbox = $1`, email); n != ledger {
		t.Errorf("%d ledger rows of %s after the deletion, want %d", n, email, ledger)
	}
	if n := unsent(t, otherEmail); n != 1 {
		t.Errorf("%d unsent emails to %s, another account, want its notice", n, otherEmail)
	}
	wantUser(t, ts.bearer(t, http.MethodGet, "/v1/users/me", otherToken, nil), otherEmail, "active")

	// The address registers again as a new account, with a new id, under the same budget.
	res = ts.register(t, email, "yet another passphrase")
	wantStatus(t, res, http.StatusCreated)
	again := wantUser(t, res, email, "pending")
	if again["id"] == old["id"] {
		t.Errorf("the new account of %s has the deleted one's id %v", email, old["id"])
	}
	if n := ts.count(t, `SELECT count(*) FROM identity.activation_ledger WHERE mailbox = $1`, email); n != ledger+1 {
		t.Errorf("%d ledger rows of %s after the new registration, want %d", n, email, ledger+1)
	}

	// A pending account may be deleted too.
	p, _ := ts.registered(t, "pending@example.com")
	wantStatus(t, ts.request(t, http.MethodDelete, "/v1/users/me", nil, p.email, p.password), http.StatusNoContent)
	if n := ts.count(t, `SELECT count(*) FROM identity.accounts WHERE email = $1`, p.email); n != 0 {
		t.Errorf("the pending account is still there")
	}
}
