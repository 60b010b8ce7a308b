package outbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/poll"
)

// TestSend: one call inside the store's transaction queues the emails and their jobs,
// which run (and the metrics count them) only once the transaction committed.
func TestSend(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	sender := &fakeSender{}
	r := newReplica(t, pool, sender, fastOptions, fastJobs, testLogger(t))
	ob := r.ob
	expires := time.Now().Add(time.Minute)
	emails := []Email{
		{Message: mail.Message{To: "a@example.com", Subject: "s", Text: "t", HTML: "h"}, ExpiresAt: &expires},
		{Message: mail.Message{To: "b@example.com", Subject: "s", Text: "t", HTML: "h"}},
	}
	count := func(table string) int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("a rolled back transaction queues nothing, and nothing is sent", func(t *testing.T) {
		boom := errors.New("the store changed its mind")
		err := database.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := ob.Queue(ctx, tx, emails...); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || count("platform.outbox_emails") != 0 || count("river.river_job") != 0 || ob.Queued() != 0 {
			t.Fatalf("err %v, %d rows, %d jobs, %d queued", err, count("platform.outbox_emails"), count("river.river_job"), ob.Queued())
		}
	})
	t.Run("a committed one queues every email with its job, which sends it", func(t *testing.T) {
		err := database.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := ob.Queue(ctx, tx, emails...); err != nil {
				return err
			}
			if ob.Queued() != 0 {
				t.Error("counted before the commit")
			}
			return nil
		})
		if err != nil || count("platform.outbox_emails") != 2 || count("river.river_job") != 2 || ob.Queued() != 2 {
			t.Fatalf("err %v, %d rows, %d jobs, %d queued", err, count("platform.outbox_emails"), count("river.river_job"), ob.Queued())
		}
		run(t, r)
		poll.Until(t, 5*time.Second, "both emails are sent", func() bool { return countSent(t, pool) == 2 })
		sender.mu.Lock()
		n := len(sender.attempts)
		sender.mu.Unlock()
		if n != 2 {
			t.Errorf("%d attempts, want the 2 committed emails only", n)
		}
	})
	t.Run("outside database.InTx it refuses", func(t *testing.T) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return ob.Queue(ctx, tx, emails...) })
		if err == nil {
			t.Fatal("Send in a transaction InTx did not begin: no error")
		}
	})
	t.Run("a lost database is database.ErrUnavailable", func(t *testing.T) {
		err := database.InTx(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())"); err == nil {
				t.Log("terminated its own backend without an error")
			}
			return ob.Queue(ctx, tx, emails...)
		})
		if !errors.Is(err, database.ErrUnavailable) {
			t.Fatalf("got %v, want database.ErrUnavailable", err)
		}
	})
}
