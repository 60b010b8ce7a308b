package outbox

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/outbox/internal/sqlcgen"
)

// DeleteUnsent deletes, within tx, every email to recipient that is not finished yet
// (neither sent, dropped nor failed), and returns how many it deleted: what a module does
// when the recipient's account is deleted, in the deletion's transaction. An email a
// worker is sending at that moment may still arrive; its outcome is then recorded on no
// row, and the jobs of the deleted emails find nothing to send. Finished emails stay until the retention deletes them
// (DeleteFinishedEmails). Its errors are wrapped, and database.ErrUnavailable when the
// database is lost.
func DeleteUnsent(ctx context.Context, tx pgx.Tx, recipient string) (int64, error) {
	n, err := sqlcgen.New(tx).DeleteUnsentEmails(ctx, recipient)
	if err != nil {
		return 0, fmt.Errorf("delete unsent emails: %w", database.Classify(err))
	}
	return n, nil
}
