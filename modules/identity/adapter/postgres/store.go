// Package postgres is the identity context's store on PostgreSQL: the sqlc queries of
// db/queries/identity, row locks for every change, and the events of every change handed
// to one port (Events) inside the same transaction.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
)

// Events is the one port that turns the events of a change into what they cause beyond
// the store's own tables (the emails: adapter/email.Notifier), written within tx, a
// transaction of database.InTx. Its errors need no translation.
type Events interface {
	Publish(ctx context.Context, tx pgx.Tx, events []domain.Event) error
}

// Store implements app.Store.
type Store struct {
	pool   *pgxpool.Pool
	events Events
	// deletion holds what other modules do inside a deletion (OnDelete).
	deletion deletionHooks
}

var _ app.Store = (*Store)(nil)

// NewStore returns a store over pool that hands the events of every change to events.
func NewStore(pool *pgxpool.Pool, events Events) *Store {
	return &Store{pool: pool, events: events}
}

// AccountByEmail implements app.Store.
func (s *Store) AccountByEmail(ctx context.Context, email domain.Email) (domain.Account, error) {
	row, err := sqlcgen.New(s.pool).GetAccountByEmail(ctx, string(email))
	if err != nil {
		return domain.Account{}, fmt.Errorf("get account by email: %w", fromDriver(err))
	}
	return toAccount(row), nil
}

// AccountByID implements app.Store. An id that is not a UUID is no account.
func (s *Store) AccountByID(ctx context.Context, id string) (domain.Account, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return domain.Account{}, fmt.Errorf("get account %q: %w", id, domain.ErrAccountNotFound)
	}
	row, err := sqlcgen.New(s.pool).GetAccount(ctx, uid)
	if err != nil {
		return domain.Account{}, fmt.Errorf("get account %s: %w", id, fromDriver(err))
	}
	return toAccount(row), nil
}

// Register implements app.Store. The insert lets the unique constraint decide: ON
// CONFLICT waits for a concurrent registration of the same email, and then the existing
// row is locked instead.
func (s *Store) Register(ctx context.Context, email domain.Email, passwordHash string,
	decide func(acc *domain.Account, now time.Time, created bool) error,
) (domain.Account, error) {
	created := false
	return s.apply(ctx, func(q *sqlcgen.Queries) (domain.Account, time.Time, error) {
		// The conflicting account can vanish between the insert and the lock (the
		// retention task deleted it, pending and stale): then the insert is tried again.
		for attempt := 1; ; attempt++ {
			row, err := q.InsertAccount(ctx, sqlcgen.InsertAccountParams{Email: string(email), PasswordHash: passwordHash})
			if err == nil {
				// A new account, but perhaps not a new address: a deleted pending account
				// leaves its ledger behind.
				created = true
				acc, err := s.loadLedger(ctx, q, toAccount(row), row.CreatedAt)
				return acc, row.CreatedAt, err
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return domain.Account{}, time.Time{}, fmt.Errorf("insert account: %w", fromDriver(err))
			}
			locked, err := q.LockAccountByEmail(ctx, string(email))
			if errors.Is(err, pgx.ErrNoRows) && attempt < 3 {
				continue
			}
			if err != nil {
				return domain.Account{}, time.Time{}, fmt.Errorf("lock existing account: %w", fromDriver(err))
			}
			acc, err := s.load(ctx, q, locked.IdentityAccount, locked.DbNow)
			return acc, locked.DbNow, err
		}
	}, func(acc *domain.Account, now time.Time) error {
		return decide(acc, now, created)
	})
}

// Update implements app.Store.
func (s *Store) Update(ctx context.Context, id string, change func(acc *domain.Account, now time.Time) error) (domain.Account, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return domain.Account{}, fmt.Errorf("account id %q: %w", id, domain.ErrAccountNotFound)
	}
	return s.apply(ctx, func(q *sqlcgen.Queries) (domain.Account, time.Time, error) {
		locked, err := q.LockAccount(ctx, uid)
		if err != nil {
			return domain.Account{}, time.Time{}, fmt.Errorf("lock account: %w", fromDriver(err))
		}
		acc, err := s.load(ctx, q, locked.IdentityAccount, locked.DbNow)
		return acc, locked.DbNow, err
	}, change)
}

// apply is one change to one account, in one transaction: lock reads the locked account
// and the database clock, change lets the domain decide, save writes back what changed
// and queues the emails it caused. This replica's dispatcher is woken after the commit
// when there are any.
func (s *Store) apply(ctx context.Context,
	lock func(*sqlcgen.Queries) (domain.Account, time.Time, error),
	change func(acc *domain.Account, now time.Time) error,
) (domain.Account, error) {
	var out domain.Account
	err := database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		q := sqlcgen.New(tx)
		acc, now, err := lock(q)
		if err != nil {
			return err
		}
		loaded := rowOf(acc)
		if err := change(&acc, now); err != nil {
			return err
		}
		if err := s.save(ctx, tx, q, &acc, loaded); err != nil {
			return err
		}
		out = acc
		return nil
	})
	if err != nil {
		return domain.Account{}, err
	}
	return out, nil
}

// The kinds of ledger rows. A client's ledger counts reset codes and their guesses with
// activation's; a mailbox's keeps them apart.
const (
	ledgerCodeIssued     = "code_issued"
	ledgerWrongCode      = "wrong_code"
	ledgerResetIssued    = "reset_issued"
	ledgerWrongResetCode = "wrong_reset_code"
)

// load adds the account's latest activation code and its address's ledger to the locked
// row; now is the database clock under the lock.
func (s *Store) load(ctx context.Context, q *sqlcgen.Queries, row sqlcgen.IdentityAccount, now time.Time) (domain.Account, error) {
	acc, err := s.loadLedger(ctx, q, toAccount(row), now)
	if err != nil {
		return domain.Account{}, err
	}
	code, err := q.GetActivationCode(ctx, row.ID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return domain.Account{}, fmt.Errorf("get activation code: %w", fromDriver(err))
	default:
		acc.Code = &domain.ActivationCode{
			Value: code.Code, IssuedAt: code.IssuedAt, ExpiresAt: code.ExpiresAt, FailedAttempts: int(code.FailedAttempts),
		}
	}
	return acc, nil
}

// loadLedger locks the budgets of the account's mailbox and of the client of ctx, and adds
// what they spent in the last 24 h to acc (a new account has no code to read, but its
// mailbox may have a ledger from another address or a deleted account).
func (s *Store) loadLedger(ctx context.Context, q *sqlcgen.Queries, acc domain.Account, now time.Time) (domain.Account, error) {
	mailbox, client := string(acc.Email.Mailbox()), app.ClientFrom(ctx)
	if err := q.LockBudgets(ctx, sqlcgen.LockBudgetsParams{Mailbox: mailbox, Client: client}); err != nil {
		return domain.Account{}, fmt.Errorf("lock budgets: %w", fromDriver(err))
	}
	entries, err := q.LedgerOfMailboxAndClient(ctx, sqlcgen.LedgerOfMailboxAndClientParams{
		Mailbox: mailbox, Client: client, Since: now.Add(-domain.BudgetWindow),
	})
	if err != nil {
		return domain.Account{}, fmt.Errorf("get budget ledgers: %w", fromDriver(err))
	}
	for _, e := range entries {
		l := &acc.Ledger
		if e.Owner == "client" {
			l = &acc.Client
		}
		switch e.Kind {
		case ledgerCodeIssued:
			l.CodesIssued = append(l.CodesIssued, e.OccurredAt)
		case ledgerWrongCode:
			l.WrongGuesses = append(l.WrongGuesses, e.OccurredAt)
		case ledgerResetIssued:
			l.ResetsIssued = append(l.ResetsIssued, e.OccurredAt)
		case ledgerWrongResetCode:
			l.WrongResets = append(l.WrongResets, e.OccurredAt)
		}
	}
	return acc, nil
}

// save writes back what the domain changed, records its events in the ledger, and hands
// them to the events port.
func (s *Store) save(ctx context.Context, tx pgx.Tx, q *sqlcgen.Queries, acc *domain.Account, loaded accountRow) error {
	if acc.Deleted() {
		// A deletion: nothing else of the change is saved (see delete.go).
		return s.deleteAccount(ctx, tx, q, acc)
	}
	if acc.ID == "" {
		// A takeover (domain.AccountReplaced): the old account goes, with its code and
		// what cascades from it, and the new one is inserted under a new id.
		return s.replace(ctx, tx, q, acc)
	}
	id, err := uuid.Parse(acc.ID)
	if err != nil {
		return fmt.Errorf("account id %q: %w", acc.ID, err)
	}
	// Most changes (a new code, a wrong guess) touch the code, not the account: the
	// account row is written only when one of its columns changed, a round trip saved.
	if rowOf(*acc) != loaded {
		if err := q.UpdateAccount(ctx, sqlcgen.UpdateAccountParams{
			ID: id, PasswordHash: acc.PasswordHash, Status: string(acc.Status),
			CreatedAt: acc.CreatedAt, ActivatedAt: acc.ActivatedAt,
		}); err != nil {
			return fmt.Errorf("update account: %w", fromDriver(err))
		}
	}
	return s.saveRest(ctx, tx, q, id, acc)
}

// replace deletes the accounts acc's AccountReplaced events name and inserts acc as a new
// account, then saves the rest of the change under its new id.
func (s *Store) replace(ctx context.Context, tx pgx.Tx, q *sqlcgen.Queries, acc *domain.Account) error {
	for _, e := range acc.Events() {
		if r, ok := e.(domain.AccountReplaced); ok {
			old, err := uuid.Parse(r.ID)
			if err != nil {
				return fmt.Errorf("replaced account id %q: %w", r.ID, err)
			}
			if err := q.DeleteAccount(ctx, old); err != nil {
				return fmt.Errorf("delete replaced account: %w", fromDriver(err))
			}
		}
	}
	row, err := q.InsertAccount(ctx, sqlcgen.InsertAccountParams{Email: string(acc.Email), PasswordHash: acc.PasswordHash})
	if err != nil {
		return fmt.Errorf("insert replacing account: %w", fromDriver(err))
	}
	acc.ID, acc.CreatedAt = row.ID.String(), row.CreatedAt
	return s.saveRest(ctx, tx, q, row.ID, acc)
}

// saveRest saves the code, the ledgers and the events of the change to the account id.
func (s *Store) saveRest(ctx context.Context, tx pgx.Tx, q *sqlcgen.Queries, id uuid.UUID, acc *domain.Account) error {
	if acc.Code == nil {
		if err := q.DeleteActivationCode(ctx, id); err != nil {
			return fmt.Errorf("delete activation code: %w", fromDriver(err))
		}
	} else if err := q.UpsertActivationCode(ctx, sqlcgen.UpsertActivationCodeParams{
		AccountID: id, Code: acc.Code.Value, IssuedAt: acc.Code.IssuedAt, ExpiresAt: acc.Code.ExpiresAt,
		FailedAttempts: int32(acc.Code.FailedAttempts), //nolint:gosec // bounded by MaxAttempts
	}); err != nil {
		return fmt.Errorf("save activation code: %w", fromDriver(err))
	}
	if err := s.saveLedger(ctx, q, acc); err != nil {
		return err
	}
	if err := saveSessions(ctx, q, id, acc.Events()); err != nil {
		return err
	}
	if err := voidResetCodes(ctx, q, id, acc.Events()); err != nil {
		return err
	}
	if err := s.events.Publish(ctx, tx, acc.Events()); err != nil {
		return fmt.Errorf("publish events of account %s: %w", acc.ID, err)
	}
	return nil
}

// accountRow is what the accounts table holds of an account, comparable.
type accountRow struct {
	passwordHash string
	status       domain.Status
	createdAt    time.Time
	activatedAt  time.Time // zero while pending
}

func rowOf(a domain.Account) accountRow {
	r := accountRow{passwordHash: a.PasswordHash, status: a.Status, createdAt: a.CreatedAt}
	if a.ActivatedAt != nil {
		r.activatedAt = *a.ActivatedAt
	}
	return r
}

// saveLedger appends what the mailbox and the client of ctx spent in this change to their
// ledgers. What left the window is deleted by the retention tasks (PruneActivationLedger,
// PruneClientLedger), not here.
func (s *Store) saveLedger(ctx context.Context, q *sqlcgen.Queries, acc *domain.Account) error {
	mailbox, client := string(acc.Email.Mailbox()), app.ClientFrom(ctx)
	add := func(kind, clientKind string, at time.Time) error {
		if err := q.AppendLedger(ctx, sqlcgen.AppendLedgerParams{Mailbox: mailbox, Kind: kind, OccurredAt: at}); err != nil {
			return fmt.Errorf("append to activation ledger: %w", fromDriver(err))
		}
		if client == "" {
			return nil
		}
		if err := q.AppendClientLedger(ctx, sqlcgen.AppendClientLedgerParams{Client: client, Kind: clientKind, OccurredAt: at}); err != nil {
			return fmt.Errorf("append to client ledger: %w", fromDriver(err))
		}
		return nil
	}
	for _, e := range acc.Events() {
		var err error
		switch e := e.(type) {
		case domain.CodeIssued:
			kind := ledgerCodeIssued
			if e.Purpose == domain.PurposePasswordReset {
				kind = ledgerResetIssued
			}
			err = add(kind, ledgerCodeIssued, e.IssuedAt)
		case domain.WrongCode:
			kind := ledgerWrongCode
			if e.Purpose == domain.PurposePasswordReset {
				kind = ledgerWrongResetCode
			}
			err = add(kind, ledgerWrongCode, e.At)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func toAccount(r sqlcgen.IdentityAccount) domain.Account {
	return domain.Account{
		ID:           r.ID.String(),
		Email:        domain.Email(r.Email),
		PasswordHash: r.PasswordHash,
		Status:       domain.Status(r.Status),
		CreatedAt:    r.CreatedAt,
		ActivatedAt:  r.ActivatedAt,
	}
}

// fromDriver interprets every driver error in one place: no row is a missing account, an
// unreachable database is database.ErrUnavailable; the rest passes through.
func fromDriver(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.ErrAccountNotFound
	}
	return database.Classify(err)
}
