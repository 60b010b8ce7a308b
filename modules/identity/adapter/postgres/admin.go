package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/outbox"
)

// maxRows bounds what one read of the administration API asks for.
const maxRows = 1000

// customPlans runs the administration API's reads as unnamed statements
// (pgx.QueryExecModeExec), which PostgreSQL plans with their parameters every time. A
// named prepared statement (the pool's default, cache_statement) may switch to a generic
// plan after five runs, which cannot look at the parameters: for the email prefix it
// estimated a walk of accounts_pkey filtered by the prefix as cheaper than the prefix's
// range in accounts_email_prefix_idx, a walk of every account for a rare prefix
// (TestAdminQueriesUseTheirIndexes; docs/decisions.md). A plan per request costs a
// fraction of a millisecond, and operators' requests are few.
type customPlans struct{ pool *pgxpool.Pool }

func (c customPlans) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return c.pool.Exec(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
}

func (c customPlans) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return c.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
}

func (c customPlans) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return c.pool.QueryRow(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
}

// Accounts implements app.Store: ListAccountsByEmail for a prefix (a byte range of
// lower(email) that accounts_email_prefix_idx serves), ListDisabledAccounts for the
// disabled ones (a partial index), ListAccounts otherwise. An After that is not a UUID
// starts nowhere: no account.
func (s *Store) Accounts(ctx context.Context, f app.AccountFilter, limit int) ([]domain.Account, error) {
	var (
		after  uuid.UUID // the nil UUID: before every account's (gen_random_uuid is never nil)
		status *string
		rows   []sqlcgen.IdentityAccount
		err    error
	)
	if f.After != "" {
		if after, err = uuid.Parse(f.After); err != nil {
			return nil, nil
		}
	}
	if f.Status != "" {
		st := string(f.Status)
		status = &st
	}
	n := int32(min(limit, maxRows)) //nolint:gosec // bounded
	q := sqlcgen.New(customPlans{s.pool})
	switch prefix := strings.ToLower(f.EmailPrefix); {
	case prefix != "":
		rows, err = q.ListAccountsByEmail(ctx, sqlcgen.ListAccountsByEmailParams{
			FromEmail: prefix, BelowEmail: successor(prefix),
			After: after, Status: status, Disabled: f.Disabled, MaxRows: n,
		})
	case f.Disabled != nil && *f.Disabled:
		rows, err = q.ListDisabledAccounts(ctx, sqlcgen.ListDisabledAccountsParams{After: after, Status: status, MaxRows: n})
	default:
		rows, err = q.ListAccounts(ctx, sqlcgen.ListAccountsParams{After: after, Status: status, Disabled: f.Disabled, MaxRows: n})
	}
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", fromDriver(err))
	}
	out := make([]domain.Account, len(rows))
	for i, r := range rows {
		out[i] = toAccount(r)
	}
	return out, nil
}

// successor is the least string above every string that starts with prefix, byte-wise
// (text_pattern_ops' order): prefix with its last byte incremented, once trailing 0xff
// bytes are cut. The handler passes UTF-8 only, which has no 0xff byte; a prefix of
// nothing else gets itself, an empty range.
func successor(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return prefix
}

// KnownClientsOf implements app.Store.
func (s *Store) KnownClientsOf(ctx context.Context, accountID string) ([]domain.KnownClient, error) {
	id, err := uuid.Parse(accountID)
	if err != nil {
		return nil, nil // no account of the store's: no clients
	}
	rows, err := sqlcgen.New(s.pool).KnownClientsOf(ctx, sqlcgen.KnownClientsOfParams{
		AccountID: id, KnownMs: domain.KnownClientWindow.Milliseconds(),
	})
	if err != nil {
		return nil, fmt.Errorf("get the account's known clients: %w", fromDriver(err))
	}
	out := make([]domain.KnownClient, len(rows))
	for i, r := range rows {
		out[i] = domain.KnownClient{Client: r.Client, SignedInAt: r.SignedInAt}
	}
	return out, nil
}

// The bounds of the trail's queries when the caller sets none: every bound is a
// parameter, an index condition, not a filter ORed with "unset".
var (
	earliest = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(9999, time.December, 31, 0, 0, 0, 0, time.UTC)
)

// Events implements app.Store: AccountEventsOfType for a type, AccountEvents otherwise,
// after the cursor of f.Before (EventCursor).
func (s *Store) Events(ctx context.Context, f app.EventFilter, limit int) ([]domain.AccountEvent, error) {
	q := sqlcgen.New(customPlans{s.pool})
	since, beforeAt, beforeSeq := earliest, latest, int64(math.MaxInt64)
	if !f.Since.IsZero() {
		since = f.Since
	}
	if f.Before != "" {
		b, err := uuid.Parse(f.Before)
		if err != nil {
			return nil, nil // no event: none before it
		}
		cursor, err := q.EventCursor(ctx, b)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("find the trail's cursor: %w", fromDriver(err))
		}
		beforeAt, beforeSeq = cursor.OccurredAt, cursor.Seq
	}
	n := int32(min(limit, maxRows)) //nolint:gosec // bounded
	var (
		rows []sqlcgen.AccountEventsRow
		err  error
	)
	if f.Type != "" {
		var typed []sqlcgen.AccountEventsOfTypeRow
		typed, err = q.AccountEventsOfType(ctx, sqlcgen.AccountEventsOfTypeParams{
			Type: f.Type, Since: since, BeforeAt: beforeAt, BeforeSeq: beforeSeq, MaxRows: n,
		})
		for _, r := range typed {
			rows = append(rows, sqlcgen.AccountEventsRow(r))
		}
	} else {
		rows, err = q.AccountEvents(ctx, sqlcgen.AccountEventsParams{Since: since, BeforeAt: beforeAt, BeforeSeq: beforeSeq, MaxRows: n})
	}
	if err != nil {
		return nil, fmt.Errorf("get the audit trail: %w", fromDriver(err))
	}
	events := make([]domain.AccountEvent, len(rows))
	for i, r := range rows {
		events[i] = domain.AccountEvent{ID: r.ID.String(), Type: r.Type, OccurredAt: r.OccurredAt, AccountID: r.AccountID.String()}
		if err := json.Unmarshal(r.Data, &events[i].Data); err != nil {
			return nil, fmt.Errorf("decode the data of event %s: %w", r.ID, err)
		}
	}
	return events, nil
}

// dropUnsent deletes the emails to address not sent yet (a disable: nothing but its
// notice leaves from then on).
func dropUnsent(ctx context.Context, tx pgx.Tx, address domain.Email) error {
	if _, err := outbox.DeleteUnsent(ctx, tx, string(address)); err != nil {
		return fmt.Errorf("delete the account's unsent emails: %w", err)
	}
	return nil
}
