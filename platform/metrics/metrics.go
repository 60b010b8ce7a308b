// Package metrics exports the service's Prometheus metrics at GET /metrics: the
// platform's own (HTTP requests by route template and status with latency histograms, the
// email outbox, the job system, the PostgreSQL pool, the maintenance tasks, the Go runtime
// and process collectors) and whatever the modules register on Registerer. Each Metrics has its own
// registry, so several servers in one process (tests) never mix their series.
//
// Every label value comes from a small fixed set (route templates, status codes, a few
// reason classes): a client cannot create series by what it sends.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox"
)

// Namespace prefixes every metric of the service (but the Go and process collectors').
const Namespace = "identity"

// Metrics is the service's metrics and their registry.
type Metrics struct {
	reg    *prometheus.Registry
	logger *slog.Logger

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// adminRequests and adminLatency are the administration listener's (ADMIN_ADDR):
	// series of their own, so its routes never mix with the public API's.
	adminRequests *prometheus.CounterVec
	adminLatency  *prometheus.HistogramVec
	sendFailures  *prometheus.CounterVec
	sendDuration  prometheus.Histogram
}

// New returns the metrics of one server, the Go runtime and process collectors included.
func New(logger *slog.Logger) *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		logger: logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help: "Time from the request's routing to its answer, by method, route template and status.",
			// From a millisecond (a refusal, a health check) to the request timeouts of a
			// saturated server; a module's CPU-bound step (tens to hundreds of ms) falls in
			// the middle.
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
		adminRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "admin_http", Name: "requests_total",
			Help: "Administration API requests (ADMIN_ADDR) answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		adminLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "admin_http", Name: "request_duration_seconds",
			Help:    "Time from an administration API request's routing to its answer, by method, route template and status.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
		sendFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "outbox", Name: "emails_failed_total",
			Help: "Email delivery attempts that failed, by reason class (timeout, connection, rejected_temporary, rejected_permanent, other).",
		}, []string{"class"}),
		sendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "outbox", Name: "send_duration_seconds",
			Help:    "Time of one email delivery attempt to the mail provider, success or failure.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	for _, class := range mail.FailureClasses {
		m.sendFailures.WithLabelValues(class) // every class is exported from the start, at 0
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.adminRequests, m.adminLatency, m.sendFailures, m.sendDuration,
	)
	return m
}

// Registry is where the metrics are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Registerer is where a module registers its own metrics (module.Platform.Metrics). A
// module names its series after itself (identity_..., payment_...) and keeps their labels
// to small fixed sets.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Handler serves the metrics in the Prometheus text format (OpenMetrics when asked). A
// collector that fails (the database is down) leaves its series out; the rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	})
}

// knownMethods are the methods counted by name; any other is "other".
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// Middleware counts and times every request by method, route template (never the raw
// path: an unknown path is "(none)") and status. It renders an error itself, so it sees
// the status the client gets; mount it outside the access log.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return observe(m.requests, m.latency)
}

// AdminMiddleware is Middleware for the administration listener: its requests are
// counted and timed in identity_admin_http_* (the jobs dashboard's as its one route
// template /admin/jobs/*), never in the public API's series.
func (m *Metrics) AdminMiddleware() echo.MiddlewareFunc {
	return observe(m.adminRequests, m.adminLatency)
}

func observe(requests *prometheus.CounterVec, latency *prometheus.HistogramVec) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			method := c.Request().Method
			if !knownMethods[method] {
				method = "other"
			}
			route := c.Path()
			if route == "" {
				route = "(none)"
			}
			status := strconv.Itoa(c.Response().Status)
			requests.WithLabelValues(method, route, status).Inc()
			latency.WithLabelValues(method, route, status).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// Sender wraps the outbox's sender: every delivery attempt is timed, and a failure is
// counted by its class.
func (m *Metrics) Sender(next outbox.Sender) outbox.Sender {
	return &sender{next: next, m: m}
}

type sender struct {
	next outbox.Sender
	m    *Metrics
}

// MaxConcurrent passes on what the wrapped sender sends at once (outbox.SenderConcurrency).
func (s *sender) MaxConcurrent() int { return outbox.SenderConcurrency(s.next) }

func (s *sender) Send(ctx context.Context, msg mail.Message) error {
	start := time.Now()
	err := s.next.Send(ctx, msg)
	s.m.sendDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.sendFailures.WithLabelValues(mail.FailureClass(err)).Inc()
	}
	return err
}

// Serve serves GET /metrics alone on ln until ctx ends (METRICS_ADDR: an address the
// network keeps internal), then closes within a second.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 15 * time.Second}
	stopped := make(chan error, 1)
	context.AfterFunc(ctx, func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		stopped <- srv.Shutdown(shutdownCtx)
	})
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	if err := <-stopped; err != nil {
		_ = srv.Close()
	}
	return nil
}
