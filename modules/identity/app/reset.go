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
func WithPasswordReset(resets ResetStore, policy domain.ResetPolicy) Option {
	return func(s *Service) { s.resets, s.resetPolicy = resets, policy }
}

var errNoResets = errors.New("password reset is not configured (app.WithPasswordReset)")

// RequestReset emails a reset code to the active account of rawEmail, when its resend
// interval and the mailbox's and client's budgets allow, and otherwise nothing; either
// way it answers nil in about the same time (requestResetFloor), so the answer reveals
// nothing of the email. A malformed email is a *domain.ValidationError.
func (s *Service) RequestReset(ctx context.Context, rawEmail string) (err error) {
	start := time.Now()
	ctx, end := s.start(ctx, "RequestReset")
	defer func() { end("", err) }()
	if s.resets == nil {
		return errNoResets
	}
	email, msg := domain.ParseEmail(rawEmail)
	if msg != "" {
		var verr domain.ValidationError
		verr.Add("email", msg)
		return verr.Err()
	}
	defer waitUntil(ctx, start.Add(requestResetFloor))
	err = s.resets.ResetByEmail(ctx, email, func(acc *domain.Account, now time.Time) error {
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

// ConfirmReset sets password as the password of the account of rawEmail when code is its
// latest live reset code: the code is used up, every session ends and a notice is
// emailed, in one transaction. Every miss is domain.ErrInvalidResetCode and counts as a
// wrong guess, for an unknown email too; past the budgets a *domain.RetryLaterError. Each
// attempt costs one password hash and takes at least confirmResetFloor.
func (s *Service) ConfirmReset(ctx context.Context, rawEmail, code, password string) (err error) {
	start := time.Now()
	ctx, end := s.start(ctx, "ConfirmReset")
	defer func() { end("", err) }()
	if s.resets == nil {
		return errNoResets
	}
	var verr domain.ValidationError
	email, msg := domain.ParseEmail(rawEmail)
	if msg != "" {
		verr.Add("email", msg)
	}
	if !domain.ValidResetCodeFormat(code) {
		verr.Add("code", fmt.Sprintf("must be exactly %d digits", domain.ResetCodeLength))
	}
	if err := s.judgePassword(verr.Err(), email, password); err != nil {
		return err // a malformed request is not a guess
	}
	defer waitUntil(ctx, start.Add(confirmResetFloor))
	// Hashed before the lock, for every email alike.
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("confirm password reset: %w", err)
	}
	var outcome error
	err = s.resets.ResetByEmail(ctx, email, func(acc *domain.Account, now time.Time) error {
		outcome = acc.ConfirmReset(code, hash, now, s.resetPolicy)
		if errors.Is(outcome, domain.ErrInvalidResetCode) {
			return nil // the wrong guess is saved, then reported
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
