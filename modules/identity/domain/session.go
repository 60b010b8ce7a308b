package domain

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SessionPolicy is how long sign-in sessions last and how many an account keeps
// (SESSION_IDLE_TIMEOUT, SESSION_MAX_AGE, SESSIONS_PER_ACCOUNT).
type SessionPolicy struct {
	// IdleTimeout ends a session unused this long.
	IdleTimeout time.Duration
	// MaxAge ends a session this long after its sign-in, used or not.
	MaxAge time.Duration
	// PerAccount is how many live sessions an account keeps: a sign-in past it ends the
	// least recently used.
	PerAccount int
}

// maxTouch bounds how stale a session's idle clock may get.
const maxTouch = time.Minute

// TouchEvery is how old a session's recorded last use may be before a request writes it
// again: a minute, or a tenth of the idle timeout when that is shorter. A busy session
// costs one write a minute, not one per request; the price is that a session is judged
// idle up to TouchEvery early (its last use was recorded up to that much before the real
// one), never late.
func (p SessionPolicy) TouchEvery() time.Duration {
	return min(maxTouch, p.IdleTimeout/10)
}

// ExpiresAt is when a session signed in at created and last used at used ends unless it
// is used again: the sooner of its idle and its absolute expiry.
func (p SessionPolicy) ExpiresAt(created, used time.Time) time.Time {
	idle, absolute := used.Add(p.IdleTimeout), created.Add(p.MaxAge)
	if idle.Before(absolute) {
		return idle
	}
	return absolute
}

// Session is one sign-in of an account, known by the hash of its token: ID is its opaque
// public id (never the token), Client and UserAgent those of its sign-in.
type Session struct {
	ID         string
	AccountID  string
	CreatedAt  time.Time
	LastUsedAt time.Time
	Client     string
	UserAgent  string
}

// Device is where a sign-in comes from: the client (IP) and the User-Agent it sent.
type Device struct {
	Client    string
	UserAgent string
}

// MaxUserAgentLength bounds the User-Agent a session keeps, in characters.
const MaxUserAgentLength = 256

// bounded is d with its User-Agent cut to MaxUserAgentLength characters (whole runes)
// and stripped of control characters.
func (d Device) bounded() Device {
	var b strings.Builder
	n := 0
	for _, r := range d.UserAgent {
		if n == MaxUserAgentLength {
			break
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			continue
		}
		b.WriteRune(r)
		n++
	}
	d.UserAgent = b.String()
	return d
}

// StartSession starts a session of an active account for the token whose SHA-256 is
// tokenHash (SessionStarted: the store inserts it and ends the account's sessions past
// p.PerAccount, least recently used first), and returns when it ends unless used. A
// pending account signs in to nothing (ErrAccountPending), nor does a disabled one
// (ErrAccountDisabled).
func (a *Account) StartSession(tokenHash []byte, d Device, now time.Time, p SessionPolicy) (time.Time, error) {
	if err := a.Usable(); err != nil {
		return time.Time{}, err // under the lock the disable took: no session outlives it
	}
	if a.Status != StatusActive {
		return time.Time{}, ErrAccountPending
	}
	a.record(SessionStarted{TokenHash: tokenHash, Device: d.bounded(), Policy: p})
	return p.ExpiresAt(now, now), nil
}

// EndSessions ends every session of the account (sign-out everywhere).
func (a *Account) EndSessions() { a.record(SessionsEnded{}) }

// EndSession ends the account's session id (SessionEnded): a sign-out, or the owner
// ending one device's session. One that is not a live session of this account is
// ErrSessionNotFound when the store saves the change.
func (a *Account) EndSession(id string) { a.record(SessionEnded{ID: id}) }

// ChangePassword replaces the password hash of an active account: every session of the
// account ends and a notice is emailed (PasswordChanged). A pending account has proved
// no address to send the notice to: it re-registers instead (ErrAccountPending).
func (a *Account) ChangePassword(passwordHash string, now time.Time) error {
	if err := a.Usable(); err != nil {
		return err
	}
	if a.Status != StatusActive {
		return ErrAccountPending
	}
	a.setPassword(passwordHash, now, false)
	return nil
}
