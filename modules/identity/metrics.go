package identity

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acme/identity/modules/identity/adapter/argon2id"
	"github.com/acme/identity/modules/identity/adapter/postgres"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/admission"
	platformmetrics "github.com/acme/identity/platform/metrics"
)

// namespace prefixes identity's series: identity_password_hash_..., identity_activation_...
const namespace = "identity"

// metrics are identity's own series, registered on the platform's registerer: password
// hashing (time, queue wait, slots) and the outcomes an operator alerts on during an
// attack (wrong codes, wrong passwords, delayed sign-ins, requests a limit held back).
// Every label value comes from a fixed set named here or by the domain.
type metrics struct {
	hashDuration   *prometheus.HistogramVec
	hashWait       *prometheus.HistogramVec
	wrongCodes     prometheus.Counter
	wrongPasswords prometheus.Counter
	limited        *prometheus.CounterVec
	signIns        prometheus.Counter
	resets         *prometheus.CounterVec
	emailChanges   *prometheus.CounterVec
	deletions      prometheus.Counter
	signOuts       *prometheus.CounterVec
	// liveSessions is the last estimate of the sessions held (refreshSessions); negative:
	// none read yet, or the last read failed.
	liveSessions atomic.Int64
	// events counts the account events committed, by type (observeEvent).
	events *prometheus.CounterVec
	// deliveries counts webhook delivery attempts by outcome (observeDelivery).
	deliveries *prometheus.CounterVec
	// undeliveredSince is when the oldest webhook delivery not finished yet was queued,
	// in Unix nanoseconds (refreshUndelivered); 0: none; -1: not read yet, or the last
	// read failed.
	undeliveredSince atomic.Int64
}

// sessionsRefresh is how often a replica reads the estimate of the sessions for the gauge.
const sessionsRefresh = 30 * time.Second

// limitReasons are the RetryLaterError reasons, each exported from the start at 0.
var limitReasons = []domain.Reason{
	domain.ReasonResendInterval, domain.ReasonCodeBudget, domain.ReasonGuessBudget,
	domain.ReasonClientCodeBudget, domain.ReasonClientGuessBudget, domain.ReasonSignInDelay,
	domain.ReasonCodeLocked, domain.ReasonResetGuessBudget,
}

// newMetrics registers identity's series on reg, but the hashing gate's (registerSlots).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		hashDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "password_hash", Name: "duration_seconds",
			Help: "Time of one argon2id computation, by operation (hash, verify), without the wait for a slot.",
			// argon2id with 19 MiB and 2 passes takes 20-100 ms on one core.
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"op"}),
		hashWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "password_hash", Name: "queue_wait_seconds",
			Help:    "Wait for a password-hashing slot, by outcome (admitted, refused: 503 when the queue is full, after PASSWORD_HASH_QUEUE_TIMEOUT, or the client left).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"}),
		wrongCodes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "activation", Name: "wrong_codes_total",
			Help: "Activation attempts with a wrong or expired code (a rise is someone guessing codes).",
		}),
		wrongPasswords: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "sign_in", Name: "failures_total",
			Help: "Sign-ins refused for their credentials: a wrong password, an unknown email or a user that is no email (a rise is someone guessing passwords).",
		}),
		signIns: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "sessions", Name: "started_total",
			Help: "Sign-ins (POST /v1/sessions) that started a session.",
		}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "password_resets", Name: "total",
			Help: "Password resets by outcome: requested (whatever was sent: the answer is the same), confirmed, wrong_code (a confirmation with a code that is not the latest live one, unknown emails included).",
		}, []string{"outcome"}),
		emailChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "email_changes", Name: "total",
			Help: "Email changes by outcome: requested (a code issued, whether or not it was emailed: the answer is the same), confirmed, wrong_code (a confirmation with a code that is not the latest live one, or for a taken address).",
		}, []string{"outcome"}),
		deletions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "accounts", Name: "deleted_total",
			Help: "Accounts deleted by their owner (DELETE /v1/users/me).",
		}),
		signOuts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "sessions", Name: "ended_total",
			Help: "Sessions ended on request, by reason (sign_out: one; sign_out_everywhere and password_change: all of an account, counted once).",
		}, []string{"reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "account_events", Name: "written_total",
			Help: "Account events written to the audit trail by committed changes, by type.",
		}, []string{"type"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "webhooks", Name: "deliveries_total",
			Help: "Webhook delivery attempts on this replica by outcome: delivered (2xx), failed_attempt (anything else: retried), gave_up (the last attempt failed), gone (410: the endpoint is disabled), skipped (the endpoint was deleted or disabled, or the event gone: nothing sent).",
		}, []string{"outcome"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_limited_total",
			Help: "Requests a limit held back with 429, by reason (sign_in_delay: a sign-in delayed after too many wrong passwords for its email).",
		}, []string{"reason"}),
	}
	for _, op := range []string{argon2id.OpHash, argon2id.OpVerify} {
		m.hashDuration.WithLabelValues(op)
	}
	for _, outcome := range []string{"admitted", "refused"} {
		m.hashWait.WithLabelValues(outcome)
	}
	for _, r := range limitReasons {
		m.limited.WithLabelValues(string(r))
	}
	for _, o := range []string{"requested", "confirmed", "wrong_code"} {
		m.resets.WithLabelValues(o)
	}
	for _, o := range []string{"requested", "confirmed", "wrong_code"} {
		m.emailChanges.WithLabelValues(o)
	}
	for _, r := range []string{"sign_out", "sign_out_everywhere", "password_change"} {
		m.signOuts.WithLabelValues(r)
	}
	for _, kind := range []string{domain.EventRegistered, domain.EventActivated, domain.EventSignedIn,
		domain.EventPasswordChanged, domain.EventPasswordReset, domain.EventEmailChanged, domain.EventSessionsRevoked,
		domain.EventDeleted} {
		m.events.WithLabelValues(kind)
	}
	for _, o := range postgres.DeliveryOutcomes {
		m.deliveries.WithLabelValues(o)
	}
	m.undeliveredSince.Store(-1)
	undelivered := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "webhooks", Name: "oldest_undelivered_seconds",
		Help: "Age of the oldest webhook delivery not finished yet (queued, retrying or running), across every replica; 0 when none. Read every 5 s; -1 until a read succeeds, and while the database is lost.",
	}, func() float64 {
		since := m.undeliveredSince.Load()
		switch {
		case since < 0:
			return -1
		case since == 0:
			return 0
		}
		return time.Since(time.Unix(0, since)).Seconds()
	})
	m.liveSessions.Store(-1)
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "sessions", Name: "live",
		Help: "Sessions held across every replica: live, or ended and not yet purged (purged every MAINTENANCE_INTERVAL). PostgreSQL's estimate of the rows of identity.sessions (its statistics, no scan), read every 30 s; -1 until a read succeeds, and while the database is lost.",
	}, func() float64 { return float64(m.liveSessions.Load()) })
	if err := register(reg, m.hashDuration, m.hashWait, m.wrongCodes, m.wrongPasswords, m.limited,
		m.signIns, m.signOuts, m.resets, m.emailChanges, m.deletions, m.events, live, m.deliveries, undelivered); err != nil {
		return nil, err
	}
	return m, nil
}

// observeDelivery counts a webhook delivery attempt by its outcome.
func (m *metrics) observeDelivery(outcome string) { m.deliveries.WithLabelValues(outcome).Inc() }

// undeliveredRefresh is how often a replica reads the oldest undelivered webhook.
const undeliveredRefresh = 5 * time.Second

// refreshUndelivered reads when the oldest unfinished delivery was queued, every
// undeliveredRefresh until ctx ends, so a scrape runs no query.
func (m *metrics) refreshUndelivered(oldest func(context.Context) (time.Time, error)) func(ctx context.Context) error {
	return platformmetrics.Every(undeliveredRefresh, func(ctx context.Context) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		at, err := oldest(qctx)
		switch {
		case err != nil:
			m.undeliveredSince.Store(-1)
		case at.IsZero():
			m.undeliveredSince.Store(0)
		default:
			m.undeliveredSince.Store(at.UnixNano())
		}
	})
}

// observeEvent counts an account event of type kind that a change committed.
func (m *metrics) observeEvent(kind string) { m.events.WithLabelValues(kind).Inc() }

// refreshSessions reads the estimate of the sessions held every sessionsRefresh until ctx
// ends, so a scrape reads a number and runs no query. The estimate reads no table: a count
// of the live sessions scanned millions of index entries on every replica every 30 s
// (docs/decisions.md).
func (m *metrics) refreshSessions(count func(context.Context) (int64, error)) func(ctx context.Context) error {
	return platformmetrics.Every(sessionsRefresh, func(ctx context.Context) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		n, err := count(qctx)
		if err != nil {
			n = -1
		}
		m.liveSessions.Store(n)
	})
}

// registerSlots exports the hashing gate: its slots in use and its queue (read at each
// scrape), and its number of slots.
func (m *metrics) registerSlots(reg prometheus.Registerer, gate *admission.Gate, slots int) error {
	return register(reg,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "password_hash", Name: "queue_length",
			Help: "Requests waiting for a password-hashing slot now (at most PASSWORD_HASH_QUEUE_LENGTH).",
		}, func() float64 { return float64(gate.Waiting()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "password_hash", Name: "slots_in_use",
			Help: "Password-hashing slots taken now.",
		}, func() float64 { return float64(gate.InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "password_hash", Name: "slots",
			Help: "Password-hashing slots (PASSWORD_HASH_CONCURRENCY).",
		}, func() float64 { return float64(slots) }),
	)
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// observeHash records one argon2id computation; it is an argon2id.Observer.
func (m *metrics) observeHash(op string, took time.Duration) {
	m.hashDuration.WithLabelValues(op).Observe(took.Seconds())
}

// observeWait records one wait for a hashing slot; it is an admission.Observer.
func (m *metrics) observeWait(wait time.Duration, admitted bool) {
	outcome := "refused"
	if admitted {
		outcome = "admitted"
	}
	m.hashWait.WithLabelValues(outcome).Observe(wait.Seconds())
}

// observeUseCase counts the outcomes of a use case an operator alerts on; it is an
// app.Observer.
func (m *metrics) observeUseCase(useCase string, err error) {
	var (
		wrong *domain.InvalidCodeError
		later *domain.RetryLaterError
	)
	switch {
	case err == nil:
		switch useCase {
		case "SignIn":
			m.signIns.Inc()
		case "SignOut":
			m.signOuts.WithLabelValues("sign_out").Inc()
		case "SignOutEverywhere":
			m.signOuts.WithLabelValues("sign_out_everywhere").Inc()
		case "ChangePassword":
			m.signOuts.WithLabelValues("password_change").Inc()
		case "RequestReset":
			m.resets.WithLabelValues("requested").Inc()
		case "ConfirmReset":
			m.resets.WithLabelValues("confirmed").Inc()
		case "RequestEmailChange":
			m.emailChanges.WithLabelValues("requested").Inc()
		case "ConfirmEmailChange":
			m.emailChanges.WithLabelValues("confirmed").Inc()
		case "DeleteAccount":
			m.deletions.Inc()
		}
	case errors.Is(err, domain.ErrInvalidResetCode):
		m.resets.WithLabelValues("wrong_code").Inc()
	case errors.Is(err, domain.ErrInvalidEmailChangeCode):
		m.emailChanges.WithLabelValues("wrong_code").Inc()
	case errors.As(err, &wrong):
		m.wrongCodes.Inc()
	case errors.As(err, &later):
		m.limited.WithLabelValues(string(later.Reason)).Inc()
	case useCase == "Authenticate" && errors.Is(err, domain.ErrUnauthorized):
		m.wrongPasswords.Inc()
	}
}
