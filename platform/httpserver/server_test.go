package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

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

func TestErrorHandler(t *testing.T) {
	s, logs := newTestServer(t, Options{Ready: func(context.Context) error { return errors.New("down") }})
	s.API().GET("/boom", func(echo.Context) error { return fmt.Errorf("query: %w", errors.New("secret internals")) })
	s.API().GET("/panic", func(echo.Context) error { panic("kaboom") })
	s.API().GET("/db", func(echo.Context) error { return fmt.Errorf("x: %w", database.ErrUnavailable) })

	for path, want := range map[string]struct {
		status int
		code   string
	}{
		"/v1/boom":  {http.StatusInternalServerError, CodeInternal},
		"/v1/panic": {http.StatusInternalServerError, CodeInternal},
		"/v1/db":    {http.StatusServiceUnavailable, CodeUnavailable},
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
	if !strings.Contains(logs.String(), "secret internals") || !strings.Contains(logs.String(), "kaboom") {
		t.Errorf("5xx causes were not logged:\n%s", logs)
	}
}
