-- Queries on activation_codes, for modules/identity/adapter/postgres.
-- Always run while the owning account row is locked (LockAccount*).

-- name: GetActivationCode :one
SELECT account_id, code, issued_at, expires_at, failed_attempts
FROM identity.activation_codes
WHERE account_id = @account_id;

-- name: UpsertActivationCode :exec
-- Issuing a code replaces the previous one: only the latest code counts.
INSERT INTO identity.activation_codes (account_id, code, issued_at, expires_at, failed_attempts)
VALUES (@account_id, @code, @issued_at, @expires_at, @failed_attempts)
ON CONFLICT ON CONSTRAINT activation_codes_pkey DO UPDATE
SET code            = excluded.code,
    issued_at       = excluded.issued_at,
    expires_at      = excluded.expires_at,
    failed_attempts = excluded.failed_attempts;

-- name: DeleteActivationCode :exec
DELETE FROM identity.activation_codes
WHERE account_id = @account_id;
