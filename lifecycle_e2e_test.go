package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// End-to-end tests of issue 23's defects, each found by a review against the built
// binary: what a stranger's request can do to an account's other purposes, the reset as
// the owner's way out, races with a deletion or a takeover, what a refused request costs,
// the order of checks on a password change, and rehashing after new hash parameters.

// TestResetRequestLeavesTheActivationCode: a stranger's reset request for a pending
// address changes nothing of its activation: the owner's emailed code still activates it,
// and its resend interval still holds (a request about one purpose never changes another).
func TestResetRequestLeavesTheActivationCode(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"TRUSTED_PROXIES": "127.0.0.1/32"}})
	owner, code := ts.registered(t, "pending@example.com")
	wantStatus(t, ts.from("203.0.113.99").send(t, http.MethodPost, "/v1/password-reset",
		map[string]string{"email": owner.email}, "", ""), http.StatusAccepted)
	wantProblem(t, ts.resend(t, owner), http.StatusTooManyRequests, "rate_limited")
	if n := ts.count(t, `SELECT count(*) FROM identity.activation_codes c JOIN identity.accounts a ON a.id = c.account_id
	                     WHERE a.email = $1`, owner.email); n != 1 {
		t.Fatalf("the pending account has %d activation codes after a reset request, want its 1 (retention purges by it)", n)
	}
	wantUser(t, ts.activate(t, owner, code), owner.email, "active")
	if n := ts.Mail.emailsTo(owner.email); n != 1 {
		t.Errorf("%d emails to the pending address, want only its activation code", n)
	}
}

// TestResetIsTheWayOut: a stranger's failures delay every client new to the account; a
// confirmed reset ends them, so the owner's client that reset the password signs in at
// once, while a client that knew the old password is a stranger again.
func TestResetIsTheWayOut(t *testing.T) {
	t.Parallel()
	a, b := replicas(t, map[string]string{"PASSWORD_FAILURES_BEFORE_DELAY": "3"})
	const laptop, phone, stranger = "198.51.100.30", "198.51.100.31", "203.0.113.77"
	acc, code := a.registered(t, "wayout@example.com")
	wantUser(t, a.from(laptop).activate(t, acc, code), acc.email, "active") // the laptop is known
	fail := func() {
		t.Helper()
		for range 3 {
			wantProblem(t, b.from(stranger).me(t, creds{acc.email, "not the password"}), http.StatusUnauthorized, "unauthorized")
		}
	}
	fail()
	wantProblem(t, a.from(phone).me(t, acc), http.StatusTooManyRequests, "rate_limited") // a new client waits
	wantUser(t, b.from(laptop).me(t, acc), acc.email, "active")                          // a known one does not

	wantStatus(t, a.from(phone).send(t, http.MethodPost, "/v1/password-reset", map[string]string{"email": acc.email}, "", ""), http.StatusAccepted)
	reset := resetCodeIn(t, a.Mail.waitFor(t, acc.email, 2))
	const newPassword = "a brand new passphrase here"
	wantStatus(t, b.from(phone).send(t, http.MethodPost, "/v1/password-reset/confirm",
		map[string]string{"email": acc.email, "code": reset, "password": newPassword}, "", ""), http.StatusNoContent)
	renewed := creds{acc.email, newPassword}
	wantUser(t, a.from(phone).me(t, renewed), acc.email, "active") // the way out: at once

	// The laptop knew the old password: it is a stranger again, delayed by failures.
	fail()
	wantProblem(t, a.from(laptop).me(t, renewed), http.StatusTooManyRequests, "rate_limited")
	wantUser(t, b.from(phone).me(t, renewed), acc.email, "active")
}

// TestARaceWithDeletionOrTakeoverIsNever500: Basic requests that race the deletion of
// their account, or the takeover of a pending one, answer as if the account were gone
// (401) or as before it went, never 500.
func TestARaceWithDeletionOrTakeoverIsNever500(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	statuses := map[int]int{}
	var mu sync.Mutex
	race := func(c creds, change func()) {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					res := ts.me(t, c)
					mu.Lock()
					statuses[res.Status]++
					mu.Unlock()
				}
			}()
		}
		change()
		close(stop)
		wg.Wait()
	}
	for i := range 12 {
		c := ts.activated(t, "racer"+strings.Repeat("x", i)+"@example.com")
		race(c, func() {
			wantStatus(t, ts.request(t, http.MethodDelete, "/v1/users/me", nil, c.email, c.password), http.StatusNoContent)
		})
	}
	for i := range 6 {
		email := "pending" + strings.Repeat("x", i) + "@example.com"
		c, _ := ts.registered(t, email)
		ts.ageCode(t, email, 31*time.Second) // past the resend interval: the takeover is allowed
		race(c, func() { wantStatus(t, ts.register(t, email, "another passphrase here"), http.StatusCreated) })
	}
	for status, n := range statuses {
		if status != http.StatusOK && status != http.StatusUnauthorized {
			t.Errorf("%d answers %d during deletions and takeovers; want only 200 and 401", n, status)
		}
	}
}

// TestRefusedRequestsCostNoHash: a confirmation past the client's guess budget, and a
// registration past its code budget, are refused before the new password is hashed.
func TestRefusedRequestsCostNoHash(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{
		"TRUSTED_PROXIES": "127.0.0.1/32", "ACTIVATION_GUESSES_PER_CLIENT_PER_DAY": "2", "CODES_PER_CLIENT_PER_DAY": "2",
	}})
	hashes := func() float64 {
		return value(ts.scrape(t), "identity_password_hash_duration_seconds", "op", "hash")
	}
	guesser := ts.from("203.0.113.5")
	confirm := func() response {
		return guesser.send(t, http.MethodPost, "/v1/password-reset/confirm",
			map[string]string{"email": "victim@example.com", "code": "12345678", "password": "a guessed passphrase"}, "", "")
	}
	for range 2 {
		wantProblem(t, confirm(), http.StatusBadRequest, "invalid_code")
	}
	before := hashes()
	for range 3 {
		wantProblem(t, confirm(), http.StatusTooManyRequests, "too_many_attempts")
	}
	if got := hashes(); got != before {
		t.Errorf("3 confirmations past the budget made %v hashes, want none", got-before)
	}

	registrar := ts.from("203.0.113.6")
	for i := range 2 {
		wantStatus(t, registrar.register(t, "reg"+strings.Repeat("x", i)+"@example.com", pw), http.StatusCreated)
	}
	before = hashes()
	wantProblem(t, registrar.register(t, "reg-over@example.com", pw), http.StatusTooManyRequests, "rate_limited")
	if got := hashes(); got != before {
		t.Errorf("a registration past the client's codes made %v hashes, want none", got-before)
	}
}

// TestPasswordChangeValidatesBeforeTheAccountsState: the order of checks is
// authentication, request validation, account state: a bad new password of a pending
// account answers 422, a good one 403.
func TestPasswordChangeValidatesBeforeTheAccountsState(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	c, _ := ts.registered(t, "early@example.com")
	change := func(password string) response {
		return ts.request(t, http.MethodPut, "/v1/users/me/password", map[string]string{"password": password}, c.email, c.password)
	}
	wantProblem(t, change("short"), http.StatusUnprocessableEntity, "validation_failed")
	wantProblem(t, change("a perfectly fine passphrase"), http.StatusForbidden, "account_pending")
}

// TestARightPasswordIsRehashed: after a change of PASSWORD_HASH_*, an account's right
// password is hashed again with the new parameters in the request that checks it, so
// known and unknown emails take the same time again.
func TestARightPasswordIsRehashed(t *testing.T) {
	t.Parallel()
	old := startServer(t, serverConfig{})
	c := old.activated(t, "rehash@example.com")
	stored := func() string {
		t.Helper()
		conn, err := pgx.Connect(context.Background(), old.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var h string
		if err := conn.QueryRow(context.Background(), `SELECT password_hash FROM identity.accounts WHERE email = $1`, c.email).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := stored(); !strings.Contains(h, "m=1024,t=1,p=1") {
		t.Fatalf("hash %q, want the old parameters", h)
	}
	updated := startServer(t, serverConfig{databaseURL: old.DatabaseURL, env: map[string]string{"PASSWORD_HASH_ITERATIONS": "2"}})
	wantProblem(t, updated.me(t, creds{c.email, "not the password"}), http.StatusUnauthorized, "unauthorized")
	if h := stored(); !strings.Contains(h, "m=1024,t=1,p=1") {
		t.Fatalf("a wrong password rehashed: %q", h)
	}
	wantUser(t, updated.me(t, c), c.email, "active")
	if h := stored(); !strings.Contains(h, "m=1024,t=2,p=1") {
		t.Fatalf("after a right password the hash is %q, want the new parameters", h)
	}
	wantUser(t, updated.me(t, c), c.email, "active") // the new hash checks
	wantUser(t, old.me(t, c), c.email, "active")     // and a replica still on the old ones reads it
}
