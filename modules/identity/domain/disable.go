package domain

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxDisableReasonLength bounds the reason an administrator gives for disabling an
// account, in characters.
const MaxDisableReasonLength = 500

// DisableReason is an administrator's reason for disabling an account, as the audit
// trail keeps it (data.reason of account.disabled): operator text, trimmed, at most
// MaxDisableReasonLength characters, no control characters; empty is none. It is never
// emailed. Only ParseDisableReason makes one.
type DisableReason struct{ text string }

// String returns the reason's text.
func (r DisableReason) String() string { return r.text }

// ParseDisableReason checks an administrator's reason (empty is none); the message says
// what is wrong otherwise.
func ParseDisableReason(s string) (DisableReason, string) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxDisableReasonLength {
		return DisableReason{}, "must be at most 500 characters"
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return DisableReason{}, "must be text without control characters"
	}
	return DisableReason{text: s}, ""
}

// Disabled reports whether an administrator disabled the account.
func (a *Account) Disabled() bool { return a.DisabledAt != nil }

// Disable disables the account (AccountDisabled): from now on the right credentials
// answer ErrAccountDisabled, every session ends at once, the emails to its address not
// sent yet are dropped and a notice of the deactivation (without the reason) is the one
// email that leaves; its reset and email-change codes are void, and it gets no code and
// no notice until it is enabled. Disabling a disabled account changes nothing and
// records nothing (no second event, no second notice): the first disable stands.
func (a *Account) Disable(reason DisableReason, now time.Time) {
	if a.Disabled() {
		return
	}
	at := now
	a.DisabledAt = &at
	a.Reset, a.EmailChange = nil, nil
	a.record(AccountDisabled{Email: a.Email, At: now, Reason: reason.text})
}

// Enable lifts a disable (AccountEnabled): the account signs in again with its password
// (its sessions ended at the disable stay ended). Enabling an enabled account changes
// nothing and records nothing.
func (a *Account) Enable(now time.Time) {
	if !a.Disabled() {
		return
	}
	a.DisabledAt = nil
	a.record(AccountEnabled{At: now})
}

// Usable refuses what only the owner of an account that is not disabled may do
// (ErrAccountDisabled): every change an owner asks for checks it under the account's
// lock, so an owner authenticated just before a disable changes nothing after it.
func (a *Account) Usable() error {
	if a.Disabled() {
		return ErrAccountDisabled
	}
	return nil
}
