// Package outboxtest gives a module's tests an outbox over their test database: emails
// are queued as in production (the row and its job, in the caller's transaction), and
// sent by nobody, since the job system is never started. A test that wants them sent runs
// the service (the e2e harness) or platform/outbox's own tests.
package outboxtest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox"
)

// New returns an outbox that queues into pool's database; its job system is closed when
// t ends.
func New(t testing.TB, pool *pgxpool.Pool) *outbox.Outbox {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	j, err := jobs.New(context.Background(), pool, jobs.Options{}, logger)
	if err != nil {
		t.Fatalf("job system: %v", err)
	}
	t.Cleanup(j.Close)
	ob, err := outbox.New(j, nowhere{}, outbox.Options{}, logger)
	if err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return ob
}

// nowhere is the sender of an outbox whose jobs never run.
type nowhere struct{}

func (nowhere) Send(context.Context, mail.Message) error { return nil }
