package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// The least time the reset routes take, whatever they found: the work differs by a few
// queries between an email that gets a code and one that does not (unknown, pending,
// inside its resend interval or past a budget), and by less between the misses of a
// confirmation. Each answer waits until its floor, so that its timing tells nothing.
// Both floors are well above the work (a request: a transaction of a few statements; a
// confirmation: a password hash and such a transaction).
const (
	requestResetFloor = 50 * time.Millisecond
	confirmResetFloor = 120 * time.Millisecond
)

// WithPasswordReset lets the use cases reset passwords by emailed codes under policy
// (without it, RequestReset and ConfirmReset fail).
func WithPasswordReset(policy domain.ResetPolicy) Option {
	return func(s *Service) { s.resets, s.resetPolicy = true, policy }
}

var errNoResets = errors.New("password reset is not configured (app.WithPasswordReset)")

// RequestReset emails a reset code to the active account of email, when its resend
// interval and the mailbox's and client's budgets allow, and otherwise nothing; either
// way it answers nil in about the same time (requestResetFloor), so the answer reveals
// nothing of the email. It changes nothing but the account's reset code: a pending
// account's activation code, resend interval and retention are left as they were.
func (s *Service) RequestReset(ctx context.Context, email domain.Email) (err error) {
	start := time.Now()
	ctx, end := s.start(ctx, "RequestReset")
	defer func() { end("", err) }()
	if !s.resets {
		return errNoResets
	}
	defer waitUntil(ctx, start.Add(requestResetFloor))
	return s.requestReset(ctx, Key{Email: email})
}

// requestReset is the change of a reset request of the account key finds (by email, or
// by id for an administrator), spending the mailbox's and the client's codes: a code
// when the domain issues one (domain.Account.IssueReset), nothing otherwise, answered
// alike.
func (s *Service) requestReset(ctx context.Context, key Key) error {
	_, err := s.store.Change(ctx, s.spending(key, ClientCodes), func(acc *domain.Account, now time.Time) error {
		if err := acc.IssueReset(now, s.resetPolicy, s.random); err != nil && !domain.IsNoReset(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	return nil
}

// ConfirmReset sets password as the password of the account of email when code is its
// latest live reset code: the code is used up, every session ends, every failure of the
// email ends, the clients that knew the old password are strangers again, and a notice is
// emailed, in one transaction. Every miss is domain.ErrInvalidResetCode and counts as a
// wrong guess, for an unknown email too; past the budgets a *domain.RetryLaterError. The
// code is checked before the new password is hashed (a refused request costs no hash),
// and again when it is used; every answer takes at least confirmResetFloor.
func (s *Service) ConfirmReset(ctx context.Context, email domain.Email, code domain.ResetCode, password domain.Password) (err error) {
	start := time.Now()
	ctx, end := s.start(ctx, "ConfirmReset")
	defer func() { end("", err) }()
	if !s.resets {
		return errNoResets
	}
	if err := s.validatePassword(email, password); err != nil {
		return err // a malformed request is not a guess
	}
	defer waitUntil(ctx, start.Add(confirmResetFloor))
	key := s.spending(Key{Email: email}, ClientGuesses)
	var outcome error
	check := func(acc *domain.Account, now time.Time) error {
		outcome = acc.CheckResetCode(code, now, s.resetPolicy)
		if errors.Is(outcome, domain.ErrInvalidResetCode) {
			return nil // the wrong guess is saved, then reported
		}
		return outcome
	}
	// The code is checked, and a miss counted, in a change of its own before the hash: a
	// right code changes nothing there.
	if _, err := s.store.Change(ctx, key, check); err != nil || outcome != nil {
		return fmt.Errorf("confirm password reset: %w", errors.Join(err, outcome))
	}
	hash, err := s.hasher.Hash(ctx, password.Plain())
	if err != nil {
		return fmt.Errorf("confirm password reset: %w", err)
	}
	_, err = s.store.Change(ctx, key, func(acc *domain.Account, now time.Time) error {
		outcome = acc.ConfirmReset(code, hash, now, s.resetPolicy)
		if errors.Is(outcome, domain.ErrInvalidResetCode) {
			return nil
		}
		return outcome
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return fmt.Errorf("confirm password reset: %w", err)
	}
	return nil
}

// waitUntil sleeps until t, or until ctx ends (a client that left needs no answer).
func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}
