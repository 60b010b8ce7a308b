package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
)

var _ app.SessionStore = (*Store)(nil)

// saveSessions applies the session events of a change to the account id, in its
// transaction and under its lock: a sign-in inserts its session and ends those past the
// policy's count; a sign-out everywhere and a password change end them all.
func saveSessions(ctx context.Context, q *sqlcgen.Queries, id uuid.UUID, events []domain.Event) error {
	for _, e := range events {
		switch e := e.(type) {
		case domain.SessionStarted:
			if _, err := q.InsertSession(ctx, sqlcgen.InsertSessionParams{AccountID: id, TokenHash: e.TokenHash}); err != nil {
				return fmt.Errorf("insert session: %w", fromDriver(err))
			}
			p := e.Policy
			if _, err := q.EvictSessions(ctx, sqlcgen.EvictSessionsParams{
				AccountID: id, Keep: int32(p.PerAccount), //nolint:gosec // LoadSettings bounds it (1 to 10000)
				IdleMs: p.IdleTimeout.Milliseconds(), MaxAgeMs: p.MaxAge.Milliseconds(),
			}); err != nil {
				return fmt.Errorf("end sessions past the limit: %w", fromDriver(err))
			}
		case domain.SessionsEnded, domain.PasswordChanged:
			if _, err := q.DeleteAccountSessions(ctx, id); err != nil {
				return fmt.Errorf("end the account's sessions: %w", fromDriver(err))
			}
		}
	}
	return nil
}

// UseSession implements app.SessionStore: one statement finds the live session and its
// account and, when its idle clock is older than p.TouchEvery(), writes it.
func (s *Store) UseSession(ctx context.Context, tokenHash []byte, p domain.SessionPolicy) (domain.Session, domain.Account, error) {
	row, err := sqlcgen.New(s.pool).UseSession(ctx, sqlcgen.UseSessionParams{
		TokenHash: tokenHash, IdleMs: p.IdleTimeout.Milliseconds(), MaxAgeMs: p.MaxAge.Milliseconds(),
		TouchMs: p.TouchEvery().Milliseconds(),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Session{}, domain.Account{}, domain.ErrInvalidToken
	}
	if err != nil {
		return domain.Session{}, domain.Account{}, fmt.Errorf("use session: %w", fromDriver(err))
	}
	acc := toAccount(row.IdentityAccount)
	return domain.Session{ID: row.SessionID, AccountID: acc.ID, CreatedAt: row.SessionCreatedAt}, acc, nil
}

// EndSession implements app.SessionStore.
func (s *Store) EndSession(ctx context.Context, id int64) error {
	if _, err := sqlcgen.New(s.pool).DeleteSession(ctx, id); err != nil {
		return fmt.Errorf("delete session: %w", fromDriver(err))
	}
	return nil
}

// EstimateSessions returns how many sessions are held, live or ended and not yet purged,
// across every account, from PostgreSQL's statistics (no scan of the table).
func (s *Store) EstimateSessions(ctx context.Context) (int64, error) {
	n, err := sqlcgen.New(s.pool).EstimateSessions(ctx)
	if err != nil {
		return 0, fmt.Errorf("estimate sessions: %w", fromDriver(err))
	}
	return n, nil
}

// PurgeSessions returns the retention batches of ended sessions under p: those idle past
// p.IdleTimeout and those older than p.MaxAge (platform/maintenance runs them).
func PurgeSessions(p domain.SessionPolicy) (idle, old func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error)) {
	idle = func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
		n, err := sqlcgen.New(tx).PurgeIdleSessions(ctx, sqlcgen.PurgeIdleSessionsParams{IdleMs: p.IdleTimeout.Milliseconds(), BatchSize: limit})
		if err != nil {
			return 0, fmt.Errorf("purge idle sessions: %w", fromDriver(err))
		}
		return n, nil
	}
	old = func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
		n, err := sqlcgen.New(tx).PurgeOldSessions(ctx, sqlcgen.PurgeOldSessionsParams{MaxAgeMs: p.MaxAge.Milliseconds(), BatchSize: limit})
		if err != nil {
			return 0, fmt.Errorf("purge old sessions: %w", fromDriver(err))
		}
		return n, nil
	}
	return idle, old
}
