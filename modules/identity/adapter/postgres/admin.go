package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/outbox"
)

// maxRows bounds what one read of the administration API asks for.
const maxRows = 1000

// Accounts implements app.Store: ListAccounts, or ListAccountsByEmail for a prefix (a
// byte range of lower(email) that accounts_email_prefix_idx serves). An After that is
// not a UUID starts nowhere: no account.
func (s *Store) Accounts(ctx context.Context, f app.AccountFilter, limit int) ([]domain.Account, error) {
	var (
		after    *uuid.UUID
		status   *string
		disabled = f.Disabled
		rows     []sqlcgen.IdentityAccount
		err      error
	)
	if f.After != "" {
		id, err := uuid.Parse(f.After)
		if err != nil {
			return nil, nil
		}
		after = &id
	}
	if f.Status != "" {
		st := string(f.Status)
		status = &st
	}
	n := int32(min(limit, maxRows)) //nolint:gosec // bounded
	q := sqlcgen.New(s.pool)
	if prefix := strings.ToLower(f.EmailPrefix); prefix != "" {
		rows, err = q.ListAccountsByEmail(ctx, sqlcgen.ListAccountsByEmailParams{
			FromEmail: prefix, BelowEmail: successor(prefix),
			After: after, Status: status, Disabled: disabled, MaxRows: n,
		})
	} else {
		rows, err = q.ListAccounts(ctx, sqlcgen.ListAccountsParams{After: after, Status: status, Disabled: disabled, MaxRows: n})
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

// Events implements app.Store.
func (s *Store) Events(ctx context.Context, f app.EventFilter, limit int) ([]domain.AccountEvent, error) {
	params := sqlcgen.AccountEventsParams{MaxRows: int32(min(limit, maxRows))} //nolint:gosec // bounded
	if f.Type != "" {
		params.Type = &f.Type
	}
	if !f.Since.IsZero() {
		since := f.Since
		params.Since = &since
	}
	if f.Before != "" {
		b, err := uuid.Parse(f.Before)
		if err != nil {
			return nil, nil // no event: none before it
		}
		params.Before = &b
	}
	rows, err := sqlcgen.New(s.pool).AccountEvents(ctx, params)
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
