-- Queries on account_events (the audit trail), for modules/identity/adapter/postgres.

-- name: AppendAccountEvent :one
-- One event of a change, in the change's transaction (the store's one change path): its
-- id, and the live webhook endpoints subscribed to its type (each gets a delivery job in
-- the same transaction), in the same round trip. Served by webhook_endpoints_events_idx.
WITH event AS (
    INSERT INTO identity.account_events (account_id, type, occurred_at, data, client, request_id)
    VALUES (@account_id, @type, @occurred_at, @data, @client, @request_id)
    RETURNING id
)
SELECT event.id,
       coalesce((SELECT array_agg(w.id ORDER BY w.id)
                 FROM identity.webhook_endpoints AS w
                 WHERE w.disabled_at IS NULL AND w.events @> ARRAY[@type::text]),
                '{}')::uuid[] AS endpoints
FROM event;

-- name: GetAccountEvent :one
-- One event by its id (a subscriber's job loads it).
SELECT e.id, e.type, e.occurred_at, e.account_id, e.data
FROM identity.account_events AS e
WHERE e.id = @id;

-- name: AccountEventsOf :many
-- The events of @account_id, newest first, at most @max_rows, before the event @before
-- when it is set (keyset pagination: an id that is not one of the account's events gives
-- none). Served by account_events_account_id_seq_idx.
SELECT e.id, e.type, e.occurred_at, e.account_id, e.data
FROM identity.account_events AS e
WHERE e.account_id = sqlc.arg(account_id)::uuid
  AND (sqlc.narg(before)::uuid IS NULL OR e.seq < (
      SELECT b.seq FROM identity.account_events AS b
      WHERE b.id = sqlc.narg(before)::uuid AND b.account_id = sqlc.arg(account_id)::uuid))
ORDER BY e.seq DESC
LIMIT sqlc.arg(max_rows)::integer;

-- name: RedactAccountEvents :exec
-- A deletion: every email address leaves the account's events; the events stay until
-- their retention. Served by account_events_account_id_seq_idx.
UPDATE identity.account_events
SET data = data - 'email'
WHERE account_id = @account_id
  AND data ? 'email';

-- name: PurgeAccountEvents :execrows
-- Retention: deletes up to @batch_size events older than @retention_ms milliseconds.
-- Served by account_events_occurred_at_idx.
DELETE FROM identity.account_events
WHERE seq IN (
    SELECT seq
    FROM identity.account_events
    WHERE occurred_at < now() - sqlc.arg(retention_ms)::bigint * interval '1 millisecond'
    ORDER BY occurred_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: EventCursor :one
-- Where the trail's page after the event @id starts: its time and order. No row: no such
-- event (a page after it is empty).
SELECT occurred_at, seq
FROM identity.account_events
WHERE id = @id;

-- name: AccountEvents :many
-- The administration API's trail: every account's events, newest first (by occurred_at,
-- then seq), at most @max_rows, that occurred at or after @since (the year 1: all) and
-- before the cursor (@before_at, @before_seq: an EventCursor; the year 9999 and the
-- largest seq: from the newest). Every bound is always set, so each is an index condition of
-- account_events_occurred_at_idx: a page reads what it returns, not the pages before it.
SELECT e.id, e.type, e.occurred_at, e.account_id, e.data
FROM identity.account_events AS e
WHERE e.occurred_at >= sqlc.arg(since)::timestamptz
  AND e.occurred_at <= sqlc.arg(before_at)::timestamptz
  AND (e.occurred_at < sqlc.arg(before_at)::timestamptz OR e.seq < sqlc.arg(before_seq)::bigint)
ORDER BY e.occurred_at DESC, e.seq DESC
LIMIT sqlc.arg(max_rows)::integer;

-- name: AccountEventsOfType :many
-- AccountEvents of one @type, served by account_events_type_occurred_at_idx or, for a
-- common type, account_events_occurred_at_idx (the planner's choice).
SELECT e.id, e.type, e.occurred_at, e.account_id, e.data
FROM identity.account_events AS e
WHERE e.type = @type
  AND e.occurred_at >= sqlc.arg(since)::timestamptz
  AND e.occurred_at <= sqlc.arg(before_at)::timestamptz
  AND (e.occurred_at < sqlc.arg(before_at)::timestamptz OR e.seq < sqlc.arg(before_seq)::bigint)
ORDER BY e.occurred_at DESC, e.seq DESC
LIMIT sqlc.arg(max_rows)::integer;
