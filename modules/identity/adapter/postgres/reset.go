package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
)

// ResetByEmail implements app.Store: the account of email locked with its reset code, or,
// when there is none, an account that is only the email, with the same budgets locked
// and read, so that an unknown email costs and answers what a known one does. What change
// leaves is saved: for an unknown email only its ledger entries (the wrong guesses count
// against the mailbox and the client), and it queues no email.
func (s *Store) ResetByEmail(ctx context.Context, email domain.Email, change func(acc *domain.Account, now time.Time) error) error {
	return database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		q := sqlcgen.New(tx)
		locked, err := q.LockAccountByEmail(ctx, string(email))
		found := err == nil
		var acc domain.Account
		var now time.Time
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if now, err = q.ClockNow(ctx); err != nil {
				return fmt.Errorf("read the database clock: %w", fromDriver(err))
			}
			acc, err = s.loadLedger(ctx, q, domain.Account{Email: email}, now)
		case err != nil:
			return fmt.Errorf("lock account: %w", fromDriver(err))
		default:
			now = locked.DbNow
			acc, err = s.loadLedger(ctx, q, toAccount(locked.IdentityAccount), now)
		}
		if err != nil {
			return err
		}
		if found {
			if acc.Reset, err = getResetCode(ctx, q, locked.IdentityAccount.ID); err != nil {
				return err
			}
		}
		loaded, loadedReset := rowOf(acc), acc.Reset
		var loadedCode domain.ResetCode
		if loadedReset != nil {
			loadedCode = *loadedReset
		}
		if err := change(&acc, now); err != nil {
			return err
		}
		if !found {
			return s.saveLedger(ctx, q, &acc)
		}
		if acc.Reset != nil && (loadedReset == nil || *acc.Reset != loadedCode) {
			if err := q.UpsertResetCode(ctx, sqlcgen.UpsertResetCodeParams{
				AccountID: locked.IdentityAccount.ID, Code: acc.Reset.Value, IssuedAt: acc.Reset.IssuedAt,
				ExpiresAt: acc.Reset.ExpiresAt, FailedAttempts: int32(acc.Reset.FailedAttempts), //nolint:gosec // bounded by MaxAttempts
			}); err != nil {
				return fmt.Errorf("save reset code: %w", fromDriver(err))
			}
		}
		return s.save(ctx, tx, q, &acc, loaded)
	})
}

func getResetCode(ctx context.Context, q *sqlcgen.Queries, id uuid.UUID) (*domain.ResetCode, error) {
	row, err := q.GetResetCode(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get reset code: %w", fromDriver(err))
	}
	return &domain.ResetCode{Value: row.Code, IssuedAt: row.IssuedAt, ExpiresAt: row.ExpiresAt, FailedAttempts: int(row.FailedAttempts)}, nil
}

// voidResetCodes deletes the reset code of an account whose password changed (a used
// code, or a change by PUT /v1/users/me/password): no earlier code may replace the new
// password.
func voidResetCodes(ctx context.Context, q *sqlcgen.Queries, id uuid.UUID, events []domain.Event) error {
	for _, e := range events {
		if _, ok := e.(domain.PasswordChanged); ok {
			if err := q.DeleteResetCode(ctx, id); err != nil {
				return fmt.Errorf("void reset codes: %w", fromDriver(err))
			}
			return nil
		}
	}
	return nil
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
