-- Queries on webhook_endpoints and webhook_attempts, for modules/identity/adapter/postgres.

-- name: InsertWebhookEndpoint :one
INSERT INTO identity.webhook_endpoints (url, events, secret)
VALUES (@url, @events::text[], @secret)
RETURNING id, url, events, created_at;

-- name: ListWebhookEndpoints :many
-- Every endpoint, oldest first; never the secret.
SELECT id, url, events, created_at, disabled_at, disabled_reason
FROM identity.webhook_endpoints
ORDER BY created_at, id;

-- name: GetWebhookEndpoint :one
SELECT id, url, events, created_at, disabled_at, disabled_reason
FROM identity.webhook_endpoints
WHERE id = @id;

-- name: DeleteWebhookEndpoint :execrows
-- Its attempts cascade; its queued deliveries find it gone and send nothing.
DELETE FROM identity.webhook_endpoints
WHERE id = @id;

-- name: DisableWebhookEndpoint :exec
-- The endpoint answered 410 Gone: nothing more is delivered to it.
UPDATE identity.webhook_endpoints
SET disabled_at = now(), disabled_reason = @reason
WHERE id = @id AND disabled_at IS NULL;

-- name: GetWebhookDelivery :one
-- What a delivery job sends: the endpoint (its url and secret, and whether it is still
-- live) and the event. No row: the endpoint was deleted, or the event's retention passed.
SELECT w.url, w.secret, (w.disabled_at IS NOT NULL)::boolean AS disabled,
       e.type, e.occurred_at, e.account_id, e.data
FROM identity.webhook_endpoints AS w, identity.account_events AS e
WHERE w.id = @endpoint_id AND e.id = @event_id;

-- name: RecordWebhookAttempt :exec
INSERT INTO identity.webhook_attempts (endpoint_id, event_id, attempted_at, status, duration_ms, error)
VALUES (@endpoint_id, @event_id, @attempted_at, sqlc.narg(status)::integer, @duration_ms, @error);

-- name: WebhookAttempts :many
-- One endpoint's attempts, newest first (by the time each began), at most @max_rows.
-- Served by webhook_attempts_endpoint_id_attempted_at_idx.
SELECT id, endpoint_id, event_id, attempted_at, status, duration_ms, error
FROM identity.webhook_attempts
WHERE endpoint_id = @endpoint_id
ORDER BY attempted_at DESC, id DESC
LIMIT sqlc.arg(max_rows)::integer;

-- name: PurgeWebhookAttempts :execrows
-- Retention: deletes up to @batch_size delivery attempts older than @retention_ms
-- milliseconds (AUDIT_RETENTION, as the events they delivered). Served by
-- webhook_attempts_attempted_at_idx.
DELETE FROM identity.webhook_attempts
WHERE id IN (
    SELECT id
    FROM identity.webhook_attempts
    WHERE attempted_at < now() - sqlc.arg(retention_ms)::bigint * interval '1 millisecond'
    ORDER BY attempted_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);
