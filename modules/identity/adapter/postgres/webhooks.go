package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/acme/identity/modules/identity/adapter/postgres/internal/sqlcgen"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/jobs"
)

// CreateWebhook implements app.Webhooks.
func (s *Store) CreateWebhook(ctx context.Context, w domain.Webhook) (domain.Webhook, error) {
	row, err := sqlcgen.New(s.pool).InsertWebhookEndpoint(ctx, sqlcgen.InsertWebhookEndpointParams{
		Url: w.URL, Events: w.Events, Secret: w.Secret,
	})
	if err != nil {
		return domain.Webhook{}, fmt.Errorf("insert webhook endpoint: %w", fromDriver(err))
	}
	w.ID, w.CreatedAt = row.ID.String(), row.CreatedAt
	return w, nil
}

// Webhooks implements app.Webhooks: every endpoint, without its secret.
func (s *Store) Webhooks(ctx context.Context) ([]domain.Webhook, error) {
	rows, err := sqlcgen.New(s.pool).ListWebhookEndpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", fromDriver(err))
	}
	out := make([]domain.Webhook, len(rows))
	for i, r := range rows {
		out[i] = domain.Webhook{ID: r.ID.String(), URL: r.Url, Events: r.Events, CreatedAt: r.CreatedAt,
			DisabledAt: r.DisabledAt, DisabledReason: r.DisabledReason}
	}
	return out, nil
}

// DeleteWebhook implements app.Webhooks: its queued deliveries find it gone.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("webhook %q: %w", id, domain.ErrWebhookNotFound)
	}
	n, err := sqlcgen.New(s.pool).DeleteWebhookEndpoint(ctx, uid)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", fromDriver(err))
	}
	if n == 0 {
		return fmt.Errorf("webhook %s: %w", id, domain.ErrWebhookNotFound)
	}
	return nil
}

// WebhookAttempts implements app.Webhooks: the endpoint's attempts, newest first.
func (s *Store) WebhookAttempts(ctx context.Context, id string, limit int) ([]domain.WebhookAttempt, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("webhook %q: %w", id, domain.ErrWebhookNotFound)
	}
	q := sqlcgen.New(s.pool)
	if _, err := q.GetWebhookEndpoint(ctx, uid); errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrWebhookNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("get webhook endpoint: %w", fromDriver(err))
	}
	rows, err := q.WebhookAttempts(ctx, sqlcgen.WebhookAttemptsParams{EndpointID: uid, MaxRows: int32(min(limit, 1000))}) //nolint:gosec // bounded
	if err != nil {
		return nil, fmt.Errorf("list webhook attempts: %w", fromDriver(err))
	}
	out := make([]domain.WebhookAttempt, len(rows))
	for i, r := range rows {
		out[i] = domain.WebhookAttempt{ID: r.ID, EndpointID: r.EndpointID.String(), EventID: r.EventID.String(),
			AttemptedAt: r.AttemptedAt, Duration: time.Duration(r.DurationMs) * time.Millisecond, Error: r.Error}
		if r.Status != nil {
			out[i].Status = int(*r.Status)
		}
	}
	return out, nil
}

// The retry schedule of a delivery: the delay after failed attempt n doubles from
// webhookFirstRetry up to webhookMaxRetry, each shortened by up to a fifth at random
// (jitter, so endpoints that failed together are not retried together); after
// WebhookMaxAttempts the delivery is given up. The shortest schedule (every jitter at its
// most) lasts 73 hours, the longest 91: at least the contract's 3 days
// (TestWebhookRetriesLastThreeDays).
const (
	webhookFirstRetry = 5 * time.Second
	webhookMaxRetry   = 8 * time.Hour
	// WebhookMaxAttempts is how many attempts a delivery gets.
	WebhookMaxAttempts = 24
	webhookJitter      = 0.2
)

// WebhookRetryDelay is the delay before the attempt that follows failed attempt n (1 for
// the first), jitter in [0, 1) taking off up to a fifth of it.
func WebhookRetryDelay(attempt int, jitter float64) time.Duration {
	delay := webhookFirstRetry
	for i := 1; i < attempt && delay < webhookMaxRetry; i++ {
		delay = min(delay*2, webhookMaxRetry)
	}
	return delay - time.Duration(float64(delay)*webhookJitter*jitter)
}

// Poster sends one signed delivery (adapter/webhook.Client): the event id's JSON body to
// url, signed with secret. It returns the status the endpoint answered, or an error when
// none came.
type Poster func(ctx context.Context, url, secret, eventID string, body []byte) (status int, err error)

// The outcomes of a delivery attempt, for the metrics.
const (
	DeliveryDelivered = "delivered"      // a 2xx
	DeliveryFailed    = "failed_attempt" // anything else; retried
	DeliveryGaveUp    = "gave_up"        // its last attempt failed
	DeliveryGone      = "gone"           // 410: the endpoint is disabled
	DeliverySkipped   = "skipped"        // the endpoint was disabled or deleted, or the event gone: nothing sent
)

// DeliveryOutcomes are every outcome, for metrics exported from the start.
var DeliveryOutcomes = []string{DeliveryDelivered, DeliveryFailed, DeliveryGaveUp, DeliveryGone, DeliverySkipped}

// WebhookWorker delivers the events to webhook endpoints, one job per endpoint and event:
// every attempt is recorded; a 2xx completes the job, a 410 disables the endpoint and
// completes it, anything else is retried (WebhookRetryDelay) until WebhookMaxAttempts.
type WebhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	pool    *pgxpool.Pool
	post    Poster
	logger  *slog.Logger
	observe func(outcome string) // nil: nobody counts
	// timeout bounds one attempt (Poster bounds its own; this bounds the whole job).
	timeout time.Duration
}

// NewWebhookWorker returns the worker of the deliveries, sending through post, each
// attempt bounded by timeout, its outcome told to observe (nil: nobody).
func NewWebhookWorker(pool *pgxpool.Pool, post Poster, timeout time.Duration, observe func(string), logger *slog.Logger) *WebhookWorker {
	return &WebhookWorker{pool: pool, post: post, timeout: timeout, observe: observe, logger: logger}
}

// Timeout implements river.Worker: the send and the queries around it.
func (w *WebhookWorker) Timeout(*river.Job[WebhookArgs]) time.Duration {
	return w.timeout + 10*time.Second
}

// NextRetry implements river.Worker: WebhookRetryDelay, not River's default.
func (w *WebhookWorker) NextRetry(job *river.Job[WebhookArgs]) time.Time {
	return time.Now().Add(WebhookRetryDelay(job.Attempt, rand.Float64())) //nolint:gosec // jitter, not a secret
}

// webhookBody is the body of a delivery: the event as the contract shows it.
type webhookBody struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	AccountID  string         `json:"account_id"`
	Data       map[string]any `json:"data"`
}

// Work implements river.Worker.
func (w *WebhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	endpoint, errE := uuid.Parse(job.Args.EndpointID)
	event, errV := uuid.Parse(job.Args.EventID)
	if errE != nil || errV != nil {
		return river.JobCancel(fmt.Errorf("webhook delivery: bad ids %q, %q", job.Args.EndpointID, job.Args.EventID))
	}
	log := w.logger.With(slog.String("endpoint_id", job.Args.EndpointID), slog.String("event_id", job.Args.EventID),
		slog.Int("attempt", job.Attempt))
	d, err := sqlcgen.New(w.pool).GetWebhookDelivery(ctx, sqlcgen.GetWebhookDeliveryParams{EndpointID: endpoint, EventID: event})
	switch {
	case errors.Is(err, pgx.ErrNoRows), err == nil && d.Disabled:
		// Deleted, or disabled by a 410 since the job was queued: it finishes unsent.
		w.count(DeliverySkipped)
		log.InfoContext(ctx, "webhook delivery skipped: the endpoint is deleted or disabled, or the event is gone")
		return nil
	case err != nil:
		return fmt.Errorf("webhook delivery: load: %w", database.Classify(err))
	}
	data := map[string]any{}
	if err := json.Unmarshal(d.Data, &data); err != nil {
		return river.JobCancel(fmt.Errorf("webhook delivery: decode event data: %w", err))
	}
	body, err := json.Marshal(webhookBody{ID: job.Args.EventID, Type: d.Type, OccurredAt: d.OccurredAt.UTC(),
		AccountID: d.AccountID.String(), Data: data})
	if err != nil {
		return river.JobCancel(fmt.Errorf("webhook delivery: encode: %w", err))
	}

	start := time.Now()
	postCtx, cancel := context.WithTimeout(ctx, w.timeout)
	status, postErr := w.post(postCtx, d.Url, d.Secret, job.Args.EventID, body)
	cancel()
	attempt := sqlcgen.RecordWebhookAttemptParams{
		EndpointID: endpoint, EventID: event, AttemptedAt: start,
		DurationMs: int32(min(time.Since(start).Milliseconds(), 1<<30)), //nolint:gosec // bounded
	}
	if status != 0 {
		s := int32(status) //nolint:gosec // an HTTP status
		attempt.Status = &s
	}
	recordCtx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelRecord()
	switch {
	case postErr == nil && status >= 200 && status < 300:
		w.count(DeliveryDelivered)
		return w.finish(recordCtx, job, attempt, "")
	case postErr == nil && status == 410:
		attempt.Error = "410 Gone: endpoint disabled"
		w.count(DeliveryGone)
		log.WarnContext(ctx, "webhook endpoint answered 410 Gone: disabled")
		return w.finish(recordCtx, job, attempt, "answered 410 Gone")
	case postErr == nil:
		attempt.Error = fmt.Sprintf("answered %d", status)
	default:
		attempt.Error = postErr.Error()
	}
	if err := sqlcgen.New(w.pool).RecordWebhookAttempt(recordCtx, attempt); err != nil {
		log.ErrorContext(recordCtx, "record webhook attempt", slog.Any("error", database.Classify(err)))
	}
	if job.Attempt >= job.MaxAttempts {
		w.count(DeliveryGaveUp)
		log.ErrorContext(ctx, "webhook delivery given up after its last attempt", slog.String("error", attempt.Error))
	} else {
		w.count(DeliveryFailed)
		log.WarnContext(ctx, "webhook delivery failed; will retry", slog.String("error", attempt.Error))
	}
	return fmt.Errorf("webhook delivery to %s: %s", job.Args.EndpointID, attempt.Error)
}

// finish records the attempt, disables the endpoint when disable is a reason, and
// completes the job, in one transaction.
func (w *WebhookWorker) finish(ctx context.Context, job *river.Job[WebhookArgs], attempt sqlcgen.RecordWebhookAttemptParams, disable string) error {
	return database.InTx(ctx, w.pool, func(tx pgx.Tx) error {
		q := sqlcgen.New(tx)
		if err := q.RecordWebhookAttempt(ctx, attempt); err != nil {
			return fmt.Errorf("record webhook attempt: %w", database.Classify(err))
		}
		if disable != "" {
			if err := q.DisableWebhookEndpoint(ctx, sqlcgen.DisableWebhookEndpointParams{ID: attempt.EndpointID, Reason: disable}); err != nil {
				return fmt.Errorf("disable webhook endpoint: %w", database.Classify(err))
			}
		}
		return jobs.CompleteTx(ctx, tx, job)
	})
}

func (w *WebhookWorker) count(outcome string) {
	if w.observe != nil {
		w.observe(outcome)
	}
}

// PurgeWebhookAttempts returns the retention batch of the webhook attempts: those older
// than retention (AUDIT_RETENTION).
func PurgeWebhookAttempts(retention time.Duration) func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
	return func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
		n, err := sqlcgen.New(tx).PurgeWebhookAttempts(ctx, sqlcgen.PurgeWebhookAttemptsParams{
			RetentionMs: retention.Milliseconds(), BatchSize: limit,
		})
		if err != nil {
			return 0, fmt.Errorf("purge webhook attempts: %w", fromDriver(err))
		}
		return n, nil
	}
}
