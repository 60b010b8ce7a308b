package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/httpserver"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox"
	"github.com/acme/identity/platform/poll"
)

// testServer is the real service (echo, pgx, the job system and its outbox) serving in-process on
// a fresh database, as end-to-end tests drive it.
type testServer struct {
	URL         string
	DatabaseURL string
	Mail        *mailbox
	logs        *syncBuffer
	stop        func()
	// metricsURL is where /metrics listens with METRICS_ADDR set ("http://host:port").
	metricsURL atomic.Value
	// adminURL is where the administration API listens with ADMIN_ADDR set
	// ("http://host:port"; see adminOn).
	adminURL atomic.Value
}

// serverConfig adjusts a test server.
type serverConfig struct {
	// env overrides configuration variables (the defaults are the production ones, but
	// for cheap password hashing and no per-IP rate limit: every test client is
	// 127.0.0.1, and the limit has tests of its own).
	env map[string]string
	// databaseURL reuses a database (several replicas); empty: a fresh one.
	databaseURL string
	// sender replaces the mailbox that captures emails.
	sender outbox.Sender
	// realMail uses the production transport (newSender: SMTP when SMTP_HOST is set)
	// instead of the mailbox; sender must be nil.
	realMail bool
	// dispatch tunes the outbox.
	dispatch outbox.Options
	// jobs tunes the job system; zero: testJobs.
	jobs jobs.Options
	// backlogEvery is how often the metrics' loops read the database; zero: 20 ms.
	backlogEvery time.Duration
	// tracer records the spans (tracing is off without it).
	tracer trace.TracerProvider
	// server is given the HTTP server once its routes are mounted.
	server func(*httpserver.Server)
	// adminServer is given the administration server (ADMIN_ADDR) once its routes are
	// mounted.
	adminServer func(*httpserver.Server)
}

// testJobs are the job system's options of a test server: a job under way at the end of
// a test (a hung send) is cancelled after 1 s, and the retention's jobs are polled for
// every 200 ms (MAINTENANCE_INTERVAL is short in its tests).
var testJobs = jobs.Options{PollInterval: 200 * time.Millisecond, ShutdownGrace: time.Second, AbandonAfter: time.Second}

// startServer starts the service and stops it when the test ends.
func startServer(t *testing.T, sc serverConfig) *testServer {
	t.Helper()
	dbURL := sc.databaseURL
	if dbURL == "" {
		dbURL = dbtest.NewURL(t)
	}
	env := map[string]string{
		"DATABASE_URL":              dbURL,
		"PASSWORD_HASH_MEMORY_KIB":  "1024",
		"PASSWORD_HASH_ITERATIONS":  "1",
		"PASSWORD_HASH_PARALLELISM": "1",
		"RATE_LIMIT_PER_IP":         "0",
		"LOG_LEVEL":                 "debug",
	}
	for k, v := range sc.env {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	settings, err := loadModuleSettings(cfg.Modules)
	if err != nil {
		t.Fatalf("module settings: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	box := &mailbox{}
	sender := sc.sender
	if sender == nil && !sc.realMail {
		sender = box
	}
	jobOpts := sc.jobs
	if jobOpts == (jobs.Options{}) {
		jobOpts = testJobs
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ts := &testServer{URL: "http://" + ln.Addr().String(), DatabaseURL: dbURL, Mail: box, logs: logs}
	go func() {
		done <- serve(ctx, cfg, settings, logger, func() (net.Listener, error) { return ln, nil }, serveOptions{sender: sender, dispatch: sc.dispatch, tracer: sc.tracer, server: sc.server,
			jobs:         jobOpts,
			backlogEvery: cmp.Or(sc.backlogEvery, 20*time.Millisecond), metricsAddr: func(a string) { ts.metricsURL.Store("http://" + a) },
			adminAddr: func(a string) { ts.adminURL.Store("http://" + a) }, adminServer: sc.adminServer})
	}()
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("serve did not stop within 10 s of the signal")
			}
		})
	}
	t.Cleanup(func() {
		ts.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	// Serving starts after the wiring (a timing-decoy hash among it): wait for it.
	poll.Until(t, 10*time.Second, "the server answers /healthz", func() bool {
		res, err := http.Get(ts.URL + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return ts
}

// mailbox is an outbox.Sender that keeps what it is given (unit of the e2e tests that do
// not exercise SMTP).
type mailbox struct {
	mu       sync.Mutex
	messages []mail.Message
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	m.messages = append(m.messages, msg)
	m.mu.Unlock()
	return nil
}

// waitFor returns the n-th email (1-based) sent to to, waiting up to 5 s.
func (m *mailbox) waitFor(t *testing.T, to string, n int) mail.Message {
	t.Helper()
	poll.Until(t, 5*time.Second, fmt.Sprintf("email #%d to %s arrives", n, to), func() bool { return len(m.to(to)) >= n })
	return m.to(to)[n-1]
}

func (m *mailbox) to(addr string) []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mail.Message
	for _, msg := range m.messages {
		if msg.To == addr {
			out = append(out, msg)
		}
	}
	return out
}

// codeIn returns the activation code of an email: the text line of four digits alone.
func codeIn(t *testing.T, msg mail.Message) string {
	t.Helper()
	for _, line := range strings.Split(msg.Text, "\n") {
		line = strings.TrimSpace(line)
		if len(line) == 4 && strings.Trim(line, "0123456789") == "" {
			return line
		}
	}
	t.Fatalf("no code alone on a line in email text:\n%s", msg.Text)
	return ""
}

// response is an HTTP response with its body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// request sends method path with body (JSON content type when body is not nil) and Basic
// credentials when user is not empty.
func (ts *testServer) request(t *testing.T, method, path string, body any, user, password string) response {
	t.Helper()
	return ts.do(t, ts.newRequest(t, method, path, body, user, password))
}

// newRequest is the request that request sends, for a caller to add headers to.
func (ts *testServer) newRequest(t *testing.T, method, path string, body any, user, password string) *http.Request {
	t.Helper()
	var rdr io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rdr = strings.NewReader(b)
		case []byte:
			rdr = bytes.NewReader(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			rdr = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, ts.URL+path, rdr)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return req
}

func (ts *testServer) do(t *testing.T, req *http.Request) response {
	t.Helper()
	sent := requestBody(t, req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := response{Status: res.StatusCode, Header: res.Header, Body: b}
	checkContract(t, req, sent, r) // the OpenAPI document describes both (openapi_test.go)
	return r
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
