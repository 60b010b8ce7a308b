package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
)

// TestDeleteFinishedEmails: retention deletes exactly the emails that finished (sent,
// dropped or failed) before the retention period, never an unfinished one however old.
func TestDeleteFinishedEmails(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	if _, err := pool.Exec(ctx, `
		INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body, created_at, sent_at, dropped_at, failed_at)
		VALUES ('old-sent@x.example', 's', '', '', now() - interval '9 days', now() - interval '8 days', NULL, NULL),
		       ('old-dropped@x.example', 's', '', '', now() - interval '9 days', NULL, now() - interval '8 days', NULL),
		       ('old-failed@x.example', 's', '', '', now() - interval '9 days', NULL, NULL, now() - interval '8 days'),
		       ('new-sent@x.example', 's', '', '', now() - interval '9 days', now() - interval '6 days', NULL, NULL),
		       ('old-unsent@x.example', 's', 'code 1234', 'code 1234', now() - interval '30 days', NULL, NULL, NULL)`); err != nil {
		t.Fatal(err)
	}
	deleteOld := DeleteFinishedEmails(7 * 24 * time.Hour)
	var total int64
	for {
		var n int64
		err := database.InTx(ctx, pool, func(tx pgx.Tx) error {
			var err error
			n, err = deleteOld(ctx, tx, 2)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			t.Fatalf("a batch of 2 deleted %d", n)
		}
		total += n
		if n < 2 {
			break
		}
	}
	rows, err := pool.Query(ctx, "SELECT recipient FROM platform.outbox_emails ORDER BY recipient")
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(left) != 2 || left[0] != "new-sent@x.example" || left[1] != "old-unsent@x.example" {
		t.Fatalf("deleted %d, left %v; want the 3 old finished ones deleted, the recent and the unsent kept", total, left)
	}
}
