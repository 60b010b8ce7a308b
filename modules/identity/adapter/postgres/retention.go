package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/domain"
)

// DeleteStalePendingAccounts deletes, within tx, at most limit pending accounts whose
// latest code was issued more than retention ago, and returns how many it deleted: a
// batch of the retention task (platform/maintenance).
func DeleteStalePendingAccounts(retention time.Duration) func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	return func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
		n, err := sqlcgen.New(tx).DeleteStalePendingAccounts(ctx, sqlcgen.DeleteStalePendingAccountsParams{
			RetentionMs: retention.Milliseconds(), BatchSize: limit,
		})
		if err != nil {
			return 0, fmt.Errorf("delete stale pending accounts: %w", fromDriver(err))
		}
		return n, nil
	}
}

// PruneActivationLedger deletes, within tx, at most limit ledger rows that left the
// budgets' window, and returns how many it deleted.
func PruneActivationLedger(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	n, err := sqlcgen.New(tx).PruneActivationLedger(ctx, sqlcgen.PruneActivationLedgerParams{
		WindowMs: domain.BudgetWindow.Milliseconds(), BatchSize: limit,
	})
	if err != nil {
		return 0, fmt.Errorf("prune activation ledger: %w", fromDriver(err))
	}
	return n, nil
}
