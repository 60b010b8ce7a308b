package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acme/identity/platform/admission"
	"github.com/acme/identity/platform/database"
)

func newTestServer(t *testing.T, opts Options) (*Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	return New(opts, slog.New(slog.NewJSONHandler(&logs, nil))), &logs
}

func TestClientIPIgnoresSpoofedForwardedFor(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.0.0.0/8")
	for _, tc := range []struct {
		name    string
		trusted []*net.IPNet
		peer    string
		xff     string
		want    string
	}{
		{"no proxies: the peer, whatever the header says", nil, "203.0.113.7:5000", "1.2.3.4", "203.0.113.7"},
		{"no proxies, private peer: still the peer", nil, "192.168.0.5:5000", "1.2.3.4", "192.168.0.5"},
		{"trusted proxy: the client it saw", []*net.IPNet{proxies}, "10.0.0.2:5000", "198.51.100.9", "198.51.100.9"},
		{"trusted proxy, spoofed first hop: the right-most untrusted", []*net.IPNet{proxies}, "10.0.0.2:5000", "1.2.3.4, 198.51.100.9", "198.51.100.9"},
		{"untrusted peer: the peer", []*net.IPNet{proxies}, "203.0.113.7:5000", "1.2.3.4", "203.0.113.7"},
	} {
		s, _ := newTestServer(t, Options{TrustedProxies: tc.trusted})
		var got string
		s.API().GET("/ip", func(c echo.Context) error { got = c.RealIP(); return nil })
		req := httptest.NewRequest(http.MethodGet, "/v1/ip", nil)
		req.RemoteAddr = tc.peer
		req.Header.Set("X-Forwarded-For", tc.xff)
		req.Header.Set("X-Real-IP", "6.6.6.6")
		s.Handler().ServeHTTP(httptest.NewRecorder(), req)
		if got != tc.want {
			t.Errorf("%s: client IP %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestClientIPOfForwardedForWithPort reads an X-Forwarded-For entry written IP:port or
// [IPv6]:port (as some load balancers write it) as that IP, like a bare one; an entry that
// is no address at all still makes the whole header untrusted (the peer is the client).
func TestClientIPOfForwardedForWithPort(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.0.0.0/8")
	const peer = "10.0.0.2:5000"
	for _, tc := range []struct {
		xff  string
		want string
	}{
		{"198.51.100.9:4711", "198.51.100.9"},
		{"[2001:db8::7]:4711", "2001:db8::7"},
		{"2001:db8::7", "2001:db8::7"},
		{"[2001:db8::7]", "2001:db8::7"},
		{"198.51.100.9", "198.51.100.9"},
		{" 198.51.100.9:4711 ", "198.51.100.9"},
		{"1.2.3.4:1, 198.51.100.9:4711", "198.51.100.9"},
		{"198.51.100.9:4711, 10.0.0.3:80", "198.51.100.9"},
		{"198.51.100.9, [10.0.0.3]:80", "198.51.100.9"},
		{"10.0.0.4:80, 10.0.0.3", "10.0.0.4"}, // every hop trusted: the farthest
		// Not an address: the header is not believed, as before.
		{"garbage", "10.0.0.2"},
		{"198.51.100.9:http", "10.0.0.2"},
		{"198.51.100.9:", "10.0.0.2"},
		{"198.51.100.9:99999", "10.0.0.2"},
		{"[2001:db8::7]:", "10.0.0.2"},
		{"[198.51.100.9:4711]", "10.0.0.2"},
		{"example.com:80", "10.0.0.2"},
		{"1.2.3.4, garbage, 198.51.100.9", "198.51.100.9"}, // right-most untrusted reached first
		{"1.2.3.4, 198.51.100.9:x", "10.0.0.2"},
	} {
		s, _ := newTestServer(t, Options{TrustedProxies: []*net.IPNet{proxies}})
		var got string
		s.API().GET("/ip", func(c echo.Context) error { got = c.RealIP(); return nil })
		req := httptest.NewRequest(http.MethodGet, "/v1/ip", nil)
		req.RemoteAddr = peer
		req.Header.Set("X-Forwarded-For", tc.xff)
		s.Handler().ServeHTTP(httptest.NewRecorder(), req)
		if got != tc.want {
			t.Errorf("X-Forwarded-For %q: client IP %q, want %q", tc.xff, got, tc.want)
		}
	}
}

func TestErrorHandler(t *testing.T) {
	s, logs := newTestServer(t, Options{Ready: func(context.Context) error { return errors.New("down") }})
	s.API().GET("/boom", func(echo.Context) error { return fmt.Errorf("query: %w", errors.New("secret internals")) })
	s.API().GET("/panic", func(echo.Context) error { panic("kaboom") })
	s.API().GET("/db", func(echo.Context) error { return fmt.Errorf("x: %w", database.ErrUnavailable) })
	s.API().GET("/busy", func(echo.Context) error { return fmt.Errorf("hash: %w", admission.ErrBusy) })

	for path, want := range map[string]struct {
		status int
		code   string
	}{
		"/v1/boom":  {http.StatusInternalServerError, CodeInternal},
		"/v1/panic": {http.StatusInternalServerError, CodeInternal},
		"/v1/db":    {http.StatusServiceUnavailable, CodeUnavailable},
		"/v1/busy":  {http.StatusServiceUnavailable, CodeUnavailable},
		"/readyz":   {http.StatusServiceUnavailable, CodeUnavailable},
		"/v1/none":  {http.StatusNotFound, CodeNotFound},
	} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var p Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if rec.Code != want.status || p.Status != want.status || p.Code != want.code ||
			rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("X-Request-ID") == "" {
			t.Errorf("%s: %d %+v %v, want %d %s", path, rec.Code, p, rec.Header(), want.status, want.code)
		}
		if strings.Contains(rec.Body.String(), "secret internals") || strings.Contains(rec.Body.String(), "kaboom") {
			t.Errorf("%s: the cause was sent to the client: %s", path, rec.Body)
		}
	}
	for path, want := range map[string]string{"/v1/db": "5", "/v1/busy": "1"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if got := rec.Header().Get("Retry-After"); got != want {
			t.Errorf("%s: Retry-After %q, want %q", path, got, want)
		}
	}
	// A 500 is a bug, logged as an error; a 503 is the service protecting itself, a warning.
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var entry struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if entry.Msg == "panic" {
			continue
		}
		want := map[int]string{500: "ERROR", 503: "WARN"}[entry.Status]
		if want == "" {
			want = "INFO"
		}
		if entry.Level != want {
			t.Errorf("status %d logged at %s, want %s: %s", entry.Status, entry.Level, want, line)
		}
	}
	if !strings.Contains(logs.String(), "secret internals") || !strings.Contains(logs.String(), "kaboom") {
		t.Errorf("5xx causes were not logged:\n%s", logs)
	}
}

// TestSaturationRefusalLogsOneLine: a request refused because the service is saturated
// (admission.ErrBusy) leaves its access log line (a 503, at WARN) and nothing more: under
// a flood there is one such refusal per held connection a second, and a second line with
// the same cause doubled the log for no news (the metrics count the refusals). A lost
// database still logs its cause.
func TestSaturationRefusalLogsOneLine(t *testing.T) {
	s, logs := newTestServer(t, Options{})
	s.API().GET("/busy", func(echo.Context) error { return fmt.Errorf("hash: %w", admission.ErrBusy) })
	s.API().GET("/db", func(echo.Context) error { return fmt.Errorf("x: %w", database.ErrUnavailable) })
	lines := func(path string) []string {
		logs.Reset()
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
		return strings.Split(strings.TrimSpace(logs.String()), "\n")
	}
	if got := lines("/v1/busy"); len(got) != 1 || !strings.Contains(got[0], `"msg":"request"`) || !strings.Contains(got[0], `"status":503`) {
		t.Errorf("a saturation refusal logged %d lines, want its access log line alone:\n%s", len(got), strings.Join(got, "\n"))
	}
	if got := lines("/v1/db"); len(got) != 2 || !strings.Contains(strings.Join(got, "\n"), "database unavailable") {
		t.Errorf("a lost database logged %d lines, want the cause and the access log line:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// TestClientThatHangsUpIsNotAServerError: a client goes away while its request waits (as
// for a hashing slot or the database); the handler fails with the cancelled context's
// error. The access log says 499, and nothing is logged as an error.
func TestClientThatHangsUpIsNotAServerError(t *testing.T) {
	var logs syncWriter
	s := New(Options{}, slog.New(slog.NewJSONHandler(&logs, nil)))
	entered := make(chan struct{})
	s.API().GET("/slow", func(c echo.Context) error {
		close(entered)
		<-c.Request().Context().Done()
		return fmt.Errorf("wait for a slot: %w", c.Request().Context().Err())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "GET /v1/slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered
	conn.Close()

	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"status":499`) {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line with status 499:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) || strings.Contains(logs.String(), `"status":500`) {
		t.Fatalf("a client hanging up was logged as a server error:\n%s", logs.String())
	}
}

// TestAnUnclassifiedDatabaseTimeoutIs503: a driver error that a module passed up without
// database.Classify (a timeout, as pgconn reports one) still answers 503 with
// Retry-After, never 500.
func TestAnUnclassifiedDatabaseTimeoutIs503(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("register: %w", context.DeadlineExceeded),
		fmt.Errorf("register: %w", io.ErrUnexpectedEOF),
	} {
		p := toProblem(err)
		if p.Status != http.StatusServiceUnavailable || p.RetryAfter == 0 {
			t.Errorf("%v: %d (Retry-After %s), want 503 with Retry-After", err, p.Status, p.RetryAfter)
		}
	}
	if p := toProblem(errors.New("a bug")); p.Status != http.StatusInternalServerError {
		t.Errorf("a bug: %d, want 500", p.Status)
	}
}
