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

-- name: SignedIn :exec
-- A right password from @client: its failures for @email end (the attempt's included), and
-- it is known to the account for 30 days from now.
WITH ended AS (
    DELETE FROM identity.sign_in_failures
    WHERE email = @email
      AND client = @client
)
INSERT INTO identity.sign_in_clients (account_id, client, signed_in_at)
VALUES (@account_id, @client, clock_timestamp())
ON CONFLICT ON CONSTRAINT sign_in_clients_pkey DO UPDATE
SET signed_in_at = excluded.signed_in_at;
