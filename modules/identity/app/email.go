package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// requestEmailChangeFloor is the least time a request for an email change takes once
// authenticated, whatever it found: a code withheld from an address an active account
// holds saves one email fewer than a code sent (one insert), and the answer must not tell
// them apart by its timing either. Well above that work (a transaction of a few
// statements), like the reset request's floor.
const requestEmailChangeFloor = 50 * time.Millisecond

// WithEmailChange lets the use cases change an account's address by a code emailed to the
// new one, under policy (without it, RequestEmailChange and ConfirmEmailChange fail).
func WithEmailChange(policy domain.EmailChangePolicy) Option {
	return func(s *Service) { s.emailChanges, s.emailChangePolicy = true, policy }
}

var errNoEmailChanges = errors.New("email change is not configured (app.WithEmailChange)")

// changing is the key of a change about the email change of the account id (to the
// address to, or to its code's when to is empty) that may spend one unit of kind of the
// new address's mailbox's budgets and of the client's.
func (s *Service) changing(id string, to domain.Email, kind ClientKind) Key {
	limit := s.emailChangePolicy.ClientCodesPerDay
	if kind == ClientGuesses {
		limit = s.emailChangePolicy.ClientGuessesPerDay
	}
	return Key{ID: id, EmailChange: true, NewEmail: to, Budgets: Budgets{Mailbox: true, ClientKind: kind, ClientLimit: limit}}
}

// RequestEmailChange emails a code to the address to, which its confirmation makes the
// address of the active account who, and a notice to the account's address, in one
// change (domain.Account.RequestEmailChange): the new mailbox's and the client's code
// budgets spent, a *domain.RetryLaterError past them. An address an active account holds
// gets nothing, and the request answers, spends and notifies exactly as for any other, in
// at least requestEmailChangeFloor: nothing about to can be learnt from it. Its own
// address is a *domain.ValidationError, a pending account domain.ErrAccountPending.
func (s *Service) RequestEmailChange(ctx context.Context, who domain.Account, to domain.Email) (err error) {
	start := time.Now()
	ctx, end := s.start(ctx, "RequestEmailChange")
	defer func() { end(who.ID, err) }()
	if !s.emailChanges {
		return errNoEmailChanges
	}
	defer waitUntil(ctx, start.Add(requestEmailChangeFloor))
	if _, err := s.store.Change(ctx, s.changing(who.ID, to, ClientCodes), func(acc *domain.Account, now time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err
		}
		return acc.RequestEmailChange(to, now, s.emailChangePolicy, s.random)
	}); err != nil {
		return fmt.Errorf("request an email change of account %s: %w", who.ID, err)
	}
	return nil
}

// ConfirmEmailChange makes the address of the latest email-change code of the account
// who its address when code is that code (domain.Account.ConfirmEmailChange), in one
// change: every session of the account but current (the request's own, when it came
// with a token) ends, a pending account that held the address is replaced, and the
// account is returned with its new address. Every miss is domain.ErrInvalidEmailChangeCode
// and counts as a wrong guess; so is the right code for an address an active account
// holds, which the unique constraint refuses (counted nowhere). Past the new mailbox's or
// the client's wrong guesses, a *domain.RetryLaterError.
func (s *Service) ConfirmEmailChange(ctx context.Context, who domain.Account, current domain.Session, code domain.EmailChangeCode) (acc domain.Account, err error) {
	ctx, end := s.start(ctx, "ConfirmEmailChange")
	defer func() { end(who.ID, err) }()
	if !s.emailChanges {
		return domain.Account{}, errNoEmailChanges
	}
	var outcome error
	acc, err = s.store.Change(ctx, s.changing(who.ID, "", ClientGuesses), func(acc *domain.Account, now time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err
		}
		outcome = acc.ConfirmEmailChange(code, current.ID, now, s.emailChangePolicy)
		if errors.Is(outcome, domain.ErrInvalidEmailChangeCode) {
			return nil // the wrong guess is saved, then reported
		}
		return outcome
	})
	if err == nil {
		err = outcome
	}
	if errors.Is(err, domain.ErrEmailTaken) {
		// Held by an active account, or taken since: a miss like any other.
		err = fmt.Errorf("the new address is taken: %w", domain.ErrInvalidEmailChangeCode)
	}
	if err != nil {
		return domain.Account{}, fmt.Errorf("confirm the email change of account %s: %w", who.ID, err)
	}
	return acc, nil
}
