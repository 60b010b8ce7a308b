-- Queries on sign_in_failures and sign_in_clients, for modules/identity/adapter/postgres:
-- the history of passwords tried per email (the sign-in delay).

-- name: LockSignIn :one
-- Locks the email's history for the rest of the transaction (an advisory lock: the email
-- may have no account), then reads the database clock and whether @client signed in to
-- the email's account since @known_since.
SELECT pg_advisory_xact_lock(hashtextextended('identity.sign_in:' || @email::text, 0))::text AS locked,
       clock_timestamp()::timestamptz AS db_now,
       EXISTS (
           SELECT 1
           FROM identity.sign_in_clients AS c
           JOIN identity.accounts AS a ON a.id = c.account_id
           WHERE a.email = @email
             AND c.client = @client
             AND c.signed_in_at > clock_timestamp() - sqlc.arg(known_ms)::bigint * interval '1 millisecond'
       ) AS known;

-- name: FailuresOfEmail :many
-- The email's wrong passwords since @since, newest first (run after LockSignIn, in a
-- statement of its own, so that it sees what the previous holder of the lock wrote).
SELECT client, failed_at, checked
FROM identity.sign_in_failures
WHERE email = @email
  AND failed_at > @since
ORDER BY failed_at DESC;

-- name: InsertSignInFailure :one
-- The attempt is counted as a failure before its password is checked.
INSERT INTO identity.sign_in_failures (email, client, failed_at)
VALUES (@email, @client, @failed_at)
RETURNING id;

-- name: CheckSignInFailure :exec
-- The password of the attempt @id was checked, and wrong.
UPDATE identity.sign_in_failures
SET checked = true
WHERE id = @id;

-- name: WithdrawSignInFailure :exec
-- The password of the attempt @id was never checked (the hasher was saturated, the
-- client left): it is no failure.
DELETE FROM identity.sign_in_failures
WHERE id = @id;

-- name: SignedIn :one
-- A right password from @client: its failures for @email end (the attempt's included),
-- and when @client signed in to the account @account_id since @known_ms milliseconds ago,
-- it stays known from now (known). Not known: a client new to the account (or an account
-- gone), which the change path then records (KnowClient); any_known says whether the
-- account knows any client at all (a new client's notice is for an account that does).
WITH ended AS (
    DELETE FROM identity.sign_in_failures AS f
    WHERE f.email = sqlc.arg(email)::text
      AND f.client = sqlc.arg(client)::text
), touched AS (
    UPDATE identity.sign_in_clients AS c
    SET signed_in_at = clock_timestamp()
    WHERE c.account_id = sqlc.arg(account_id)::uuid
      AND c.client = sqlc.arg(client)::text
      AND c.signed_in_at > clock_timestamp() - sqlc.arg(known_ms)::bigint * interval '1 millisecond'
    RETURNING c.client
)
SELECT EXISTS (SELECT 1 FROM touched) AS known,
       EXISTS (
           SELECT 1 FROM identity.sign_in_clients AS k
           WHERE k.account_id = sqlc.arg(account_id)::uuid
             AND k.signed_in_at > clock_timestamp() - sqlc.arg(known_ms)::bigint * interval '1 millisecond'
       ) AS any_known;

-- name: KnowClient :one
-- A right password of the account @account_id from @client, in the change's transaction
-- under the account's lock: @client is known from now, and new_client says whether it was
-- not known before (no sign-in since @known_ms milliseconds ago): an account event.
WITH prev AS (
    SELECT c.signed_in_at
    FROM identity.sign_in_clients AS c
    WHERE c.account_id = sqlc.arg(account_id)::uuid
      AND c.client = sqlc.arg(client)::text
), up AS (
    INSERT INTO identity.sign_in_clients (account_id, client, signed_in_at)
    VALUES (sqlc.arg(account_id)::uuid, sqlc.arg(client)::text, clock_timestamp())
    ON CONFLICT ON CONSTRAINT sign_in_clients_pkey DO UPDATE
    SET signed_in_at = excluded.signed_in_at
)
SELECT NOT EXISTS (
    SELECT 1 FROM prev
    WHERE prev.signed_in_at > clock_timestamp() - sqlc.arg(known_ms)::bigint * interval '1 millisecond'
) AS new_client;

-- name: ForgetSignIns :exec
-- A password change or a confirmed reset of @account_id, whose address is @email: every
-- failure counted against the email ends, every client known to the account but @client
-- is a stranger again, and @client (unless empty: no client's change) becomes known.
-- Run in the change's transaction, under the account's lock.
WITH failures AS (
    DELETE FROM identity.sign_in_failures AS f
    WHERE f.email = sqlc.arg(email)::text
), forgotten AS (
    DELETE FROM identity.sign_in_clients AS c
    WHERE c.account_id = sqlc.arg(account_id)::uuid
      AND c.client <> sqlc.arg(client)::text
)
INSERT INTO identity.sign_in_clients (account_id, client, signed_in_at)
SELECT sqlc.arg(account_id)::uuid, sqlc.arg(client)::text, clock_timestamp()
WHERE sqlc.arg(client)::text <> ''
ON CONFLICT ON CONSTRAINT sign_in_clients_pkey DO UPDATE
SET signed_in_at = excluded.signed_in_at;

-- name: KnownClientsOf :many
-- The clients known to the account @account_id (a right password from them within
-- @known_ms milliseconds), the most recent first: the administration API's view of the
-- account. Served by sign_in_clients_pkey.
SELECT c.client, c.signed_in_at
FROM identity.sign_in_clients AS c
WHERE c.account_id = @account_id
  AND c.signed_in_at > clock_timestamp() - sqlc.arg(known_ms)::bigint * interval '1 millisecond'
ORDER BY c.signed_in_at DESC, c.client;
