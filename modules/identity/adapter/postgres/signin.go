package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
)

// Attempt implements app.Store: one transaction under an advisory lock on the email, so
// that concurrent attempts see each other's failures and no two pass one check.
func (s *Store) Attempt(ctx context.Context, email domain.Email, client string,
	decide func(h domain.SignInHistory, now time.Time) error,
) (int64, error) {
	var attempt int64
	err := database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		q := sqlcgen.New(tx)
		lock, err := q.LockSignIn(ctx, sqlcgen.LockSignInParams{
			Email: string(email), Client: client, KnownMs: domain.KnownClientWindow.Milliseconds(),
		})
		if err != nil {
			return fmt.Errorf("lock sign-in history: %w", fromDriver(err))
		}
		rows, err := q.FailuresOfEmail(ctx, sqlcgen.FailuresOfEmailParams{
			Email: string(email), Since: lock.DbNow.Add(-domain.FailureWindow),
		})
		if err != nil {
			return fmt.Errorf("get sign-in failures: %w", fromDriver(err))
		}
		h := domain.SignInHistory{Client: client, Known: lock.Known, Failures: make([]domain.Failure, len(rows))}
		for i, r := range rows {
			h.Failures[i] = domain.Failure{Client: r.Client, At: r.FailedAt, Checked: r.Checked}
		}
		if err := decide(h, lock.DbNow); err != nil {
			return err
		}
		attempt, err = q.InsertSignInFailure(ctx, sqlcgen.InsertSignInFailureParams{
			Email: string(email), Client: client, FailedAt: lock.DbNow,
		})
		if err != nil {
			return fmt.Errorf("record sign-in attempt: %w", fromDriver(err))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sign-in attempt: %w", err)
	}
	return attempt, nil
}

// SignedIn implements app.Store in one statement.
func (s *Store) SignedIn(ctx context.Context, email domain.Email, client, accountID string) (known, anyKnown bool, err error) {
	id, err := uuid.Parse(accountID)
	if err != nil {
		return false, false, fmt.Errorf("account id %q: %w", accountID, domain.ErrAccountNotFound)
	}
	row, err := sqlcgen.New(s.pool).SignedIn(ctx, sqlcgen.SignedInParams{
		Email: string(email), Client: client, AccountID: id, KnownMs: domain.KnownClientWindow.Milliseconds(),
	})
	if err != nil {
		return false, false, fmt.Errorf("record sign-in: %w", fromDriver(err))
	}
	return row.Known, row.AnyKnown, nil
}

// knowClient makes client known to the account id (a right password from it), in the
// change's transaction, and reports whether it was new to the account.
func knowClient(ctx context.Context, q *sqlcgen.Queries, id uuid.UUID, client string) (bool, error) {
	isNew, err := q.KnowClient(ctx, sqlcgen.KnowClientParams{AccountID: id, Client: client, KnownMs: domain.KnownClientWindow.Milliseconds()})
	if err != nil {
		return false, fmt.Errorf("know the client: %w", fromDriver(err))
	}
	return isNew, nil
}

// forgetSignIns is what a new password does to the sign-in history of acc, in its change's
// transaction: every failure counted against its email ends, and every client known to
// it but client (the one that made the change, which becomes known) is a stranger again.
func forgetSignIns(ctx context.Context, q *sqlcgen.Queries, acc *domain.Account, client string) error {
	id, err := uuid.Parse(acc.ID)
	if err != nil {
		return fmt.Errorf("account id %q: %w", acc.ID, err)
	}
	if err := q.ForgetSignIns(ctx, sqlcgen.ForgetSignInsParams{Email: string(acc.Email), AccountID: id, Client: client}); err != nil {
		return fmt.Errorf("forget the sign-ins of the old password: %w", fromDriver(err))
	}
	return nil
}

// Failed implements app.Store.
func (s *Store) Failed(ctx context.Context, attempt int64) error {
	if err := sqlcgen.New(s.pool).CheckSignInFailure(ctx, attempt); err != nil {
		return fmt.Errorf("settle sign-in attempt %d: %w", attempt, fromDriver(err))
	}
	return nil
}

// Withdraw implements app.Store.
func (s *Store) Withdraw(ctx context.Context, attempt int64) error {
	if err := sqlcgen.New(s.pool).WithdrawSignInFailure(ctx, attempt); err != nil {
		return fmt.Errorf("withdraw sign-in attempt %d: %w", attempt, fromDriver(err))
	}
	return nil
}
