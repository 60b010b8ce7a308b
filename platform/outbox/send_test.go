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
)

// TestSend: one call inside the store's transaction queues the emails, and the dispatcher
// is woken (and the metrics count them) only once the transaction committed.
func TestSend(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	ob := New()
	expires := time.Now().Add(time.Minute)
	emails := []Email{
		{Message: mail.Message{To: "a@example.com", Subject: "s", Text: "t", HTML: "h"}, ExpiresAt: &expires},
		{Message: mail.Message{To: "b@example.com", Subject: "s", Text: "t", HTML: "h"}},
	}
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM platform.outbox_emails").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("a rolled back transaction queues nothing and wakes nobody", func(t *testing.T) {
		boom := errors.New("the store changed its mind")
		err := database.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := ob.Queue(ctx, tx, emails...); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || count() != 0 || ob.Queued() != 0 || len(ob.queued) != 0 {
			t.Fatalf("err %v, %d rows, %d queued, woken %d", err, count(), ob.Queued(), len(ob.queued))
		}
	})
	t.Run("a committed one queues every email, then wakes the dispatcher", func(t *testing.T) {
		err := database.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := ob.Queue(ctx, tx, emails...); err != nil {
				return err
			}
			if ob.Queued() != 0 || len(ob.queued) != 0 {
				t.Error("the dispatcher was woken before the commit")
			}
			return nil
		})
		if err != nil || count() != 2 || ob.Queued() != 2 || len(ob.queued) != 1 {
			t.Fatalf("err %v, %d rows, %d queued, woken %d", err, count(), ob.Queued(), len(ob.queued))
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
