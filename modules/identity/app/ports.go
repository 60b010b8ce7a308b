package app

import (
	"context"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// Store keeps accounts. Every change of an account goes through Change, the one path,
// however the account is found; the rest only reads, or keeps the sign-in history of an
// email (which is not an account's: the email may have none).
type Store interface {
	// AccountByEmail reads an account without locking it; domain.ErrAccountNotFound if none.
	AccountByEmail(ctx context.Context, email domain.Email) (domain.Account, error)
	// AccountByID reads an account without locking it; domain.ErrAccountNotFound if none
	// (an id that is not one of the store's is none).
	AccountByID(ctx context.Context, id string) (domain.Account, error)

	// Change is one change of one account, atomic: it locks the account that key finds,
	// loads all of it (its code of every purpose, the budgets key.Budgets names, and for
	// an email change the holder of the new address), calls change with
	// it and the database clock's now, and saves what change left and the events it
	// recorded, or nothing at all when change fails. By ID, an unknown id is
	// domain.ErrAccountNotFound; by Email, an address no account has is handed to change
	// as an account with no ID (its mailbox's budgets loaded alike), of which only what it
	// spent is saved, unless change registers it (domain.AccountRegistered: inserted, the
	// unique constraint deciding a race; a registration that loses one is run again on the
	// winner). A change that deletes the account (domain.AccountDeleted) deletes it with
	// its codes, sessions and unsent emails, and leaves its mailbox's ledger. A change of
	// the account's address (domain.EmailChanged) is decided by the same unique
	// constraint: an address another account took meanwhile is domain.ErrEmailTaken, and
	// nothing is saved.
	Change(ctx context.Context, key Key, change func(acc *domain.Account, now time.Time) error) (domain.Account, error)

	// EventsOf returns the account's events of the audit trail, newest first, at most
	// limit, before the event before when it is set (an id that is not one of the
	// account's events gives none).
	EventsOf(ctx context.Context, accountID, before string, limit int) ([]domain.AccountEvent, error)
	// Events returns the events of every account of the audit trail that f selects,
	// newest first (by occurred_at, then the order they were written), at most limit.
	Events(ctx context.Context, f EventFilter, limit int) ([]domain.AccountEvent, error)

	// Accounts returns at most limit accounts that f selects, ordered by id, after
	// f.After when it is set (keyset pagination: an account that exists when a walk of
	// the pages begins is on exactly one page, whatever is inserted meanwhile).
	Accounts(ctx context.Context, f AccountFilter, limit int) ([]domain.Account, error)
	// KnownClientsOf returns the clients known to the account (a right password from
	// them within domain.KnownClientWindow), the most recent first.
	KnownClientsOf(ctx context.Context, accountID string) ([]domain.KnownClient, error)

	// Attempt locks the sign-in history of email (known or not), shows it to decide with
	// the database clock's now, and unless decide refuses (its error is returned),
	// records the attempt of client as a failure before its password is checked: the
	// caller settles it with SignedIn, Failed or Withdraw.
	Attempt(ctx context.Context, email domain.Email, client string,
		decide func(h domain.SignInHistory, now time.Time) error) (attempt int64, err error)
	// SignedIn settles an attempt whose password was right: every failure of client for
	// email ends, the attempt's included, and when client is known to the account
	// accountID (it signed in within domain.KnownClientWindow) it stays known from now and
	// known is true. A client the account does not know (or an account gone meanwhile)
	// is false: the caller records it through Change (domain.ClientSignedIn); anyKnown
	// says whether the account knows any client at all.
	SignedIn(ctx context.Context, email domain.Email, client, accountID string) (known, anyKnown bool, err error)
	// Failed settles an attempt whose password was checked and wrong: it stays a failure
	// after domain.AttemptWindow.
	Failed(ctx context.Context, attempt int64) error
	// Withdraw settles an attempt whose password was never checked: it is no failure.
	Withdraw(ctx context.Context, attempt int64) error
}

// Key finds the account of a change (by ID, else by Email) and names the budgets the
// change may spend, so that a change that spends none (a sign-in, a password change, a
// deletion) neither locks nor reads nor writes a ledger.
type Key struct {
	ID    string
	Email domain.Email
	// Budgets is what the change may spend.
	Budgets Budgets
	// CheckOnly makes the change a look: the account and its budgets are read as they
	// are, nothing is locked or reserved, and nothing the closure leaves is saved. A
	// request checks this way what it would be refused for before it pays for a password
	// hash, without queueing on any lock (a flood of refusals stays cheap); the change it
	// then makes checks everything again.
	CheckOnly bool
	// EmailChange makes the change one about the account's email change, whose address is
	// not the account's own: NewEmail when it is set (a request), else the address of the
	// account's latest email-change code (a confirmation, which names none; without such
	// a code there is no new address). The store loads the account that holds the new
	// address, if any, as acc.Holder — locking it first when it is pending, since the
	// change may replace it — and, with Budgets.Mailbox, the budgets of the new address's
	// mailbox instead of the account's own.
	EmailChange bool
	NewEmail    domain.Email
}

// ByID is the key of the account id for a change that spends no budget.
func ByID(id string) Key { return Key{ID: id} }

// Budgets names the daily budgets a change may spend.
//
// The mailbox's (Mailbox) are loaded into acc.Ledger under a lock of the mailbox held
// until the change is saved: a mailbox is one person's, and its rows are bounded by its
// budgets.
//
// The client's (ClientKind, ClientLimit) are one client's, whom many requests share (a
// backend registering its users, a NAT): no lock on it is held across the change.
// Before the change, in a short transaction of its own, the store reads the client's
// newest ClientLimit entries of ClientKind within the window (a bounded read) into
// acc.Client and, when there is room, reserves one unit; the change's save keeps the
// reservation when the change spent it (a code issued, a wrong guess) and returns it
// otherwise, and a change that fails returns it. A ClientLimit of 0 (the budget is off),
// or a change of no client (ClientFrom is empty), neither locks, reads nor writes the
// client's ledger.
type Budgets struct {
	Mailbox     bool
	ClientKind  ClientKind
	ClientLimit int
}

// ClientKind is what a client's ledger counts.
type ClientKind string

// The kinds of a client's budgets.
const (
	// ClientCodes counts the codes issued at the client's request, every purpose alike.
	ClientCodes ClientKind = "code_issued"
	// ClientGuesses counts the wrong codes the client sent, every purpose alike.
	ClientGuesses ClientKind = "wrong_code"
)

// SessionStore finds sign-in sessions by the SHA-256 of their token, and lists an
// account's. Sessions start and end with their account's changes (Store.Change, the
// events domain.SessionStarted, SessionEnded, SessionsEnded and PasswordChanged), under
// the account's lock.
type SessionStore interface {
	// UseSession returns the live session of tokenHash (idle and absolute expiry judged
	// on the database clock) and its account, and keeps the session's idle clock, writing
	// it at most once per p.TouchEvery(); domain.ErrInvalidToken when no session is live.
	UseSession(ctx context.Context, tokenHash []byte, p domain.SessionPolicy) (domain.Session, domain.Account, error)
	// SessionsOf returns the live sessions of the account accountID under p, newest
	// first. Sessions end through Store.Change (domain.SessionEnded, SessionsEnded).
	SessionsOf(ctx context.Context, accountID string, p domain.SessionPolicy) ([]domain.Session, error)
}

// PasswordHasher turns passwords into self-describing hashes and checks them. Both are
// expensive and bounded: they fail without hashing when ctx has ended (the client went
// away) or when the hasher is saturated. ctx also carries the request's trace, so each
// hash shows as a span of the request.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches encoded, a hash made by Hash (possibly
	// with other parameters).
	Verify(ctx context.Context, password, encoded string) (bool, error)
	// NeedsRehash reports whether encoded was made with other parameters than Hash uses
	// now; it is cheap (no hash).
	NeedsRehash(encoded string) bool
}

// PasswordStrength judges how guessable a password is, beyond the domain's rules
// (domain.ParsePassword): common passwords, keyboard walks, dates, and passwords made of
// what the user told us. It is cheap (well under a password hash) and pure.
type PasswordStrength interface {
	// Weak reports whether password is too easy to guess for an attacker who knows the
	// account's email address (expanded into its parts, by the domain's mailbox rule
	// too, by the implementation); email may be "" (not known).
	Weak(password domain.Password, email domain.Email) bool
}

// AccountFilter selects accounts for the administration API's list; its zero value
// selects every account.
type AccountFilter struct {
	// EmailPrefix selects the addresses that start with it, lower-cased (addresses are
	// stored lower-cased); "" selects all.
	EmailPrefix string
	// Status selects one status; "" selects both.
	Status domain.Status
	// Disabled selects disabled (true) or enabled (false) accounts; nil selects both.
	Disabled *bool
	// After is the id of the last account of the previous page; "" starts at the first.
	After string
}

// EventFilter selects events of the audit trail for the administration API; its zero
// value selects every event.
type EventFilter struct {
	// Type selects one type of event ("account.disabled"); "" selects all.
	Type string
	// Since selects the events that occurred at or after it; zero selects all.
	Since time.Time
	// Before is the id of the last event of the previous page; "" starts at the newest.
	// An id that is no event selects none.
	Before string
}
