-- Queries on email_change_codes and on what a change of address moves, for
-- modules/identity/adapter/postgres. Run while the account row is locked (LockAccount*).

-- name: UpsertEmailChangeCode :exec
-- Issuing a code replaces the previous one, whatever its address: only the latest counts.
INSERT INTO identity.email_change_codes (account_id, code, new_email, issued_at, expires_at, failed_attempts)
VALUES (@account_id, @code, @new_email, @issued_at, @expires_at, @failed_attempts)
ON CONFLICT ON CONSTRAINT email_change_codes_pkey DO UPDATE
SET code            = excluded.code,
    new_email       = excluded.new_email,
    issued_at       = excluded.issued_at,
    expires_at      = excluded.expires_at,
    failed_attempts = excluded.failed_attempts;

-- name: DeleteEmailChangeCode :exec
-- A used code, and the code of an account whose password changed.
DELETE FROM identity.email_change_codes
WHERE account_id = @account_id;

-- name: LockPendingAccountByEmail :one
-- The pending account that holds @email, locked (a confirmed email change replaces it),
-- before the new address's mailbox is locked: the order every change of that account
-- takes (its row, then its mailbox). An active holder, or a disabled one (whose address
-- an administrator holds), is not locked: no row.
SELECT id, status
FROM identity.accounts
WHERE email = @email
  AND status = 'pending'
  AND disabled_at IS NULL
FOR UPDATE;

-- name: ChangeAccountEmail :exec
-- A confirmed email change: the unique constraint accounts_email_key decides a race with
-- another account that took @email meanwhile (a unique violation: domain.ErrEmailTaken).
UPDATE identity.accounts
SET email      = @email,
    updated_at = now()
WHERE id = @id;

-- name: MoveSignInFailures :exec
-- A confirmed email change: the wrong passwords counted against @from_email (the
-- account's password, guessed under its old address) count against @to_email from now.
-- Served by sign_in_failures_email_failed_at_idx.
UPDATE identity.sign_in_failures
SET email = sqlc.arg(to_email)::text
WHERE email = sqlc.arg(from_email)::text;

-- name: PurgeExpiredEmailChangeCodes :execrows
-- Retention: deletes up to @batch_size email-change codes expired @grace_ms milliseconds
-- ago. Served by email_change_codes_expires_at_idx.
DELETE FROM identity.email_change_codes
WHERE account_id IN (
    SELECT account_id
    FROM identity.email_change_codes
    WHERE expires_at < now() - sqlc.arg(grace_ms)::bigint * interval '1 millisecond'
    ORDER BY expires_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);
