package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// End-to-end tests of the defences against abuse (issue 7): the per-address budgets of
// wrong codes and of codes, the per-IP rate limit, and bounded password hashing under a
// flood.

// ageLedger moves what email spent of its daily budgets into the past by d, as if d had
// passed: the injected clock of these tests is the data, not a sleep.
func (ts *testServer) ageLedger(t *testing.T, email string, d time.Duration) {
	t.Helper()
	ts.exec(t, `UPDATE identity.activation_ledger SET occurred_at = occurred_at - $2::bigint * interval '1 millisecond'
	            WHERE mailbox = $1`, email, d.Milliseconds())
}

func (ts *testServer) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), ts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (ts *testServer) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), ts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func retryAfter(t *testing.T, res response) time.Duration {
	t.Helper()
	s, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || s < 1 {
		t.Fatalf("Retry-After %q is not whole seconds >= 1; body %s", res.Header.Get("Retry-After"), res.Body)
	}
	return time.Duration(s) * time.Second
}

func TestGuessBudgetPerAddress(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{
		"ACTIVATION_GUESSES_PER_DAY":   "7",
		"ACTIVATION_CODE_MAX_ATTEMPTS": "3",
	}})
	const email = "victim@example.com"
	stranger, code := ts.registered(t, email)
	mails := 1
	newCode := func(how string, c creds) {
		t.Helper()
		ts.ageCode(t, email, 31*time.Second)
		var res response
		switch how {
		case "resend":
			res = ts.resend(t, c)
			wantStatus(t, res, http.StatusAccepted)
		case "register":
			res = ts.register(t, c.email, c.password)
			wantStatus(t, res, http.StatusCreated)
		}
		mails++
		code = codeIn(t, ts.Mail.waitFor(t, email, mails))
	}
	guess := func(c creds, wantRemaining int) {
		t.Helper()
		p := wantProblem(t, ts.activate(t, c, wrongCode(code)), http.StatusBadRequest, "invalid_code")
		if p["attempts_remaining"] != float64(wantRemaining) {
			t.Fatalf("attempts_remaining %v, want %d", p["attempts_remaining"], wantRemaining)
		}
	}

	// A stranger who cannot read the mailbox guesses: 3 on the first code (locked), 3 on
	// a resent one, then takes the account over by re-registering for a fresh code with a
	// fresh counter. The address's budget of 7 follows through all of it.
	guess(stranger, 2)
	guess(stranger, 1)
	guess(stranger, 0)
	locked := ts.activate(t, stranger, wrongCode(code))
	wantProblem(t, locked, http.StatusTooManyRequests, "too_many_attempts")
	if wait := retryAfter(t, locked); wait > 30*time.Second {
		t.Fatalf("a locked code's Retry-After %v, want at most the 30 s resend interval", wait)
	}
	newCode("resend", stranger)
	guess(stranger, 2)
	guess(stranger, 1)
	guess(stranger, 0)
	stranger = creds{email, "a new stranger password"}
	newCode("register", stranger)
	guess(stranger, 0) // the 7th: the code would take 2 more, the address none
	res := ts.activate(t, stranger, code)
	wantProblem(t, res, http.StatusTooManyRequests, "too_many_attempts")
	if wait := retryAfter(t, res); wait < 23*time.Hour || wait > 24*time.Hour {
		t.Fatalf("Retry-After %v, want the first guess's 24 h minus the few seconds since", wait)
	}
	wantUser(t, ts.me(t, stranger), email, "pending")

	// The owner, who reads the mailbox, is refused too until the window frees a guess:
	// then they register (or ask for a new code) and activate with one guess.
	owner := creds{email, "the owner's own password"}
	newCode("register", owner)
	wantProblem(t, ts.activate(t, owner, code), http.StatusTooManyRequests, "too_many_attempts")
	ts.ageLedger(t, email, 24*time.Hour)
	wantUser(t, ts.activate(t, owner, code), email, "active")
	if n := ts.count(t, `SELECT count(*) FROM identity.activation_ledger WHERE mailbox = $1 AND kind = 'wrong_code'`, email); n != 7 {
		t.Fatalf("%d wrong codes in the ledger, want 7", n)
	}
}

func TestCodeBudgetPerAddress(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"ACTIVATION_CODES_PER_DAY": "3"}})
	const email = "target@example.com"
	c, _ := ts.registered(t, email)
	ts.ageCode(t, email, 31*time.Second)
	wantStatus(t, ts.resend(t, c), http.StatusAccepted)
	ts.ageCode(t, email, 31*time.Second)
	wantStatus(t, ts.register(t, email, pw), http.StatusCreated)
	ts.ageCode(t, email, 31*time.Second)

	// Three codes in 24 h: a fourth is refused whether it is asked by resend or by
	// registration, with Retry-After until the first leaves the window, and no email.
	for _, res := range []response{ts.resend(t, c), ts.register(t, email, "another password")} {
		wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
		if wait := retryAfter(t, res); wait < 23*time.Hour || wait > 24*time.Hour {
			t.Fatalf("Retry-After %v, want about 24 h", wait)
		}
	}
	wantStatus(t, ts.me(t, c), http.StatusOK) // the refused registration changed nothing
	if n := ts.count(t, `SELECT count(*) FROM platform.outbox_emails WHERE recipient = $1`, email); n != 3 {
		t.Fatalf("%d emails queued, want 3", n)
	}
	ts.ageLedger(t, email, 24*time.Hour)
	wantStatus(t, ts.resend(t, c), http.StatusAccepted)
}

func TestRateLimitPerIP(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"RATE_LIMIT_PER_IP": "1"}})
	// Burst 2: two requests pass, the third is refused, whatever X-Forwarded-For says
	// (no TRUSTED_PROXIES: the TCP peer is the client).
	var statuses []int
	var last response
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/users/me", nil)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
		last = ts.do(t, req)
		statuses = append(statuses, last.Status)
	}
	if statuses[0] != http.StatusUnauthorized || statuses[1] != http.StatusUnauthorized {
		t.Fatalf("statuses %v: the burst of 2 was not let through", statuses)
	}
	wantProblem(t, last, http.StatusTooManyRequests, "rate_limited")
	if retryAfter(t, last) != time.Second {
		t.Fatalf("Retry-After %q, want 1", last.Header.Get("Retry-After"))
	}
	wantStatus(t, ts.request(t, http.MethodGet, "/healthz", nil, "", ""), http.StatusOK)
}

// TestFloodOfRegistrations sends 128 registrations at once from one client (its code budget
// off) to one server whose hashing
// takes two at a time (production memory cost, 19 MiB each) and waits at most 300 ms for
// a slot. Every answer is 201 or 503 with Retry-After, every 201 is an account with
// exactly one email queued, no 503 left anything behind, and the heap stays bounded.
func TestFloodOfRegistrations(t *testing.T) {
	const (
		flood       = 128
		concurrency = 2
		hashMiB     = 19
	)
	ts := startServer(t, serverConfig{env: map[string]string{
		"PASSWORD_HASH_MEMORY_KIB":    strconv.Itoa(hashMiB * 1024),
		"PASSWORD_HASH_ITERATIONS":    "1",
		"PASSWORD_HASH_CONCURRENCY":   strconv.Itoa(concurrency),
		"PASSWORD_HASH_QUEUE_TIMEOUT": "300ms",
		// Every request comes from one client: its budget of codes (100 a day by default)
		// is not what this test floods, and with hashing fast enough more than 100 of
		// the 128 get through.
		"CODES_PER_CLIENT_PER_DAY": "0",
		"LOG_LEVEL":                "info",
	}})
	runtime.GC()
	idle := heapObjects()
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		created  []string
		start    = make(chan struct{})
	)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: flood, MaxIdleConnsPerHost: flood}}
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := fmt.Sprintf("flood%03d@example.com", i)
			<-start
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/users",
				strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw)))
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				t.Errorf("register %s: %v", email, err)
				return
			}
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "1" {
				t.Errorf("503 with Retry-After %q, want 1", res.Header.Get("Retry-After"))
			}
			mu.Lock()
			statuses[res.StatusCode]++
			if res.StatusCode == http.StatusCreated {
				created = append(created, email)
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	close(stopSampling)
	<-sampled

	if statuses[http.StatusCreated]+statuses[http.StatusServiceUnavailable] != flood || statuses[http.StatusCreated] == 0 {
		t.Fatalf("statuses %v: want only 201 and 503, and some 201", statuses)
	}
	t.Logf("statuses %v; heap idle %d MiB, peak %d MiB", statuses, idle>>20, peak.Load()>>20)
	if n := ts.count(t, `SELECT count(*) FROM identity.accounts`); n != len(created) {
		t.Fatalf("%d accounts for %d answers 201", n, len(created))
	}
	if n := ts.count(t, `SELECT count(DISTINCT recipient) FROM platform.outbox_emails WHERE recipient = ANY($1)`, created); n != len(created) {
		t.Fatalf("%d of %d created accounts have an email queued", n, len(created))
	}
	if n := ts.count(t, `SELECT count(*) FROM platform.outbox_emails`); n != len(created) {
		t.Fatalf("%d emails queued for %d accounts: want exactly one each", n, len(created))
	}
	// At most `concurrency` hashes hold their 19 MiB at once. The collector lets the heap
	// grow to twice what was live at the last collection before it runs again, so the
	// heap stays under twice (idle + concurrency × 19 MiB), plus slack for the 128
	// requests themselves. Unbounded, 128 hashes at once would need 2.4 GiB.
	bound := 2*(idle+concurrency*hashMiB<<20) + 32<<20
	if p := peak.Load(); p > bound {
		t.Fatalf("peak heap %d MiB over the bound of %d MiB", p>>20, bound>>20)
	}
}

// heapObjects is the memory held by heap objects, live or not yet swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestFullHashingQueueRefusesWithoutItsTimeout: with one hashing slot, a queue of 2 and a
// queue timeout of a minute, a burst of 32 registrations gets 503 with Retry-After for the
// requests past the queue after the refusal hold of a second, not after the minute, and
// only 201 for the others.
func TestFullHashingQueueRefusesWithoutItsTimeout(t *testing.T) {
	t.Parallel()
	const burst = 32
	ts := startServer(t, serverConfig{env: map[string]string{
		"PASSWORD_HASH_MEMORY_KIB":    strconv.Itoa(19 * 1024),
		"PASSWORD_HASH_ITERATIONS":    "4", // ~100 ms a hash: the burst lands while the first ones run
		"PASSWORD_HASH_CONCURRENCY":   "1",
		"PASSWORD_HASH_QUEUE_LENGTH":  "2",
		"PASSWORD_HASH_QUEUE_TIMEOUT": "1m",
		"LOG_LEVEL":                   "info",
	}})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		slowest  time.Duration
		start    = make(chan struct{})
	)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: burst, MaxIdleConnsPerHost: burst}}
	for i := range burst {
		wg.Go(func() {
			<-start
			began := time.Now()
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/users",
				strings.NewReader(fmt.Sprintf(`{"email":"queue%02d@example.com","password":%q}`, i, pw)))
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				t.Errorf("register: %v", err)
				return
			}
			res.Body.Close()
			took := time.Since(began)
			mu.Lock()
			defer mu.Unlock()
			statuses[res.StatusCode]++
			if res.StatusCode == http.StatusServiceUnavailable {
				slowest = max(slowest, took)
				if res.Header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("statuses %v; slowest 503 after %s", statuses, slowest)
	if statuses[http.StatusCreated]+statuses[http.StatusServiceUnavailable] != burst || statuses[http.StatusCreated] == 0 {
		t.Fatalf("statuses %v: want only 201 and 503, and some 201", statuses)
	}
	// One hash at a time and two waiting: most of a simultaneous burst finds the queue
	// full. Without the bound every request would wait its turn and get 201.
	if statuses[http.StatusServiceUnavailable] < burst/2 {
		t.Fatalf("statuses %v: want most of the burst refused by the full queue", statuses)
	}
	// Refused after the hold of a second: far from the minute a queued request may wait.
	if slowest > 20*time.Second {
		t.Fatalf("a 503 took %s: refused after waiting out the queue timeout, not after the hold", slowest)
	}
}
