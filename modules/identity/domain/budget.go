package domain

import (
	"math"
	"time"
)

// BudgetWindow is the sliding window of the per-address budgets: "in any 24 hours".
const BudgetWindow = 24 * time.Hour

// Ledger is what one mailbox (or one client) spent of its daily budgets: the instants of
// the codes issued to it (at its request) and of the wrong codes sent for it (by it)
// within BudgetWindow, newest first. A mailbox's belongs to the mailbox, not to an
// account, so neither a re-registration of a pending account nor its deletion resets it.
// The store loads the mailbox's with the locked account, and the client's as its own
// short reservation (see app.Budgets).
type Ledger struct {
	CodesIssued  []time.Time
	WrongGuesses []time.Time
	// ResetsIssued and WrongResets are the password-reset codes issued to a mailbox and
	// the wrong ones sent for it: budgets of their own, so that a stranger's activation
	// guesses do not block a reset, and the reverse. A client's ledger counts reset codes
	// and their guesses in CodesIssued and WrongGuesses, with activation's.
	ResetsIssued []time.Time
	WrongResets  []time.Time
}

// issued is where the mailbox's ledger counts the codes of purpose p issued to it.
func (l *Ledger) issued(p Purpose) *[]time.Time {
	if p == PurposePasswordReset {
		return &l.ResetsIssued
	}
	return &l.CodesIssued
}

// wrong is where the mailbox's ledger counts the wrong codes of purpose p sent for it.
func (l *Ledger) wrong(p Purpose) *[]time.Time {
	if p == PurposePasswordReset {
		return &l.WrongResets
	}
	return &l.WrongGuesses
}

// spend records a unit of a budget spent at now (the instants are newest first).
func spend(spent *[]time.Time, now time.Time) {
	*spent = append([]time.Time{now}, *spent...)
}

// budgetWait is how long until an address that spent the instants spent (newest first) in
// BudgetWindow may spend one more under limit: zero when it may now, else until the
// limit-th newest instant leaves the window. A limit of 0 or less is no limit.
func budgetWait(spent []time.Time, limit int, now time.Time) time.Duration {
	if budgetLeft(spent, limit, now) > 0 {
		return 0
	}
	// The newest `limit` instants are all in the window; once the oldest of them leaves
	// it, limit-1 remain and one more may be spent.
	return spent[limit-1].Add(BudgetWindow).Sub(now)
}

// budgetLeft is how many more may be spent now under limit (math.MaxInt for no limit).
func budgetLeft(spent []time.Time, limit int, now time.Time) int {
	if limit <= 0 {
		return math.MaxInt
	}
	left := limit
	for _, at := range spent {
		if now.Sub(at) < BudgetWindow {
			left--
		}
	}
	return max(left, 0)
}
