-- Queries on sessions, for modules/identity/adapter/postgres: Bearer tokens by the
-- SHA-256 of the token.

-- name: InsertSession :one
-- A new session of @account_id, at the database clock's now, from @client with
-- @user_agent.
INSERT INTO identity.sessions (account_id, token_hash, client, user_agent)
VALUES (@account_id, @token_hash, @client, @user_agent)
RETURNING id, public_id, created_at, last_used_at;

-- name: EvictSessions :execrows
-- Ends the sessions of @account_id beyond the @keep most recently used, and those already
-- ended by idleness or age. Served by sessions_account_id_last_used_at_idx.
DELETE FROM identity.sessions AS d
WHERE d.account_id = sqlc.arg(account_id)::uuid
  AND (d.id NOT IN (
          SELECT s.id
          FROM identity.sessions AS s
          WHERE s.account_id = sqlc.arg(account_id)::uuid
          ORDER BY s.last_used_at DESC, s.id DESC
          LIMIT sqlc.arg(keep)::integer
      )
      OR d.last_used_at <= now() - sqlc.arg(idle_ms)::bigint * interval '1 millisecond'
      OR d.created_at <= now() - sqlc.arg(max_age_ms)::bigint * interval '1 millisecond');

-- name: UseSession :one
-- The live session of @token_hash and its account: one round trip per Bearer request.
-- The session's idle clock is written only when it is older than @touch_ms (the write
-- happens in the statement's CTE, at most once per touch interval per session), so a
-- session is judged idle up to @touch_ms early, never late.
WITH live AS (
    SELECT s.id, s.public_id, s.account_id, s.created_at, s.last_used_at
    FROM identity.sessions AS s
    WHERE s.token_hash = sqlc.arg(token_hash)::bytea
      AND s.last_used_at > now() - sqlc.arg(idle_ms)::bigint * interval '1 millisecond'
      AND s.created_at > now() - sqlc.arg(max_age_ms)::bigint * interval '1 millisecond'
), touched AS (
    UPDATE identity.sessions
    SET last_used_at = now()
    FROM live
    WHERE sessions.id = live.id
      AND live.last_used_at <= now() - sqlc.arg(touch_ms)::bigint * interval '1 millisecond'
    RETURNING sessions.id
)
SELECT sqlc.embed(accounts), live.public_id AS session_id, live.created_at AS session_created_at
FROM live
JOIN identity.accounts AS accounts ON accounts.id = live.account_id;

-- name: DeleteSessionOf :execrows
-- A sign-out, or the owner ending one session: the session @public_id of @account_id ends
-- at once, on every replica. No row: no such live session of this account (another
-- account's id included: the statement is the same either way).
DELETE FROM identity.sessions
WHERE public_id = @public_id
  AND account_id = @account_id;

-- name: SessionsOf :many
-- The live sessions of @account_id, newest first. Served by
-- sessions_account_id_last_used_at_idx.
SELECT s.public_id, s.created_at, s.last_used_at, s.client, s.user_agent
FROM identity.sessions AS s
WHERE s.account_id = @account_id
  AND s.last_used_at > now() - sqlc.arg(idle_ms)::bigint * interval '1 millisecond'
  AND s.created_at > now() - sqlc.arg(max_age_ms)::bigint * interval '1 millisecond'
ORDER BY s.created_at DESC, s.id DESC;

-- name: DeleteAccountSessions :execrows
-- Sign-out everywhere, and a password change: every session of @account_id ends.
-- Served by sessions_account_id_last_used_at_idx.
DELETE FROM identity.sessions
WHERE account_id = @account_id;

-- name: DeleteOtherSessions :execrows
-- A confirmed email change: every session of @account_id ends but @keep, the confirming
-- request's own (none when it is NULL). Served by sessions_account_id_last_used_at_idx.
DELETE FROM identity.sessions
WHERE account_id = sqlc.arg(account_id)::uuid
  AND (sqlc.narg(keep)::uuid IS NULL OR public_id <> sqlc.narg(keep)::uuid);

-- name: PurgeIdleSessions :execrows
-- Retention: deletes up to @batch_size sessions unused for @idle_ms milliseconds (they
-- ended; UseSession no longer finds them). Served by sessions_last_used_at_idx.
DELETE FROM identity.sessions
WHERE id IN (
    SELECT id
    FROM identity.sessions
    WHERE last_used_at <= now() - sqlc.arg(idle_ms)::bigint * interval '1 millisecond'
    ORDER BY last_used_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: PurgeOldSessions :execrows
-- Retention: deletes up to @batch_size sessions signed in more than @max_age_ms
-- milliseconds ago. Served by sessions_created_at_idx.
DELETE FROM identity.sessions
WHERE id IN (
    SELECT id
    FROM identity.sessions
    WHERE created_at <= now() - sqlc.arg(max_age_ms)::bigint * interval '1 millisecond'
    ORDER BY created_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: EstimateSessions :one
-- The sessions held (live, or ended and not yet purged), for the metrics' gauge, from
-- PostgreSQL's statistics of the table (rows inserted less rows deleted, kept by every
-- backend as it commits): one row read, whatever the table's size. A count(*) of the live
-- sessions scanned an index of millions of entries on every replica every 30 s.
SELECT pg_stat_get_live_tuples('identity.sessions'::regclass)::bigint AS sessions;
