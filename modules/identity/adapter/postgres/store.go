// Package postgres is the identity context's store on PostgreSQL: the sqlc queries of
// db/queries/identity, row locks for every change, and the events of every change written
// in one switch and handed to one port (Events) inside the same transaction.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	// observeEvent is told of each account event a change committed (ObserveEvents).
	observeEvent func(kind string)
	// jobs inserts the jobs of the account events (subscribers, webhook deliveries);
	// nil: none (UseJobs).
	jobs Jobs
	// subs are the subscribers to account events (Subscribe).
	subs subscriptions
}

// UseJobs has every change insert, in its transaction, a job per subscriber and per
// webhook endpoint of each of its account events, with js. Call it before the store
// serves; without it, no event has a job.
func (s *Store) UseJobs(js Jobs) { s.jobs = js }

// ObserveEvents has observe told the type of every account event, once its change has
// committed (the module's metrics). Call it before the store serves.
func (s *Store) ObserveEvents(observe func(kind string)) { s.observeEvent = observe }

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

// errRegistrationRaced is a registration whose insert found the email taken by a
// concurrent one that committed first: the change runs again, on that account.
var errRegistrationRaced = errors.New("a concurrent registration of the email committed first")

// Change implements app.Store: the one path of every change of an account. On one
// connection, the client's budget is reserved first, in a short transaction of its own
// (reserve); then one transaction locks and loads the account (lock), lets change
// decide, and saves what it left (save); a reservation the change did not keep is given
// back in a statement of its own once that transaction is over. It all runs back to back
// on one connection, so a replica holds at most one reserved unit per connection of its
// pool: a unit in flight is never more than a few milliseconds old, and a burst of one
// client's requests waiting for connections holds none.
func (s *Store) Change(ctx context.Context, key app.Key, change func(acc *domain.Account, now time.Time) error) (domain.Account, error) {
	if key.CheckOnly {
		return s.check(ctx, key, change)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return domain.Account{}, fmt.Errorf("acquire a connection: %w", database.Classify(err))
	}
	defer conn.Release()
	res, err := reserve(ctx, conn, app.ClientFrom(ctx), key.Budgets)
	if err != nil {
		return domain.Account{}, err
	}
	var (
		out   domain.Account
		spent bool
	)
	for attempt := 1; ; attempt++ {
		out, spent, err = s.apply(ctx, conn, key, res, change)
		if !errors.Is(err, errRegistrationRaced) || attempt == 3 {
			break
		}
	}
	if err != nil {
		// Given back even when the client left; a reservation that cannot be given back
		// (the database is lost) counts as spent until its window passes.
		return domain.Account{}, errors.Join(err, res.giveBack(context.WithoutCancel(ctx), sqlcgen.New(conn)))
	}
	if !spent {
		// The change committed: a unit that cannot be given back now (the database is
		// lost) costs the client one unit until its window passes, and must not turn the
		// committed change into an error its caller would retry.
		_ = res.giveBack(context.WithoutCancel(ctx), sqlcgen.New(conn))
	}
	return out, nil
}

// apply is one change to one account, in one transaction: lock reads the locked account
// with all it holds and the database clock, the mailbox's budgets are locked and read
// when the change may spend them, change lets the domain decide, and save writes back
// what changed; spent says whether the change spent the client's reserved unit.
func (s *Store) apply(ctx context.Context, conn *pgxpool.Conn, key app.Key, res reservation,
	change func(acc *domain.Account, now time.Time) error,
) (out domain.Account, spent bool, err error) {
	err = database.InTx(ctx, conn, func(tx pgx.Tx) error {
		q := sqlcgen.New(tx)
		acc, now, err := load(ctx, q, key, true)
		if err != nil {
			return err
		}
		address, err := addressOf(ctx, q, key, &acc, true)
		if err != nil {
			return err
		}
		if key.Budgets.Mailbox {
			if acc.Ledger, err = mailboxLedger(ctx, q, address.Mailbox(), now, true); err != nil {
				return err
			}
		}
		acc.Client = res.ledger()
		loaded := snapshotOf(acc)
		if err := change(&acc, now); err != nil {
			return err
		}
		if spent, err = s.save(ctx, tx, q, &acc, now, loaded, res); err != nil {
			return err
		}
		out = acc
		return nil
	})
	if err != nil {
		return domain.Account{}, false, err
	}
	return out, spent, nil
}

// check is a change that only looks (app.Key.CheckOnly): the account key finds and its
// budgets are read as they are, with the same loading as a change but no lock, no
// reservation and no transaction, and nothing the closure leaves is saved.
func (s *Store) check(ctx context.Context, key app.Key, change func(acc *domain.Account, now time.Time) error) (domain.Account, error) {
	q := sqlcgen.New(s.pool)
	acc, now, err := load(ctx, q, key, false)
	if err != nil {
		return domain.Account{}, err
	}
	address, err := addressOf(ctx, q, key, &acc, false)
	if err != nil {
		return domain.Account{}, err
	}
	if key.Budgets.Mailbox {
		if acc.Ledger, err = mailboxLedger(ctx, q, address.Mailbox(), now, false); err != nil {
			return domain.Account{}, err
		}
	}
	res, err := readClientBudget(ctx, q, app.ClientFrom(ctx), key.Budgets)
	if err != nil {
		return domain.Account{}, err
	}
	acc.Client = res.ledger()
	if err := change(&acc, now); err != nil {
		return domain.Account{}, err
	}
	return acc, nil
}

// load reads the account key finds with its codes, and the database clock; with lock,
// it locks the account first and reads the clock after the lock is granted. An email no
// account has is an account with no ID (and no row lock: the mailbox's lock serialises
// what it may spend).
func load(ctx context.Context, q *sqlcgen.Queries, key app.Key, lock bool) (domain.Account, time.Time, error) {
	var (
		row sqlcgen.IdentityAccount
		now time.Time
		err error
	)
	byID := key.ID != "" || key.Email == ""
	switch {
	case byID:
		id, perr := uuid.Parse(key.ID)
		if perr != nil {
			return domain.Account{}, time.Time{}, fmt.Errorf("account id %q: %w", key.ID, domain.ErrAccountNotFound)
		}
		if lock {
			var locked sqlcgen.LockAccountRow
			locked, err = q.LockAccount(ctx, id)
			row, now = locked.IdentityAccount, locked.DbNow
		} else {
			row, err = q.GetAccount(ctx, id)
		}
	case lock:
		var locked sqlcgen.LockAccountByEmailRow
		locked, err = q.LockAccountByEmail(ctx, string(key.Email))
		row, now = locked.IdentityAccount, locked.DbNow
	default:
		row, err = q.GetAccountByEmail(ctx, string(key.Email))
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows) && !byID:
		if now, err = q.ClockNow(ctx); err != nil {
			return domain.Account{}, time.Time{}, fmt.Errorf("read the database clock: %w", fromDriver(err))
		}
		return domain.Account{Email: key.Email}, now, nil
	case err != nil:
		return domain.Account{}, time.Time{}, fmt.Errorf("load account: %w", fromDriver(err))
	}
	if !lock {
		if now, err = q.ClockNow(ctx); err != nil {
			return domain.Account{}, time.Time{}, fmt.Errorf("read the database clock: %w", fromDriver(err))
		}
	}
	acc := toAccount(row)
	codes, err := q.CodesOfAccount(ctx, row.ID)
	if err != nil {
		return domain.Account{}, time.Time{}, fmt.Errorf("get codes: %w", fromDriver(err))
	}
	for _, c := range codes {
		*acc.Slot(domain.Purpose(c.Purpose)) = &domain.Code{
			Value: c.Code, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, FailedAttempts: int(c.FailedAttempts),
			To: domain.Email(c.NewEmail),
		}
	}
	return acc, now, nil
}

// addressOf is the address whose mailbox's budgets the change spends: the account's own,
// but for an email change (app.Key.EmailChange), whose new address it is — the request's
// (key.NewEmail) or that of the account's email-change code. For an email change it loads
// the account that holds the new address into acc.Holder; with lock, a pending holder
// (which the change may replace) is locked, before the mailbox is: the order of every
// change of that account (its row, then its mailbox), so the two cannot deadlock. An
// active holder is read, not locked: nothing the change does waits for it, and the unique
// constraint decides a race with it.
func addressOf(ctx context.Context, q *sqlcgen.Queries, key app.Key, acc *domain.Account, lock bool) (domain.Email, error) {
	if !key.EmailChange {
		return acc.Email, nil
	}
	to := key.NewEmail
	if to == "" && acc.EmailChange != nil {
		to = acc.EmailChange.To
	}
	if to == "" || to == acc.Email {
		return acc.Email, nil
	}
	// A pending holder found unlocked came after the lock's statement began (a
	// registration took the address over meanwhile, with a new row): lock that one.
	for attempt := 1; ; attempt++ {
		if lock {
			row, err := q.LockPendingAccountByEmail(ctx, string(to))
			switch {
			case err == nil:
				acc.Holder = &domain.AddressHolder{ID: row.ID.String(), Status: domain.Status(row.Status)}
				return to, nil
			case !errors.Is(err, pgx.ErrNoRows):
				return "", fmt.Errorf("lock the pending holder of the new address: %w", fromDriver(err))
			}
		}
		row, err := q.GetAccountByEmail(ctx, string(to))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return to, nil
		case err != nil:
			return "", fmt.Errorf("get the holder of the new address: %w", fromDriver(err))
		}
		acc.Holder = &domain.AddressHolder{ID: row.ID.String(), Status: domain.Status(row.Status), Disabled: row.DisabledAt != nil}
		// A disabled holder is not locked (LockPendingAccountByEmail): it keeps its
		// address, and the unique constraint decides a race with it.
		if !lock || acc.Holder.Status != domain.StatusPending || acc.Holder.Disabled || attempt == 3 {
			return to, nil
		}
	}
}

// The kinds of a mailbox's ledger rows: each purpose's codes and wrong guesses apart.
const (
	ledgerCodeIssued     = "code_issued"
	ledgerWrongCode      = "wrong_code"
	ledgerResetIssued    = "reset_issued"
	ledgerWrongResetCode = "wrong_reset_code"
)

// mailboxKind is the kind of the mailbox's ledger row of a code of purpose p issued
// (wrong false) or guessed wrong.
func mailboxKind(p domain.Purpose, wrong bool) string {
	switch {
	case p == domain.PurposePasswordReset && wrong:
		return ledgerWrongResetCode
	case p == domain.PurposePasswordReset:
		return ledgerResetIssued
	case wrong:
		return ledgerWrongCode
	}
	return ledgerCodeIssued
}

// mailboxLedger reads what mailbox spent in the window before now; with lock, it locks
// the mailbox's budgets first, until the transaction ends.
func mailboxLedger(ctx context.Context, q *sqlcgen.Queries, mailbox domain.Mailbox, now time.Time, lock bool) (domain.Ledger, error) {
	if lock {
		if err := q.LockMailbox(ctx, string(mailbox)); err != nil {
			return domain.Ledger{}, fmt.Errorf("lock the mailbox's budgets: %w", fromDriver(err))
		}
	}
	rows, err := q.MailboxLedger(ctx, sqlcgen.MailboxLedgerParams{Mailbox: string(mailbox), Since: now.Add(-domain.BudgetWindow)})
	if err != nil {
		return domain.Ledger{}, fmt.Errorf("get the mailbox's ledger: %w", fromDriver(err))
	}
	var l domain.Ledger
	for _, r := range rows {
		one := domain.Count{At: r.OccurredAt, Units: 1}
		switch r.Kind {
		case ledgerCodeIssued:
			l.CodesIssued = append(l.CodesIssued, one)
		case ledgerWrongCode:
			l.WrongGuesses = append(l.WrongGuesses, one)
		case ledgerResetIssued:
			l.ResetsIssued = append(l.ResetsIssued, one)
		case ledgerWrongResetCode:
			l.WrongResets = append(l.WrongResets, one)
		}
	}
	return l, nil
}

// save writes what the change left in acc: first what each of its events needs, in one
// switch (the one place the store reads the events): its rows, the mailbox's ledger, and
// its account event in the audit trail; then the account row and its codes where they
// differ from what was loaded, then the events handed to the events port (the emails).
// now is the change's database clock. spent says whether the change spent the client's
// reserved unit (a code issued, a wrong guess): Change gives it back otherwise.
func (s *Store) save(ctx context.Context, tx pgx.Tx, q *sqlcgen.Queries, acc *domain.Account, now time.Time,
	loaded snapshot, res reservation,
) (spent bool, err error) {
	origin := app.OriginFrom(ctx)
	trail := auditTrail{tx: tx, q: q, origin: origin, at: now, observe: s.observeEvent,
		subscribers: s.subscribersOf, jobs: &eventJobs{}}
	// What the events port is handed: the change's events but a sign-in from a client a
	// concurrent request made known first (no second notice).
	publish := make([]domain.Event, 0, len(acc.Events()))
	for _, e := range acc.Events() {
		publish = append(publish, e)
		switch e := e.(type) {
		case domain.AccountDeleted:
			// Nothing else of the change is saved (see delete.go).
			return false, s.deleteAccount(ctx, tx, q, acc, trail)
		case domain.AccountReplaced:
			err = deleteReplaced(ctx, q, e.ID)
		case domain.AccountRegistered:
			if err = insertAccount(ctx, q, acc); err == nil {
				loaded = snapshot{row: rowOf(*acc)} // a new row, with no code yet
				err = trail.add(ctx, acc.ID, domain.EventRegistered, map[string]any{"email": e.Email})
			}
		case domain.AccountActivated:
			err = trail.add(ctx, acc.ID, domain.EventActivated, map[string]any{"email": e.Email})
		case domain.CodeIssued: // counted on the mailbox of the address the code proves
			err = q.AppendLedger(ctx, sqlcgen.AppendLedgerParams{
				Mailbox: string(e.Email.Mailbox()), Kind: mailboxKind(e.Purpose, false), OccurredAt: e.IssuedAt,
			})
			spent = spent || res.kind == app.ClientCodes
		case domain.WrongCode:
			err = q.AppendLedger(ctx, sqlcgen.AppendLedgerParams{
				Mailbox: string(e.Email.Mailbox()), Kind: mailboxKind(e.Purpose, true), OccurredAt: e.At,
			})
			spent = spent || res.kind == app.ClientGuesses
		case domain.EmailChanged:
			if err = changeEmail(ctx, q, acc.ID, e); err == nil {
				err = trail.add(ctx, acc.ID, domain.EventEmailChanged, map[string]any{"email": e.To})
			}
		case domain.SessionStarted:
			var session string
			if session, err = startSession(ctx, q, acc.ID, e); err == nil {
				err = trail.add(ctx, acc.ID, domain.EventSignedIn,
					map[string]any{"client": e.Device.Client, "session_id": session})
			}
		case domain.SessionEnded:
			err = endSession(ctx, q, acc.ID, e.ID)
		case domain.ClientSignedIn:
			var isNew bool
			if isNew, err = trail.clientSignedIn(ctx, acc.ID, e.Client); !isNew {
				publish = publish[:len(publish)-1]
			}
		case domain.SessionsEnded:
			if err = endSessions(ctx, q, acc.ID); err == nil {
				err = trail.add(ctx, acc.ID, domain.EventSessionsRevoked, nil)
			}
		case domain.AccountDisabled:
			// Every session ends now, and what was queued to the address but not sent
			// stays unsent: the notice, queued after (Publish), is the one email that
			// leaves.
			if err = endSessions(ctx, q, acc.ID); err == nil {
				err = dropUnsent(ctx, tx, e.Email)
			}
			if err == nil {
				var data map[string]any
				if e.Reason != "" {
					data = map[string]any{"reason": e.Reason}
				}
				err = trail.add(ctx, acc.ID, domain.EventDisabled, data)
			}
		case domain.AccountEnabled:
			err = trail.add(ctx, acc.ID, domain.EventEnabled, nil)
		case domain.PasswordChanged:
			kind := domain.EventPasswordChanged
			if e.Reset {
				kind = domain.EventPasswordReset
			}
			err = errors.Join(endSessions(ctx, q, acc.ID), forgetSignIns(ctx, q, acc, origin.Client),
				trail.add(ctx, acc.ID, kind, nil))
		}
		if err != nil {
			return false, err
		}
	}
	if acc.ID != "" { // else an address no account has: only what it spent is saved
		if err := saveAccount(ctx, q, acc, loaded); err != nil {
			return false, err
		}
	}
	if err := trail.jobs.flush(ctx, tx, s.jobs); err != nil {
		return false, err
	}
	if err := s.events.Publish(ctx, tx, publish); err != nil {
		return false, fmt.Errorf("publish events of account %s: %w", acc.ID, err)
	}
	return spent, nil
}

// deleteReplaced deletes the pending account id a registration took over: its codes,
// sessions and sign-in clients cascade.
func deleteReplaced(ctx context.Context, q *sqlcgen.Queries, id string) error {
	old, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("replaced account id %q: %w", id, err)
	}
	if err := q.DeleteAccount(ctx, old); err != nil {
		return fmt.Errorf("delete replaced account: %w", fromDriver(err))
	}
	return nil
}

// insertAccount inserts the account acc registered and gives it its id; a concurrent
// registration of its email that committed first is errRegistrationRaced.
func insertAccount(ctx context.Context, q *sqlcgen.Queries, acc *domain.Account) error {
	row, err := q.InsertAccount(ctx, sqlcgen.InsertAccountParams{
		Email: string(acc.Email), PasswordHash: acc.PasswordHash, CreatedAt: acc.CreatedAt,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return errRegistrationRaced
	}
	if err != nil {
		return fmt.Errorf("insert account: %w", fromDriver(err))
	}
	acc.ID, acc.CreatedAt = row.ID.String(), row.CreatedAt
	return nil
}

// saveAccount writes the account row and its codes where they differ from what was
// loaded: most changes (a new code, a wrong guess) touch a code, not the account, and a
// change of one purpose leaves the other purpose's code as it found it.
func saveAccount(ctx context.Context, q *sqlcgen.Queries, acc *domain.Account, loaded snapshot) error {
	id, err := uuid.Parse(acc.ID)
	if err != nil {
		return fmt.Errorf("account id %q: %w", acc.ID, err)
	}
	if rowOf(*acc) != loaded.row {
		if err := q.UpdateAccount(ctx, sqlcgen.UpdateAccountParams{
			ID: id, PasswordHash: acc.PasswordHash, Status: string(acc.Status),
			CreatedAt: acc.CreatedAt, ActivatedAt: acc.ActivatedAt, DisabledAt: acc.DisabledAt,
		}); err != nil {
			return fmt.Errorf("update account: %w", fromDriver(err))
		}
	}
	for _, p := range purposes {
		if err := saveCode(ctx, q, id, p, loaded.codes[p], *acc.Slot(p)); err != nil {
			return err
		}
	}
	return nil
}

// purposes are the purposes of the codes an account holds, one slot each.
var purposes = []domain.Purpose{domain.PurposeActivation, domain.PurposePasswordReset, domain.PurposeEmailChange}

// saveCode writes the code of purpose p of the account id when it differs from before,
// what was loaded: a new or changed code is upserted, a code gone is deleted.
func saveCode(ctx context.Context, q *sqlcgen.Queries, id uuid.UUID, p domain.Purpose, before, after *domain.Code) error {
	switch {
	case after == nil && before == nil, after != nil && before != nil && *after == *before:
		return nil
	case after == nil && p == domain.PurposePasswordReset:
		if err := q.DeleteResetCode(ctx, id); err != nil {
			return fmt.Errorf("delete reset code: %w", fromDriver(err))
		}
	case after == nil && p == domain.PurposeEmailChange:
		if err := q.DeleteEmailChangeCode(ctx, id); err != nil {
			return fmt.Errorf("delete email-change code: %w", fromDriver(err))
		}
	case after == nil:
		if err := q.DeleteActivationCode(ctx, id); err != nil {
			return fmt.Errorf("delete activation code: %w", fromDriver(err))
		}
	case p == domain.PurposeEmailChange:
		if err := q.UpsertEmailChangeCode(ctx, sqlcgen.UpsertEmailChangeCodeParams{
			AccountID: id, Code: after.Value, NewEmail: string(after.To), IssuedAt: after.IssuedAt, ExpiresAt: after.ExpiresAt,
			FailedAttempts: int32(after.FailedAttempts), //nolint:gosec // bounded by MaxAttempts
		}); err != nil {
			return fmt.Errorf("save email-change code: %w", fromDriver(err))
		}
	case p == domain.PurposePasswordReset:
		if err := q.UpsertResetCode(ctx, sqlcgen.UpsertResetCodeParams{
			AccountID: id, Code: after.Value, IssuedAt: after.IssuedAt, ExpiresAt: after.ExpiresAt,
			FailedAttempts: int32(after.FailedAttempts), //nolint:gosec // bounded by MaxAttempts
		}); err != nil {
			return fmt.Errorf("save reset code: %w", fromDriver(err))
		}
	default:
		if err := q.UpsertActivationCode(ctx, sqlcgen.UpsertActivationCodeParams{
			AccountID: id, Code: after.Value, IssuedAt: after.IssuedAt, ExpiresAt: after.ExpiresAt,
			FailedAttempts: int32(after.FailedAttempts), //nolint:gosec // bounded by MaxAttempts
		}); err != nil {
			return fmt.Errorf("save activation code: %w", fromDriver(err))
		}
	}
	return nil
}

// snapshot is what was loaded of an account, to save only what a change altered.
type snapshot struct {
	row   accountRow
	codes map[domain.Purpose]*domain.Code
}

// snapshotOf copies what acc holds before the change (the domain alters codes in place).
func snapshotOf(acc domain.Account) snapshot {
	s := snapshot{row: rowOf(acc), codes: map[domain.Purpose]*domain.Code{}}
	for _, p := range purposes {
		if c := *acc.Slot(p); c != nil {
			copied := *c
			s.codes[p] = &copied
		}
	}
	return s
}

// accountRow is what the accounts table holds of an account, comparable.
type accountRow struct {
	passwordHash string
	status       domain.Status
	createdAt    time.Time
	activatedAt  time.Time // zero while pending
	disabledAt   time.Time // zero while enabled
}

func rowOf(a domain.Account) accountRow {
	r := accountRow{passwordHash: a.PasswordHash, status: a.Status, createdAt: a.CreatedAt}
	if a.ActivatedAt != nil {
		r.activatedAt = *a.ActivatedAt
	}
	if a.DisabledAt != nil {
		r.disabledAt = *a.DisabledAt
	}
	return r
}

func toAccount(r sqlcgen.IdentityAccount) domain.Account {
	return domain.Account{
		ID:           r.ID.String(),
		Email:        domain.Email(r.Email),
		PasswordHash: r.PasswordHash,
		Status:       domain.Status(r.Status),
		CreatedAt:    r.CreatedAt,
		ActivatedAt:  r.ActivatedAt,
		DisabledAt:   r.DisabledAt,
	}
}

// fromDriver interprets every driver error in one place: no row, or a row that refers to
// an account that is gone (a foreign-key violation: the account was deleted or taken over
// meanwhile), is a missing account; a unique violation of accounts_email_key (an address
// another account took: an email change's race) is domain.ErrEmailTaken; an unreachable
// database is database.ErrUnavailable; the rest passes through.
func fromDriver(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pgErr) && pgErr.Code == "23503":
		return domain.ErrAccountNotFound
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "accounts_email_key":
		return domain.ErrEmailTaken
	}
	return database.Classify(err)
}
