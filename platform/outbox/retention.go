package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/outbox/internal/sqlcgen"
)

// DeleteFinishedEmails deletes, within tx, at most limit emails that finished (sent,
// dropped or failed) more than retention ago, and returns how many it deleted: a batch of
// the retention task (platform/maintenance, OUTBOX_RETENTION).
func DeleteFinishedEmails(retention time.Duration) func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	return func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
		n, err := sqlcgen.New(tx).DeleteFinishedEmails(ctx, sqlcgen.DeleteFinishedEmailsParams{
			RetentionMs: retention.Milliseconds(), BatchSize: limit,
		})
		if err != nil {
			return 0, fmt.Errorf("delete finished emails: %w", database.Classify(err))
		}
		return n, nil
	}
}
