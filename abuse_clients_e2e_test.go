package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// End-to-end tests of the abuse rules of issue 18 as an attacker meets them: clients told
// apart by X-Forwarded-For from a trusted proxy (every test client is 127.0.0.1), the
// per-client budgets and the sign-in delay shared by two replicas of one database, the
// budgets of a mailbox across +tags and gmail dots, and a takeover that is a new account.
// The clock is the data: ledgers and failures are moved into the past, never slept on.

// peer is one client IP behind the trusted proxy.
type peer struct {
	ts *testServer
	ip string
}

func (ts *testServer) from(ip string) peer { return peer{ts: ts, ip: ip} }

func (c peer) send(t *testing.T, method, path string, body any, user, password string) response {
	t.Helper()
	req := c.ts.newRequest(t, method, path, body, user, password)
	req.Header.Set("X-Forwarded-For", c.ip)
	return c.ts.do(t, req)
}

func (c peer) register(t *testing.T, email, password string) response {
	t.Helper()
	return c.send(t, http.MethodPost, "/v1/users", map[string]string{"email": email, "password": password}, "", "")
}

func (c peer) activate(t *testing.T, cr creds, code string) response {
	t.Helper()
	return c.send(t, http.MethodPost, "/v1/users/me/activation", map[string]string{"code": code}, cr.email, cr.password)
}

func (c peer) me(t *testing.T, cr creds) response {
	t.Helper()
	return c.send(t, http.MethodGet, "/v1/users/me", nil, cr.email, cr.password)
}

// replicas starts two servers on one database with env (and the trusted loopback proxy);
// both hand their emails to the first one's mailbox.
func replicas(t *testing.T, env map[string]string) (*testServer, *testServer) {
	t.Helper()
	e := map[string]string{"TRUSTED_PROXIES": "127.0.0.1/32"}
	for k, v := range env {
		e[k] = v
	}
	a := startServer(t, serverConfig{env: e})
	b := startServer(t, serverConfig{env: e, databaseURL: a.DatabaseURL, sender: a.Mail})
	return a, b
}

// TestClientGuessBudgetAcrossAddresses: one client's wrong codes count across every
// address it tries, on either replica; past ACTIVATION_GUESSES_PER_CLIENT_PER_DAY it is
// refused everywhere while another client is not, until its guesses leave the 24 h window.
func TestClientGuessBudgetAcrossAddresses(t *testing.T) {
	t.Parallel()
	a, b := replicas(t, map[string]string{"ACTIVATION_GUESSES_PER_CLIENT_PER_DAY": "4"})
	attacker, other := "203.0.113.7", "198.51.100.9"
	var accounts []creds
	var codes []string
	for _, email := range []string{"made-up-1@corp.example", "made-up-2@corp.example", "made-up-3@corp.example"} {
		wantStatus(t, a.from(attacker).register(t, email, pw), http.StatusCreated)
		accounts = append(accounts, creds{email, pw})
		codes = append(codes, codeIn(t, a.Mail.waitFor(t, email, 1)))
	}
	// Two wrong codes at each of the first two addresses, half on each replica: four, the
	// client's budget, and no address is near its own (20).
	for i, srv := range []*testServer{a, b, a, b} {
		acc := i / 2
		wantProblem(t, srv.from(attacker).activate(t, accounts[acc], wrongCode(codes[acc])), http.StatusBadRequest, "invalid_code")
	}
	for _, srv := range []*testServer{a, b} {
		res := srv.from(attacker).activate(t, accounts[2], wrongCode(codes[2]))
		wantProblem(t, res, http.StatusTooManyRequests, "too_many_attempts")
		// The window rounded to the client's budget span: up to 15 minutes more.
		if ra := retryAfter(t, res); ra < 23*time.Hour || ra > 24*time.Hour+15*time.Minute {
			t.Fatalf("Retry-After %s, want about 24 h (until the span of the oldest guess leaves the window)", ra)
		}
	}
	// Another client is not held back by the attacker's guesses.
	wantUser(t, b.from(other).activate(t, accounts[2], codes[2]), accounts[2].email, "active")

	// A day later the attacker's guesses have left the window.
	a.exec(t, `UPDATE identity.client_budgets SET span = span - interval '24 hours 15 minutes' WHERE client = $1`, attacker)
	wantProblem(t, a.from(attacker).activate(t, accounts[0], wrongCode(codes[0])), http.StatusBadRequest, "invalid_code")
}

// TestClientCodeBudget: past CODES_PER_CLIENT_PER_DAY codes issued at one client's request,
// across addresses and replicas, a registration from it is refused and leaves nothing: no
// account, no email. Another client still registers.
func TestClientCodeBudget(t *testing.T) {
	t.Parallel()
	a, b := replicas(t, map[string]string{"CODES_PER_CLIENT_PER_DAY": "3"})
	cannon := "203.0.113.50"
	for i, srv := range []*testServer{a, b, a} {
		email := []string{"v1@example.com", "v2@example.com", "v3@example.com"}[i]
		wantStatus(t, srv.from(cannon).register(t, email, pw), http.StatusCreated)
	}
	res := b.from(cannon).register(t, "v4@example.com", pw)
	wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	retryAfter(t, res)
	if n := a.count(t, `SELECT count(*) FROM identity.accounts WHERE email = 'v4@example.com'`); n != 0 {
		t.Fatalf("%d accounts for a refused registration", n)
	}
	if n := a.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = 'v4@example.com'`); n != 0 {
		t.Fatalf("%d emails queued for a refused registration", n)
	}
	wantStatus(t, a.from("198.51.100.1").register(t, "v4@example.com", pw), http.StatusCreated)
}

// TestMailboxBudgetsAcrossTagsAndDots: +tags and gmail's dots and googlemail.com reach one
// inbox, so they share its budgets of codes and of wrong guesses, whichever client asks;
// each address is still its own account, and the email repeats nothing the sender chose.
func TestMailboxBudgetsAcrossTagsAndDots(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{
		"TRUSTED_PROXIES": "127.0.0.1/32", "ACTIVATION_CODES_PER_DAY": "3", "ACTIVATION_GUESSES_PER_DAY": "2",
	}})
	addresses := []string{"john.smith+offer1@gmail.com", "johnsmith+offer2@googlemail.com", "j.o.h.n.smith@gmail.com"}
	var accounts []creds
	var codes []string
	for i, email := range addresses {
		wantUser(t, ts.from("203.0.113."+string(rune('1'+i))).register(t, email, pw), email, "pending")
		msg := ts.Mail.waitFor(t, email, 1)
		for _, chosen := range []string{"offer", "john", "smith"} {
			if strings.Contains(strings.ToLower(msg.Subject+msg.Text+msg.HTML), chosen) {
				t.Errorf("the email to %s repeats %q, text its sender chose", email, chosen)
			}
		}
		accounts = append(accounts, creds{email, pw})
		codes = append(codes, codeIn(t, msg))
	}
	if n := ts.count(t, `SELECT count(*) FROM identity.accounts`); n != 3 {
		t.Fatalf("%d accounts, want one per address as given", n)
	}
	// The inbox took its 3 codes: a fourth spelling of it gets none.
	res := ts.from("203.0.113.9").register(t, "johnsmith@gmail.com", pw)
	wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	// Two wrong codes at two spellings spend the inbox's guesses: the third spelling is
	// refused even with its right code.
	for i := range 2 {
		wantProblem(t, ts.from("198.51.100.1").activate(t, accounts[i], wrongCode(codes[i])), http.StatusBadRequest, "invalid_code")
	}
	wantProblem(t, ts.from("198.51.100.2").activate(t, accounts[2], codes[2]), http.StatusTooManyRequests, "too_many_attempts")
}

// TestSignInDelay: after PASSWORD_FAILURES_BEFORE_DELAY wrong passwords for an email, on
// either replica, a stranger's attempts wait (429 without checking the password, even the
// right one), the wait doubles, and an unknown email answers exactly alike; the owner's
// client, which signed in before, still signs in; and however the wait runs, strangers
// get at most 100 wrong passwords in 7 days.
func TestSignInDelay(t *testing.T) {
	t.Parallel()
	a, b := replicas(t, map[string]string{"PASSWORD_FAILURES_BEFORE_DELAY": "3"})
	owner, stranger := "198.51.100.20", "203.0.113.66"
	acc, code := a.registered(t, "owner@example.com")
	wantUser(t, a.from(owner).activate(t, acc, code), acc.email, "active") // the owner's client is known

	// agedBy moves the failures of email into the past, as if d had passed.
	agedBy := func(email string, d time.Duration) {
		a.exec(t, `UPDATE identity.sign_in_failures SET failed_at = failed_at - $2::bigint * interval '1 millisecond'
		           WHERE email = $1`, email, d.Milliseconds())
	}
	// trace is what a stranger sees of an email: the statuses and waits of a fixed
	// sequence of attempts, alternating replicas.
	trace := func(email string) []string {
		wrong := creds{email, "not the password"}
		var seen []string
		step := func(srv *testServer, cr creds) {
			res := srv.from(stranger).me(t, cr)
			s := http.StatusText(res.Status)
			if res.Status == http.StatusTooManyRequests {
				wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
				s += " " + res.Header.Get("Retry-After")
			} else {
				wantProblem(t, res, http.StatusUnauthorized, "unauthorized")
			}
			seen = append(seen, s)
		}
		for _, srv := range []*testServer{a, b, a, b} {
			step(srv, wrong)
		}
		step(a, creds{email, pw}) // the right password, during the delay: not checked
		// Past the first delay (1 s), and past the 30 s an attempt whose outcome was never
		// recorded counts: only failures that were checked still count.
		agedBy(email, 31*time.Second)
		step(b, wrong) // checked, a failure
		step(a, wrong) // the wait doubled
		return seen
	}
	known := trace(acc.email)
	want := []string{"Unauthorized", "Unauthorized", "Unauthorized", "Too Many Requests 1", "Too Many Requests 1",
		"Unauthorized", "Too Many Requests 2"}
	if strings.Join(known, ", ") != strings.Join(want, ", ") {
		t.Fatalf("a stranger at a known email saw %v, want %v", known, want)
	}
	if unknown := trace("nobody@example.com"); strings.Join(unknown, ", ") != strings.Join(known, ", ") {
		t.Fatalf("an unknown email answered %v, a known one %v: they must not differ", unknown, known)
	}
	// The owner's client is not delayed by the stranger's failures, on either replica.
	for _, srv := range []*testServer{a, b} {
		wantUser(t, srv.from(owner).me(t, acc), acc.email, "active")
	}

	// The 7-day bound: with 100 of the email's failures in the last 7 days, a stranger
	// waits until the oldest leaves the window, not for the hour the schedule tops at.
	a.exec(t, `DELETE FROM identity.sign_in_failures WHERE email = $1`, acc.email)
	a.exec(t, `INSERT INTO identity.sign_in_failures (email, client, failed_at, checked)
	           SELECT $1, $2, now() - interval '6 days' + i * interval '1 minute', true FROM generate_series(1, 100) AS i`,
		acc.email, stranger)
	res := b.from(stranger).me(t, acc)
	wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	if ra := retryAfter(t, res); ra < 23*time.Hour || ra > 25*time.Hour {
		t.Fatalf("Retry-After %s with 100 failures in 7 days, want about a day (until the oldest leaves)", ra)
	}
	wantUser(t, a.from(owner).me(t, acc), acc.email, "active")
}

// TestTakeoverIsANewAccount: re-registering a pending address creates a new account id; the
// replaced account's credentials and id are gone.
func TestTakeoverIsANewAccount(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	first := ts.register(t, "taken@example.com", pw)
	wantStatus(t, first, http.StatusCreated)
	ts.ageCode(t, "taken@example.com", 31*time.Second)
	second := ts.register(t, "taken@example.com", "the real owner's")
	wantStatus(t, second, http.StatusCreated)
	oldID, newID := first.JSON(t)["id"], second.JSON(t)["id"]
	if oldID == newID || newID == "" {
		t.Fatalf("re-registration kept id %v (was %v): a takeover must be a new account", newID, oldID)
	}
	if n := ts.count(t, `SELECT count(*) FROM identity.accounts WHERE id::text = $1`, oldID); n != 0 {
		t.Fatalf("the replaced account %v is still there", oldID)
	}
	wantProblem(t, ts.me(t, creds{"taken@example.com", pw}), http.StatusUnauthorized, "unauthorized")
	if got := ts.me(t, creds{"taken@example.com", "the real owner's"}).JSON(t)["id"]; got != newID {
		t.Fatalf("me answers id %v, want the new %v", got, newID)
	}
}
