package domain

import "time"

// Event is what a change of an account recorded: the store saves the change, writing
// what each event needs in one switch (rows, ledger entries), and hands the events, in
// the same transaction, to the one port that turns them into emails, so a template is
// never the store's business.
type Event interface{ event() }

// CodeIssued is the event of a new code: it must be emailed to Email (unless Withheld),
// and it counts against the daily code budget of Email's mailbox.
type CodeIssued struct {
	Purpose   Purpose
	Email     Email
	Code      string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Withheld: the code is saved and counted but not emailed. An email-change code to an
	// address an active account holds: nothing is sent to that account, and the request
	// answers and spends as if it had been (no enumeration).
	Withheld bool
}

// WrongCode is the event of a wrong code sent for the account: it counts against the
// daily guess budget of the mailbox of Email, the address the code proves (the account's
// own, or the new address of an email change).
type WrongCode struct {
	Purpose Purpose
	Email   Email
	At      time.Time
}

// EmailChangeRequested is the event of an email-change code issued to a new address: a
// notice is emailed to Email, the account's address, naming no part of the new one.
type EmailChangeRequested struct {
	Email Email
	At    time.Time
}

// EmailChanged is the event of a confirmed email change: the account's address is To
// from now (the unique constraint on the address deciding a race: domain.ErrEmailTaken),
// every session of the account but Keep (the confirming request's own, "" for none)
// ends, and the wrong passwords counted against From count against To.
type EmailChanged struct {
	From Email
	To   Email
	At   time.Time
	Keep string
}

// AccountRegistered is the event of a new pending account for Email, registered at At:
// the store inserts it (the unique constraint on the email decides a race) and gives it
// its id.
type AccountRegistered struct {
	Email Email
	At    time.Time
}

// AccountActivated is the event of an account whose owner proved its address.
type AccountActivated struct {
	Email Email
	At    time.Time
}

// ClientSignedIn is the event of a right password from a client the account did not
// know (it has not signed in from it within KnownClientWindow): the store makes it
// known, and it is an account event when it was not known.
type ClientSignedIn struct {
	Client string
	At     time.Time
	// Notify emails Email a notice of the sign-in (NOTIFY_NEW_CLIENT_SIGN_IN, for an
	// active account that already knows another client).
	Notify bool
	Email  Email
}

// AccountReplaced is the event of a registration that took over a pending account: the
// account ID is gone, with its codes and sessions; the AccountRegistered that follows
// saves the new one under a new id, so nothing another module keyed by the old id can be
// reached with the new password.
type AccountReplaced struct {
	ID string
}

// PasswordChanged is the event of a new password, by a change (PUT) or by a confirmed
// reset (Reset): in the same transaction every session of the account ends, every
// failure counted against the email ends, every client known to the account but the one
// that made the change is forgotten (that one becomes known), and a notice (no secret in
// it) is emailed to Email.
type PasswordChanged struct {
	Email Email
	At    time.Time
	Reset bool
}

// SessionStarted is the event of a sign-in: the store keeps the session of TokenHash and
// ends the account's sessions past Policy.PerAccount (the least recently used) and those
// already ended.
type SessionStarted struct {
	TokenHash []byte
	Device    Device
	Policy    SessionPolicy
}

// SessionEnded is the event of one session ended by its id (a sign-out, or the owner
// ending one device): the store deletes it when it is a live session of the account,
// and refuses the change with ErrSessionNotFound otherwise.
type SessionEnded struct {
	ID string
}

// SessionsEnded is the event of a sign-out everywhere: every session of the account ends.
type SessionsEnded struct{}

// AccountDeleted is the event of an account its owner deleted: the store deletes the
// account ID with its codes and sessions, and the emails to Email not sent yet, and runs
// what other modules registered for a deletion, all in one transaction; a notice of the
// deletion, queued after, is the one email that still leaves. The mailbox's
// ledgers stay until their window passes, so a deletion restores no budget.
type AccountDeleted struct {
	ID    string
	Email Email
}

// AccountDisabled is the event of an administrator disabling the account: in the same
// transaction every session of the account ends and the emails to Email not sent yet
// are dropped; a notice of the deactivation (never the Reason, which is the
// administrator's text) is emailed to Email, the one email that leaves. Reason is kept
// in the audit trail.
type AccountDisabled struct {
	Email  Email
	At     time.Time
	Reason string
}

// AccountEnabled is the event of an administrator lifting a disable.
type AccountEnabled struct {
	At time.Time
}

func (AccountDisabled) event()      {}
func (AccountEnabled) event()       {}
func (AccountRegistered) event()    {}
func (AccountActivated) event()     {}
func (ClientSignedIn) event()       {}
func (CodeIssued) event()           {}
func (WrongCode) event()            {}
func (AccountReplaced) event()      {}
func (PasswordChanged) event()      {}
func (SessionStarted) event()       {}
func (SessionsEnded) event()        {}
func (SessionEnded) event()         {}
func (AccountDeleted) event()       {}
func (EmailChangeRequested) event() {}
func (EmailChanged) event()         {}
