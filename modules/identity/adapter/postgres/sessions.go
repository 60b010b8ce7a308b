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

// startSession inserts the session a sign-in of the account id started and ends those
// past the policy's count and those already ended, in the change's transaction and under
// the account's lock; it returns the new session's id.
func startSession(ctx context.Context, q *sqlcgen.Queries, id string, e domain.SessionStarted) (string, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return "", fmt.Errorf("account id %q: %w", id, err)
	}
	row, err := q.InsertSession(ctx, sqlcgen.InsertSessionParams{
		AccountID: uid, TokenHash: e.TokenHash, Client: e.Device.Client, UserAgent: e.Device.UserAgent,
	})
	if err != nil {
		return "", fmt.Errorf("insert session: %w", fromDriver(err))
	}
	p := e.Policy
	if _, err := q.EvictSessions(ctx, sqlcgen.EvictSessionsParams{
		AccountID: uid, Keep: int32(p.PerAccount), //nolint:gosec // LoadSettings bounds it (1 to 10000)
		IdleMs: p.IdleTimeout.Milliseconds(), MaxAgeMs: p.MaxAge.Milliseconds(),
	}); err != nil {
		return "", fmt.Errorf("end sessions past the limit: %w", fromDriver(err))
	}
	return row.PublicID.String(), nil
}

// endSession ends the session id of the account accountID (domain.SessionEnded):
// domain.ErrSessionNotFound when it is not one of its live sessions. A malformed id is no
// session; the statement is the same for another account's id and an unknown one.
func endSession(ctx context.Context, q *sqlcgen.Queries, accountID, id string) error {
	uid, err := uuid.Parse(accountID)
	if err != nil {
		return fmt.Errorf("account id %q: %w", accountID, err)
	}
	sid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("session %q: %w", id, domain.ErrSessionNotFound)
	}
	n, err := q.DeleteSessionOf(ctx, sqlcgen.DeleteSessionOfParams{PublicID: sid, AccountID: uid})
	if err != nil {
		return fmt.Errorf("end session: %w", fromDriver(err))
	}
	if n == 0 {
		return fmt.Errorf("session %s: %w", id, domain.ErrSessionNotFound)
	}
	return nil
}

// endSessions ends every session of the account id (a sign-out everywhere, a new
// password).
func endSessions(ctx context.Context, q *sqlcgen.Queries, id string) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("account id %q: %w", id, err)
	}
	if _, err := q.DeleteAccountSessions(ctx, uid); err != nil {
		return fmt.Errorf("end the account's sessions: %w", fromDriver(err))
	}
	return nil
}

// changeEmail saves a confirmed email change of the account id (domain.EmailChanged), in
// its transaction and under its lock: the address (the unique constraint deciding a race:
// domain.ErrEmailTaken), every session but the confirming one, and the wrong passwords of
// the old address, which count against the new one.
func changeEmail(ctx context.Context, q *sqlcgen.Queries, id string, e domain.EmailChanged) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("account id %q: %w", id, err)
	}
	if err := q.ChangeAccountEmail(ctx, sqlcgen.ChangeAccountEmailParams{ID: uid, Email: string(e.To)}); err != nil {
		return fmt.Errorf("change the account's address: %w", fromDriver(err))
	}
	params := sqlcgen.DeleteOtherSessionsParams{AccountID: uid}
	if keep, err := uuid.Parse(e.Keep); err == nil {
		params.Keep = &keep
	}
	if _, err := q.DeleteOtherSessions(ctx, params); err != nil {
		return fmt.Errorf("end the account's other sessions: %w", fromDriver(err))
	}
	if err := q.MoveSignInFailures(ctx, sqlcgen.MoveSignInFailuresParams{FromEmail: string(e.From), ToEmail: string(e.To)}); err != nil {
		return fmt.Errorf("move the old address's sign-in failures: %w", fromDriver(err))
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
	return domain.Session{ID: row.SessionID.String(), AccountID: acc.ID, CreatedAt: row.SessionCreatedAt}, acc, nil
}

// SessionsOf implements app.SessionStore.
func (s *Store) SessionsOf(ctx context.Context, accountID string, p domain.SessionPolicy) ([]domain.Session, error) {
	id, err := uuid.Parse(accountID)
	if err != nil {
		return nil, nil // no account of the store's: no sessions
	}
	rows, err := sqlcgen.New(s.pool).SessionsOf(ctx, sqlcgen.SessionsOfParams{
		AccountID: id, IdleMs: p.IdleTimeout.Milliseconds(), MaxAgeMs: p.MaxAge.Milliseconds(),
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", fromDriver(err))
	}
	out := make([]domain.Session, len(rows))
	for i, r := range rows {
		out[i] = domain.Session{ID: r.PublicID.String(), AccountID: accountID, CreatedAt: r.CreatedAt,
			LastUsedAt: r.LastUsedAt, Client: r.Client, UserAgent: r.UserAgent}
	}
	return out, nil
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
