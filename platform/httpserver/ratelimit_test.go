package httpserver

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestIPLimiterBurstThenRate(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	l := newIPLimiter(2, clock.now) // 2/s, burst 4
	for i := range 4 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("5th request: allowed %v, wait %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another client was refused: buckets must be per client")
	}
	clock.advance(500 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("a token refilled after 1/rate was refused")
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("a second request before the next token was allowed")
	}
}

func TestIPLimiterForgetsOnlyFullBuckets(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	l := newIPLimiter(1, clock.now) // burst 2, ttl 2s
	// A client that keeps asking stays limited across rotations: its bucket moves to the
	// current generation each time it is seen.
	for step := range 10 {
		l.allow("busy")
		if ok, _ := l.allow("busy"); ok && step > 0 {
			t.Fatalf("step %d: a client over its rate was allowed after a rotation", step)
		}
		clock.advance(time.Second)
	}
	// Thousands of clients passing once are forgotten once they have been idle two ttls.
	for i := range 5000 {
		l.allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	clock.advance(2 * l.ttl)
	l.allow("late")
	clock.advance(l.ttl)
	l.allow("late")
	if n := l.size(); n > 2 {
		t.Fatalf("the limiter remembers %d clients after everyone else left, want at most 2", n)
	}
}

func TestIPLimiterMemoryIsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	l := newIPLimiter(20, clock.now)
	l.max = 1000
	for i := range 50_000 { // a flood of distinct addresses within one second
		l.allow(fmt.Sprintf("2001:db8:%x::1", i))
	}
	if n := l.size(); n > 2*l.max {
		t.Fatalf("the limiter remembers %d clients, want at most %d", n, 2*l.max)
	}
}

func TestClientKeyGroupsIPv6ByPrefix(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.7":            "203.0.113.7",
		"::ffff:203.0.113.7":     "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::abc": "2001:db8:1:2::/64",
		"not an ip":              "not an ip",
	} {
		if got := clientKey(ip, 64); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", ip, got, want)
		}
	}
}

func TestRateLimitOnV1Only(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.0.0.0/8")
	s, _ := newTestServer(t, Options{RateLimitPerIP: 1, TrustedProxies: []*net.IPNet{proxies}})
	s.API().GET("/thing", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	do := func(path, peer, xff string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = peer
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	// A client spoofing a new X-Forwarded-For each time is still one client: its peer.
	for i := range 2 {
		if rec := do("/v1/thing", "203.0.113.7:5000", fmt.Sprintf("198.51.100.%d", i)); rec.Code != http.StatusNoContent {
			t.Fatalf("request %d within the burst: %d", i+1, rec.Code)
		}
	}
	rec := do("/v1/thing", "203.0.113.7:5001", "198.51.100.99")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" ||
		rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("3rd request: %d, Retry-After %q, %s; want 429 problem with Retry-After 1",
			rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if got := do("/v1/nowhere", "203.0.113.7:5002", "").Code; got != http.StatusTooManyRequests {
		t.Fatalf("an unknown /v1 route past the limit: %d, want 429", got)
	}
	if got := do("/healthz", "203.0.113.7:5003", "").Code; got != http.StatusOK {
		t.Fatalf("/healthz past the /v1 limit: %d, want 200 (not limited)", got)
	}
	// Behind a trusted proxy, the clients it names are counted apart.
	for i := range 3 {
		if rec := do("/v1/thing", "10.0.0.2:6000", fmt.Sprintf("198.51.100.%d", 10+i)); rec.Code != http.StatusNoContent {
			t.Fatalf("client %d behind the trusted proxy: %d", i, rec.Code)
		}
	}
}

func TestRateLimitZeroDisables(t *testing.T) {
	s, _ := newTestServer(t, Options{})
	s.API().GET("/thing", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	for i := range 100 {
		req := httptest.NewRequest(http.MethodGet, "/v1/thing", nil)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("request %d with the limit off: %d", i, rec.Code)
		}
	}
}
