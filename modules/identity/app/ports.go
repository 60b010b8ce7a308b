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
	Update(ctx context.Context, id string, change func(acc *domain.Account, now time.Time) error) (domain.Account, error)
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
