package httpserver

import (
	"bufio"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// serving starts s on a real listener and returns its address and a stop function that
// returns how long Serve took to return, and what it returned.
func serving(t *testing.T, s *Server) (string, func() (time.Duration, error)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var (
		result error
		took   time.Duration
		called bool
	)
	stop := func() (time.Duration, error) {
		if !called {
			called = true
			start := time.Now()
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return")
			}
			took = time.Since(start)
		}
		return took, result
	}
	t.Cleanup(func() { _, _ = stop() })
	return ln.Addr().String(), stop
}

// rawResponse is a response read off the wire, body included.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// rawRequest sends raw on a new connection and returns the response.
func rawRequest(t *testing.T, addr, raw string) rawResponse {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server may answer (431) and close before it has read everything: a failed
	// write is not the test's failure, a missing response is.
	_, werr := io.WriteString(conn, raw)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v (write: %v)", err, werr)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return rawResponse{status: res.StatusCode, header: res.Header, body: body}
}

// withHeaders is a GET of path with n bytes of request line and headers, in headers of
// 100 bytes or so.
func withHeaders(path string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: test\r\n", path)
	for i := 0; b.Len() < n-2; i++ {
		line := fmt.Sprintf("X-Filler-%06d: %s\r\n", i, strings.Repeat("v", 80))
		if left := n - 2 - b.Len(); len(line) > left {
			if left < len("X-F: v\r\n") {
				break
			}
			line = "X-F: " + strings.Repeat("v", left-len("X-F: \r\n")) + "\r\n"
		}
		b.WriteString(line)
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestHeaderLimits: 8 KiB of headers are served; past HeaderLimit the answer is a 431
// problem; past MaxHeaderBytes net/http answers 431 itself.
func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	addr, _ := serving(t, s)

	for _, n := range []int{8 << 10, HeaderLimit} {
		raw := withHeaders("/healthz", n)
		if len(raw) != n {
			t.Fatalf("built %d bytes of headers, want %d", len(raw), n)
		}
		if res := rawRequest(t, addr, raw); res.status != http.StatusOK {
			t.Errorf("%d bytes of headers: %d, want 200", n, res.status)
		}
	}
	for _, n := range []int{HeaderLimit + 1, 32 << 10, MaxHeaderBytes} {
		res := rawRequest(t, addr, withHeaders("/v1/anything", n))
		var p Problem
		if err := json.Unmarshal(res.body, &p); err != nil {
			t.Fatalf("%d bytes of headers: body is not a problem: %v", n, err)
		}
		if res.status != http.StatusRequestHeaderFieldsTooLarge || p.Status != 431 || p.Code != CodeHeadersTooLarge ||
			res.header.Get("Content-Type") != "application/problem+json" || res.header.Get("X-Request-ID") == "" ||
			res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%d bytes of headers: %d %+v %v", n, res.status, p, res.header)
		}
	}
	// Past the hard limit (plus net/http's 4 KiB of slack): net/http's own 431, text/plain,
	// before any handler, so the headers never reach the handler (documented in docs/decisions.md).
	for _, n := range []int{MaxHeaderBytes + 8<<10, 1 << 20} {
		res := rawRequest(t, addr, withHeaders("/healthz", n))
		if res.status != http.StatusRequestHeaderFieldsTooLarge || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") {
			t.Errorf("%d bytes of headers: %d %q, want net/http's 431", n, res.status, res.header.Get("Content-Type"))
		}
	}
}

// TestSecurityHeaders: every response carries nosniff, /v1 responses no-store, errors
// and 404s included.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{Ready: func(context.Context) error { return nil }})
	s.API().GET("/ok", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{}) })
	s.API().GET("/boom", func(echo.Context) error { return fmt.Errorf("boom") })
	s.API().GET("/panic", func(echo.Context) error { panic("kaboom") })
	s.API().POST("/body", func(c echo.Context) error {
		var dst struct{}
		return BindJSON(c, &dst)
	})
	for _, tc := range []struct {
		method, path string
		body         string
		status       int
		v1           bool
	}{
		{http.MethodGet, "/v1/ok", "", 200, true},
		{http.MethodGet, "/v1/boom", "", 500, true},
		{http.MethodGet, "/v1/panic", "", 500, true},
		{http.MethodGet, "/v1/nothing", "", 404, true},
		{http.MethodDelete, "/v1/ok", "", 405, true},
		{http.MethodPost, "/v1/body", "{", 400, true},
		{http.MethodPost, "/v1/body", `{"a":"` + strings.Repeat("x", 70<<10) + `"}`, 413, true},
		{http.MethodGet, "/healthz", "", 200, false},
		{http.MethodHead, "/readyz", "", 200, false},
		{http.MethodGet, "/nothing", "", 404, false},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		cc := rec.Header().Get("Cache-Control")
		if rec.Code != tc.status || rec.Header().Get("X-Content-Type-Options") != "nosniff" ||
			tc.v1 && cc != "no-store" || !tc.v1 && cc != "" {
			t.Errorf("%s %s: %d, headers %v; want %d with nosniff and, on /v1 only, no-store",
				tc.method, tc.path, rec.Code, rec.Header(), tc.status)
		}
	}
}

// TestInvalidUTF8IsMalformedJSON: bytes that are not UTF-8, and escaped surrogate halves
// that encode no character, are refused, not rewritten to U+FFFD.
func TestInvalidUTF8IsMalformedJSON(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	var got string
	s.API().POST("/echo", func(c echo.Context) error {
		var dst struct {
			S string `json:"s"`
		}
		if err := BindJSON(c, &dst); err != nil {
			return err
		}
		got = dst.S
		return c.NoContent(http.StatusNoContent)
	})
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/echo", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	for _, body := range []string{
		"{\"s\":\"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\"}",
		"{\"s\":\"caf\xe9\"}",           // Latin-1
		"{\"s\":\"\xed\xa0\x80\"}",      // a surrogate encoded in UTF-8
		"{\"s\":\"\xc0\xaf\"}",          // overlong
		"{\"s\":\"ok\"}\xff",            // after the value
		"{\"\xff\":\"ok\",\"s\":\"x\"}", // in a key
		`{"s":"\udcff\udcfe"}`,          // low halves alone
		`{"s":"\ud800"}`,                // a high half alone
		`{"s":"\ud800x"}`,               // a high half, then not an escape
		`{"s":"\ud800\u0041"}`,          // a high half, then not a low half
		`{"s":"\\\ud800"}`,              // after an escaped backslash
	} {
		rec := post(body)
		var p Problem
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		if rec.Code != http.StatusBadRequest || p.Code != CodeMalformedJSON {
			t.Errorf("%q: %d %s, want 400 malformed_json", body, rec.Code, rec.Body)
		}
	}
	for body, want := range map[string]string{
		`{"s":"caf\u00e9 \ud83d\ude00"}`: "café 😀",
		`{"s":"\\ud800"}`:                `\ud800`,
		"{\"s\":\"é😀\"}":                 "é😀",
		`{"s":"\ufffd"}`:                 "\ufffd",
	} {
		if rec := post(body); rec.Code != http.StatusNoContent || got != want {
			t.Errorf("%q: %d %s, read %q; want 204 and %q", body, rec.Code, rec.Body, got, want)
		}
	}
}

// TestShutdownCutsASlowClient: a client trickling its body does not hold the shutdown: at
// the end of the drain its connection is closed, Serve returns nil, and the log says what
// was cut.
func TestShutdownCutsASlowClient(t *testing.T) {
	t.Parallel()
	var logs syncWriter
	s := New(Options{DrainTimeout: 300 * time.Millisecond, CutGrace: time.Second},
		slog.New(slog.NewJSONHandler(&logs, nil)))
	reading := make(chan struct{})
	s.API().POST("/slow", func(c echo.Context) error {
		close(reading)
		var dst struct{}
		return BindJSON(c, &dst)
	})
	addr, stop := serving(t, s)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/slow HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	go func() { // one byte every 50 ms, for longer than the test
		for range 1000 {
			time.Sleep(50 * time.Millisecond)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	<-reading

	took, err := stop()
	if err != nil || took > 300*time.Millisecond+time.Second+500*time.Millisecond {
		t.Fatalf("Serve returned %v after %v; want nil within the drain and the cut grace", err, took)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// Closed: an end of file, or a reset when the server closed with our bytes unread.
	if _, err := io.ReadAll(conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the slow client's connection was not closed: %v", err)
	}
	for _, want := range []string{`"msg":"shutdown: drain deadline passed; cutting what is still open"`,
		`"msg":"shutdown: request cut"`, `"path":"/v1/slow"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("a cut request was logged as a 500:\n%s", logs.String())
	}
}

// TestShutdownCancelsWhatIgnoresTheDrain: a handler blocked on its context (as on a
// database query) is cancelled at the end of the drain with ErrShutdown as the cause and
// answers 503; Serve returns nil.
func TestShutdownCancelsWhatIgnoresTheDrain(t *testing.T) {
	t.Parallel()
	var logs syncWriter
	s := New(Options{DrainTimeout: 200 * time.Millisecond, CutGrace: time.Second, DatabaseTimeout: time.Hour},
		slog.New(slog.NewJSONHandler(&logs, nil)))
	waiting := make(chan struct{})
	s.API().GET("/query", func(c echo.Context) error {
		close(waiting)
		<-c.Request().Context().Done()
		return fmt.Errorf("query: %w", c.Request().Context().Err())
	})
	addr, stop := serving(t, s)
	res := make(chan error, 1)
	go func() {
		r, err := http.Get("http://" + addr + "/v1/query")
		if err == nil {
			r.Body.Close()
		}
		res <- err
	}()
	<-waiting
	took, err := stop()
	if err != nil || took > 2*time.Second {
		t.Fatalf("Serve returned %v after %v", err, took)
	}
	if err := <-res; err != nil {
		t.Logf("the client saw its connection closed: %v", err)
	}
	// The cut request's access log line is written as its handler returns, which may come
	// just after Serve did.
	for _, want := range []string{`"msg":"shutdown: request cut"`, `"path":"/v1/query"`, `"status":503`} {
		deadline := time.Now().Add(3 * time.Second)
		for !strings.Contains(logs.String(), want) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs.String())
		}
	}
}

// syncWriter is a buffer safe for the logger's concurrent writes.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
