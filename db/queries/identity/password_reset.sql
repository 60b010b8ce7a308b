-- Queries on password_reset_codes, for modules/identity/adapter/postgres. Run while the
-- account row is locked (LockAccountByEmail).

-- name: UpsertResetCode :exec
-- Issuing a code replaces the previous one: only the latest counts.
INSERT INTO identity.password_reset_codes (account_id, code, issued_at, expires_at, failed_attempts)
VALUES (@account_id, @code, @issued_at, @expires_at, @failed_attempts)
ON CONFLICT ON CONSTRAINT password_reset_codes_pkey DO UPDATE
SET code = EXCLUDED.code,
    issued_at = EXCLUDED.issued_at,
    expires_at = EXCLUDED.expires_at,
    failed_attempts = EXCLUDED.failed_attempts;

-- name: DeleteResetCode :exec
-- A used code, and every code of an account whose password changed.
DELETE FROM identity.password_reset_codes
WHERE account_id = @account_id;

-- name: PurgeExpiredResetCodes :execrows
-- Retention: deletes up to @batch_size reset codes expired @grace_ms milliseconds ago.
-- Served by password_reset_codes_expires_at_idx.
DELETE FROM identity.password_reset_codes
WHERE account_id IN (
    SELECT account_id
    FROM identity.password_reset_codes
    WHERE expires_at < now() - sqlc.arg(grace_ms)::bigint * interval '1 millisecond'
    ORDER BY expires_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: ClockNow :one
-- The database clock, for a change of an address that has no account (no row to lock).
SELECT clock_timestamp()::timestamptz AS now;
