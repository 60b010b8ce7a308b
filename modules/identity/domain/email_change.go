package domain

import (
	"fmt"
	"io"
	"time"
)

// EmailChangePolicy sets how email-change codes behave: their lifetime
// (EMAIL_CHANGE_CODE_TTL), the wrong guesses a code takes, and the budgets they spend,
// which are activation's: the new address's mailbox counts an email-change code and its
// wrong guesses with its activation codes and guesses (CodePolicy.CodesPerDay,
// GuessesPerDay), and the client's budgets are shared by every purpose.
type EmailChangePolicy struct {
	// TTL is how long an email-change code may be used after it is issued.
	TTL time.Duration
	// MaxAttempts is how many wrong guesses one code takes before it is void.
	MaxAttempts int
	// CodesPerDay and GuessesPerDay are the new address's mailbox's daily codes and wrong
	// guesses, shared with activation (CodePolicy's).
	CodesPerDay   int
	GuessesPerDay int
	// ClientCodesPerDay and ClientGuessesPerDay are the client's budgets, shared with
	// every purpose; 0 is no limit.
	ClientCodesPerDay   int
	ClientGuessesPerDay int
}

// AddressHolder is what a change of address knows of the account that already has the
// new address: its id and its status. An active holder keeps its address; a pending one
// is replaced by the change that confirms it.
type AddressHolder struct {
	ID     string
	Status Status
	// Disabled: an administrator disabled the holder, which keeps its address, pending or
	// not, as an active one does.
	Disabled bool
}

// keeps reports whether the holder h (nil: none) keeps its address: it is active or
// disabled. Another account's change of address never replaces it.
func (h *AddressHolder) keeps() bool {
	return h != nil && (h.Status == StatusActive || h.Disabled)
}

// EmailChangeCode is a well-formed guess at an email-change code: exactly eight ASCII
// digits. Only ParseEmailChangeCode makes one.
type EmailChangeCode struct{ digits string }

// ParseEmailChangeCode checks that s is a well-formed email-change code (a malformed code
// is not a guess).
func ParseEmailChangeCode(s string) (EmailChangeCode, string) {
	if !allDigits(s, PurposeEmailChange.Digits()) {
		return EmailChangeCode{}, fmt.Sprintf("must be exactly %d digits", PurposeEmailChange.Digits())
	}
	return EmailChangeCode{digits: s}, ""
}

// RequestEmailChange issues an email-change code to the address to, replacing any
// earlier one (only the latest counts), and has a notice emailed to the account's address
// (CodeIssued with PurposeEmailChange, then EmailChangeRequested). The code spends what an
// activation code spends: one code of the new address's mailbox (a.Ledger is that
// mailbox's) and one of the client's; past either it refuses with a *RetryLaterError.
//
// When an active account holds to (a.Holder), the code is issued, saved and counted all
// the same, and the notice goes, but the code is not emailed (Withheld): nothing reaches
// that account's mailbox, and the request answers, spends and notifies exactly as for an
// address no active account holds, so it tells nothing about to. Such a code can never be
// confirmed: nobody has read it, and its confirmation would find the address taken.
//
// Only an active account may change its address (ErrAccountPending: a pending one
// re-registers), and not to its own (a *ValidationError on "email").
func (a *Account) RequestEmailChange(to Email, now time.Time, p EmailChangePolicy, random io.Reader) error {
	if to == a.Email {
		var verr ValidationError
		verr.Add("email", "is already the account's address")
		return &verr
	}
	if err := a.Usable(); err != nil {
		return err
	}
	if a.Status != StatusActive {
		return ErrAccountPending
	}
	if wait := budgetWait(a.Ledger.CodesIssued, p.CodesPerDay, now); wait > 0 {
		return retryLater(ReasonCodeBudget, wait, p.CodesPerDay)
	}
	if wait := budgetWait(a.Client.CodesIssued, p.ClientCodesPerDay, now); wait > 0 {
		return retryLater(ReasonClientCodeBudget, wait, p.ClientCodesPerDay)
	}
	withheld := a.Holder.keeps()
	if err := a.issue(PurposeEmailChange, to, withheld, p.TTL, now, random); err != nil {
		return err
	}
	a.record(EmailChangeRequested{Email: a.Email, At: now})
	return nil
}

// ConfirmEmailChange makes the address of the account's latest live email-change code
// the account's when guess is that code: the code is used up, the reset code (sent to the
// old address) is void, every session but keep (the confirming request's own) ends, and a
// pending account that held the address is replaced (AccountReplaced, then EmailChanged).
//
// Past the daily wrong guesses of the new address's mailbox (a.Ledger, that mailbox's) or
// of the client it refuses with a *RetryLaterError, before looking at the code. Every
// miss — a wrong, expired, replaced or void code, or none — is ErrInvalidEmailChangeCode
// and counts as a wrong guess of that mailbox (the account's own when it has no code) and
// of the client, and of the code when it is live. Whether the address is free is not
// checked here: the store's unique constraint decides when it saves the change, and an
// address an active account holds (whether it did when the change was loaded or took it
// since) is domain.ErrEmailTaken with nothing saved, which a caller answers as a miss. A
// pending account has no address to move (ErrAccountPending).
func (a *Account) ConfirmEmailChange(guess EmailChangeCode, keep string, now time.Time, p EmailChangePolicy) error {
	if err := a.Usable(); err != nil {
		return err
	}
	if a.Status != StatusActive {
		return ErrAccountPending
	}
	if wait := budgetWait(a.Ledger.WrongGuesses, p.GuessesPerDay, now); wait > 0 {
		return retryLater(ReasonGuessBudget, wait, p.GuessesPerDay)
	}
	if wait := budgetWait(a.Client.WrongGuesses, p.ClientGuessesPerDay, now); wait > 0 {
		return retryLater(ReasonClientGuessBudget, wait, p.ClientGuessesPerDay)
	}
	c := a.EmailChange
	if !c.live(now, p.MaxAttempts) || !c.matches(guess.digits) {
		to := a.Email
		if c != nil {
			to = c.To
		}
		if !c.live(now, p.MaxAttempts) {
			c = nil
		}
		a.wrongGuess(PurposeEmailChange, c, to, now)
		return ErrInvalidEmailChangeCode
	}
	if a.Holder != nil && !a.Holder.keeps() {
		a.record(AccountReplaced{ID: a.Holder.ID})
		a.Holder = nil
	}
	from := a.Email
	a.Email, a.EmailChange, a.Reset = c.To, nil, nil
	a.record(EmailChanged{From: from, To: a.Email, At: now, Keep: keep})
	return nil
}
