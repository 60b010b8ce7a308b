package app

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// tokenBytes is the randomness of a session token: 256 bits.
const tokenBytes = 32

// tokenLength is the length of a token as the client holds it (URL-safe base64, no
// padding).
var tokenLength = base64.RawURLEncoding.EncodedLen(tokenBytes)

// WithSessions lets the use cases sign accounts in with Bearer tokens kept in sessions
// under policy (without it, SignIn and AuthenticateToken fail).
func WithSessions(sessions SessionStore, policy domain.SessionPolicy) Option {
	return func(s *Service) { s.sessions, s.sessionPolicy = sessions, policy }
}

// errNoSessions is a wiring bug: the service was built without WithSessions.
var errNoSessions = errors.New("sessions are not configured (app.WithSessions)")

// SessionStarted is a new session as its caller learns it: its token, shown this once,
// and when it ends unless used.
type SessionStarted struct {
	Token     string
	ExpiresAt time.Time
	Account   domain.Account
}

// SignIn starts a session of the account who authenticated with its password (Basic):
// a token of 256 random bits, of which only the SHA-256 is stored. A pending account
// signs in to nothing (domain.ErrAccountPending); past the policy's sessions per account
// the least recently used ends.
func (s *Service) SignIn(ctx context.Context, who domain.Account) (started SessionStarted, err error) {
	ctx, end := s.start(ctx, "SignIn")
	defer func() { end(who.ID, err) }()
	if s.sessions == nil {
		return SessionStarted{}, errNoSessions
	}
	raw := make([]byte, tokenBytes)
	if _, err := io.ReadFull(s.random, raw); err != nil {
		return SessionStarted{}, fmt.Errorf("sign in: draw a token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	var expires time.Time
	acc, err := s.store.Change(ctx, ByID(who.ID), func(acc *domain.Account, now time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err // the password changed since it was checked: no session
		}
		o := OriginFrom(ctx)
		var err error
		expires, err = acc.StartSession(tokenHash(token), domain.Device{Client: o.Client, UserAgent: o.UserAgent}, now, s.sessionPolicy)
		return err
	})
	if err != nil {
		return SessionStarted{}, fmt.Errorf("sign in account %s: %w", who.ID, err)
	}
	return SessionStarted{Token: token, ExpiresAt: expires, Account: acc}, nil
}

// AuthenticateToken returns the session of a Bearer token and its account, and
// domain.ErrInvalidToken for a token that names no live session, whatever the reason
// (malformed, unknown, expired, revoked): one answer; domain.ErrAccountDisabled for a
// disabled account's. It costs no password hash, and a
// malformed token no query.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (domain.Session, domain.Account, error) {
	if s.sessions == nil {
		return domain.Session{}, domain.Account{}, errNoSessions
	}
	if len(token) != tokenLength {
		return domain.Session{}, domain.Account{}, domain.ErrInvalidToken
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return domain.Session{}, domain.Account{}, domain.ErrInvalidToken
	}
	sess, acc, err := s.sessions.UseSession(ctx, tokenHash(token), s.sessionPolicy)
	if err == nil {
		// A disable ends every session of the account in its transaction, so this is a
		// token that raced it, if any: refused all the same.
		err = acc.Usable()
	}
	if err != nil {
		return domain.Session{}, domain.Account{}, fmt.Errorf("authenticate token: %w", err)
	}
	return sess, acc, nil
}

// SignOut ends the session sess at once, on every replica; a session that ended
// meanwhile is signed out all the same.
func (s *Service) SignOut(ctx context.Context, sess domain.Session) (err error) {
	ctx, end := s.start(ctx, "SignOut")
	defer func() { end(sess.AccountID, err) }()
	if s.sessions == nil {
		return errNoSessions
	}
	_, err = s.store.Change(ctx, ByID(sess.AccountID), func(acc *domain.Account, _ time.Time) error {
		acc.EndSession(sess.ID)
		return nil
	})
	if err != nil && !errors.Is(err, domain.ErrSessionNotFound) && !errors.Is(err, domain.ErrAccountNotFound) {
		return fmt.Errorf("sign out session %s: %w", sess.ID, err)
	}
	return nil
}

// Sessions returns the live sessions of the account who, newest first.
func (s *Service) Sessions(ctx context.Context, who domain.Account) ([]domain.Session, error) {
	if s.sessions == nil {
		return nil, errNoSessions
	}
	list, err := s.sessions.SessionsOf(ctx, who.ID, s.sessionPolicy)
	if err != nil {
		return nil, fmt.Errorf("sessions of account %s: %w", who.ID, err)
	}
	return list, nil
}

// EndSession ends the session id of the account who at once, on every replica:
// domain.ErrSessionNotFound when it is not one of its live sessions (another account's
// id answers the same, after the same statement).
func (s *Service) EndSession(ctx context.Context, who domain.Account, id string) (err error) {
	ctx, end := s.start(ctx, "EndSession")
	defer func() { end(who.ID, err) }()
	if _, err := s.store.Change(ctx, ByID(who.ID), func(acc *domain.Account, _ time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err
		}
		acc.EndSession(id)
		return nil
	}); err != nil {
		return fmt.Errorf("end session %s of account %s: %w", id, who.ID, err)
	}
	return nil
}

// SignOutEverywhere ends every session of the account who.
func (s *Service) SignOutEverywhere(ctx context.Context, who domain.Account) (err error) {
	ctx, end := s.start(ctx, "SignOutEverywhere")
	defer func() { end(who.ID, err) }()
	if _, err := s.store.Change(ctx, ByID(who.ID), func(acc *domain.Account, _ time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err
		}
		acc.EndSessions()
		return nil
	}); err != nil {
		return fmt.Errorf("sign out account %s everywhere: %w", who.ID, err)
	}
	return nil
}

// ChangePassword gives the active account who a new password, which passed the rules of
// registration (domain.ParsePassword) and is judged here for how guessable it is before
// the account's state is (a 422 before a 403): every session of the account ends, every
// failure of its email ends, every client that knew the old password but this one is a
// stranger again, and a notice is emailed, in the same transaction (domain.PasswordChanged).
func (s *Service) ChangePassword(ctx context.Context, who domain.Account, password domain.Password) (err error) {
	ctx, end := s.start(ctx, "ChangePassword")
	defer func() { end(who.ID, err) }()
	if err := s.validatePassword(who.Email, password); err != nil {
		return err
	}
	if who.Status != domain.StatusActive {
		return domain.ErrAccountPending // before the hash: the change would be refused anyway
	}
	hash, err := s.hasher.Hash(ctx, password.Plain())
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if _, err := s.store.Change(ctx, ByID(who.ID), func(acc *domain.Account, now time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err
		}
		return acc.ChangePassword(hash, now)
	}); err != nil {
		return fmt.Errorf("change password of account %s: %w", who.ID, err)
	}
	return nil
}

// tokenHash is what the store keeps of a token: its SHA-256. The token has 256 random
// bits, so a fast hash is as strong as a slow one, and a leaked table signs nobody in.
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
