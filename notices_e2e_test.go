package main

import (
	"strings"
	"testing"
)

// TestNewClientSignInNotice: an active account signing in from a client it does not know
// is emailed a notice once; its first known client (the owner's own) is not, nor a
// pending account; NOTIFY_NEW_CLIENT_SIGN_IN=false turns the notice off.
func TestNewClientSignInNotice(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		env := map[string]string{"TRUSTED_PROXIES": "127.0.0.1/32"}
		if !on {
			env["NOTIFY_NEW_CLIENT_SIGN_IN"] = "false"
		}
		ts := startServer(t, serverConfig{env: env})
		const home, cafe = "198.51.100.70", "203.0.113.71"
		c, code := ts.registered(t, "notice@example.com")
		wantUser(t, ts.from(home).activate(t, c, code), c.email, "active") // the first known client: no notice
		wantUser(t, ts.from(home).me(t, c), c.email, "active")
		wantUser(t, ts.from(cafe).me(t, c), c.email, "active") // new: a notice
		wantUser(t, ts.from(cafe).me(t, c), c.email, "active") // known now: none
		want := 1                                              // the activation code
		if on {
			want = 2
			notice := ts.Mail.waitFor(t, c.email, 2)
			if notice.Subject != "A new sign-in to your account" || !strings.Contains(notice.Text, cafe) ||
				strings.Contains(notice.Text, "notice@") {
				t.Errorf("notice %q:\n%s", notice.Subject, notice.Text)
			}
		}
		// Nothing else is queued or sent: the count is settled once the outbox is empty.
		ts.Mail.waitFor(t, c.email, want)
		if n := ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1`, c.email); n != want {
			t.Errorf("notices on=%v: %d emails to %s, want %d", on, n, c.email, want)
		}
	}
}
