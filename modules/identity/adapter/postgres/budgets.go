package postgres

import (
	"context"
	"fmt"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"time"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
)

// reservation is what a change may spend of one client's budget of one kind (see
// app.Budgets): the client's newest entries in the window, at most the limit, and the id
// of the unit reserved for the change (0: none, the budget is spent or not checked).
type reservation struct {
	kind  app.ClientKind
	spent []time.Time
	id    int64
}

// reserve checks the client's budget of b.ClientKind in a short transaction of its own:
// it locks that budget for the transaction alone, reads at most b.ClientLimit of its
// newest entries, and reserves one unit when there is room. A budget that is off (a
// limit of 0), or a change of no client, is neither locked, read nor written.
func reserve(ctx context.Context, conn *pgxpool.Conn, client string, b app.Budgets) (reservation, error) {
	if client == "" || b.ClientKind == "" || b.ClientLimit <= 0 {
		return reservation{}, nil
	}
	var r reservation
	err := database.InTx(ctx, conn, func(tx pgx.Tx) error {
		q := sqlcgen.New(tx)
		if err := q.LockClientBudget(ctx, sqlcgen.LockClientBudgetParams{Client: client, Kind: string(b.ClientKind)}); err != nil {
			return fmt.Errorf("lock the client's budget: %w", fromDriver(err))
		}
		var err error
		if r, err = readClientBudget(ctx, q, client, b); err != nil {
			return err
		}
		if len(r.spent) >= b.ClientLimit {
			return nil // spent: the change sees it and refuses
		}
		if r.id, err = q.ReserveClientLedger(ctx, sqlcgen.ReserveClientLedgerParams{Client: client, Kind: string(b.ClientKind)}); err != nil {
			return fmt.Errorf("reserve the client's budget: %w", fromDriver(err))
		}
		return nil
	})
	if err != nil {
		return reservation{}, err
	}
	return r, nil
}

// readClientBudget reads at most b.ClientLimit of the newest entries of the client's
// budget of b.ClientKind in the window, without a lock or a reservation (nothing, for a
// budget that is off or a change of no client).
func readClientBudget(ctx context.Context, q *sqlcgen.Queries, client string, b app.Budgets) (reservation, error) {
	if client == "" || b.ClientKind == "" || b.ClientLimit <= 0 {
		return reservation{}, nil
	}
	spent, err := q.RecentClientLedger(ctx, sqlcgen.RecentClientLedgerParams{
		Client: client, Kind: string(b.ClientKind), WindowMs: domain.BudgetWindow.Milliseconds(),
		MaxRows: int32(min(b.ClientLimit, 1<<20)),
	})
	if err != nil {
		return reservation{}, fmt.Errorf("get the client's ledger: %w", fromDriver(err))
	}
	return reservation{kind: b.ClientKind, spent: spent}, nil
}

// ledger is the client's ledger as the domain reads it: what it spent before this change
// (the reserved unit is this change's).
func (r reservation) ledger() domain.Ledger {
	switch r.kind {
	case app.ClientCodes:
		return domain.Ledger{CodesIssued: r.spent}
	case app.ClientGuesses:
		return domain.Ledger{WrongGuesses: r.spent}
	}
	return domain.Ledger{}
}

// giveBack returns the reserved unit: the change did not spend it, or failed.
func (r reservation) giveBack(ctx context.Context, q *sqlcgen.Queries) error {
	if r.id == 0 {
		return nil
	}
	if err := q.DeleteClientLedgerEntry(ctx, r.id); err != nil {
		return fmt.Errorf("give back the client's reserved unit: %w", fromDriver(err))
	}
	return nil
}
