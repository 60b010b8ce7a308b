package identity

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	identityhttp "github.com/acme/identity/modules/identity/adapter/http"
	"github.com/acme/identity/modules/identity/adapter/postgres"
	"github.com/acme/identity/modules/identity/domain"
)

// Account is an account as other modules see it: no password hash, no code.
type Account struct {
	ID          string
	Email       string
	Active      bool
	CreatedAt   time.Time
	ActivatedAt *time.Time // nil while the account is pending
	// DisabledAt is when an administrator disabled the account (nil: it is not): its owner
	// is refused (403 account_disabled) until it is enabled; a module decides what its own
	// routes and jobs do for it.
	DisabledAt *time.Time
}

// ErrAccountNotFound is what API.Account returns for an id that names no account.
var ErrAccountNotFound = errors.New("identity: account not found")

// ErrAccountPending is what API.Account returns for an account that is not active yet:
// its owner has not proved the address, and a takeover would replace it (a new id).
var ErrAccountPending = errors.New("identity: account pending")

// API is identity's public API for other modules; main hands it (Module.API) to the
// modules that need it. A consumer declares the small interface it uses of it, such as
//
//	type Identity interface {
//		Authenticate(next echo.HandlerFunc) echo.HandlerFunc
//		Account(ctx context.Context, id string) (identity.Account, error)
//		OnAccountDeletion(fn func(ctx context.Context, tx pgx.Tx, accountID string) error)
//		Subscribe(name string, types []string, handler func(ctx context.Context, tx pgx.Tx, e identity.Event) error) error
//	}
type API struct {
	handlers    *identityhttp.Handlers
	accounts    accountReader
	deletions   deletionRegistry
	subscribers subscriberRegistry
}

// subscriberRegistry keeps the subscribers to account events (the store inserts their
// jobs).
type subscriberRegistry interface {
	Subscribe(name string, types []string, handler postgres.Handler) error
}

// The types of account events (the contract's "Account events"), for Subscribe.
const (
	EventRegistered      = domain.EventRegistered
	EventActivated       = domain.EventActivated
	EventSignedIn        = domain.EventSignedIn
	EventPasswordChanged = domain.EventPasswordChanged
	EventPasswordReset   = domain.EventPasswordReset
	EventEmailChanged    = domain.EventEmailChanged
	EventDisabled        = domain.EventDisabled
	EventEnabled         = domain.EventEnabled
	EventSessionsRevoked = domain.EventSessionsRevoked
	EventDeleted         = domain.EventDeleted
)

// Event is an account event as a subscriber gets it: what happened (Type) to the account
// AccountID, at OccurredAt (the database clock of the change), with what its type needs
// in Data ("email" for registered, activated and email_changed; "client" and
// "session_id" for signed_in; "actor" for an administrator's action). ID is unique: a
// handler deduplicates by it. A deleted account's events have lost their "email".
type Event struct {
	ID         string
	Type       string
	OccurredAt time.Time
	AccountID  string
	Data       map[string]any
}

// Subscribe has handler told of every account event of one of types, at least once,
// after the change that caused it committed: each event is a job of its own per
// subscriber (River), inserted in the change's transaction, so an event is never lost
// and a rolled-back change tells nobody. The handler runs in tx, the transaction that
// completes its job: a handler that writes only to the database, with tx, runs exactly
// once. A handler that fails (returns an error) is retried with backoff, for about three
// weeks (River's default policy), independently of the other subscribers, and never
// blocks or fails the change. Events of one account may arrive out of order: order by
// OccurredAt.
//
// name identifies the subscriber in its queued jobs, which outlive a restart: keep it
// stable and unique ("payment.customers"). Call Subscribe while the module is built (its
// New, from main's newModules), before the server serves; it fails for a name taken, no
// type or an unknown type. The handler must neither commit nor roll back tx.
func (a *API) Subscribe(name string, types []string, handler func(ctx context.Context, tx pgx.Tx, e Event) error) error {
	return a.subscribers.Subscribe(name, types, func(ctx context.Context, tx pgx.Tx, e domain.AccountEvent) error {
		data := map[string]any{}
		for k, v := range e.Data {
			data[k] = v
		}
		return handler(ctx, tx, Event{ID: e.ID, Type: e.Type, OccurredAt: e.OccurredAt, AccountID: e.AccountID, Data: data})
	})
}

// deletionRegistry keeps what other modules do inside a deletion (the store runs it).
type deletionRegistry interface {
	OnDelete(fn postgres.DeletionHook)
}

// OnAccountDeletion has fn run inside the transaction of every deletion of an account by
// its owner (DELETE /v1/users/me), with the account's id, before the account's row goes:
// a module that keeps rows by account id deletes them there, with tx, so they go in the
// same commit as the account or not at all. If fn returns an error, the whole deletion
// rolls back and the request answers 500 (503 when the error is database.ErrUnavailable,
// or a lost connection); fn's error is logged, never sent.
//
// Call it while the module is built (its New, from main's newModules), before the server
// serves; the functions run in the order they were registered, one after the other,
// under the account's row lock. fn must do its work with tx alone (work on another
// connection is not part of the deletion: it would neither commit nor roll back with
// it) and must neither commit nor roll back tx. A pending account that a new registration takes over, or that the
// retention of stale pending accounts deletes, is not reported: key nothing lasting by
// a pending account's id (see AuthenticatePendingToo).
func (a *API) OnAccountDeletion(fn func(ctx context.Context, tx pgx.Tx, accountID string) error) {
	a.deletions.OnDelete(fn)
}

// accountReader is the lookup API.Account needs of identity's use cases.
type accountReader interface {
	Account(ctx context.Context, id string) (domain.Account, error)
}

// Authenticate is an echo middleware for another module's route: it checks the
// credentials exactly as identity's own routes do (same 401 with WWW-Authenticate, in the
// same time whatever failed; 429 during the sign-in delay; 503 when the database or the
// hasher cannot answer), lets in active accounts only (a pending one answers 403
// account_pending: whoever registers the address next replaces it), and puts the account
// in the request's context, where AccountFrom reads it. Mount it after the module's error
// middleware: route(path, handler, mapErrors, api.Authenticate).
func (a *API) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return a.handlers.AuthenticateActive(next)
}

// AuthenticatePendingToo is Authenticate that lets pending accounts in too, for a module
// that asks for them explicitly: nothing it keeps for a pending account may matter to
// the address's owner, since a takeover gives the address a new account.
func (a *API) AuthenticatePendingToo(next echo.HandlerFunc) echo.HandlerFunc {
	return a.handlers.Authenticate(next)
}

// Account returns the active account id; ErrAccountNotFound when there is none (an id
// that is not one of identity's included), ErrAccountPending when it is not active yet,
// database.ErrUnavailable when the database is lost.
func (a *API) Account(ctx context.Context, id string) (Account, error) {
	acc, err := a.AccountPendingToo(ctx, id)
	if err == nil && !acc.Active {
		return Account{}, ErrAccountPending
	}
	return acc, err
}

// AccountPendingToo is Account that returns pending accounts too, for a module that asks
// for them explicitly.
func (a *API) AccountPendingToo(ctx context.Context, id string) (Account, error) {
	acc, err := a.accounts.Account(ctx, id)
	if errors.Is(err, domain.ErrAccountNotFound) {
		return Account{}, ErrAccountNotFound
	}
	if err != nil {
		return Account{}, err
	}
	return toAccount(acc), nil
}

// AccountFrom returns the account Authenticate put in ctx (a request's context), and
// false outside an authenticated request.
func AccountFrom(ctx context.Context) (Account, bool) {
	acc, ok := identityhttp.PrincipalFrom(ctx)
	if !ok {
		return Account{}, false
	}
	return toAccount(acc), true
}

// ContextWithAccount returns ctx carrying acc as Authenticate would: for the tests of a
// module that consumes identity, whose fake of Authenticate lets an account in.
func ContextWithAccount(ctx context.Context, acc Account) context.Context {
	status := domain.StatusPending
	if acc.Active {
		status = domain.StatusActive
	}
	return identityhttp.WithPrincipal(ctx, domain.Account{ID: acc.ID, Email: domain.Email(acc.Email), Status: status,
		CreatedAt: acc.CreatedAt, ActivatedAt: acc.ActivatedAt})
}

func toAccount(a domain.Account) Account {
	return Account{
		ID:          a.ID,
		Email:       string(a.Email),
		Active:      a.Status == domain.StatusActive,
		CreatedAt:   a.CreatedAt,
		ActivatedAt: a.ActivatedAt,
		DisabledAt:  a.DisabledAt,
	}
}
