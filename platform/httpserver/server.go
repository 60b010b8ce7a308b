// Package httpserver builds the HTTP server every module mounts its routes on: echo with
// request ids, a body limit, panic recovery, an access log, the client-IP policy, the
// per-IP rate limit, the health routes, and the one error handler that renders RFC 9457 problem documents.
package httpserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// BodyLimit is the largest request body accepted (413 past it).
const BodyLimit = "64K"

// Options configure a Server.
type Options struct {
	// TrustedProxies are the proxies whose X-Forwarded-For names the client; empty: the
	// TCP peer is the client.
	TrustedProxies []*net.IPNet
	// Ready reports whether the service can serve (the database answers); /readyz.
	Ready func(context.Context) error
	// RateLimitPerIP is the requests per second each client IP may send to /v1, with a
	// burst of twice that; 0 disables the limit.
	RateLimitPerIP float64
	// ClientIPv6Prefix groups IPv6 clients by this prefix length (ClientFrom); zero: 64.
	ClientIPv6Prefix int
	// Observers wrap every request outside the access log, in this order (tracing, then
	// metrics): they see the status the client gets, and what they put in the request's
	// context (a span) reaches the access log. Each renders an error it gets itself.
	Observers []echo.MiddlewareFunc
	// OpenAPI, when set, is served at GET /openapi.yaml as application/yaml.
	OpenAPI []byte
	// Metrics, when set, serves GET /metrics.
	Metrics http.Handler
	// DatabaseTimeout is the budget of each request's database work (database.WithBudget);
	// zero: none.
	DatabaseTimeout time.Duration
	// DrainTimeout and CutGrace time the shutdown; zero: the constants of the same names.
	DrainTimeout, CutGrace time.Duration
}

// Server is the service's HTTP server.
type Server struct {
	echo    *echo.Echo
	api     *echo.Group
	logger  *slog.Logger
	tracker *tracker

	drainTimeout, cutGrace time.Duration
}

// New returns a server with the platform's middleware and health routes; modules add
// their routes to API().
func New(opts Options, logger *slog.Logger) *Server {
	return newServer(opts, logger, false)
}

// AdminPrefix is the path of the administration API's group (NewAdmin's API()).
const AdminPrefix = "/admin/v1"

// AdminOpenAPIPath is where NewAdmin serves Options.OpenAPI.
const AdminOpenAPIPath = "/admin/openapi.yaml"

// NewAdmin returns the server of the administration listener (ADMIN_ADDR): the same
// middleware as New (request ids, problem documents, nosniff, the header and body limits,
// the access log, the drain at shutdown), but no health routes, no /metrics and no per-IP
// rate limit (RateLimitPerIP, Ready and Metrics are ignored). Its API() is the group at
// AdminPrefix, every response is no-store, and Options.OpenAPI is served at
// AdminOpenAPIPath. The caller adds the key check (platform/admin).
func NewAdmin(opts Options, logger *slog.Logger) *Server {
	opts.RateLimitPerIP, opts.Ready, opts.Metrics = 0, nil, nil
	return newServer(opts, logger, true)
}

func newServer(opts Options, logger *slog.Logger, admin bool) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = ipExtractor(opts.TrustedProxies)
	e.HTTPErrorHandler = errorHandler(logger)
	e.Server.ReadHeaderTimeout = 10 * time.Second
	e.Server.ReadTimeout = 30 * time.Second
	e.Server.IdleTimeout = 120 * time.Second
	e.Server.MaxHeaderBytes = MaxHeaderBytes
	t := newTracker()
	e.Server.ConnState = t.connState

	noStore := onAPI
	if admin {
		noStore = func(echo.Context) bool { return true }
	}
	e.Use(requestID(), securityHeaders(noStore))
	e.Use(opts.Observers...)
	e.Use(
		accessLog(logger),
		t.middleware(),
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				logger.ErrorContext(c.Request().Context(), "panic",
					slog.String("request_id", RequestID(c)), slog.Any("error", err), slog.String("stack", string(stack)))
				return err
			},
		}),
		headerLimit(),
		middleware.BodyLimit(BodyLimit),
		databaseBudget(opts.DatabaseTimeout),
		clientContext(cmp.Or(opts.ClientIPv6Prefix, 64)),
	)
	if opts.RateLimitPerIP > 0 {
		e.Use(rateLimit(newIPLimiter(opts.RateLimitPerIP, time.Now)))
	}

	if admin {
		if opts.OpenAPI != nil {
			e.GET(AdminOpenAPIPath, func(c echo.Context) error {
				return c.Blob(http.StatusOK, "application/yaml", opts.OpenAPI)
			})
		}
		return &Server{echo: e, api: e.Group(AdminPrefix), logger: logger, tracker: t,
			drainTimeout: cmp.Or(opts.DrainTimeout, DrainTimeout), cutGrace: cmp.Or(opts.CutGrace, CutGrace)}
	}

	probe := []string{http.MethodGet, http.MethodHead} // some probes send HEAD
	e.Match(probe, "/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	ready := &readiness{check: opts.Ready, every: ReadyEvery, now: time.Now}
	e.Match(probe, "/readyz", func(c echo.Context) error {
		if opts.Ready != nil {
			if err := ready.ready(c.Request().Context()); err != nil {
				p := NewProblem(http.StatusServiceUnavailable, CodeUnavailable, "The database does not answer.")
				p.Cause = err
				return p
			}
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})

	if opts.OpenAPI != nil {
		e.GET("/openapi.yaml", func(c echo.Context) error {
			return c.Blob(http.StatusOK, "application/yaml", opts.OpenAPI)
		})
	}
	if opts.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(opts.Metrics))
	}

	s := &Server{echo: e, api: e.Group(APIPrefix), logger: logger, tracker: t,
		drainTimeout: DrainTimeout, cutGrace: CutGrace}
	if opts.DrainTimeout > 0 {
		s.drainTimeout = opts.DrainTimeout
	}
	if opts.CutGrace > 0 {
		s.cutGrace = opts.CutGrace
	}
	return s
}

// API is the /v1 route group modules mount on.
func (s *Server) API() *echo.Group { return s.api }

// Group is a route group at prefix beside API(), behind m (the administration
// listener's jobs dashboard).
func (s *Server) Group(prefix string, m ...echo.MiddlewareFunc) *echo.Group {
	return s.echo.Group(prefix, m...)
}

// Use adds m after the platform's middleware, around every request once it is routed,
// unknown routes and wrong methods included (the administration listener's key check).
// Unlike middleware on a group, it keeps a wrong method a 405.
func (s *Server) Use(m ...echo.MiddlewareFunc) { s.echo.Use(m...) }

// Handler is the server as an http.Handler, for tests.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists the method and path of every route served, for tests.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

// Serve serves on ln until ctx ends, then stops accepting, drains in-flight requests for
// at most DrainTimeout, cuts what is still open (see shutdown), and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Request contexts descend from base, so the cut can cancel them all.
	base, cancelRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRequests(nil)
	s.echo.Server.BaseContext = func(net.Listener) context.Context { return base }
	s.echo.Listener = ln
	errc := make(chan error, 1)
	go func() { errc <- s.echo.Start("") }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.shutdown(ctx, cancelRequests)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// ipExtractor picks the client IP: the TCP peer, or, behind trusted proxies only, the
// right-most untrusted address of X-Forwarded-For. Nothing else is believed, so a client
// cannot choose its own IP (and its own rate limit) by sending the header. An entry may be
// written IP, [IPv6], IP:port or [IPv6]:port (some load balancers add the port); one that
// is none of these makes the header untrusted, and the peer is the client.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	isTrusted := func(ip net.IP) bool {
		return slices.ContainsFunc(trusted, func(n *net.IPNet) bool { return n.Contains(ip) })
	}
	return func(req *http.Request) string {
		peer := echo.ExtractIPDirect()(req)
		xffs := req.Header.Values(echo.HeaderXForwardedFor)
		if len(xffs) == 0 {
			return peer
		}
		entries := append(strings.Split(strings.Join(xffs, ","), ","), peer)
		var ip net.IP
		for i := len(entries) - 1; i >= 0; i-- {
			if ip = forwardedIP(entries[i]); ip == nil {
				return peer
			}
			if !isTrusted(ip) {
				return ip.String()
			}
		}
		return ip.String() // every hop is trusted: the farthest
	}
}

// forwardedIP is the address of one X-Forwarded-For entry (IP, [IPv6], IP:port or
// [IPv6]:port), or nil.
func forwardedIP(entry string) net.IP {
	entry = strings.TrimSpace(entry)
	if ip := net.ParseIP(entry); ip != nil {
		return ip
	}
	if inner, ok := strings.CutPrefix(entry, "["); ok {
		if inner, ok := strings.CutSuffix(inner, "]"); ok {
			return net.ParseIP(inner)
		}
	}
	host, port, err := net.SplitHostPort(entry)
	if err != nil {
		return nil
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil
	}
	return net.ParseIP(host)
}
