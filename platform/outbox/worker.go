package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox/internal/sqlcgen"
)

// emailArgs are the arguments of an email's job: the id of its row, nothing else. The
// row holds the message; river_job, which keeps a job's arguments and errors after it
// ran, holds no address, body or code.
type emailArgs struct {
	EmailID int64 `json:"email_id"`
}

// Kind implements river.JobArgs.
func (emailArgs) Kind() string { return Kind }

// worker sends the email of a job. River runs one job on one replica at a time, so no two
// replicas send one email at once; a job lost with its replica is retried by River's
// rescuer (at least once, with the same Message-ID).
type worker struct {
	river.WorkerDefaults[emailArgs]
	o *Outbox
}

// Timeout implements river.Worker: the send, and the load and the record around it, and
// the wait for the sends under way (at most one of each worker ahead of it).
func (w *worker) Timeout(*river.Job[emailArgs]) time.Duration {
	return 2*w.o.opts.SendTimeout + 2*w.o.opts.QueryTimeout
}

// NextRetry implements river.Worker: the outbox's backoff, not River's (which waits
// hours after a few attempts).
func (w *worker) NextRetry(job *river.Job[emailArgs]) time.Time {
	return time.Now().Add(w.o.backoff(job.Attempt))
}

// Work implements river.Worker: it loads the email, sends it, and records the outcome in
// its row. A sent or dropped email is recorded in the transaction that completes its job;
// a rejected one (failed) cancels its job; any other failure is recorded as an attempt
// and returned, and River retries the job after NextRetry.
func (w *worker) Work(ctx context.Context, job *river.Job[emailArgs]) error {
	o := w.o
	id, attempt := job.Args.EmailID, job.Attempt
	log := o.logger.With(slog.Int64("email_id", id), slog.Int("attempt", attempt))
	loadCtx, cancelLoad := context.WithTimeout(ctx, o.opts.QueryTimeout)
	e, err := sqlcgen.New(o.jobs.Pool()).LoadEmail(loadCtx, id)
	cancelLoad()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Deleted unsent with its recipient's account (DeleteUnsent): nothing to send.
		log.InfoContext(ctx, "email deleted before it was sent; nothing to send")
		return nil
	case err != nil:
		return fmt.Errorf("email %d: load: %w", id, database.Classify(err))
	case e.Finished:
		return nil // an earlier run recorded its outcome
	case e.Expired:
		o.dropped.Add(1)
		if err := o.complete(ctx, job, func(q *sqlcgen.Queries) error {
			_, err := q.MarkEmailDropped(ctx, id)
			return err
		}); err != nil {
			return fmt.Errorf("email %d: record dropped: %w", id, err)
		}
		log.InfoContext(ctx, "dropped an expired email unsent")
		return nil
	}

	// Wait for a send of the replica's Concurrency to end (the worker holds its loaded
	// email meanwhile: see New).
	select {
	case o.sending <- struct{}{}:
	case <-ctx.Done():
		o.released.Add(1)
		return fmt.Errorf("email %d: stopped before its send: %w", id, ctx.Err())
	}
	msg := mail.Message{ID: e.MessageID.String(), To: e.Recipient, Subject: e.Subject, Text: e.TextBody, HTML: e.HtmlBody}
	delivery := Delivery{ID: id, Attempt: attempt, QueuedBy: spanContext(job.Metadata)}
	sendCtx, cancel := context.WithTimeout(withDelivery(ctx, delivery), o.opts.SendTimeout)
	err = o.sender.Send(sendCtx, msg)
	cancel()
	<-o.sending

	// The outcome is recorded even when the job's context has ended meanwhile (a
	// shutdown): an email the server accepted must be recorded sent.
	recordCtx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), o.opts.QueryTimeout)
	defer cancelRecord()
	switch {
	case err == nil:
		o.sent.Add(1)
		if err := o.complete(recordCtx, job, func(q *sqlcgen.Queries) error {
			_, err := q.MarkEmailSent(recordCtx, sqlcgen.MarkEmailSentParams{ID: id, Attempts: int32(attempt)}) //nolint:gosec // an attempt count, at most MaxAttempts
			return err
		}); err != nil {
			// River retries the job: the email goes again, with the same Message-ID (at
			// least once).
			log.ErrorContext(recordCtx, "email sent but not recorded; it will be sent again", slog.Any("error", err))
			return fmt.Errorf("email %d: sent, not recorded: %w", id, err)
		}
		log.InfoContext(recordCtx, "email sent")
		return nil
	case mail.IsRejected(err):
		// The server refused this email for good (a 5xx reply to MAIL, RCPT or the data):
		// trying again would be refused again.
		o.rejected.Add(1)
		o.fail(recordCtx, log, id, attempt, err.Error())
		log.WarnContext(recordCtx, "email rejected by the SMTP server; recorded failed, not retried", slog.Any("error", err))
		return river.JobCancel(redact(id, err))
	case ctx.Err() != nil:
		// The job was stopped mid-send (a shutdown): River puts it back in the queue, the
		// attempt not counted. The server did not accept the data, or Send would have said
		// so; if it has it nonetheless (a reply lost), the next attempt carries the same
		// Message-ID.
		o.released.Add(1)
		log.InfoContext(recordCtx, "email handed back unsent: its job was stopped")
		return fmt.Errorf("email %d: send interrupted: %w", id, ctx.Err())
	default:
		// A temporary failure (a 4xx reply, a timeout, a broken connection) or one of the
		// session (TLS, AUTH: the operator's to fix): retried with backoff, until the last
		// attempt.
		o.failed.Add(1)
		if attempt >= job.MaxAttempts {
			o.fail(recordCtx, log, id, attempt, fmt.Sprintf("gave up after %d attempts; the last: %v", attempt, err))
			log.ErrorContext(recordCtx, "email not sent at its last attempt; recorded failed", slog.Any("error", err))
			return river.JobCancel(redact(id, err))
		}
		msg := err.Error()
		if _, rerr := sqlcgen.New(o.jobs.Pool()).RecordFailedAttempt(recordCtx, sqlcgen.RecordFailedAttemptParams{
			ID: id, Attempts: int32(attempt), LastError: &msg, //nolint:gosec // an attempt count, at most MaxAttempts
		}); rerr != nil {
			log.ErrorContext(recordCtx, "record failed attempt", slog.Any("error", rerr))
		}
		log.ErrorContext(recordCtx, "email not sent; will retry", slog.Any("error", err))
		return redact(id, err)
	}
}

// complete runs record and completes job in one transaction.
func (o *Outbox) complete(ctx context.Context, job *river.Job[emailArgs], record func(*sqlcgen.Queries) error) error {
	return database.InTx(ctx, o.jobs.Pool(), func(tx pgx.Tx) error {
		if err := record(sqlcgen.New(tx)); err != nil {
			return database.Classify(err)
		}
		return jobs.CompleteTx(ctx, tx, job)
	})
}

// fail records the email failed for good, its bodies erased. Its job is cancelled next
// (JobCancel): were the process to die between the two, the job's next run finds the
// email finished.
func (o *Outbox) fail(ctx context.Context, log *slog.Logger, id int64, attempt int, reason string) {
	if _, err := sqlcgen.New(o.jobs.Pool()).MarkEmailFailed(ctx, sqlcgen.MarkEmailFailedParams{
		ID: id, Attempts: int32(attempt), LastError: &reason, //nolint:gosec // an attempt count, at most MaxAttempts
	}); err != nil {
		log.ErrorContext(ctx, "record failed email", slog.Any("error", database.Classify(err)))
	}
}

// attemptError is what a failed attempt tells River, which stores it in the job's row
// (river_job.errors) and logs it: the email's id and the failure's class, never the
// server's reply, which may quote the address. The whole error is in the email's row
// (last_error) and in the outbox's log line.
type attemptError struct {
	id    int64
	class string
	err   error
}

func redact(id int64, err error) error {
	return &attemptError{id: id, class: mail.FailureClass(err), err: err}
}

func (e *attemptError) Error() string {
	return fmt.Sprintf("email %d not sent (%s); the reply is in platform.outbox_emails.last_error", e.id, e.class)
}

// Unwrap keeps errors.Is and errors.As working through the redaction.
func (e *attemptError) Unwrap() error { return e.err }

// backoff is the delay before the retry that follows failed attempt n (1 for the first):
// MinBackoff doubled per attempt, capped at MaxBackoff, with "equal jitter" (half fixed,
// half random) so replicas that failed together do not retry together.
func (o *Outbox) backoff(attempt int) time.Duration {
	// Doubling step by step (not MinBackoff<<attempt) cannot overflow into a negative
	// delay, whatever MinBackoff is.
	delay := min(o.opts.MinBackoff, o.opts.MaxBackoff)
	for i := 1; i < attempt && delay < o.opts.MaxBackoff; i++ {
		delay = min(delay*2, o.opts.MaxBackoff)
	}
	half := delay / 2
	return half + rand.N(half+1) //nolint:gosec // jitter, not a secret
}
