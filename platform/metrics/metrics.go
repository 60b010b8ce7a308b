// Package metrics exports the service's Prometheus metrics at GET /metrics: HTTP requests
// by route template and status with latency histograms, password hashing, the email
// outbox, the PostgreSQL pool, and the Go runtime and process collectors. Each Metrics
// has its own registry, so several servers in one process (tests) never mix their series.
//
// Every label value comes from a small fixed set (route templates, status codes, a few
// reason classes): a client cannot create series by what it sends.
package metrics

import (
	"context"
	"log/slog"
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

	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	hashDuration *prometheus.HistogramVec
	hashWait     *prometheus.HistogramVec
	sendFailures *prometheus.CounterVec
	sendDuration prometheus.Histogram
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
			Help: "Time from the request's routing to its answer, by method and route template.",
			// Password hashing puts most requests in 20-200 ms; a saturated server queues
			// them up to PASSWORD_HASH_QUEUE_TIMEOUT and DATABASE_TIMEOUT.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		hashDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "password_hash", Name: "duration_seconds",
			Help: "Time of one argon2id computation, by operation (hash, verify), without the wait for a slot.",
			// argon2id with 19 MiB and 2 passes takes 20-100 ms on one core.
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"op"}),
		hashWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "password_hash", Name: "queue_wait_seconds",
			Help:    "Wait for a password-hashing slot, by outcome (admitted, refused: 503 after PASSWORD_HASH_QUEUE_TIMEOUT or the client left).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"}),
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
	for _, op := range []string{"hash", "verify"} {
		m.hashDuration.WithLabelValues(op)
	}
	for _, outcome := range []string{"admitted", "refused"} {
		m.hashWait.WithLabelValues(outcome)
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.hashDuration, m.hashWait, m.sendFailures, m.sendDuration,
	)
	return m
}

// Registry is where the metrics are registered; a module may add its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

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
			m.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
			m.latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// ObservePasswordHash records one argon2id computation; it is an argon2id.Observer.
func (m *Metrics) ObservePasswordHash(op string, took time.Duration) {
	m.hashDuration.WithLabelValues(op).Observe(took.Seconds())
}

// ObserveHashSlotWait records one wait for a password-hashing slot, admitted or refused;
// it has the signature of the hashing limiter's observer.
func (m *Metrics) ObserveHashSlotWait(wait time.Duration, admitted bool) {
	outcome := "refused"
	if admitted {
		outcome = "admitted"
	}
	m.hashWait.WithLabelValues(outcome).Observe(wait.Seconds())
}

// HashSlots exports the password-hashing slots in use (inUse, read at each scrape) and
// their number.
func (m *Metrics) HashSlots(inUse func() int, slots int) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "password_hash", Name: "slots_in_use",
			Help: "Password-hashing slots taken now.",
		}, func() float64 { return float64(inUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "password_hash", Name: "slots",
			Help: "Password-hashing slots (PASSWORD_HASH_CONCURRENCY).",
		}, func() float64 { return float64(slots) }),
	)
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

func (s *sender) Send(ctx context.Context, msg mail.Message) error {
	start := time.Now()
	err := s.next.Send(ctx, msg)
	s.m.sendDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.sendFailures.WithLabelValues(mail.FailureClass(err)).Inc()
	}
	return err
}
