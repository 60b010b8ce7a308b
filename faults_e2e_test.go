package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/mail/smtptest"
	"github.com/acme/identity/platform/poll"
)

// End-to-end tests of the service under faults: the database slow, black-holed, reset,
// refusing or terminating its sessions (through a fault-injecting proxy in the test
// process), slow clients and a slow database at shutdown, and secrets in the log.

// outcome is one request's result, collected without failing the test from a goroutine.
type outcome struct {
	what   string
	status int
	code   string
	retry  string
	took   time.Duration
	err    error
}

func (o outcome) String() string {
	if o.err != nil {
		return fmt.Sprintf("%s: %v after %v", o.what, o.err, o.took)
	}
	return fmt.Sprintf("%s: %d %s (Retry-After %q) after %v", o.what, o.status, o.code, o.retry, o.took)
}

// try sends a JSON request (body may be empty) with Basic credentials when c is set.
func (ts *testServer) try(method, path, body string, c *creds) outcome {
	o := outcome{what: method + " " + path}
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rdr)
	if err != nil {
		o.err = err
		return o
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c != nil {
		req.SetBasicAuth(c.email, c.password)
	}
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	o.took = time.Since(start)
	if err != nil {
		o.err = err
		return o
	}
	defer res.Body.Close()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.NewDecoder(res.Body).Decode(&p)
	o.status, o.code, o.retry = res.StatusCode, p.Code, res.Header.Get("Retry-After")
	return o
}

// burst sends, all at once, 8 GET /v1/users/me of c and 8 registrations of new emails:
// the read path and the transaction path (begin, lock, insert, outbox, notify, commit).
func (ts *testServer) burst(c creds) []outcome {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		outs []outcome
	)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o outcome
			if i%2 == 0 {
				o = ts.try(http.MethodGet, "/v1/users/me", "", &c)
			} else {
				o = ts.try(http.MethodPost, "/v1/users",
					fmt.Sprintf(`{"email":"burst-%d-%d@example.com","password":%q}`, time.Now().UnixNano(), i, pw), nil)
			}
			mu.Lock()
			outs = append(outs, o)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return outs
}

// recovers waits until the service serves c and registrations again, by itself.
func (ts *testServer) recovers(t *testing.T, c creds, after string) {
	t.Helper()
	var last outcome
	poll.Until(t, 15*time.Second, "the service serves again after "+after, func() bool {
		last = ts.try(http.MethodGet, "/v1/users/me", "", &c)
		if last.status != http.StatusOK {
			return false
		}
		last = ts.try(http.MethodPost, "/v1/users",
			fmt.Sprintf(`{"email":"after-%d@example.com","password":%q}`, time.Now().UnixNano(), pw), nil)
		return last.status == http.StatusCreated
	})
}

// TestDatabaseFaultsAnswer503WithinTheDeadline drives every way of losing the database
// through a proxy: each request answers 503 unavailable with Retry-After within
// DATABASE_TIMEOUT (plus the request's own work), never 500, and the service recovers by
// itself when the fault ends.
func TestDatabaseFaultsAnswer503WithinTheDeadline(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	target := dbtest.NewURL(t)
	proxy, viaProxy := dbtest.NewProxy(t, target)
	ts := startServer(t, serverConfig{databaseURL: viaProxy, env: map[string]string{
		"DATABASE_TIMEOUT": timeout.String(), "DATABASE_MAX_CONNS": "4", "RATE_LIMIT_PER_IP": "0",
	}})
	c, _ := ts.registered(t, "alice@example.com")

	all503 := func(fault string, outs []outcome) {
		t.Helper()
		for _, o := range outs {
			if o.status != http.StatusServiceUnavailable || o.code != "unavailable" || o.retry == "" ||
				o.took > timeout+1500*time.Millisecond {
				t.Errorf("%s: %v; want 503 unavailable with Retry-After within %v", fault, o, timeout)
			}
		}
	}

	// 5 s of added latency per round trip: far past the budget.
	proxy.Delay(5 * time.Second)
	all503("slow database", ts.burst(c))
	proxy.Heal()
	ts.recovers(t, c, "a slow database")

	// Nothing goes through: a partition, a dead host.
	proxy.Blackhole()
	all503("black hole", ts.burst(c))
	proxy.Heal()
	ts.recovers(t, c, "a black hole")

	// Connections reset while requests wait on them: queries on pooled connections, and
	// connections being opened. The pool is warm (a burst just filled it), so the first
	// requests send their queries on established connections.
	ts.burst(c)
	proxy.Blackhole()
	var outs []outcome
	done := make(chan struct{})
	go func() { defer close(done); outs = ts.burst(c) }()
	proxy.WaitHeld(t, 4, 10*time.Second)
	proxy.Reset()
	<-done
	all503("connections reset", outs)
	proxy.Heal()
	ts.recovers(t, c, "reset connections")

	// Idle pooled connections reset: the next requests find them dead.
	proxy.Reset()
	for _, o := range ts.burst(c) {
		if o.status != http.StatusOK && o.status != http.StatusCreated && o.status != http.StatusServiceUnavailable {
			t.Errorf("after idle connections were reset: %v; want 200, 201 or 503", o)
		}
	}
	ts.recovers(t, c, "reset idle connections")

	// The database is down: connections refused.
	proxy.Refuse()
	all503("connections refused", ts.burst(c))
	proxy.Heal()
	ts.recovers(t, c, "refused connections")

	// Backends terminated (pg_terminate_backend: 57P01, then closed connections) while
	// requests keep coming: some fail, as 503, and the rest succeed.
	var (
		stop       atomic.Bool
		terminated atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		seen       = map[int]int{}
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for _, o := range ts.burst(c) {
					mu.Lock()
					seen[o.status]++
					mu.Unlock()
					if o.status != http.StatusOK && o.status != http.StatusCreated &&
						(o.status != http.StatusServiceUnavailable || o.code != "unavailable") {
						t.Errorf("backends terminated: %v; want 200, 201 or 503 unavailable", o)
					}
				}
			}
		}()
	}
	for range 20 {
		terminated.Add(int64(dbtest.TerminateBackends(t, target)))
		time.Sleep(50 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("backends terminated: %d; statuses %v", terminated.Load(), seen)
	if terminated.Load() == 0 {
		t.Error("no backend was terminated")
	}
	ts.recovers(t, c, "terminated backends")

	if logs := ts.logs.String(); strings.Contains(logs, `"status":500`) {
		t.Errorf("a request was answered 500:\n%s", logs)
	}
}

// stopTimed stops ts and returns how long serve took to return (the harness fails the
// test if it returned an error or took more than 10 s).
func stopTimed(ts *testServer) time.Duration {
	start := time.Now()
	ts.stop()
	return time.Since(start)
}

// TestShutdownWithASlowClientExitsInTime: a client uploading its body a byte at a time is
// cut at the end of the drain, and serve returns nil within the contract's 10 s.
func TestShutdownWithASlowClientExitsInTime(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	trickled := make(chan struct{})
	go func() {
		for i := range 1000 {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
			if i == 2 {
				close(trickled)
			}
		}
	}()
	<-trickled // the server has had the headers for 300 ms: the handler is reading the body

	took := stopTimed(ts)
	t.Logf("serve returned %v after the signal", took)
	if took > 10*time.Second {
		t.Fatalf("serve took %v to return", took)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("the slow client got %d, want the connection cut (or a 503)", res.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() { //nolint:errorlint // a net.Error is returned as is
		t.Error("the slow client's connection is still open")
	}
	for _, want := range []string{"shutdown: drain deadline passed; cutting what is still open", "shutdown: request cut"} {
		if !strings.Contains(ts.logs.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
}

// TestShutdownWithASlowDatabaseExitsInTime: requests stuck on a black-holed database
// (with a DATABASE_TIMEOUT longer than the drain) are cut: their queries are cancelled,
// the pool closes, and serve returns nil within 10 s. Without the cut, pgxpool's Close
// waits for every query.
func TestShutdownWithASlowDatabaseExitsInTime(t *testing.T) {
	t.Parallel()
	target := dbtest.NewURL(t)
	proxy, viaProxy := dbtest.NewProxy(t, target)
	ts := startServer(t, serverConfig{databaseURL: viaProxy, env: map[string]string{
		"DATABASE_TIMEOUT": "60s", "RATE_LIMIT_PER_IP": "0",
	}})
	c, _ := ts.registered(t, "alice@example.com")

	proxy.Blackhole()
	outs := make(chan outcome, 6)
	for i := range cap(outs) {
		go func() {
			if i%2 == 0 {
				outs <- ts.try(http.MethodGet, "/v1/users/me", "", &c)
			} else {
				outs <- ts.try(http.MethodPost, "/v1/users", fmt.Sprintf(`{"email":"slow-%d@example.com","password":%q}`, i, pw), nil)
			}
		}()
	}
	// Held: the requests' queries and the background loops' (the job system's polls and
	// reports, the metrics' reads). The requests start together with the black hole, so
	// by the time five are held their queries are on the way in too.
	proxy.WaitHeld(t, 5, 10*time.Second)

	took := stopTimed(ts)
	t.Logf("serve returned %v after the signal", took)
	if took > 10*time.Second {
		t.Fatalf("serve took %v to return", took)
	}
	answered := time.After(2 * time.Second)
	for range cap(outs) {
		select {
		case o := <-outs:
			if o.err == nil && o.status != http.StatusServiceUnavailable {
				t.Errorf("%v; want the connection cut or 503", o)
			}
		case <-answered:
			t.Fatal("a request is still running after serve returned")
		}
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "shutdown: request cut") || strings.Contains(logs, `"status":500`) {
		t.Errorf("want the cut requests logged, and no 500:\n%s", logs)
	}
}

// TestNoSecretInTheLog runs the service with a key=value DATABASE_URL holding a password
// and an SMTP password, through a database outage and failing SMTP logins, and looks for
// either in everything it logged.
func TestNoSecretInTheLog(t *testing.T) {
	t.Parallel()
	const dbSecret, smtpSecret = "S3cretDbPW", "Sm7pS3cret"
	target := dbtest.NewURL(t)
	proxy, viaProxy := dbtest.NewProxy(t, target)
	u, err := url.Parse(viaProxy)
	if err != nil {
		t.Fatal(err)
	}
	// The local PostgreSQL trusts local connections: the password is accepted, unused.
	keywordValue := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable connect_timeout=2",
		u.Hostname(), u.Port(), u.User.Username(), dbSecret, strings.TrimPrefix(u.Path, "/"))
	smtpServer := smtptest.Start(t, smtptest.Options{Username: "identity", Password: "the right one"})
	ts := startMailServer(t, smtpServer.Port, map[string]string{
		"SMTP_USERNAME": "identity", "SMTP_PASSWORD": smtpSecret,
	}, keywordValue)

	registerAt(t, ts, "alice@example.com")
	poll.Until(t, 10*time.Second, "a failed SMTP login is logged", func() bool {
		return strings.Contains(ts.logs.String(), "email not sent")
	})
	proxy.Refuse()
	wantProblem(t, ts.register(t, "bob@example.com", pw), http.StatusServiceUnavailable, "unavailable")
	proxy.Heal()

	logs := ts.logs.String()
	if !strings.Contains(logs, "password=xxxxx") {
		t.Errorf("the starting line does not show the masked DATABASE_URL:\n%s", logs)
	}
	for _, secret := range []string{dbSecret, smtpSecret, pw} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q:\n%s", secret, logs)
		}
	}
}
