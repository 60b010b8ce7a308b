package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
)

// ClientBudgetSpan is the width of the spans a client's budgets are counted in
// (identity.client_budgets): the check of a budget reads at most
// domain.BudgetWindow/ClientBudgetSpan + 1 rows whatever the client spent, and a unit
// counts until the window has passed since its span's end, so a client never spends more
// than its budget in any 24 h and may wait up to one span longer than the exact window
// would make it (docs/decisions.md, "Per-client budgets shared by every replica").
const ClientBudgetSpan = 15 * time.Minute

// reservation is what a change may spend of one client's budget of one kind (see
// app.Budgets): what the client spent in the window, per span, and the span of the unit
// reserved for the change (zero: none, the budget is spent or not checked).
type reservation struct {
	client string
	kind   app.ClientKind
	spent  domain.Tally
	span   time.Time
}

// reserve checks the client's budget of b.ClientKind in a short transaction of its own:
// it locks that budget for the transaction alone, reads its spans in the window (a
// bounded number), and reserves one unit when there is room. A budget that is off (a
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
		// Units in spans that left the window since the read are still counted: the
		// refusal errs by the few milliseconds between the read and now.
		if r.spent.Units() >= b.ClientLimit {
			return nil // spent: the change sees it and refuses
		}
		if r.span, err = q.SpendClientBudget(ctx, sqlcgen.SpendClientBudgetParams{
			Client: client, Kind: string(b.ClientKind), SpanMs: ClientBudgetSpan.Milliseconds(),
		}); err != nil {
			return fmt.Errorf("reserve the client's budget: %w", fromDriver(err))
		}
		return nil
	})
	if err != nil {
		return reservation{}, err
	}
	return r, nil
}

// readClientBudget reads the spans of the client's budget of b.ClientKind in the window,
// without a lock or a reservation (nothing, for a budget that is off or a change of no
// client): at most domain.BudgetWindow/ClientBudgetSpan + 1 rows, each a count stamped
// with its span's end.
func readClientBudget(ctx context.Context, q *sqlcgen.Queries, client string, b app.Budgets) (reservation, error) {
	if client == "" || b.ClientKind == "" || b.ClientLimit <= 0 {
		return reservation{}, nil
	}
	rows, err := q.ClientBudgetSpans(ctx, sqlcgen.ClientBudgetSpansParams{
		Client: client, Kind: string(b.ClientKind),
		WindowMs: domain.BudgetWindow.Milliseconds(), SpanMs: ClientBudgetSpan.Milliseconds(),
	})
	if err != nil {
		return reservation{}, fmt.Errorf("get the client's budget: %w", fromDriver(err))
	}
	spent := make(domain.Tally, 0, len(rows))
	for _, r := range rows {
		if r.Spent > 0 {
			spent = append(spent, domain.Count{At: r.Span.Add(ClientBudgetSpan), Units: int(r.Spent)})
		}
	}
	return reservation{client: client, kind: b.ClientKind, spent: spent}, nil
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

// giveBack returns the reserved unit (the change did not spend it, or failed), in a
// statement of its own after the change's transaction: a client's span is a row many
// requests update, never held locked across a request's change.
func (r reservation) giveBack(ctx context.Context, q *sqlcgen.Queries) error {
	if r.span.IsZero() {
		return nil
	}
	if err := q.GiveBackClientBudget(ctx, sqlcgen.GiveBackClientBudgetParams{
		Client: r.client, Kind: string(r.kind), Span: r.span,
	}); err != nil {
		return fmt.Errorf("give back the client's reserved unit: %w", fromDriver(err))
	}
	return nil
}
