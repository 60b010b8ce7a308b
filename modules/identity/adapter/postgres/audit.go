package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
)

// auditTrail writes the account events of one change, in its transaction: each carries
// the change's database clock and its origin (the request's client and id, and the
// administrator who acted, as data.actor). Each event also gets its jobs, one per
// subscriber to its type and one per live webhook endpoint subscribed to it, collected in
// jobs and inserted at the end of the change (eventJobs.flush), in its transaction.
type auditTrail struct {
	tx      pgx.Tx
	q       *sqlcgen.Queries
	origin  app.Origin
	at      time.Time
	observe func(kind string) // nil: nobody counts
	// subscribers names the subscribers of an event type (Store.subscribersOf).
	subscribers func(kind string) []string
	jobs        *eventJobs
}

// add appends an event of type kind of the account id with data (nil: none).
func (t auditTrail) add(ctx context.Context, id, kind string, data map[string]any) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("account id %q: %w", id, err)
	}
	if data == nil {
		data = map[string]any{}
	}
	if t.origin.Actor != "" {
		data["actor"] = t.origin.Actor
	}
	body, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode the data of %s: %w", kind, err)
	}
	row, err := t.q.AppendAccountEvent(ctx, sqlcgen.AppendAccountEventParams{
		AccountID: uid, Type: kind, OccurredAt: t.at, Data: body, Client: t.origin.Client, RequestID: t.origin.RequestID,
	})
	if err != nil {
		return fmt.Errorf("append %s to the audit trail: %w", kind, fromDriver(err))
	}
	event := row.ID.String()
	for _, name := range t.subscribers(kind) {
		t.jobs.params = append(t.jobs.params, river.InsertManyParams{
			Args:       SubscriberArgs{Subscriber: name, EventID: event, Type: kind},
			InsertOpts: &river.InsertOpts{Queue: QueueSubscriber},
		})
	}
	for _, endpoint := range row.Endpoints {
		t.jobs.params = append(t.jobs.params, river.InsertManyParams{
			Args:       WebhookArgs{EndpointID: endpoint.String(), EventID: event},
			InsertOpts: &river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: WebhookMaxAttempts},
		})
	}
	if t.observe != nil {
		database.AfterCommit(t.tx, func() { t.observe(kind) })
	}
	return nil
}

// clientSignedIn makes client known to the account id and, when it was new to the
// account, records the sign-in; it reports whether it was (a concurrent request from the
// same client may have made it known first: then nothing more happens, no notice).
func (t auditTrail) clientSignedIn(ctx context.Context, id, client string) (bool, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return false, fmt.Errorf("account id %q: %w", id, err)
	}
	isNew, err := knowClient(ctx, t.q, uid, client)
	if err != nil || !isNew {
		return false, err
	}
	return true, t.add(ctx, id, domain.EventSignedIn, map[string]any{"client": client})
}

// EventsOf implements app.Store.
func (s *Store) EventsOf(ctx context.Context, accountID, before string, limit int) ([]domain.AccountEvent, error) {
	id, err := uuid.Parse(accountID)
	if err != nil {
		return nil, nil // no account of the store's: no events
	}
	params := sqlcgen.AccountEventsOfParams{AccountID: id, MaxRows: int32(min(limit, 1000))} //nolint:gosec // bounded
	if before != "" {
		b, err := uuid.Parse(before)
		if err != nil {
			return nil, nil // not one of the account's events: none before it
		}
		params.Before = &b
	}
	rows, err := sqlcgen.New(s.pool).AccountEventsOf(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("get the account's events: %w", fromDriver(err))
	}
	events := make([]domain.AccountEvent, len(rows))
	for i, r := range rows {
		events[i] = domain.AccountEvent{ID: r.ID.String(), Type: r.Type, OccurredAt: r.OccurredAt, AccountID: r.AccountID.String()}
		if err := json.Unmarshal(r.Data, &events[i].Data); err != nil {
			return nil, fmt.Errorf("decode the data of event %s: %w", r.ID, err)
		}
	}
	return events, nil
}

// PurgeAccountEvents returns the retention batch of the audit trail: events older than
// retention.
func PurgeAccountEvents(retention time.Duration) func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	return func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
		n, err := sqlcgen.New(tx).PurgeAccountEvents(ctx, sqlcgen.PurgeAccountEventsParams{
			RetentionMs: retention.Milliseconds(), BatchSize: limit,
		})
		if err != nil {
			return 0, fmt.Errorf("purge account events: %w", fromDriver(err))
		}
		return n, nil
	}
}
