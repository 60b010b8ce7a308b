-- Queries on accounts, for modules/identity/adapter/postgres.

-- name: InsertAccount :one
-- Creates a pending account, registered at @created_at (the database clock of its
-- transaction), unless the email is taken. ON CONFLICT waits for a concurrent insert of
-- the same email to commit or roll back, then returns no row if it committed: the
-- constraint decides, never a "check, then insert".
INSERT INTO identity.accounts (email, password_hash, created_at)
VALUES (@email, @password_hash, @created_at)
ON CONFLICT ON CONSTRAINT accounts_email_key DO NOTHING
RETURNING id, email, password_hash, status, created_at, updated_at, activated_at;

-- name: GetAccountByEmail :one
-- Authentication: no lock, the caller only reads.
SELECT id, email, password_hash, status, created_at, updated_at, activated_at
FROM identity.accounts
WHERE email = @email;

-- name: GetAccount :one
-- Another module's lookup by id (identity's public API): no lock, the caller only reads.
SELECT id, email, password_hash, status, created_at, updated_at, activated_at
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
    updated_at    = now()
WHERE id = @id;

-- name: DeleteAccount :exec
-- A deletion, and a takeover of a pending account before the new account is inserted, in
-- one transaction: its codes, sessions and sign-in clients cascade.
DELETE FROM identity.accounts
WHERE id = @id;
