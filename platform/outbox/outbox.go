// Package outbox is the transactional outbox for email: a store queues a message inside
// the transaction that caused it, as a row (the message) and a job of the platform's job
// system (platform/jobs) that carries the row's id alone; the job, on any replica, sends
// the message with retries, so a slow or failing mail provider never fails or slows the
// request that queued it.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox/internal/sqlcgen"
)

// prefetch is how many workers the queue has per send at once (see New).
const prefetch = 2

// Kind is the kind of an email's job, and QueueName the queue the jobs wait in.
const (
	Kind      = "outbox.email"
	QueueName = "outbox"
)

// Sender delivers one email. An error that mail.IsRejected reports permanent ends the
// email for good (failed); any other is retried with backoff.
type Sender interface {
	Send(ctx context.Context, m mail.Message) error
}

// concurrentSender is a Sender that sends a bounded number of emails at once (the SMTP
// transport: one per pooled connection); the outbox sends that many at a time.
type concurrentSender interface {
	MaxConcurrent() int
}

// SenderConcurrency is how many emails sender sends at once when it says so
// (MaxConcurrent), else 0. A wrapper of a sender (metrics, tracing) offers MaxConcurrent
// by returning SenderConcurrency of what it wraps, so the outbox still sees it.
func SenderConcurrency(sender Sender) int {
	if cs, ok := sender.(concurrentSender); ok {
		return cs.MaxConcurrent()
	}
	return 0
}

// Options tune the sending. Zero fields take the values of DefaultOptions.
type Options struct {
	// Concurrency is how many emails a replica sends at once (its queue's workers), so a
	// provider that hangs on one email does not hold the others back, and the rate grows
	// with the connections. Zero: the sender's MaxConcurrent() when it has one
	// (SMTP_MAX_CONNECTIONS), else DefaultOptions.Concurrency.
	Concurrency int
	// SendTimeout bounds one delivery attempt.
	SendTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before a retry: it doubles with every
	// failed attempt from MinBackoff, with jitter, never above MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is how often the queue is read when no notification woke it: the
	// longest a new email waits without DATABASE_DIRECT_URL, and how late a retry may be
	// taken.
	PollInterval time.Duration
	// QueryTimeout bounds each of the outbox's database calls around a send (load, record;
	// DATABASE_TIMEOUT), so a slow or black-holed database never holds a worker.
	QueryTimeout time.Duration
	// MaxAttempts is how many attempts an email gets; after the last fails it is recorded
	// failed.
	MaxAttempts int
}

// DefaultOptions are the production settings. The first retry comes within 2 s of a
// failure (MinBackoff's 0.5–1 s and a poll), and two attempts are never more than 30 s
// apart: MaxBackoff, plus River's scheduler (5 s) for a retry further off than that, plus
// a poll. 10,000 attempts 24 s apart keep an email trying for about 3 days.
var DefaultOptions = Options{
	Concurrency:  8,
	SendTimeout:  10 * time.Second,
	MinBackoff:   time.Second,
	MaxBackoff:   24 * time.Second,
	PollInterval: 500 * time.Millisecond,
	QueryTimeout: 5 * time.Second,
	MaxAttempts:  10000,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.Concurrency > 0 {
		d.Concurrency = o.Concurrency
	}
	if o.MaxAttempts > 0 {
		d.MaxAttempts = o.MaxAttempts
	}
	for _, f := range []struct{ dst, src *time.Duration }{
		{&d.SendTimeout, &o.SendTimeout}, {&d.MinBackoff, &o.MinBackoff}, {&d.MaxBackoff, &o.MaxBackoff},
		{&d.PollInterval, &o.PollInterval}, {&d.QueryTimeout, &o.QueryTimeout},
	} {
		if *f.src > 0 {
			*f.dst = *f.src
		}
	}
	return d
}

// Outbox queues emails, and sends them from their jobs. Its zero value is not usable; use
// New.
type Outbox struct {
	jobs   *jobs.Jobs
	sender Sender
	opts   Options
	logger *slog.Logger

	// sending holds a token per send under way: at most Concurrency at once.
	sending chan struct{}
	// committed counts the messages queued by committed transactions, for the metrics.
	committed                                 atomic.Int64
	sent, failed, dropped, released, rejected atomic.Int64
}

// New returns the outbox of a replica: it registers its queue and its worker with j,
// which sends each email through sender. Call it before j runs.
func New(j *jobs.Jobs, sender Sender, opts Options, logger *slog.Logger) (*Outbox, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = SenderConcurrency(sender)
	}
	o := &Outbox{jobs: j, sender: sender, opts: opts.withDefaults(), logger: logger.With(slog.String("component", "outbox"))}
	o.sending = make(chan struct{}, o.opts.Concurrency)
	// Twice as many workers as sends: River refills a queue's free worker slots when one
	// of its jobs ends after a fetch that found the slots full, not at every end, so
	// sends that end together (a batch over one link) leave slots idle until the next
	// end. The extra workers hold the next emails, loaded, and start a send the moment one
	// ends; the sends themselves stay at Concurrency (o.sending). Measured: docs/decisions.md.
	if err := j.AddQueue(QueueName, jobs.Queue{
		MaxWorkers: prefetch * o.opts.Concurrency, PollInterval: o.opts.PollInterval, Cooldown: 10 * time.Millisecond,
	}); err != nil {
		return nil, err
	}
	if err := jobs.AddWorker(j, &worker{o: o}); err != nil {
		return nil, err
	}
	return o, nil
}

// Email is one email to queue: the message, and when it stops being worth sending (nil:
// never; after ExpiresAt it is dropped, not sent).
type Email struct {
	Message   mail.Message
	ExpiresAt *time.Time
}

// Queue is how a store queues emails, in one call inside the transaction that caused
// them (tx, begun by database.InTx): each email is written to the outbox with its job,
// which runs once tx commits (and never if it rolls back). Its errors are the outbox's
// own: wrapped with what failed, and database.ErrUnavailable when the database is lost,
// so the store passes them on as they are.
func (o *Outbox) Queue(ctx context.Context, tx pgx.Tx, emails ...Email) error {
	if len(emails) == 0 {
		return nil
	}
	if !database.AfterCommit(tx, func() { o.committed.Add(int64(len(emails))) }) {
		return errors.New("outbox: send inside a transaction of database.InTx")
	}
	return o.enqueue(ctx, tx, emails)
}

// enqueue writes emails and their jobs within tx. The trace of ctx, when there is one,
// goes into the jobs' metadata (platform/jobs): the span of a delivery links to it.
func (o *Outbox) enqueue(ctx context.Context, tx pgx.Tx, emails []Email) error {
	q := sqlcgen.New(tx)
	params := make([]river.InsertManyParams, len(emails))
	for i, e := range emails {
		id, err := q.InsertEmail(ctx, sqlcgen.InsertEmailParams{
			Recipient: e.Message.To, Subject: e.Message.Subject, TextBody: e.Message.Text, HtmlBody: e.Message.HTML,
			ExpiresAt: e.ExpiresAt,
		})
		if err != nil {
			return fmt.Errorf("queue email: %w", database.Classify(err))
		}
		params[i] = river.InsertManyParams{
			Args:       emailArgs{EmailID: id},
			InsertOpts: &river.InsertOpts{Queue: QueueName, MaxAttempts: o.opts.MaxAttempts},
		}
	}
	if _, err := o.jobs.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queue email: %w", err)
	}
	return nil
}

// Queued is how many messages committed transactions queued through o since it was made.
func (o *Outbox) Queued() int64 { return o.committed.Load() }

// Stats counts what this replica's workers did since it started: emails Sent, failed
// attempts that will be retried (Failed), emails Rejected for good by the server
// (recorded failed), emails Dropped because their content expired, and emails Released
// unsent when their job was stopped (at shutdown: back in the queue).
type Stats struct {
	Sent, Failed, Dropped, Released, Rejected int64
}

// Stats returns the counters of this replica.
func (o *Outbox) Stats() Stats {
	return Stats{
		Sent: o.sent.Load(), Failed: o.failed.Load(), Dropped: o.dropped.Load(),
		Released: o.released.Load(), Rejected: o.rejected.Load(),
	}
}
