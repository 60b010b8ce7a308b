package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/poll"
)

// End-to-end tests of the email change (issue 28 item 1): the flow on two replicas with
// the codes read from the emails, every miss answering alike, no enumeration of the new
// address, a pending holder replaced, and the race of two accounts for one address.

// changeEmail asks, with c's Basic credentials, to change its address to to.
func (ts *testServer) changeEmail(t *testing.T, c creds, to string) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/v1/users/me/email", map[string]string{"email": to}, c.email, c.password)
}

// confirmEmail confirms c's email change with code, with Basic credentials.
func (ts *testServer) confirmEmail(t *testing.T, c creds, code string) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/v1/users/me/email/confirm", map[string]string{"code": code}, c.email, c.password)
}

// emailChangeCodeIn returns the 8-digit code alone on a line of an email-change email.
func emailChangeCodeIn(t *testing.T, msg mail.Message) string {
	t.Helper()
	if msg.Subject != "Confirm your new email address" {
		t.Fatalf("email %q, want the email-change code", msg.Subject)
	}
	for _, line := range strings.Split(msg.Text, "\n") {
		if line = strings.TrimSpace(line); len(line) == 8 && strings.Trim(line, "0123456789") == "" {
			return line
		}
	}
	t.Fatalf("no 8-digit code alone on a line:\n%s", msg.Text)
	return ""
}

// wantAccepted asserts the one answer of a request for an email change: 202 {}.
func wantAccepted(t *testing.T, res response) {
	t.Helper()
	wantStatus(t, res, http.StatusAccepted)
	if strings.TrimSpace(string(res.Body)) != "{}" || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("body %s (%s), want {}", res.Body, res.Header.Get("Content-Type"))
	}
}

// settled waits until the outbox has sent everything it holds, so that counts of emails
// are final.
func (ts *testServer) settled(t *testing.T) {
	t.Helper()
	poll.Until(t, 5*time.Second, "the outbox is empty", func() bool {
		return ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL`) == 0
	})
}

func TestEmailChangeFlow(t *testing.T) {
	t.Parallel()
	a, b := replicas(t, nil)
	c := a.activated(t, "before@example.com")
	current, other := a.signIn(t, c), b.signIn(t, c)

	wantAccepted(t, a.changeEmail(t, c, " After@Example.com "))
	code := emailChangeCodeIn(t, a.Mail.waitFor(t, "after@example.com", 1))
	notice := a.Mail.waitFor(t, c.email, 2) // after the activation code
	if notice.Subject != "Your email address is being changed" {
		t.Fatalf("second email to the old address %q, want the notice", notice.Subject)
	}
	for _, part := range []string{notice.Text, notice.HTML} {
		if strings.Contains(part, "after") || strings.Contains(part, code) || strings.Contains(part, "before") {
			t.Errorf("the notice names the new address, the code or the old local part:\n%s", part)
		}
	}
	// Until it is confirmed, nothing changed.
	wantUser(t, b.me(t, c), c.email, "active")

	// Confirmed on the other replica with the first session: the account has its new
	// address, the confirming session lives on, every other one ended, on both replicas.
	res := b.bearer(t, http.MethodPost, "/v1/users/me/email/confirm", current, map[string]string{"code": code})
	wantStatus(t, res, http.StatusOK)
	wantUser(t, res, "after@example.com", "active")
	for _, srv := range []*testServer{a, b} {
		wantUser(t, srv.bearer(t, http.MethodGet, "/v1/users/me", current, nil), "after@example.com", "active")
		wantInvalidToken(t, srv.bearer(t, http.MethodGet, "/v1/users/me", other, nil))
	}
	moved := creds{"after@example.com", c.password}
	wantProblem(t, a.me(t, c), http.StatusUnauthorized, "unauthorized")
	wantUser(t, b.me(t, moved), moved.email, "active")
	events := a.bearer(t, http.MethodGet, "/v1/users/me/events?limit=1", current, nil).JSON(t)["events"].([]any)
	if e := events[0].(map[string]any); e["type"] != "account.email_changed" || e["data"].(map[string]any)["email"] != moved.email {
		t.Errorf("the newest event %v, want account.email_changed with the new address", e)
	}
	// The code is used up, and the old address is free for anyone.
	wantProblem(t, a.confirmEmail(t, moved, code), http.StatusBadRequest, "invalid_code")
	wantStatus(t, a.register(t, c.email, pw), http.StatusCreated)

	for srv, want := range map[*testServer]map[string]float64{
		a: {"requested": 1, "confirmed": 0, "wrong_code": 1}, b: {"requested": 0, "confirmed": 1, "wrong_code": 0},
	} {
		m := srv.scrape(t)
		for outcome, n := range want {
			if got := value(m, "identity_email_changes_total", "outcome", outcome); got != n {
				t.Errorf("identity_email_changes_total{outcome=%q} = %v, want %v", outcome, got, n)
			}
		}
	}

	// Each email was sent once.
	a.settled(t)
	for to, want := range map[string]int{moved.email: 1, c.email: 3} { // activation, notice, the new registration's code
		if n := len(a.Mail.to(to)); n != want {
			t.Errorf("%d emails to %s, want %d", n, to, want)
		}
		if n := a.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1`, to); n != want {
			t.Errorf("%d outbox rows to %s, want %d", n, to, want)
		}
	}
}

func TestEmailChangeMissesAnswerAlike(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c := ts.activated(t, "mover@example.com")
	other := ts.activated(t, "bystander@example.com")
	request := func(to string, n int) string {
		t.Helper()
		wantAccepted(t, ts.changeEmail(t, c, to))
		return emailChangeCodeIn(t, ts.Mail.waitFor(t, to, n))
	}
	var first string
	miss := func(what string, res response) {
		t.Helper()
		p := wantProblem(t, res, http.StatusBadRequest, "invalid_code")
		if _, ok := p["attempts_remaining"]; ok {
			t.Errorf("%s tells attempts_remaining: %v", what, p)
		}
		if first == "" {
			first = string(res.Body)
		} else if string(res.Body) != first {
			t.Errorf("%s answered %s, another miss %s", what, res.Body, first)
		}
	}
	miss("no code at all", ts.confirmEmail(t, c, "12345678"))
	replaced := request("target+1@example.com", 1)
	live := request("target+2@example.com", 1)
	miss("a replaced code", ts.confirmEmail(t, c, replaced))
	miss("a wrong code", ts.confirmEmail(t, c, wrongReset(live)))
	miss("another account's code", ts.confirmEmail(t, other, live))
	ts.exec(t, `UPDATE identity.email_change_codes SET issued_at = issued_at - interval '16 minutes', expires_at = expires_at - interval '16 minutes'`)
	miss("an expired code", ts.confirmEmail(t, c, live))
	voided := request("target+3@example.com", 1)
	for range 5 {
		miss("a wrong guess", ts.confirmEmail(t, c, wrongReset(voided)))
	}
	miss("the right code after 5 wrong guesses", ts.confirmEmail(t, c, voided))
	taken := request("target+4@example.com", 1)
	// Registered and activated since the request (its activation code is its second email).
	wantStatus(t, ts.register(t, "target+4@example.com", pw), http.StatusCreated)
	wantUser(t, ts.activate(t, creds{"target+4@example.com", pw}, codeIn(t, ts.Mail.waitFor(t, "target+4@example.com", 2))),
		"target+4@example.com", "active")
	miss("an address taken since the request", ts.confirmEmail(t, c, taken))
	wantUser(t, ts.me(t, c), c.email, "active") // nothing changed

	// A malformed code is no guess.
	for _, bad := range []string{"1234", "abcdefgh", "123456789", ""} {
		wantProblem(t, ts.confirmEmail(t, c, bad), http.StatusUnprocessableEntity, "validation_failed")
	}
}

// wrongReset is an 8-digit code that is not code.
func wrongReset(code string) string {
	if code == "00000000" {
		return "11111111"
	}
	return "00000000"
}

func TestEmailChangeGuessBudgets(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"ACTIVATION_GUESSES_PER_DAY": "3"}})
	c := ts.activated(t, "guesser@example.com")
	wantAccepted(t, ts.changeEmail(t, c, "guarded@example.com"))
	code := emailChangeCodeIn(t, ts.Mail.waitFor(t, "guarded@example.com", 1))
	for range 3 {
		wantProblem(t, ts.confirmEmail(t, c, wrongReset(code)), http.StatusBadRequest, "invalid_code")
	}
	// The new address's mailbox took its wrong guesses for the day: even the right code waits.
	res := ts.confirmEmail(t, c, code)
	wantProblem(t, res, http.StatusTooManyRequests, "too_many_attempts")
	if res.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantUser(t, ts.me(t, c), c.email, "active")
}

func TestEmailChangeTellsNothingOfTheNewAddress(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	holder := ts.activated(t, "holder@example.com")
	squatter := creds{"squatted@example.com", "a squatter's own passphrase"}
	wantStatus(t, ts.register(t, squatter.email, squatter.password), http.StatusCreated)
	c := ts.activated(t, "asker@example.com")

	// One answer, in about one time, for an active account's address, a pending one's and
	// a free one.
	var first string
	for _, to := range []string{holder.email, squatter.email, "free@example.com"} {
		start := time.Now()
		res := ts.changeEmail(t, c, to)
		took := time.Since(start)
		wantAccepted(t, res)
		if first == "" {
			first = string(res.Body)
		} else if string(res.Body) != first {
			t.Errorf("a request for %s answered %s, another %s", to, res.Body, first)
		}
		if took < 50*time.Millisecond {
			t.Errorf("a request for %s answered after %s, before the 50 ms floor", to, took)
		}
	}
	ts.settled(t)
	// Nothing reached the active account; the others got their code; the asker a notice
	// for each request alike.
	for to, want := range map[string]int{holder.email: 1, squatter.email: 2, "free@example.com": 1, c.email: 4} {
		if n := ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1`, to); n != want {
			t.Errorf("%d emails to %s, want %d", n, to, want)
		}
	}
	if got := ts.Mail.to(holder.email); len(got) != 1 {
		t.Errorf("%d emails reached the active account, want its activation code alone", len(got))
	}

	// The pending account's address is the asker's once confirmed with the code read there
	// (the latest code: the one to the free address is void): the pending account is gone.
	wantAccepted(t, ts.changeEmail(t, c, squatter.email))
	code := emailChangeCodeIn(t, ts.Mail.waitFor(t, squatter.email, 3))
	squatterID := ts.count(t, `SELECT count(*) FROM identity.accounts WHERE email = $1 AND status = 'pending'`, squatter.email)
	if squatterID != 1 {
		t.Fatalf("%d pending accounts of %s before the confirmation", squatterID, squatter.email)
	}
	res := ts.confirmEmail(t, c, code)
	wantStatus(t, res, http.StatusOK)
	moved := wantUser(t, res, squatter.email, "active")
	if n := ts.count(t, `SELECT count(*) FROM identity.accounts WHERE email = $1 AND id = $2`, squatter.email, moved["id"]); n != 1 {
		t.Errorf("the address's account is not the asker's")
	}
	if n := ts.count(t, `SELECT count(*) FROM identity.activation_codes`); n != 0 {
		t.Errorf("%d activation codes left: the pending account's code outlived it", n)
	}
	wantProblem(t, ts.me(t, squatter), http.StatusUnauthorized, "unauthorized")
}

func TestEmailChangeRaceOfTwoAccounts(t *testing.T) {
	t.Parallel()
	a, b := replicas(t, nil)
	one, two := a.activated(t, "one@example.com"), a.activated(t, "two@example.com")
	wantAccepted(t, a.changeEmail(t, one, "prize@example.com"))
	first := emailChangeCodeIn(t, a.Mail.waitFor(t, "prize@example.com", 1))
	wantAccepted(t, b.changeEmail(t, two, "prize@example.com"))
	second := emailChangeCodeIn(t, a.Mail.waitFor(t, "prize@example.com", 2))

	results := make(chan response, 2)
	go func() { results <- a.confirmEmail(t, one, first) }()
	go func() { results <- b.confirmEmail(t, two, second) }()
	won, lost := 0, 0
	var winner string
	for range 2 {
		res := <-results
		switch res.Status {
		case http.StatusOK:
			won++
			winner, _ = res.JSON(t)["id"].(string)
		case http.StatusBadRequest:
			lost++
			wantProblem(t, res, http.StatusBadRequest, "invalid_code")
		default:
			t.Errorf("a confirmation answered %d %s", res.Status, res.Body)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("two confirmations of one address: %d won, %d lost; want 1 and 1", won, lost)
	}
	if n := a.count(t, `SELECT count(*) FROM identity.accounts WHERE email = 'prize@example.com' AND id = $1`, winner); n != 1 {
		t.Errorf("the address is not the winner's")
	}
	if n := a.count(t, `SELECT count(*) FROM identity.accounts WHERE email IN ('one@example.com', 'two@example.com')`); n != 1 {
		t.Errorf("%d accounts kept their old address, want the loser's alone", n)
	}
}

func TestEmailChangeRequests(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c := ts.activated(t, "asking@example.com")
	token := ts.signIn(t, c)
	// Basic only: a token is not enough to move the account.
	res := ts.bearer(t, http.MethodPost, "/v1/users/me/email", token, map[string]string{"email": "elsewhere@example.com"})
	wantProblem(t, res, http.StatusUnauthorized, "unauthorized")
	if got := res.Header.Values("WWW-Authenticate"); len(got) != 1 || !strings.HasPrefix(got[0], "Basic ") {
		t.Errorf("challenges %q, want Basic's alone", got)
	}
	// A malformed address, or the account's own in any case, is a 422.
	for _, bad := range []string{"not an address", "", " ASKING@example.com "} {
		wantProblem(t, ts.changeEmail(t, c, bad), http.StatusUnprocessableEntity, "validation_failed")
	}
	// A pending account re-registers instead.
	pending, _ := ts.registered(t, "pending-asker@example.com")
	wantProblem(t, ts.changeEmail(t, pending, "elsewhere@example.com"), http.StatusForbidden, "account_pending")
	ts.settled(t)
	if n := ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = 'elsewhere@example.com'`); n != 0 {
		t.Errorf("refused requests emailed the new address %d times", n)
	}
}
