// Package outbox is the transactional outbox for email: a store queues a message inside
// the transaction that caused it, and the Dispatcher of every replica sends queued
// messages in the background, with retries, so a slow or failing mail provider never
// fails or slows the request that queued them.
package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox/internal/sqlcgen"
)

// Outbox queues messages. Its zero value is not usable; use New.
type Outbox struct {
	queued chan struct{}
}

// New returns an outbox whose in-process signal wakes the dispatcher given the same outbox.
func New() *Outbox {
	return &Outbox{queued: make(chan struct{}, 1)}
}

// Enqueue writes m to the outbox within tx, and asks PostgreSQL to notify the dispatchers
// of every replica when tx commits. After expiresAt (when not nil) m is dropped, not sent.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, m mail.Message, expiresAt *time.Time) error {
	q := sqlcgen.New(tx)
	if _, err := q.InsertEmail(ctx, sqlcgen.InsertEmailParams{
		Recipient: m.To, Subject: m.Subject, TextBody: m.Text, HtmlBody: m.HTML, ExpiresAt: expiresAt,
	}); err != nil {
		return fmt.Errorf("queue email: %w", err)
	}
	if err := q.NotifyEmailQueued(ctx); err != nil {
		return fmt.Errorf("notify email queued: %w", err)
	}
	return nil
}

// Committed wakes this process's dispatcher at once; call it after the transaction that
// queued messages has committed. It works behind poolers that drop LISTEN/NOTIFY.
func (o *Outbox) Committed() {
	select {
	case o.queued <- struct{}{}:
	default:
	}
}
