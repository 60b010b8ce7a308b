package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/mail/smtptest"
	"github.com/acme/identity/platform/poll"
)

// End-to-end tests of the password reset (issue 20): the whole flow over the real SMTP
// server of the mailbox, misses that answer alike (status, body and time), the reset
// budgets and their independence from activation's.

// resetCodeIn returns the 8-digit code alone on a line of a reset email.
func resetCodeIn(t *testing.T, msg mail.Message) string {
	t.Helper()
	if msg.Subject != "Your password-reset code" {
		t.Fatalf("email %q, want the reset code", msg.Subject)
	}
	for _, line := range strings.Split(msg.Text, "\n") {
		if line = strings.TrimSpace(line); len(line) == 8 && strings.Trim(line, "0123456789") == "" {
			return line
		}
	}
	t.Fatalf("no 8-digit code alone on a line:\n%s", msg.Text)
	return ""
}

func (ts *testServer) requestReset(t *testing.T, email string) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/v1/password-reset", map[string]string{"email": email}, "", "")
}

func (ts *testServer) confirmReset(t *testing.T, email, code, password string) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/v1/password-reset/confirm",
		map[string]string{"email": email, "code": code, "password": password}, "", "")
}

// emailsTo counts the emails sent to to so far.
func (m *mailbox) emailsTo(to string) int { return len(m.to(to)) }

func TestPasswordResetFlow(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c := ts.activated(t, "forgot@example.com")
	token := ts.signIn(t, c)

	res := ts.requestReset(t, "Forgot@Example.com ")
	wantStatus(t, res, http.StatusAccepted)
	if strings.TrimSpace(string(res.Body)) != "{}" {
		t.Fatalf("body %s, want {}", res.Body)
	}
	code := resetCodeIn(t, ts.Mail.waitFor(t, c.email, 2)) // after the activation code
	newPassword := "remembered at last, finally"
	wantStatus(t, ts.confirmReset(t, c.email, code, newPassword), http.StatusNoContent)

	wantInvalidToken(t, ts.bearer(t, http.MethodGet, "/v1/users/me", token, nil))
	wantProblem(t, ts.me(t, c), http.StatusUnauthorized, "unauthorized")
	wantUser(t, ts.me(t, creds{c.email, newPassword}), c.email, "active")
	if notice := ts.Mail.waitFor(t, c.email, 3); notice.Subject != "Your password was changed" ||
		strings.Contains(notice.Text+notice.HTML, newPassword) || strings.Contains(notice.Text+notice.HTML, code) {
		t.Fatalf("third email %q: want the notice, with no secret in it", notice.Subject)
	}
	// The code is used up.
	p := wantProblem(t, ts.confirmReset(t, c.email, code, "yet another passphrase"), http.StatusBadRequest, "invalid_code")
	if _, ok := p["attempts_remaining"]; ok {
		t.Fatalf("a reset miss tells attempts_remaining: %v", p)
	}
	if n := ts.count(t, `SELECT count(*) FROM identity.password_reset_codes`); n != 0 {
		t.Fatalf("%d reset codes left after the reset", n)
	}
	m := ts.scrape(t)
	for outcome, want := range map[string]float64{"requested": 1, "confirmed": 1, "wrong_code": 1} {
		if got := value(m, "identity_password_resets_total", "outcome", outcome); got != want {
			t.Errorf("identity_password_resets_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	// A malformed request is a 422, not a guess.
	wantProblem(t, ts.confirmReset(t, c.email, "1234", "short"), http.StatusUnprocessableEntity, "validation_failed")
	wantProblem(t, ts.requestReset(t, "not an email"), http.StatusUnprocessableEntity, "validation_failed")
}

// median is the middle of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestResetAnswersAlike(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"PASSWORD_RESET_RESEND_INTERVAL": "1s"}})
	active := ts.activated(t, "known@example.com")
	pending, _ := ts.registered(t, "pending@example.com")

	// POST /v1/password-reset: one answer, in about one time, for an active, a pending and
	// an unknown email, and for an active one that gets a code and one that does not
	// (inside its resend interval).
	timed := func(email string) (response, time.Duration) {
		start := time.Now()
		res := ts.requestReset(t, email)
		return res, time.Since(start)
	}
	durations := map[string][]time.Duration{}
	for i := range 7 {
		for _, email := range []string{active.email, pending.email, "nobody@example.com", active.email} {
			res, d := timed(email)
			wantStatus(t, res, http.StatusAccepted)
			if strings.TrimSpace(string(res.Body)) != "{}" {
				t.Fatalf("%s: body %s", email, res.Body)
			}
			key := email
			if email == active.email && len(durations[active.email+" (sent)"]) <= i {
				key += " (sent)"
			}
			durations[key] = append(durations[key], d)
		}
		ts.exec(t, `UPDATE identity.password_reset_codes SET issued_at = issued_at - interval '2 seconds'`)
	}
	if n := ts.Mail.emailsTo(pending.email); n != 1 {
		t.Fatalf("%d emails to a pending address, want only its activation code", n)
	}
	sent := durations[active.email+" (sent)"]
	for key, ds := range durations {
		t.Logf("POST /v1/password-reset, %s: median %s, fastest %s, all %v", key, median(ds), slices.Min(ds), ds)
		// The work differs by a few queries (2.6 to 9 ms here): every answer waits for
		// the floor the document states, 50 ms after the request.
		if slices.Min(ds) < 50*time.Millisecond {
			t.Errorf("POST /v1/password-reset for %s answered after %s, before the 50 ms floor", key, slices.Min(ds))
		}
		// The fastest of each kind is its own work plus the floor, without the noise a
		// loaded machine adds to some samples (under -race with every package's tests
		// running, the medians of 5 differed by 47 ms in CI, the request that sent a
		// code being the slow one: it commits an email job): a path that did more work
		// than the floor covers still stands out.
		if diff := slices.Min(ds) - slices.Min(sent); diff > 25*time.Millisecond || diff < -25*time.Millisecond {
			t.Errorf("POST /v1/password-reset for %s took at least %s, %s from a request that sent a code", key, slices.Min(ds), diff)
		}
	}

	// POST /v1/password-reset/confirm: one 400 for every miss, in about one time.
	code := resetCodeIn(t, ts.Mail.to(active.email)[len(ts.Mail.to(active.email))-1])
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	misses := map[string]func() response{
		"a wrong code":     func() response { return ts.confirmReset(t, active.email, wrong, "a fine new passphrase") },
		"an unknown email": func() response { return ts.confirmReset(t, "nobody@example.com", code, "a fine new passphrase") },
		"a pending email":  func() response { return ts.confirmReset(t, pending.email, code, "a fine new passphrase") },
	}
	var first string
	times := map[string][]time.Duration{}
	for range 5 {
		for name, miss := range misses {
			start := time.Now()
			res := miss()
			times[name] = append(times[name], time.Since(start))
			wantProblem(t, res, http.StatusBadRequest, "invalid_code")
			if first == "" {
				first = string(res.Body)
			} else if string(res.Body) != first {
				t.Fatalf("%s answered %s, another miss %s", name, res.Body, first)
			}
		}
	}
	for name, ds := range times {
		t.Logf("POST /v1/password-reset/confirm, %s: median %s", name, median(ds))
		if slices.Min(ds) < 120*time.Millisecond {
			t.Errorf("a confirmation with %s answered after %s, before the 120 ms floor", name, slices.Min(ds))
		}
		// The fastest of each kind is its own work plus the floor, without the noise a
		// loaded machine adds to some samples (a median of a few moved by 30 ms under load
		// 10): a path that did more work (a hash past the floor) still stands out.
		if diff := slices.Min(ds) - slices.Min(times["a wrong code"]); diff > 25*time.Millisecond || diff < -25*time.Millisecond {
			t.Errorf("a confirmation with %s took at least %s, %s from a wrong code", name, slices.Min(ds), diff)
		}
	}
	// An expired code is a miss like the others.
	ts.exec(t, `UPDATE identity.password_reset_codes SET issued_at = issued_at - interval '16 minutes', expires_at = expires_at - interval '16 minutes'`)
	if res := ts.confirmReset(t, active.email, code, "a fine new passphrase"); string(res.Body) != first {
		t.Fatalf("an expired code answered %d %s, want the one miss %s", res.Status, res.Body, first)
	}
	wantUser(t, ts.me(t, active), active.email, "active") // nothing changed
}

func TestResetBudgets(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{
		"PASSWORD_RESETS_PER_DAY": "2", "PASSWORD_RESET_RESEND_INTERVAL": "1s", "ACTIVATION_GUESSES_PER_DAY": "2",
	}})
	owner := ts.activated(t, "owner+shop@example.com")

	// Two codes a day to the mailbox: the third request answers alike and sends nothing.
	for range 3 {
		wantStatus(t, ts.requestReset(t, owner.email), http.StatusAccepted)
		ts.exec(t, `UPDATE identity.password_reset_codes SET issued_at = issued_at - interval '2 seconds'`)
	}
	code := resetCodeIn(t, ts.Mail.waitFor(t, owner.email, 3)) // activation, then two reset codes
	// An email is queued in the request's transaction: the outbox holds them all.
	if n := ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1`, owner.email); n != 3 {
		t.Fatalf("%d emails, want the activation code and 2 reset codes (PASSWORD_RESETS_PER_DAY)", n)
	}

	// A stranger spends the mailbox's activation guesses through another spelling of it:
	// the reset is not blocked.
	stranger, strangerCode := ts.registered(t, "owner+other@example.com")
	for range 2 {
		wantProblem(t, ts.activate(t, stranger, wrongCode(strangerCode)), http.StatusBadRequest, "invalid_code")
	}
	wantProblem(t, ts.activate(t, stranger, strangerCode), http.StatusTooManyRequests, "too_many_attempts")

	// 20 wrong reset codes for the mailbox, spelled as a known and an unknown address:
	// then every confirmation waits, for an unknown email alike, and activation is not
	// blocked by them (a fresh day of activation guesses).
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	for i := range 20 {
		email := owner.email
		if i%2 == 1 {
			email = "owner+unknown@example.com"
		}
		wantProblem(t, ts.confirmReset(t, email, wrong, "a fine new passphrase"), http.StatusBadRequest, "invalid_code")
	}
	for _, email := range []string{owner.email, "owner+unknown@example.com"} {
		res := ts.confirmReset(t, email, code, "a fine new passphrase")
		wantProblem(t, res, http.StatusTooManyRequests, "too_many_attempts")
		retryAfter(t, res)
	}
	ts.exec(t, `UPDATE identity.activation_ledger SET occurred_at = occurred_at - interval '25 hours' WHERE kind = 'wrong_code'`)
	ts.ageCode(t, stranger.email, 31*time.Second)
	wantStatus(t, ts.resend(t, stranger), http.StatusAccepted)
	fresh := codeIn(t, ts.Mail.waitFor(t, stranger.email, 2))
	wantUser(t, ts.activate(t, stranger, fresh), stranger.email, "active")
}

func TestResetClientBudget(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{
		"TRUSTED_PROXIES": "127.0.0.1/32", "ACTIVATION_GUESSES_PER_CLIENT_PER_DAY": "3",
	}})
	attacker := ts.from("203.0.113.99")
	confirm := func(p peer, email string) response {
		return p.send(t, http.MethodPost, "/v1/password-reset/confirm",
			map[string]string{"email": email, "code": "12345678", "password": "a fine new passphrase"}, "", "")
	}
	for i := range 3 {
		wantProblem(t, confirm(attacker, []string{"a@example.com", "b@example.com", "c@example.com"}[i]), http.StatusBadRequest, "invalid_code")
	}
	wantProblem(t, confirm(attacker, "d@example.com"), http.StatusTooManyRequests, "too_many_attempts")
	wantProblem(t, confirm(ts.from("198.51.100.3"), "d@example.com"), http.StatusBadRequest, "invalid_code")
}

// TestPasswordResetOverSMTP: the reset flow as a person meets it, reading each code from
// the email the service sent by SMTP to the in-process server.
func TestPasswordResetOverSMTP(t *testing.T) {
	t.Parallel()
	smtpServer := smtptest.Start(t, smtptest.Options{})
	ts := startMailServer(t, smtpServer.Port, nil, "")
	const email = "smtp-reset@example.com"
	registerAt(t, ts, email)
	activateWith(t, ts, email, parseReceived(t, smtpServer.WaitFor(t, email, 5*time.Second), email))

	wantStatus(t, ts.requestReset(t, email), http.StatusAccepted)
	var got []smtptest.Received
	poll.Until(t, 5*time.Second, "the reset email arrives", func() bool { got = smtpServer.To(email); return len(got) == 2 })
	e, err := smtptest.Parse(got[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	code := resetCodeIn(t, mail.Message{Subject: e.Subject, Text: e.Text})
	if !strings.Contains(e.HTML, code) {
		t.Errorf("html part lacks the code %s", code)
	}
	wantStatus(t, ts.confirmReset(t, email, code, "a passphrase I will keep"), http.StatusNoContent)
	wantUser(t, ts.me(t, creds{email, "a passphrase I will keep"}), email, "active")
	poll.Until(t, 5*time.Second, "the notice arrives", func() bool { got = smtpServer.To(email); return len(got) == 3 })
}

// TestResetCodeTakesFiveGuesses: a reset code is void after 5 wrong guesses, even to the
// right code, and a new one works.
func TestResetCodeTakesFiveGuesses(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"PASSWORD_RESET_RESEND_INTERVAL": "1s"}})
	c := ts.activated(t, "guessed@example.com")
	wantStatus(t, ts.requestReset(t, c.email), http.StatusAccepted)
	code := resetCodeIn(t, ts.Mail.waitFor(t, c.email, 2))
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	for range 5 {
		wantProblem(t, ts.confirmReset(t, c.email, wrong, "a fine new passphrase"), http.StatusBadRequest, "invalid_code")
	}
	wantProblem(t, ts.confirmReset(t, c.email, code, "a fine new passphrase"), http.StatusBadRequest, "invalid_code")
	wantUser(t, ts.me(t, c), c.email, "active") // the password did not change

	ts.exec(t, `UPDATE identity.password_reset_codes SET issued_at = issued_at - interval '2 seconds'`)
	wantStatus(t, ts.requestReset(t, c.email), http.StatusAccepted)
	fresh := resetCodeIn(t, ts.Mail.waitFor(t, c.email, 3))
	wantStatus(t, ts.confirmReset(t, c.email, fresh, "a fine new passphrase"), http.StatusNoContent)
}
