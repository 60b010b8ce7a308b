package domain

import (
	"math"
	"time"
)

// BudgetWindow is the sliding window of the per-address budgets: "in any 24 hours".
const BudgetWindow = 24 * time.Hour

// Ledger is what one mailbox (or one client) spent of its daily budgets: the codes issued
// to it (at its request) and the wrong codes sent for it (by it) within BudgetWindow. A
// mailbox's belongs to the mailbox, not to an account, so neither a re-registration of a
// pending account nor its deletion resets it. The store loads the mailbox's with the
// locked account, and the client's as its own short reservation (see app.Budgets).
type Ledger struct {
	CodesIssued  Tally
	WrongGuesses Tally
	// ResetsIssued and WrongResets are the password-reset codes issued to a mailbox and
	// the wrong ones sent for it: budgets of their own, so that a stranger's activation
	// guesses do not block a reset, and the reverse. A client's ledger counts reset codes
	// and their guesses in CodesIssued and WrongGuesses, with activation's.
	ResetsIssued Tally
	WrongResets  Tally
}

// Tally is what one budget spent, newest first: each Count is Units spent at At. A
// mailbox's is one unit per instant; a client's, which may be spent many thousand times
// a day, is kept by the store as counts per short span of time, each stamped with the
// span's end (the latest instant a unit in it was spent), so that what a request reads
// stays bounded and a unit never leaves the window before 24 h have passed since it was
// spent.
type Tally []Count

// Count is Units of a budget spent at (or, for a span, by) At.
type Count struct {
	At    time.Time
	Units int
}

// Instants is the tally of one unit spent at each of at, given newest first.
func Instants(at ...time.Time) Tally {
	t := make(Tally, len(at))
	for i, a := range at {
		t[i] = Count{At: a, Units: 1}
	}
	return t
}

// Units is how many units t holds, whatever their age.
func (t Tally) Units() int {
	n := 0
	for _, c := range t {
		n += c.Units
	}
	return n
}

// issued is where the mailbox's ledger counts the codes of purpose p issued to it.
func (l *Ledger) issued(p Purpose) *Tally {
	if p == PurposePasswordReset {
		return &l.ResetsIssued
	}
	return &l.CodesIssued
}

// wrong is where the mailbox's ledger counts the wrong codes of purpose p sent for it.
func (l *Ledger) wrong(p Purpose) *Tally {
	if p == PurposePasswordReset {
		return &l.WrongResets
	}
	return &l.WrongGuesses
}

// spend records a unit of a budget spent at now (the tally is newest first).
func spend(spent *Tally, now time.Time) {
	*spent = append(Tally{{At: now, Units: 1}}, *spent...)
}

// budgetWait is how long until a budget that spent spent (newest first) in BudgetWindow
// may spend one more under limit: zero when it may now, else until the count that holds
// the limit-th newest unit leaves the window. A limit of 0 or less is no limit.
func budgetWait(spent Tally, limit int, now time.Time) time.Duration {
	if budgetLeft(spent, limit, now) > 0 {
		return 0
	}
	// The newest `limit` units are all in the window; once the count holding the oldest
	// of them leaves it, fewer than limit remain and one more may be spent.
	units := 0
	for _, c := range spent {
		if now.Sub(c.At) >= BudgetWindow {
			continue
		}
		if units += c.Units; units >= limit {
			return c.At.Add(BudgetWindow).Sub(now)
		}
	}
	return 0
}

// budgetLeft is how many more may be spent now under limit (math.MaxInt for no limit).
func budgetLeft(spent Tally, limit int, now time.Time) int {
	if limit <= 0 {
		return math.MaxInt
	}
	left := limit
	for _, c := range spent {
		if now.Sub(c.At) < BudgetWindow {
			left -= c.Units
		}
	}
	return max(left, 0)
}
