package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox/internal/sqlcgen"
)

// Sender delivers one email. An error that mail.IsRejected reports permanent ends the
// email for good (failed); any other is retried with backoff.
type Sender interface {
	Send(ctx context.Context, m mail.Message) error
}

// concurrentSender is a Sender that sends a bounded number of emails at once (the SMTP
// transport: one per pooled connection); the dispatcher sends that many at a time.
type concurrentSender interface {
	MaxConcurrent() int
}

// SenderConcurrency is how many emails sender sends at once when it says so
// (MaxConcurrent), else 0. A wrapper of a sender (metrics, tracing) offers MaxConcurrent
// by returning SenderConcurrency of what it wraps, so the dispatcher still sees it.
func SenderConcurrency(sender Sender) int {
	if cs, ok := sender.(concurrentSender); ok {
		return cs.MaxConcurrent()
	}
	return 0
}

// Options tune a Dispatcher. Zero fields take the defaults of DefaultOptions.
type Options struct {
	// Concurrency is how many emails are sent at once, so a provider that hangs on one
	// email does not hold the others back, and the rate grows with the connections. Zero:
	// the sender's MaxConcurrent() when it has one (SMTP_MAX_CONNECTIONS), else
	// DefaultOptions.Concurrency.
	Concurrency int
	// SendTimeout bounds one delivery attempt.
	SendTimeout time.Duration
	// Lease is how long a claim lasts: a replica that dies mid-send leaves its emails to
	// be claimed again after it. It must exceed SendTimeout.
	Lease time.Duration
	// MinBackoff and MaxBackoff bound the delay before a retry: it doubles with every
	// failed attempt from MinBackoff, with jitter, never above MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is the longest the dispatcher sleeps without a look at the queue, in
	// case a notification was lost (a pooler without LISTEN, a dropped connection).
	PollInterval time.Duration
	// ShutdownGrace is how long sends under way may finish once Run's context ends;
	// then they are cancelled and their emails handed back to the queue.
	ShutdownGrace time.Duration
	// AbandonAfter is how long Run then waits for the cancelled sends before it returns
	// without them (a sender that ignores its context): their emails keep their leases,
	// which run out, and another replica sends them.
	AbandonAfter time.Duration
	// QueryTimeout bounds each of the dispatcher's database calls (DATABASE_TIMEOUT), so
	// a slow or black-holed database never holds the loop.
	QueryTimeout time.Duration
	// ListenURL, when set, is where the dispatcher LISTENs, on a connection of its own:
	// straight to PostgreSQL (DATABASE_DIRECT_URL) when the pool goes through a
	// transaction-mode pooler, where LISTEN holds for one transaction only. Empty: on a
	// connection taken from the pool.
	ListenURL string
}

// DefaultOptions are the production settings.
var DefaultOptions = Options{
	Concurrency:   8,
	SendTimeout:   10 * time.Second,
	Lease:         30 * time.Second,
	MinBackoff:    time.Second,
	MaxBackoff:    30 * time.Second,
	PollInterval:  2 * time.Second,
	ShutdownGrace: 5 * time.Second,
	AbandonAfter:  2 * time.Second,
	QueryTimeout:  5 * time.Second,
}

// Stats counts what a dispatcher did since it started: emails Sent, failed attempts that
// will be retried (Failed), emails Rejected for good by the server (recorded failed),
// emails Dropped because their content expired, and emails Released unsent at shutdown.
type Stats struct {
	Sent, Failed, Dropped, Released, Rejected int64
}

// Dispatcher sends the emails of the outbox. Several dispatchers, in one process or in
// several replicas, can share one database: SKIP LOCKED claims and leases keep any two
// from sending one email at once.
type Dispatcher struct {
	pool   *pgxpool.Pool
	outbox *Outbox
	sender Sender
	opts   Options
	logger *slog.Logger

	sent, failed, dropped, released, rejected atomic.Int64
	// freed is signalled when a send finishes and a slot is free again.
	freed chan struct{}
	// lastDrop is when the loop of Run last dropped expired emails.
	lastDrop time.Time
}

// dropEvery is how often a busy dispatcher drops expired emails.
const dropEvery = 100 * time.Millisecond

// NewDispatcher returns a dispatcher of the emails queued in pool's database; ob's
// in-process signal wakes it (ob may be nil).
func NewDispatcher(pool *pgxpool.Pool, ob *Outbox, sender Sender, opts Options, logger *slog.Logger) *Dispatcher {
	if opts.Concurrency <= 0 {
		opts.Concurrency = SenderConcurrency(sender)
	}
	opts = opts.withDefaults()
	if ob == nil {
		ob = New()
	}
	return &Dispatcher{
		pool: pool, outbox: ob, sender: sender, opts: opts,
		logger: logger.With(slog.String("component", "outbox")),
		freed:  make(chan struct{}, 1),
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.Concurrency > 0 {
		d.Concurrency = o.Concurrency
	}
	if o.SendTimeout > 0 {
		d.SendTimeout = o.SendTimeout
	}
	if o.Lease > 0 {
		d.Lease = o.Lease
	}
	if o.MinBackoff > 0 {
		d.MinBackoff = o.MinBackoff
	}
	if o.MaxBackoff > 0 {
		d.MaxBackoff = o.MaxBackoff
	}
	if o.PollInterval > 0 {
		d.PollInterval = o.PollInterval
	}
	if o.ShutdownGrace > 0 {
		d.ShutdownGrace = o.ShutdownGrace
	}
	if o.AbandonAfter > 0 {
		d.AbandonAfter = o.AbandonAfter
	}
	if o.QueryTimeout > 0 {
		d.QueryTimeout = o.QueryTimeout
	}
	d.ListenURL = o.ListenURL
	if d.Lease <= d.SendTimeout {
		d.Lease = d.SendTimeout + 5*time.Second
	}
	return d
}

// Stats returns the dispatcher's counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{
		Sent: d.sent.Load(), Failed: d.failed.Load(), Dropped: d.dropped.Load(),
		Released: d.released.Load(), Rejected: d.rejected.Load(),
	}
}

// Run sends emails until ctx ends, then lets the sends under way finish (or hands their
// emails back after ShutdownGrace) and returns nil. It keeps going while the database is
// down, and resumes when it returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	notified := make(chan struct{}, 1)
	listenDone := make(chan struct{})
	go func() {
		defer close(listenDone)
		d.listen(ctx, notified)
	}()

	// Sends run under their own context: ending ctx does not cut a send in the middle.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	var inFlight sync.WaitGroup
	slots := make(chan struct{}, d.opts.Concurrency)

	for ctx.Err() == nil {
		free := d.opts.Concurrency - len(slots)
		claimed, wait := 0, d.opts.PollInterval
		if free > 0 {
			emails, err := d.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				d.logger.WarnContext(ctx, "claim emails", slog.Any("error", err))
			}
			for _, e := range emails {
				slots <- struct{}{}
				inFlight.Add(1)
				go func() {
					defer inFlight.Done()
					d.deliver(sendCtx, e)
					<-slots
					signal(d.freed)
				}()
			}
			claimed = len(emails)
			if err == nil && claimed < free {
				wait = d.untilNextDue(ctx)
			}
		}
		if claimed == free && free > 0 {
			continue // there may be more due right now
		}
		d.sleep(ctx, wait, notified)
	}

	done := make(chan struct{})
	go func() { inFlight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d.opts.ShutdownGrace):
		cancelSends()
		// A sender that ignores its context must not keep the process from exiting: its
		// email keeps its lease, which runs out, and another replica sends it then.
		select {
		case <-done:
		case <-time.After(d.opts.AbandonAfter):
			d.logger.ErrorContext(context.WithoutCancel(ctx), "sends still under way after cancellation; abandoning them",
				slog.Int("in_flight", len(slots)))
		}
	}
	<-listenDone
	return nil
}

func (d *Dispatcher) sleep(ctx context.Context, wait time.Duration, notified <-chan struct{}) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-notified:
	case <-d.outbox.queued:
	case <-d.freed:
	}
}

// claim drops the expired emails, then leases up to n due ones to this dispatcher.
func (d *Dispatcher) claim(ctx context.Context, n int) ([]claimedEmail, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.QueryTimeout)
	defer cancel()
	q := sqlcgen.New(d.pool)
	// The claim skips expired emails by itself; dropping them (recording the outcome,
	// erasing the bodies) can wait a moment, so a busy dispatcher does it once in a while,
	// not before each claim.
	if now := time.Now(); now.Sub(d.lastDrop) >= dropEvery {
		dropped, err := q.DropExpiredEmails(ctx)
		if err != nil {
			return nil, fmt.Errorf("drop expired emails: %w", err)
		}
		d.lastDrop = now
		if len(dropped) > 0 {
			d.dropped.Add(int64(len(dropped)))
			d.logger.InfoContext(ctx, "dropped expired emails", slog.Any("ids", dropped))
		}
	}
	token := uuid.New()
	rows, err := q.ClaimDueEmails(ctx, sqlcgen.ClaimDueEmailsParams{
		LeaseMs: d.opts.Lease.Milliseconds(), LeaseToken: &token, BatchSize: int32(n), //nolint:gosec // n <= Concurrency, a small option
	})
	if err != nil {
		return nil, fmt.Errorf("claim due emails: %w", err)
	}
	emails := make([]claimedEmail, len(rows))
	for i, r := range rows {
		emails[i] = claimedEmail{
			id: r.ID, token: token, attempt: int(r.Attempts),
			msg: mail.Message{
				ID: r.MessageID.String(), To: r.Recipient, Subject: r.Subject, Text: r.TextBody, HTML: r.HtmlBody,
			},
			queuedBy: spanContext(r.TraceParent),
		}
	}
	return emails, nil
}

// untilNextDue is how long to sleep after a claim that left slots free: until the next
// unfinished email falls due, at least minWait, at most PollInterval.
func (d *Dispatcher) untilNextDue(ctx context.Context) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, d.opts.QueryTimeout)
	defer cancel()
	ms, err := sqlcgen.New(d.pool).MillisUntilNextEmailDue(ctx)
	if err != nil || ms < 0 {
		return d.opts.PollInterval
	}
	// "Due now" yet not claimed means another replica holds the row in its claim
	// transaction (SKIP LOCKED skipped it), or it expired since the drop: without a floor
	// the loop would spin on the database until that resolves.
	return min(max(time.Duration(ms)*time.Millisecond, minWait), d.opts.PollInterval)
}

// minWait is the shortest sleep between two claims that found nothing to do.
const minWait = 10 * time.Millisecond

type claimedEmail struct {
	id      int64
	token   uuid.UUID
	attempt int
	msg     mail.Message
	// queuedBy is the span of the request that queued the email (invalid: none).
	queuedBy trace.SpanContext
}

// deliver sends one claimed email and records the outcome. The records use a context of
// their own: an outcome is worth saving even while shutting down.
func (d *Dispatcher) deliver(ctx context.Context, e claimedEmail) {
	sendCtx, cancel := context.WithTimeout(withDelivery(ctx, Delivery{ID: e.id, Attempt: e.attempt, QueuedBy: e.queuedBy}), d.opts.SendTimeout)
	err := d.sender.Send(sendCtx, e.msg)
	cancel()

	recordCtx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelRecord()
	q := sqlcgen.New(d.pool)
	log := d.logger.With(slog.Int64("email_id", e.id), slog.Int("attempt", e.attempt))
	switch {
	case err == nil:
		d.sent.Add(1)
		n, err := q.MarkEmailSent(recordCtx, sqlcgen.MarkEmailSentParams{ID: e.id, LeaseToken: &e.token})
		switch {
		case err != nil:
			// The lease will run out and the email be sent again: at least once, with the
			// same Message-ID.
			log.ErrorContext(recordCtx, "record sent email", slog.Any("error", err))
		case n == 0:
			// The send outlived the lease and the email was claimed again.
			log.WarnContext(recordCtx, "email sent after its lease ran out; it may be sent twice")
		default:
			log.InfoContext(recordCtx, "email sent")
		}
	case mail.IsRejected(err):
		// The server refused this email for good (a 5xx reply to MAIL, RCPT or the data):
		// trying again would be refused again.
		d.rejected.Add(1)
		msg := err.Error()
		if _, err := q.MarkEmailFailed(recordCtx, sqlcgen.MarkEmailFailedParams{
			ID: e.id, LeaseToken: &e.token, LastError: &msg,
		}); err != nil {
			log.ErrorContext(recordCtx, "record rejected email", slog.Any("error", err))
		}
		log.WarnContext(recordCtx, "email rejected by the SMTP server; recorded failed, not retried", slog.Any("error", err))
	case ctx.Err() != nil:
		d.released.Add(1)
		if _, err := q.ReleaseEmail(recordCtx, sqlcgen.ReleaseEmailParams{ID: e.id, LeaseToken: &e.token}); err != nil {
			log.ErrorContext(recordCtx, "hand back email at shutdown", slog.Any("error", err))
		}
	default:
		// A temporary failure (a 4xx reply, a timeout, a broken connection) or one of the
		// session (TLS, AUTH: the operator's to fix): retried with backoff.
		d.failed.Add(1)
		retry := d.backoff(e.attempt)
		msg := err.Error()
		if _, err := q.RetryEmailLater(recordCtx, sqlcgen.RetryEmailLaterParams{
			ID: e.id, LeaseToken: &e.token, RetryInMs: retry.Milliseconds(), LastError: &msg,
		}); err != nil {
			log.ErrorContext(recordCtx, "record failed email", slog.Any("error", err))
		}
		log.ErrorContext(recordCtx, "email not sent; will retry",
			slog.Any("error", err), slog.Duration("retry_in", retry))
	}
}

// backoff is the delay before the retry that follows failed attempt n (1 for the first):
// MinBackoff doubled per attempt, capped at MaxBackoff, with "equal jitter" (half fixed,
// half random) so replicas that failed together do not retry together.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	// Doubling step by step (not MinBackoff<<attempt) cannot overflow into a negative
	// delay, whatever MinBackoff is.
	delay := min(d.opts.MinBackoff, d.opts.MaxBackoff)
	for i := 1; i < attempt && delay < d.opts.MaxBackoff; i++ {
		delay = min(delay*2, d.opts.MaxBackoff)
	}
	half := delay / 2
	return half + rand.N(half+1) //nolint:gosec // jitter, not a secret
}

// listen wakes the dispatcher on every NOTIFY of a queued email, from any replica. It
// reconnects after errors; if LISTEN cannot work (a transaction-mode pooler), polling
// still finds the emails.
func (d *Dispatcher) listen(ctx context.Context, notified chan<- struct{}) {
	const firstRetry = time.Second
	retry := firstRetry
	for ctx.Err() == nil {
		listening := false
		err := d.listenOnce(ctx, notified, &listening)
		if ctx.Err() != nil {
			return
		}
		if listening {
			// The connection worked before it broke: reconnect promptly, not after the
			// backoff that earlier outages built up.
			retry = firstRetry
		}
		d.logger.DebugContext(ctx, "outbox LISTEN interrupted; polling meanwhile", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(retry*2, 30*time.Second)
	}
}

func (d *Dispatcher) listenOnce(ctx context.Context, notified chan<- struct{}, listening *bool) error {
	pc, err := d.listenConn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.QueryTimeout)
		defer cancel()
		_ = pc.Close(closeCtx)
	}()
	listenCtx, cancel := context.WithTimeout(ctx, d.opts.QueryTimeout)
	_, err = pc.Exec(listenCtx, "LISTEN outbox_emails")
	cancel()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	*listening = true
	signal(notified) // emails may have been queued while not listening
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("wait for notification: %w", err)
		}
		signal(notified)
	}
}

// listenConn returns a connection of its own for LISTEN: to ListenURL when set, else one
// taken out of the pool (it carries LISTEN state: it never goes back).
func (d *Dispatcher) listenConn(ctx context.Context) (*pgx.Conn, error) {
	if d.opts.ListenURL == "" {
		conn, err := d.pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("acquire: %w", err)
		}
		return conn.Hijack(), nil
	}
	cfg, err := pgx.ParseConfig(d.opts.ListenURL)
	if err != nil {
		// pgconn's message may quote the connection string, password included.
		return nil, errors.New("parse the LISTEN connection string (DATABASE_DIRECT_URL): details withheld")
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > d.opts.QueryTimeout {
		cfg.ConnectTimeout = d.opts.QueryTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to listen: %w", err)
	}
	return conn, nil
}

func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
