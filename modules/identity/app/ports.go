package app

import (
	"context"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// Store keeps accounts. Implementations make each call atomic: the closures run while the
// account is locked, with the database clock's now, and what they leave in the account is
// saved together with an email for every code it issued, or nothing is saved at all.
type Store interface {
	// AccountByEmail reads an account without locking it; domain.ErrAccountNotFound if none.
	AccountByEmail(ctx context.Context, email domain.Email) (domain.Account, error)
	// AccountByID reads an account without locking it; domain.ErrAccountNotFound if none
	// (an id that is not one of the store's is none).
	AccountByID(ctx context.Context, id string) (domain.Account, error)
	// Register creates a pending account with email and passwordHash and calls decide with
	// created true; when the email exists it locks that account and calls decide with
	// created false. Concurrent calls for one email are serialised.
	Register(ctx context.Context, email domain.Email, passwordHash string,
		decide func(acc *domain.Account, now time.Time, created bool) error) (domain.Account, error)
	// Update locks the account id and calls change; domain.ErrAccountNotFound if none.
	// A change that deletes the account (domain.AccountDeleted) deletes it with its codes,
	// sessions and unsent emails, and leaves its mailbox's ledger.
	Update(ctx context.Context, id string, change func(acc *domain.Account, now time.Time) error) (domain.Account, error)

	// The closures of Register and Update see in acc.Ledger what the account's mailbox
	// spent, and in acc.Client what the client of ctx (ClientFrom) spent, both locked
	// until the change is saved. A change whose events replace the account
	// (domain.AccountReplaced) saves it under a new id.

	// Attempt locks the sign-in history of email (known or not), shows it to decide with
	// the database clock's now, and unless decide refuses (its error is returned),
	// records the attempt of client as a failure before its password is checked: the
	// caller settles it with SignedIn, Failed or Withdraw.
	Attempt(ctx context.Context, email domain.Email, client string,
		decide func(h domain.SignInHistory, now time.Time) error) (attempt int64, err error)
	// SignedIn settles an attempt whose password was right: every failure of client for
	// email ends, the attempt's included, and client is known to the account accountID.
	SignedIn(ctx context.Context, email domain.Email, client, accountID string) error
	// Failed settles an attempt whose password was checked and wrong: it stays a failure
	// after domain.AttemptWindow.
	Failed(ctx context.Context, attempt int64) error
	// Withdraw settles an attempt whose password was never checked: it is no failure.
	Withdraw(ctx context.Context, attempt int64) error
}

// ResetStore runs the password-reset use cases, by email.
type ResetStore interface {
	// ResetByEmail locks the account of email with its latest reset code and calls change
	// with the database clock's now, then saves what change left, in one transaction;
	// when no account has email, change gets an account that is only the email (no ID),
	// with the same budgets of the mailbox and the client locked and loaded, and only
	// its ledger entries are saved.
	ResetByEmail(ctx context.Context, email domain.Email, change func(acc *domain.Account, now time.Time) error) error
}

// SessionStore finds and ends sign-in sessions by the SHA-256 of their token. Sessions
// start and end with their account's changes (Store.Update, the events
// domain.SessionStarted, SessionsEnded and PasswordChanged), under the account's lock.
type SessionStore interface {
	// UseSession returns the live session of tokenHash (idle and absolute expiry judged
	// on the database clock) and its account, and keeps the session's idle clock, writing
	// it at most once per p.TouchEvery(); domain.ErrInvalidToken when no session is live.
	UseSession(ctx context.Context, tokenHash []byte, p domain.SessionPolicy) (domain.Session, domain.Account, error)
	// EndSession ends the session id (sign-out); ending one that has ended is no error.
	EndSession(ctx context.Context, id int64) error
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
}

// PasswordStrength judges how guessable a password is, beyond the domain's rules
// (domain.CheckPassword): common passwords, keyboard walks, dates, and passwords made of
// what the user told us. It is cheap (well under a password hash) and pure.
type PasswordStrength interface {
	// Weak reports whether password is too easy to guess for an attacker who knows
	// userInputs: the account's email address (expanded into its parts by the
	// implementation) and, later, anything else the user gave.
	Weak(password string, userInputs []string) bool
}
