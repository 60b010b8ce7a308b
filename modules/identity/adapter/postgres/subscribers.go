package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/jobs"
)

// The job kinds and queues of account events: one job per subscriber and per webhook
// endpoint for each event, inserted by the change's transaction (auditTrail.add).
const (
	KindSubscriber  = "identity.event_subscriber"
	KindWebhook     = "identity.webhook_delivery"
	QueueSubscriber = "identity_subscribers"
	QueueWebhooks   = "identity_webhooks"
)

// Jobs is what the store needs of the job system (platform/jobs.Jobs): to insert the
// jobs of a change's events within its transaction.
type Jobs interface {
	InsertManyTx(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// Handler is a subscriber's handler of an account event: it runs within tx, the
// transaction that completes its job.
type Handler func(ctx context.Context, tx pgx.Tx, e domain.AccountEvent) error

// subscriptions are the subscribers registered with the store, by name. They are
// registered while the modules are built, before the store serves; a lock keeps a late
// one safe.
type subscriptions struct {
	mu     sync.RWMutex
	byName map[string]subscription
	names  []string // in their order of registration
}

type subscription struct {
	types   []string
	handler Handler
}

// Subscribe has handler called, in its own job, for every event of one of types that a
// committed change records. name identifies the subscriber in its jobs (which outlive a
// restart): keep it stable, and unique.
func (s *Store) Subscribe(name string, types []string, handler Handler) error {
	if name == "" || handler == nil {
		return errors.New("subscribe: a name and a handler are needed")
	}
	if len(types) == 0 {
		return fmt.Errorf("subscribe %s: no event type", name)
	}
	for _, t := range types {
		if !domain.IsEventType(t) {
			return fmt.Errorf("subscribe %s: %q is not an account event type", name, t)
		}
	}
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	if _, dup := s.subs.byName[name]; dup {
		return fmt.Errorf("subscribe %s: the name is taken", name)
	}
	if s.subs.byName == nil {
		s.subs.byName = map[string]subscription{}
	}
	s.subs.byName[name] = subscription{types: slices.Clone(types), handler: handler}
	s.subs.names = append(s.subs.names, name)
	return nil
}

// subscribersOf returns the names of the subscribers to events of type kind.
func (s *Store) subscribersOf(kind string) []string {
	s.subs.mu.RLock()
	defer s.subs.mu.RUnlock()
	var out []string
	for _, n := range s.subs.names {
		if slices.Contains(s.subs.byName[n].types, kind) {
			out = append(out, n)
		}
	}
	return out
}

func (s *Store) handlerOf(name string) Handler {
	s.subs.mu.RLock()
	defer s.subs.mu.RUnlock()
	return s.subs.byName[name].handler
}

// SubscriberArgs are a subscriber's job of one event: ids and the type, no data (the
// worker loads the event from the audit trail).
type SubscriberArgs struct {
	Subscriber string `json:"subscriber"`
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
}

// Kind implements river.JobArgs.
func (SubscriberArgs) Kind() string { return KindSubscriber }

// WebhookArgs are a delivery job: the endpoint and the event, by id (the secret and the
// body stay in the database).
type WebhookArgs struct {
	EndpointID string `json:"endpoint_id"`
	EventID    string `json:"event_id"`
}

// Kind implements river.JobArgs.
func (WebhookArgs) Kind() string { return KindWebhook }

// eventJobs collects the jobs of a change's events as the audit trail writes them, and
// inserts them all at its end, in one round trip of the change's transaction.
type eventJobs struct {
	params []river.InsertManyParams
}

// flush inserts the jobs collected within tx; without a job system (js nil), none were.
func (e *eventJobs) flush(ctx context.Context, tx pgx.Tx, js Jobs) error {
	if len(e.params) == 0 || js == nil {
		return nil
	}
	if _, err := js.InsertManyTx(ctx, tx, e.params); err != nil {
		return fmt.Errorf("insert the jobs of the account events: %w", err)
	}
	e.params = nil
	return nil
}

// SubscriberWorker runs the subscribers' jobs: it loads the event, and calls the
// subscriber's handler in the transaction that completes the job, so a handler that
// writes only to the database runs exactly once. A failing handler's job is retried with
// River's backoff (independently of the other subscribers' jobs of the event).
type SubscriberWorker struct {
	river.WorkerDefaults[SubscriberArgs]
	store  *Store
	pool   *pgxpool.Pool
	logger *slog.Logger
}

// NewSubscriberWorker returns the worker of the subscribers registered with s.
func NewSubscriberWorker(s *Store, logger *slog.Logger) *SubscriberWorker {
	return &SubscriberWorker{store: s, pool: s.pool, logger: logger}
}

// Work implements river.Worker.
func (w *SubscriberWorker) Work(ctx context.Context, job *river.Job[SubscriberArgs]) error {
	a := job.Args
	handler := w.store.handlerOf(a.Subscriber)
	if handler == nil {
		// A subscriber removed from the code while its jobs waited: nobody to tell.
		w.logger.WarnContext(ctx, "account event for a subscriber that is not registered; dropped",
			slog.String("subscriber", a.Subscriber), slog.String("event_id", a.EventID))
		return river.JobCancel(fmt.Errorf("subscriber %q is not registered", a.Subscriber))
	}
	e, err := loadEvent(ctx, sqlcgen.New(w.pool), a.EventID)
	if errors.Is(err, domain.ErrAccountNotFound) {
		// Past its retention (AUDIT_RETENTION) before its job ran: nothing to hand on.
		w.logger.WarnContext(ctx, "account event gone before its subscriber got it",
			slog.String("subscriber", a.Subscriber), slog.String("event_id", a.EventID))
		return nil
	}
	if err != nil {
		return err
	}
	return database.InTx(ctx, w.pool, func(tx pgx.Tx) error {
		if err := handler(ctx, tx, e); err != nil {
			return fmt.Errorf("subscriber %s, event %s: %w", a.Subscriber, a.EventID, err)
		}
		return jobs.CompleteTx(ctx, tx, job)
	})
}

// loadEvent reads the event id of the audit trail; domain.ErrAccountNotFound when it is
// gone.
func loadEvent(ctx context.Context, q *sqlcgen.Queries, id string) (domain.AccountEvent, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return domain.AccountEvent{}, fmt.Errorf("event id %q: %w", id, domain.ErrAccountNotFound)
	}
	r, err := q.GetAccountEvent(ctx, uid)
	if err != nil {
		return domain.AccountEvent{}, fmt.Errorf("load event %s: %w", id, fromDriver(err))
	}
	e := domain.AccountEvent{ID: r.ID.String(), Type: r.Type, OccurredAt: r.OccurredAt, AccountID: r.AccountID.String()}
	if err := json.Unmarshal(r.Data, &e.Data); err != nil {
		return domain.AccountEvent{}, fmt.Errorf("decode the data of event %s: %w", id, err)
	}
	return e, nil
}
