package httpserver

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// maxLimiterEntries bounds the clients one generation of the per-IP limiter remembers.
// Past it the limiter forgets early (see ipLimiter): memory stays bounded however many
// addresses pass, at the price of leniency towards a flood from more addresses than this.
const maxLimiterEntries = 100_000

// ipLimiter is a token bucket (golang.org/x/time/rate) per client: rate per second,
// burst twice that. Buckets live in two generations of maps. A bucket idle for
// burst/rate is full again, so forgetting it changes nothing: every ttl (at least that
// long) the current generation becomes the previous one and the previous one is dropped,
// and a client seen again is moved back to the current one. A client is remembered at
// most 2×ttl after its last request, and a generation never holds more than
// maxLimiterEntries clients (it is rotated early when full).
type ipLimiter struct {
	limit rate.Limit
	burst int
	ttl   time.Duration
	max   int
	now   func() time.Time

	mu        sync.Mutex
	cur, prev map[string]*rate.Limiter
	rotated   time.Time
}

func newIPLimiter(perSecond float64, now func() time.Time) *ipLimiter {
	burst := max(1, int(math.Ceil(2*perSecond)))
	ttl := max(time.Duration(float64(burst)/perSecond*float64(time.Second)), time.Second)
	return &ipLimiter{
		limit: rate.Limit(perSecond), burst: burst, ttl: ttl, max: maxLimiterEntries, now: now,
		cur: map[string]*rate.Limiter{}, prev: map[string]*rate.Limiter{}, rotated: now(),
	}
}

// allow takes a token from key's bucket, or says how long until one is there.
func (l *ipLimiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.rotated) >= l.ttl || len(l.cur) >= l.max {
		l.prev, l.cur, l.rotated = l.cur, make(map[string]*rate.Limiter, len(l.cur)), now
	}
	lim, ok := l.cur[key]
	if !ok {
		if lim, ok = l.prev[key]; ok {
			delete(l.prev, key)
		} else {
			lim = rate.NewLimiter(l.limit, l.burst)
		}
		l.cur[key] = lim
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// size is how many clients the limiter remembers.
func (l *ipLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.prev)
}

// clientKey is whom a request is counted against: the client IP of the explicit
// extractor (never a spoofed X-Forwarded-For), an IPv6 client by its prefix of
// ipv6Prefix bits (CLIENT_IPV6_PREFIX, /64 by default: the block one subscriber usually
// holds), so rotating addresses inside it does not escape a limit.
func clientKey(ip string, ipv6Prefix int) string {
	parsed := net.ParseIP(ip)
	if parsed == nil {
		return ip
	}
	if v4 := parsed.To4(); v4 != nil {
		return v4.String()
	}
	return fmt.Sprintf("%s/%d", parsed.Mask(net.CIDRMask(ipv6Prefix, 128)), ipv6Prefix)
}

type clientCtxKey struct{}

// ClientFrom returns the client of a request's context (clientKey): the key of every
// per-client limit and budget, here and in the modules. Empty outside a request.
func ClientFrom(ctx context.Context) string {
	client, _ := ctx.Value(clientCtxKey{}).(string)
	return client
}

// clientContext puts the request's client (ClientFrom) in its context.
func clientContext(ipv6Prefix int) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), clientCtxKey{}, clientKey(c.RealIP(), ipv6Prefix))))
			return next(c)
		}
	}
}

// rateLimit answers 429 rate_limited with Retry-After to a client over its rate on the
// API (APIPrefix); other routes (health, metrics) are not limited.
func rateLimit(l *ipLimiter) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !onAPI(c) {
				return next(c)
			}
			if ok, wait := l.allow(ClientFrom(c.Request().Context())); !ok {
				p := NewProblem(http.StatusTooManyRequests, CodeRateLimited,
					"Too many requests from this address; retry after the time in Retry-After.")
				p.RetryAfter = wait
				return p
			}
			return next(c)
		}
	}
}
