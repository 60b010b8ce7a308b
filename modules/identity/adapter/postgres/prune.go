package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/domain"
)

// PruneClientBudgets deletes, within tx, at most limit spans of the clients' budgets whose
// units left the budgets' window, and returns how many it deleted.
func PruneClientBudgets(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	n, err := sqlcgen.New(tx).PruneClientBudgets(ctx, sqlcgen.PruneClientBudgetsParams{
		WindowMs: domain.BudgetWindow.Milliseconds(), SpanMs: ClientBudgetSpan.Milliseconds(), BatchSize: limit,
	})
	return pruned("client budgets", n, err)
}

// PruneSignInFailures deletes, within tx, at most limit wrong passwords older than
// domain.FailureWindow.
func PruneSignInFailures(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	n, err := sqlcgen.New(tx).PruneSignInFailures(ctx, sqlcgen.PruneSignInFailuresParams{
		WindowMs: domain.FailureWindow.Milliseconds(), BatchSize: limit,
	})
	return pruned("sign-in failures", n, err)
}

// PruneSignInClients deletes, within tx, at most limit sign-ins older than
// domain.KnownClientWindow: their clients are strangers again.
func PruneSignInClients(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	n, err := sqlcgen.New(tx).PruneSignInClients(ctx, sqlcgen.PruneSignInClientsParams{
		WindowMs: domain.KnownClientWindow.Milliseconds(), BatchSize: limit,
	})
	return pruned("sign-in clients", n, err)
}

func pruned(what string, n int64, err error) (int64, error) {
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", what, fromDriver(err))
	}
	return n, nil
}

// PurgeExpiredResetCodes is the retention batch of reset codes expired a day ago.
func PurgeExpiredResetCodes(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	n, err := sqlcgen.New(tx).PurgeExpiredResetCodes(ctx, sqlcgen.PurgeExpiredResetCodesParams{
		GraceMs: domain.BudgetWindow.Milliseconds(), BatchSize: limit,
	})
	if err != nil {
		return 0, fmt.Errorf("purge expired reset codes: %w", fromDriver(err))
	}
	return n, nil
}

// PurgeExpiredEmailChangeCodes is the retention batch of email-change codes expired a day
// ago (with their new addresses).
func PurgeExpiredEmailChangeCodes(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	n, err := sqlcgen.New(tx).PurgeExpiredEmailChangeCodes(ctx, sqlcgen.PurgeExpiredEmailChangeCodesParams{
		GraceMs: domain.BudgetWindow.Milliseconds(), BatchSize: limit,
	})
	if err != nil {
		return 0, fmt.Errorf("purge expired email-change codes: %w", fromDriver(err))
	}
	return n, nil
}
