-- Queries on activation_codes, for modules/identity/adapter/postgres.
-- Always run while the owning account row is locked (LockAccount*).

-- name: CodesOfAccount :many
-- The account's latest code of each purpose, loaded with the locked account (every
-- change sees, and saves, all of it): the activation code, the password-reset code and
-- the email-change code with its new address (new_email, empty for the others).
SELECT 'activation'::text AS purpose, code, issued_at, expires_at, failed_attempts, ''::text AS new_email
FROM identity.activation_codes
WHERE activation_codes.account_id = sqlc.arg(account_id)::uuid
UNION ALL
SELECT 'password_reset'::text AS purpose, code, issued_at, expires_at, failed_attempts, ''::text AS new_email
FROM identity.password_reset_codes
WHERE password_reset_codes.account_id = sqlc.arg(account_id)::uuid
UNION ALL
SELECT 'email_change'::text AS purpose, code, issued_at, expires_at, failed_attempts, new_email
FROM identity.email_change_codes
WHERE email_change_codes.account_id = sqlc.arg(account_id)::uuid;

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
