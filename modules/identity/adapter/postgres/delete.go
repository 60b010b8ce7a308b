package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/outbox"
)

// DeletionHook is what another module does when an account is deleted (identity's
// API.OnAccountDeletion): it runs within tx, the deletion's transaction, before the
// account row goes, with the account's id. An error rolls the whole deletion back.
type DeletionHook func(ctx context.Context, tx pgx.Tx, accountID string) error

// deletionHooks are the hooks registered with the store, in their order. They are
// registered at startup, before the store serves, but a lock keeps a late one safe.
type deletionHooks struct {
	mu    sync.RWMutex
	hooks []DeletionHook
}

// OnDelete registers fn to run inside every deletion of an account (domain.AccountDeleted),
// after the hooks registered before it.
func (s *Store) OnDelete(fn DeletionHook) {
	s.deletion.mu.Lock()
	defer s.deletion.mu.Unlock()
	s.deletion.hooks = append(s.deletion.hooks, fn)
}

// deleteAccount saves the deletion of acc, in its transaction and under its lock: the
// registered hooks run first, then the account row goes (its codes, sessions and sign-in
// clients cascade), then its unsent emails, and its events lose their email addresses; the ledgers of its mailbox and the sign-in
// failures of its address stay until their retention.
func (s *Store) deleteAccount(ctx context.Context, tx pgx.Tx, q *sqlcgen.Queries, acc *domain.Account, trail auditTrail) error {
	id, err := uuid.Parse(acc.ID)
	if err != nil {
		return fmt.Errorf("deleted account id %q: %w", acc.ID, err)
	}
	s.deletion.mu.RLock()
	hooks := slices.Clone(s.deletion.hooks)
	s.deletion.mu.RUnlock()
	for i, hook := range hooks {
		if err := hook(ctx, tx, acc.ID); err != nil {
			return &hookError{index: i, err: database.Classify(err)}
		}
	}
	if err := q.DeleteAccount(ctx, id); err != nil {
		return fmt.Errorf("delete account: %w", fromDriver(err))
	}
	if _, err := outbox.DeleteUnsent(ctx, tx, string(acc.Email)); err != nil {
		return fmt.Errorf("delete the account's unsent emails: %w", err)
	}
	// The trail keeps the account's events until their retention, without its address.
	if err := trail.add(ctx, acc.ID, domain.EventDeleted, nil); err != nil {
		return err
	}
	if err := q.RedactAccountEvents(ctx, id); err != nil {
		return fmt.Errorf("remove the address from the account's events: %w", fromDriver(err))
	}
	if err := trail.jobs.flush(ctx, tx, s.jobs); err != nil {
		return err
	}
	if err := s.events.Publish(ctx, tx, acc.Events()); err != nil {
		return fmt.Errorf("publish events of account %s: %w", acc.ID, err)
	}
	return nil
}

// hookError is the failure of a deletion hook. It says only whether the database was
// lost (database.ErrUnavailable: a 503): whatever else a hook's error is (another
// module's problem, say), the deletion failed, a 500 whose cause is logged.
type hookError struct {
	index int
	err   error
}

func (e *hookError) Error() string {
	return fmt.Sprintf("account deletion hook %d: %s", e.index, e.err)
}

func (e *hookError) Is(target error) bool {
	return target == database.ErrUnavailable && errors.Is(e.err, database.ErrUnavailable)
}
