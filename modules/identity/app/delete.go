package app

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/identity/modules/identity/domain"
)

// DeleteAccount deletes the account who authenticated with its password, whatever its
// status: the account, its codes, its sessions and its unsent emails go in one
// transaction, with what other modules registered to do for a deletion (the store runs
// it; one failing rolls the whole deletion back). The mailbox's budgets stay until their
// window passes. An account whose password changed since it was checked is not deleted
// (domain.ErrUnauthorized).
func (s *Service) DeleteAccount(ctx context.Context, who domain.Account) (err error) {
	ctx, end := s.start(ctx, "DeleteAccount")
	defer func() { end(who.ID, err) }()
	if _, err := s.store.Change(ctx, ByID(who.ID), func(acc *domain.Account, _ time.Time) error {
		if err := sameCredentials(who, acc); err != nil {
			return err
		}
		acc.Delete()
		return nil
	}); err != nil {
		return fmt.Errorf("delete account %s: %w", who.ID, err)
	}
	return nil
}
