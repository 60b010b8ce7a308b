package domain

import "time"

// The types of account events: what the audit trail, other modules and webhooks are told
// of each change (the contract's "Account events").
const (
	EventRegistered      = "account.registered"
	EventActivated       = "account.activated"
	EventSignedIn        = "account.signed_in"
	EventPasswordChanged = "account.password_changed"
	EventPasswordReset   = "account.password_reset"
	EventEmailChanged    = "account.email_changed"
	EventDisabled        = "account.disabled"
	EventEnabled         = "account.enabled"
	EventSessionsRevoked = "account.sessions_revoked"
	EventDeleted         = "account.deleted"
)

// AccountEvent is an event of the audit trail: what happened to the account AccountID, at
// OccurredAt on the database clock, with what its type needs in Data (an email, a client,
// a session id, an actor; never a password, hash, code or token).
type AccountEvent struct {
	ID         string
	Type       string
	OccurredAt time.Time
	AccountID  string
	Data       map[string]any
}
