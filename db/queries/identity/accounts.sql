-- Queries on accounts, for modules/identity/adapter/postgres.

-- name: InsertAccount :one
-- Creates a pending account, registered at @created_at (the database clock of its
-- transaction), unless the email is taken. ON CONFLICT waits for a concurrent insert of
-- the same email to commit or roll back, then returns no row if it committed: the
-- constraint decides, never a "check, then insert".
INSERT INTO identity.accounts (email, password_hash, created_at)
VALUES (@email, @password_hash, @created_at)
ON CONFLICT ON CONSTRAINT accounts_email_key DO NOTHING
RETURNING id, email, password_hash, status, created_at, updated_at, activated_at, disabled_at;

-- name: GetAccountByEmail :one
-- Authentication: no lock, the caller only reads.
SELECT id, email, password_hash, status, created_at, updated_at, activated_at, disabled_at
FROM identity.accounts
WHERE email = @email;

-- name: GetAccount :one
-- Another module's lookup by id (identity's public API): no lock, the caller only reads.
SELECT id, email, password_hash, status, created_at, updated_at, activated_at, disabled_at
FROM identity.accounts
WHERE id = @id;

-- name: LockAccountByEmail :one
-- Locks the account for the rest of the transaction and reads the database clock after
-- the lock is granted, so every decision about time is made on one clock.
SELECT sqlc.embed(accounts),
       clock_timestamp()::timestamptz AS db_now
FROM identity.accounts AS accounts
WHERE email = @email
FOR UPDATE;

-- name: LockAccount :one
-- Same as LockAccountByEmail, by primary key.
SELECT sqlc.embed(accounts),
       clock_timestamp()::timestamptz AS db_now
FROM identity.accounts AS accounts
WHERE id = @id
FOR UPDATE;

-- name: UpdateAccount :exec
UPDATE identity.accounts
SET password_hash = @password_hash,
    status        = @status,
    created_at    = @created_at,
    activated_at  = @activated_at,
    disabled_at   = @disabled_at,
    updated_at    = now()
WHERE id = @id;

-- name: DeleteAccount :exec
-- A deletion, and a takeover of a pending account before the new account is inserted, in
-- one transaction: its codes, sessions and sign-in clients cascade.
DELETE FROM identity.accounts
WHERE id = @id;

-- name: ListAccounts :many
-- The administration API's list: at most @max_rows accounts after @after (keyset
-- pagination by id: a page never repeats or skips an account that existed when the walk
-- began, whatever is inserted meanwhile; the nil UUID starts at the first), optionally of
-- one @status and disabled or not. Served by accounts_pkey (@after is always set: an
-- index condition); status and disabled filter the walk. The store sends the
-- administration API's reads unnamed, so each is planned with its parameters
-- (postgres.customPlans).
SELECT id, email, password_hash, status, created_at, updated_at, activated_at, disabled_at
FROM identity.accounts
WHERE id > sqlc.arg(after)::uuid
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(disabled)::boolean IS NULL OR (disabled_at IS NOT NULL) = sqlc.narg(disabled)::boolean)
ORDER BY id
LIMIT sqlc.arg(max_rows)::integer;

-- name: ListDisabledAccounts :many
-- ListAccounts of the disabled accounts alone (?disabled=true without a prefix), served
-- by the partial accounts_disabled_idx: a few rows among millions, never a walk of them.
SELECT id, email, password_hash, status, created_at, updated_at, activated_at, disabled_at
FROM identity.accounts
WHERE disabled_at IS NOT NULL
  AND id > sqlc.arg(after)::uuid
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
ORDER BY id
LIMIT sqlc.arg(max_rows)::integer;

-- name: ListAccountsByEmail :many
-- ListAccounts of the addresses that start with a prefix: lower(email) from @from_email
-- (the prefix, lower-cased) up to, not including, @below_email (the least string above
-- every string with the prefix), byte-wise: an index condition of
-- accounts_email_prefix_idx with no metacharacter to escape, as LIKE would need. Planned
-- with its parameters (postgres.customPlans), it reads the prefix's range in the index
-- for a narrow prefix and walks accounts_pkey for a broad one. See docs/decisions.md,
-- "Administration API".
SELECT id, email, password_hash, status, created_at, updated_at, activated_at, disabled_at
FROM identity.accounts
WHERE lower(email) ~>=~ sqlc.arg(from_email)::text
  AND lower(email) ~<~ sqlc.arg(below_email)::text
  AND id > sqlc.arg(after)::uuid
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(disabled)::boolean IS NULL OR (disabled_at IS NOT NULL) = sqlc.narg(disabled)::boolean)
ORDER BY id
LIMIT sqlc.arg(max_rows)::integer;
