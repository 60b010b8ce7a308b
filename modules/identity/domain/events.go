package domain

import "time"

// Event is what a change of an account recorded: the store saves the change and hands
// its events, in the same transaction, to the one port that turns them into emails
// (and ledger entries), so a template is never the store's business.
type Event interface{ event() }

// Purpose says what an issued code is for; each purpose has its own email.
type Purpose string

// The purposes of a code.
const (
	PurposeActivation    Purpose = "activation"
	PurposePasswordReset Purpose = "password_reset"
)

// CodeIssued is the event of a new code: it must be emailed to Email, and it counts
// against the mailbox's daily code budget.
type CodeIssued struct {
	Purpose   Purpose
	Email     Email
	Code      string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// WrongCode is the event of a wrong code sent for the account: it counts against the
// mailbox's daily guess budget.
type WrongCode struct {
	Purpose Purpose
	At      time.Time
}

// AccountReplaced is the event of a registration that took over a pending account: the
// account ID is gone, with its codes and sessions, and the store saves the new one under a
// new id, so nothing another module keyed by the old id can be reached with the new
// password.
type AccountReplaced struct {
	ID string
}

// PasswordChanged is the event of a new password: every session of the account ends, in
// the same transaction, and a notice (no secret in it) is emailed to Email.
type PasswordChanged struct {
	Email Email
	At    time.Time
}

// SessionStarted is the event of a sign-in: the store keeps the session of TokenHash and
// ends the account's sessions past Policy.PerAccount (the least recently used) and those
// already ended.
type SessionStarted struct {
	TokenHash []byte
	Policy    SessionPolicy
}

// SessionsEnded is the event of a sign-out everywhere: every session of the account ends.
type SessionsEnded struct{}

// AccountDeleted is the event of an account its owner deleted: the store deletes the
// account ID with its codes and sessions, and the emails to Email not sent yet, and runs
// what other modules registered for a deletion, all in one transaction. The mailbox's
// ledgers stay until their window passes, so a deletion restores no budget.
type AccountDeleted struct {
	ID    string
	Email Email
}

func (CodeIssued) event()      {}
func (WrongCode) event()       {}
func (AccountReplaced) event() {}
func (PasswordChanged) event() {}
func (SessionStarted) event()  {}
func (SessionsEnded) event()   {}
func (AccountDeleted) event()  {}
