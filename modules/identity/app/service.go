// Package app holds the use cases of the identity context: register, authenticate (a
// password or a session token), activate and resend a code, sign in and out, change and
// reset a password, delete an account. Each is one method of Service that takes the
// domain's values (parsed at the edge), orchestrates domain rules and the ports of
// ports.go, and changes an account only through Store.Change.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/acme/identity/modules/identity/domain"
)

// Service runs the identity use cases. Each use case is one method and one span
// ("identity.Register", ...) whose children are its SQL queries and password hashes.
type Service struct {
	store  Store
	hasher PasswordHasher
	policy domain.CodePolicy
	signIn domain.SignInPolicy
	random io.Reader
	tracer trace.Tracer
	// observe is told the outcome of every use case; nil: nobody listens.
	observe Observer
	// sessions and sessionPolicy keep the Bearer sessions (WithSessions).
	sessions      SessionStore
	sessionPolicy domain.SessionPolicy
	// resets and resetPolicy reset passwords by emailed codes (WithPasswordReset).
	resets      bool
	resetPolicy domain.ResetPolicy
	// emailChanges and emailChangePolicy change addresses by emailed codes
	// (WithEmailChange).
	emailChanges      bool
	emailChangePolicy domain.EmailChangePolicy
	// dummyHash is verified when an email is unknown, so a miss costs what a hit costs.
	dummyHash string
	// strength judges how guessable a new password is; nil: it is not judged.
	strength PasswordStrength
	// notifyNewClient emails a notice of a sign-in from a client new to the account
	// (WithNewClientNotice).
	notifyNewClient bool
	// webhooks manages the webhook endpoints (WithWebhooks).
	webhooks webhookSetup
}

// Option configures a Service.
type Option func(*Service)

// WithTracerProvider makes the use cases' spans with tp (by default none are made).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Service) { s.tracer = tp.Tracer("github.com/acme/identity/modules/identity") }
}

// Observer is told the outcome of each use case ("Register", "Authenticate", "Activate",
// "Resend"): nil for a success, else its error (a refusal or a failure). It must not
// block: it runs on the request's path.
type Observer func(useCase string, err error)

// WithObserver has observe told the outcome of every use case (the module's metrics).
func WithObserver(observe Observer) Option {
	return func(s *Service) { s.observe = observe }
}

// WithSignInPolicy sets the sign-in delay (by default the contract's: 10 failures).
func WithSignInPolicy(p domain.SignInPolicy) Option {
	return func(s *Service) { s.signIn = p }
}

// WithNewClientNotice has an active account emailed a notice when it signs in from a
// client it does not know, unless it knows none yet (NOTIFY_NEW_CLIENT_SIGN_IN).
func WithNewClientNotice(on bool) Option {
	return func(s *Service) { s.notifyNewClient = on }
}

// WithPasswordStrength has every new password judged by p (see validatePassword); by
// default only the domain's rules apply.
func WithPasswordStrength(p PasswordStrength) Option {
	return func(s *Service) { s.strength = p }
}

// NewService returns the use cases over store and hasher. random must be a cryptographic
// source (crypto/rand.Reader).
func NewService(store Store, hasher PasswordHasher, policy domain.CodePolicy, random io.Reader, opts ...Option) (*Service, error) {
	dummy, err := hasher.Hash(context.Background(), "not a password of anyone: a timing decoy")
	if err != nil {
		return nil, fmt.Errorf("hash timing decoy: %w", err)
	}
	s := &Service{store: store, hasher: hasher, policy: policy, random: random, dummyHash: dummy,
		signIn: domain.SignInPolicy{FailuresBeforeDelay: 10}, tracer: noop.NewTracerProvider().Tracer("")}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// start starts one use case: its span, ended by the returned end with the account the
// use case dealt with and its outcome, which the observer is told too.
func (s *Service) start(ctx context.Context, useCase string) (context.Context, func(accountID string, err error)) {
	ctx, span := s.tracer.Start(ctx, "identity."+useCase)
	return ctx, func(accountID string, err error) {
		if s.observe != nil {
			s.observe(useCase, err)
		}
		endSpan(span, accountID, err)
	}
}

// endSpan ends span with the account the use case dealt with and its outcome: a refusal
// (a 4xx: wrong code, budget spent) is recorded as an event, any other error marks the
// span as failed.
func endSpan(span trace.Span, accountID string, err error) {
	defer span.End()
	if accountID != "" {
		span.SetAttributes(attribute.String("identity.account_id", accountID))
	}
	if err == nil {
		return
	}
	span.RecordError(err)
	if !domain.IsRefusal(err) {
		span.SetStatus(codes.Error, "use case failed")
	}
}

// check runs check on the account key finds, as it is now (Key.CheckOnly: nothing
// locked, nothing saved): a request a budget or the account's state refuses is refused
// before it costs a password hash (the contract: refused requests cost no hash).
func (s *Service) check(ctx context.Context, key Key, check func(acc *domain.Account, now time.Time) error) error {
	key.CheckOnly = true
	_, err := s.store.Change(ctx, key, check)
	return err
}

// spending returns key with the budgets of a change that may spend one unit of kind of
// the client's budgets and the mailbox's: issuing a code (ClientCodes) or guessing one
// (ClientGuesses).
func (s *Service) spending(key Key, kind ClientKind) Key {
	limit := s.policy.ClientCodesPerDay
	if kind == ClientGuesses {
		limit = s.policy.ClientGuessesPerDay
	}
	key.Budgets = Budgets{Mailbox: true, ClientKind: kind, ClientLimit: limit}
	return key
}

// Register creates a pending account for email and queues its activation email, or takes
// over a pending account with the same email. It fails with *domain.ValidationError (a
// guessable password), domain.ErrEmailTaken or *domain.RetryLaterError; those refusals
// cost no password hash.
func (s *Service) Register(ctx context.Context, email domain.Email, password domain.Password) (acc domain.Account, err error) {
	ctx, end := s.start(ctx, "Register")
	defer func() { end(acc.ID, err) }()
	if err := s.validatePassword(email, password); err != nil {
		return domain.Account{}, err
	}
	key := s.spending(Key{Email: email}, ClientCodes)
	if err := s.check(ctx, key, func(acc *domain.Account, now time.Time) error {
		return acc.CanRegister(now, s.policy)
	}); err != nil {
		return domain.Account{}, fmt.Errorf("register: %w", err)
	}
	// Hashed outside any transaction: no lock is held during the expensive part.
	hash, err := s.hasher.Hash(ctx, password.Plain())
	if err != nil {
		return domain.Account{}, fmt.Errorf("register: %w", err)
	}
	acc, err = s.store.Change(ctx, key, func(acc *domain.Account, now time.Time) error {
		return acc.Register(hash, now, s.policy, s.random)
	})
	if err != nil {
		return domain.Account{}, fmt.Errorf("register: %w", err)
	}
	return acc, nil
}

// validatePassword judges how guessable password, which passed the domain's rules
// (domain.ParsePassword), is as the new password of the account email, with the email as
// what an attacker knows: a *domain.ValidationError on the field "password", or nil.
// email may be "". Every use case that sets a password calls it.
func (s *Service) validatePassword(email domain.Email, password domain.Password) error {
	if s.strength == nil || !s.strength.Weak(password, email) {
		return nil
	}
	var verr domain.ValidationError
	verr.Add("password", "is too easy to guess; add words or characters")
	return &verr
}

// Authenticate returns the account of email when password is its password, and
// domain.ErrUnauthorized otherwise, taking about the same time either way. The email, or
// its history, first passes the sign-in delay (a *domain.RetryLaterError without
// checking the password), then costs one hash, the decoy's for an unknown email. A right
// password whose hash was made with other parameters is hashed again with the current
// ones (Rehash), so that known and unknown emails keep taking the same time.
func (s *Service) Authenticate(ctx context.Context, email domain.Email, password string) (acc domain.Account, err error) {
	ctx, end := s.start(ctx, "Authenticate")
	defer func() { end(acc.ID, err) }()
	client := ClientFrom(ctx)
	attempt, err := s.store.Attempt(ctx, email, client, func(h domain.SignInHistory, now time.Time) error {
		return h.Check(now, s.signIn)
	})
	if err != nil {
		return domain.Account{}, fmt.Errorf("authenticate: %w", err)
	}
	acc, err = s.store.AccountByEmail(ctx, email)
	found := err == nil
	if err != nil && !errors.Is(err, domain.ErrAccountNotFound) {
		return domain.Account{}, errors.Join(fmt.Errorf("authenticate: %w", err), s.withdraw(ctx, attempt))
	}
	// The decoy fails like a real verification would (saturated, client gone): an
	// unknown email must not answer differently from a known one.
	hash := s.dummyHash
	if found {
		hash = acc.PasswordHash
	}
	ok, err := s.hasher.Verify(ctx, password, hash)
	if err != nil {
		return domain.Account{}, errors.Join(fmt.Errorf("authenticate: %w", err), s.withdraw(ctx, attempt))
	}
	if !ok || !found {
		// The attempt stays a failure, settled even when the client has left.
		if err := s.store.Failed(context.WithoutCancel(ctx), attempt); err != nil {
			return domain.Account{}, fmt.Errorf("authenticate: %w", err)
		}
		return domain.Account{}, domain.ErrUnauthorized
	}
	if err := acc.Usable(); err != nil {
		// Told only after the password was checked, and right: a wrong one is the 401
		// above, in the same time, so a disable is no secret a guess could learn. The
		// attempt is no failure, and nothing of a sign-in happens (no known client, no
		// notice, no rehash).
		return domain.Account{}, errors.Join(fmt.Errorf("authenticate account %s: %w", acc.ID, err), s.withdraw(ctx, attempt))
	}
	known, anyKnown, err := s.store.SignedIn(ctx, email, client, acc.ID)
	if err != nil {
		return domain.Account{}, fmt.Errorf("authenticate account %s: %w", acc.ID, err)
	}
	if !known && client != "" {
		// A client new to the account: a change (the account event, the known client).
		checked := acc
		acc, err = s.store.Change(ctx, ByID(acc.ID), func(locked *domain.Account, now time.Time) error {
			if err := sameCredentials(checked, locked); err != nil {
				return err
			}
			// A notice, but not for an account's first known client (its owner's own).
			return locked.SignedInFrom(client, now, s.notifyNewClient && anyKnown)
		})
		if err != nil {
			if errors.Is(err, domain.ErrAccountNotFound) {
				// Deleted or taken over since it was read: the password is no account's.
				return domain.Account{}, domain.ErrUnauthorized
			}
			return domain.Account{}, fmt.Errorf("authenticate account %s: %w", checked.ID, err)
		}
	}
	if s.hasher.NeedsRehash(acc.PasswordHash) {
		acc, err = s.rehash(ctx, acc, password)
		if err != nil {
			return domain.Account{}, err
		}
	}
	return acc, nil
}

// rehash hashes the right password of acc with the current parameters and saves it,
// unless the password changed meanwhile. A hasher that cannot take the work now
// (saturated, the client gone) leaves the old hash for the next sign-in: the request's
// answer does not depend on it.
func (s *Service) rehash(ctx context.Context, acc domain.Account, password string) (domain.Account, error) {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return acc, nil //nolint:nilerr // see above: a rehash is never the request's failure
	}
	old := acc.PasswordHash
	acc, err = s.store.Change(ctx, ByID(acc.ID), func(locked *domain.Account, _ time.Time) error {
		if locked.PasswordHash == old {
			locked.Rehash(hash)
		}
		return nil
	})
	if errors.Is(err, domain.ErrAccountNotFound) {
		return domain.Account{}, domain.ErrUnauthorized
	}
	if err != nil {
		return domain.Account{}, fmt.Errorf("rehash the password of account %s: %w", acc.ID, err)
	}
	return acc, nil
}

// maxEventsPage is the most events one page of the trail holds.
const maxEventsPage = 100

// Events returns a page of the audit trail of the account who, newest first: at most
// limit events (1 to 100; 0 is 100) before the event before (empty: from the newest), and
// the cursor of the next page (empty when this one is the last).
func (s *Service) Events(ctx context.Context, who domain.Account, before string, limit int) (events []domain.AccountEvent, next string, err error) {
	if limit <= 0 || limit > maxEventsPage {
		limit = maxEventsPage
	}
	events, err = s.store.EventsOf(ctx, who.ID, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("events of account %s: %w", who.ID, err)
	}
	if len(events) > limit {
		events = events[:limit]
		next = events[limit-1].ID
	}
	return events, next, nil
}

// withdraw takes back an attempt whose password was never checked, even when the
// request's context has ended (the client left): it must not count as a failure.
func (s *Service) withdraw(ctx context.Context, attempt int64) error {
	if err := s.store.Withdraw(context.WithoutCancel(ctx), attempt); err != nil {
		return fmt.Errorf("withdraw sign-in attempt: %w", err)
	}
	return nil
}

// Account returns the account id, for other modules (identity's public API);
// domain.ErrAccountNotFound if there is none.
func (s *Service) Account(ctx context.Context, id string) (domain.Account, error) {
	acc, err := s.store.AccountByID(ctx, id)
	if err != nil {
		return domain.Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	return acc, nil
}

// Activate activates the authenticated account with code. A wrong code is counted and
// returned as *domain.InvalidCodeError.
func (s *Service) Activate(ctx context.Context, who domain.Account, code domain.ActivationCode) (acc domain.Account, err error) {
	ctx, end := s.start(ctx, "Activate")
	defer func() { end(who.ID, err) }()
	var outcome error
	acc, err = s.store.Change(ctx, s.spending(ByID(who.ID), ClientGuesses), func(acc *domain.Account, now time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err
		}
		outcome = acc.Activate(code, now, s.policy)
		var wrong *domain.InvalidCodeError
		if errors.As(outcome, &wrong) {
			return nil // the failed attempt is saved, then reported
		}
		return outcome
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return domain.Account{}, fmt.Errorf("activate account %s: %w", who.ID, err)
	}
	return acc, nil
}

// CodeSent is what a caller learns of a code it had issued: never the code itself.
type CodeSent struct {
	// ExpiresAt is when the code expires.
	ExpiresAt time.Time
	// ResendAfter is when the next code may be asked for.
	ResendAfter time.Time
}

// Resend issues a new activation code to the authenticated account and queues its email.
func (s *Service) Resend(ctx context.Context, who domain.Account) (sent CodeSent, err error) {
	ctx, end := s.start(ctx, "Resend")
	defer func() { end(who.ID, err) }()
	acc, err := s.store.Change(ctx, s.spending(ByID(who.ID), ClientCodes), func(acc *domain.Account, now time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err
		}
		return acc.IssueCode(now, s.policy, s.random)
	})
	if err != nil {
		return CodeSent{}, fmt.Errorf("resend code to account %s: %w", who.ID, err)
	}
	return CodeSent{ExpiresAt: acc.Code.ExpiresAt, ResendAfter: acc.ResendAfter(s.policy)}, nil
}

// sameCredentials refuses a change when the account was taken over by a new registration
// between authentication and the lock (the caller's password is no longer the account's:
// domain.ErrUnauthorized), or disabled meanwhile (domain.ErrAccountDisabled): every change
// its owner asks for checks it under the account's lock.
func sameCredentials(who domain.Account, locked *domain.Account) error {
	if who.PasswordHash != locked.PasswordHash {
		return domain.ErrUnauthorized
	}
	return locked.Usable()
}
