package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/poll"
)

func TestRunRefusesABadVariableNamingIt(t *testing.T) {
	env := map[string]string{"ACTIVATION_CODE_TTL": "soon"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ACTIVATION_CODE_TTL") {
		t.Fatalf("got %v, want an error naming ACTIVATION_CODE_TTL", err)
	}
}

func TestRunUnknownCommand(t *testing.T) {
	err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("got %v, want the usage", err)
	}
}

func TestRunMigrateCreatesTheDatabaseAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	target := dbtest.NewURL(t)
	u, _ := url.Parse(target)
	u.Path += "_fresh" // a database that does not exist yet
	fresh := u.String()
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dbtest.ServerURL())
		if err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return fresh
		}
		return ""
	}
	for i := range 2 {
		var out bytes.Buffer
		if err := run(ctx, []string{"migrate"}, env, &out); err != nil {
			t.Fatalf("migrate #%d: %v\n%s", i+1, err, out.String())
		}
		applied := strings.Count(out.String(), "Applying:")
		if i == 0 && applied == 0 || i == 1 && applied != 0 {
			t.Fatalf("migrate #%d applied %d migrations:\n%s", i+1, applied, out.String())
		}
	}
}

// TestServeDrainsInFlightRequestsOnShutdown stops the server while a request is being
// handled: the request completes, and serve returns nil (the harness checks: within 10 s).
func TestServeDrainsInFlightRequestsOnShutdown(t *testing.T) {
	ts := startServer(t, serverConfig{env: map[string]string{
		// An expensive hash keeps the registration in flight while shutdown starts.
		"PASSWORD_HASH_MEMORY_KIB": "65536", "PASSWORD_HASH_ITERATIONS": "2",
	}})
	done := make(chan response, 1)
	go func() { done <- ts.register(t, "alice@example.com", pw) }()
	poll.Until(t, 10*time.Second, "the registration is hashing", func() bool {
		return strings.Contains(string(ts.request(t, http.MethodGet, "/metrics", nil, "", "").Body),
			"identity_password_hash_slots_in_use 1")
	})
	ts.stop()
	select {
	case res := <-done:
		wantStatus(t, res, http.StatusCreated)
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight request never completed")
	}
}

// TestServeRecoversWhenTheDatabaseReturns puts a TCP relay between the service and
// PostgreSQL and cuts it: the service answers 503 meanwhile, and serves again once the
// relay is back, without a restart.
func TestServeRecoversWhenTheDatabaseReturns(t *testing.T) {
	target := dbtest.NewURL(t)
	u, _ := url.Parse(target)
	r := startRelay(t, u.Host)
	u.Host = r.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	ts := startServer(t, serverConfig{databaseURL: u.String()})

	wantStatus(t, ts.request(t, http.MethodGet, "/readyz", nil, "", ""), http.StatusOK)
	r.down()
	// /readyz pings at most once a second: its last answer stands until the next ping.
	var res response
	poll.Until(t, 5*time.Second, "/readyz sees the database gone", func() bool {
		res = ts.request(t, http.MethodGet, "/readyz", nil, "", "")
		return res.Status != http.StatusOK
	})
	wantProblem(t, res, http.StatusServiceUnavailable, "unavailable")
	wantProblem(t, ts.register(t, "alice@example.com", pw), http.StatusServiceUnavailable, "unavailable")
	wantStatus(t, ts.request(t, http.MethodGet, "/healthz", nil, "", ""), http.StatusOK)
	r.up(t)
	poll.Until(t, 10*time.Second, "ready again after the database came back", func() bool {
		return ts.request(t, http.MethodGet, "/readyz", nil, "", "").Status == http.StatusOK
	})
	wantStatus(t, ts.register(t, "alice@example.com", pw), http.StatusCreated)
	ts.Mail.waitFor(t, "alice@example.com", 1)
}

// relay forwards TCP connections to a backend and can be cut and restored.
type relay struct {
	addr    string
	backend string
	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
}

func startRelay(t *testing.T, backend string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String(), backend: backend}
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *relay) serve(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", r.backend)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c, b)
			r.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
}

// down closes the listener and every relayed connection: the database is gone.
func (r *relay) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// up listens again on the same address.
func (r *relay) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			r.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("relay up: %v", errors.Join(err))
}
