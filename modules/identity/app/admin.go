package app

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// The administration API's use cases: an operator's search, view and changes of any
// account. The HTTP adapter puts the admin key's name in the origin (Origin.Actor), and
// the store writes it as data.actor of every account event these changes record; an
// administrator is no client (Origin.Client is empty), so no per-client budget applies
// to them, and every other budget does.

// MaxAccountsPage is the most accounts one page of the administration API's list holds.
const MaxAccountsPage = 100

// DefaultAccountsPage is the size of a page of accounts when the caller names none.
const DefaultAccountsPage = 50

// ListAccounts returns a page of the accounts f selects, ordered by id: at most limit (1
// to MaxAccountsPage; 0 is DefaultAccountsPage), and the id after which the next page
// starts ("" when this one is the last).
func (s *Service) ListAccounts(ctx context.Context, f AccountFilter, limit int) (page []domain.Account, next string, err error) {
	if limit <= 0 || limit > MaxAccountsPage {
		limit = DefaultAccountsPage
	}
	page, err = s.store.Accounts(ctx, f, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list accounts: %w", err)
	}
	if len(page) > limit {
		page = page[:limit]
		next = page[limit-1].ID
	}
	return page, next, nil
}

// AccountDetails is an account as an operator sees it: never its password hash or a
// code.
type AccountDetails struct {
	Account domain.Account
	// Sessions is how many live sessions the account has.
	Sessions int
	// KnownClients are the clients known to the account, the most recent first.
	KnownClients []domain.KnownClient
	// LastSignInAt is when a right password last came from a known client (nil: none
	// within domain.KnownClientWindow, or none since the password last changed but the
	// changing client).
	LastSignInAt *time.Time
}

// Details returns the account id with its live sessions and known clients;
// domain.ErrAccountNotFound when there is none.
func (s *Service) Details(ctx context.Context, id string) (AccountDetails, error) {
	acc, err := s.store.AccountByID(ctx, id)
	if err != nil {
		return AccountDetails{}, fmt.Errorf("account %s: %w", id, err)
	}
	d := AccountDetails{Account: acc}
	if s.sessions != nil {
		live, err := s.sessions.SessionsOf(ctx, id, s.sessionPolicy)
		if err != nil {
			return AccountDetails{}, fmt.Errorf("sessions of account %s: %w", id, err)
		}
		d.Sessions = len(live)
	}
	if d.KnownClients, err = s.store.KnownClientsOf(ctx, id); err != nil {
		return AccountDetails{}, fmt.Errorf("known clients of account %s: %w", id, err)
	}
	if len(d.KnownClients) > 0 {
		at := d.KnownClients[0].SignedInAt
		d.LastSignInAt = &at
	}
	return d, nil
}

// DisableAccount disables the account id (domain.Account.Disable): its sessions end at
// once, its unsent emails are dropped, the notice of the deactivation is emailed, and
// its right credentials answer domain.ErrAccountDisabled from then on, in one change.
// A disabled account stays as it is (no event, no second notice).
func (s *Service) DisableAccount(ctx context.Context, id string, reason domain.DisableReason) (err error) {
	ctx, end := s.start(ctx, "DisableAccount")
	defer func() { end(id, err) }()
	return s.adminChange(ctx, id, "disable", func(acc *domain.Account, now time.Time) error {
		acc.Disable(reason, now)
		return nil
	})
}

// EnableAccount lifts the disable of the account id; an enabled account stays as it is
// (no event).
func (s *Service) EnableAccount(ctx context.Context, id string) (err error) {
	ctx, end := s.start(ctx, "EnableAccount")
	defer func() { end(id, err) }()
	return s.adminChange(ctx, id, "enable", func(acc *domain.Account, now time.Time) error {
		acc.Enable(now)
		return nil
	})
}

// RevokeSessions ends every session of the account id at once (account.sessions_revoked).
func (s *Service) RevokeSessions(ctx context.Context, id string) (err error) {
	ctx, end := s.start(ctx, "RevokeSessions")
	defer func() { end(id, err) }()
	return s.adminChange(ctx, id, "revoke the sessions of", func(acc *domain.Account, _ time.Time) error {
		acc.EndSessions()
		return nil
	})
}

// StartPasswordReset emails a reset code to the account id as if its owner had asked
// (RequestReset's change, by id: the same resend interval and mailbox budgets; nothing
// is sent to a pending or disabled account, or past them, and the answer is the same).
func (s *Service) StartPasswordReset(ctx context.Context, id string) (err error) {
	ctx, end := s.start(ctx, "StartPasswordReset")
	defer func() { end(id, err) }()
	if !s.resets {
		return errNoResets
	}
	return s.requestReset(ctx, ByID(id))
}

// DeleteAccountByID deletes the account id, whatever its status or state: the deletion
// of DeleteAccount (its codes, sessions and unsent emails, what other modules do inside
// a deletion, the notice), without the owner's password.
func (s *Service) DeleteAccountByID(ctx context.Context, id string) (err error) {
	ctx, end := s.start(ctx, "DeleteAccountByID")
	defer func() { end(id, err) }()
	return s.adminChange(ctx, id, "delete", func(acc *domain.Account, _ time.Time) error {
		acc.Delete()
		return nil
	})
}

// adminChange is an administrator's change of the account id.
func (s *Service) adminChange(ctx context.Context, id, what string, change func(*domain.Account, time.Time) error) error {
	if _, err := s.store.Change(ctx, ByID(id), change); err != nil {
		return fmt.Errorf("%s account %s: %w", what, id, err)
	}
	return nil
}

// EventsOfAccount returns a page of the audit trail of the account id, as Events does for
// its owner. The trail outlives its account: a deleted account's events are returned
// until their retention, and only an id with neither an account nor an event is
// domain.ErrAccountNotFound.
func (s *Service) EventsOfAccount(ctx context.Context, id, before string, limit int) ([]domain.AccountEvent, string, error) {
	events, next, err := s.Events(ctx, domain.Account{ID: id}, before, limit)
	if err != nil || len(events) > 0 || before != "" {
		return events, next, err
	}
	if _, err := s.store.AccountByID(ctx, id); err != nil {
		return nil, "", fmt.Errorf("events of account %s: %w", id, err)
	}
	return events, "", nil
}

// Trail returns a page of the audit trail of every account that f selects, newest first:
// at most limit events (1 to 100; 0 is 100), and the cursor of the next page (empty when
// this one is the last).
func (s *Service) Trail(ctx context.Context, f EventFilter, limit int) (events []domain.AccountEvent, next string, err error) {
	if limit <= 0 || limit > maxEventsPage {
		limit = maxEventsPage
	}
	events, err = s.store.Events(ctx, f, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("the audit trail: %w", err)
	}
	if len(events) > limit {
		events = events[:limit]
		next = events[limit-1].ID
	}
	return events, next, nil
}
