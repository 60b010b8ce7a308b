// Package outbox is the transactional outbox for email: a store queues a message inside
// the transaction that caused it, and the Dispatcher of every replica sends queued
// messages in the background, with retries, so a slow or failing mail provider never
// fails or slows the request that queued them.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox/internal/sqlcgen"
)

// Outbox queues messages. Its zero value is not usable; use New.
type Outbox struct {
	queued chan struct{}
	// committed counts the messages queued by committed transactions, for the metrics.
	committed atomic.Int64
}

// New returns an outbox whose in-process signal wakes the dispatcher given the same outbox.
func New() *Outbox {
	return &Outbox{queued: make(chan struct{}, 1)}
}

// Email is one email to queue: the message, and when it stops being worth sending (nil:
// never; after ExpiresAt it is dropped, not sent).
type Email struct {
	Message   mail.Message
	ExpiresAt *time.Time
}

// Queue is how a store queues emails, in one call inside the transaction that caused
// them (tx, begun by database.InTx): each email is written to the outbox, PostgreSQL
// notifies the dispatchers of every replica when tx commits, and this replica's
// dispatcher is woken once it has. Its errors are the outbox's own: wrapped
// with what failed, and database.ErrUnavailable when the database is lost, so the store
// passes them on as they are.
func (o *Outbox) Queue(ctx context.Context, tx pgx.Tx, emails ...Email) error {
	if len(emails) == 0 {
		return nil
	}
	if !database.AfterCommit(tx, func() { o.wake(len(emails)) }) {
		return errors.New("outbox: send inside a transaction of database.InTx")
	}
	for _, e := range emails {
		if err := o.enqueue(ctx, tx, e.Message, e.ExpiresAt); err != nil {
			return database.Classify(err)
		}
	}
	return nil
}

// enqueue writes m to the outbox within tx, and asks PostgreSQL to notify the dispatchers
// of every replica when tx commits. After expiresAt (when not nil) m is dropped, not sent.
// The trace of ctx, when there is one, is kept with m: the span of its delivery links to
// it.
func (o *Outbox) enqueue(ctx context.Context, tx pgx.Tx, m mail.Message, expiresAt *time.Time) error {
	q := sqlcgen.New(tx)
	if _, err := q.InsertEmail(ctx, sqlcgen.InsertEmailParams{
		Recipient: m.To, Subject: m.Subject, TextBody: m.Text, HtmlBody: m.HTML, ExpiresAt: expiresAt,
		TraceParent: traceParent(ctx),
	}); err != nil {
		return fmt.Errorf("queue email: %w", err)
	}
	if err := q.NotifyEmailQueued(ctx); err != nil {
		return fmt.Errorf("notify email queued: %w", err)
	}
	return nil
}

// wake wakes this process's dispatcher at once; call it after the transaction that
// queued n messages has committed. It works behind poolers that drop LISTEN/NOTIFY.
func (o *Outbox) wake(n int) {
	o.committed.Add(int64(n))
	select {
	case o.queued <- struct{}{}:
	default:
	}
}

// Queued is how many messages committed transactions queued through o since it was made.
func (o *Outbox) Queued() int64 { return o.committed.Load() }
