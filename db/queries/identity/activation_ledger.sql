-- Queries on activation_ledger (the mailboxes' budgets) and client_ledger (the clients'
-- budgets), for modules/identity/adapter/postgres.
--
-- A mailbox's budgets are read and written while the account row is locked
-- (LockAccount*) and the mailbox is locked (LockMailbox), so that two requests never both
-- spend the last unit of one. A client's are never locked across a request's transaction
-- (many requests share one client: a backend, a NAT): a short transaction of their own
-- locks the client's budget of one kind, reads at most its limit of entries, and reserves
-- one unit (ReserveClientLedger) that the request's change keeps or gives back.

-- name: LockMailbox :exec
-- A transaction-scoped advisory lock on the mailbox, taken after the account's row lock:
-- accounts of one mailbox (alice+1@, alice+2@) share a budget but not a row.
SELECT pg_advisory_xact_lock(hashtextextended('identity.mailbox:' || @mailbox::text, 0));

-- name: MailboxLedger :many
-- What the mailbox spent since @since (the start of the 24 h window), newest first. The
-- budgets bound the rows: a refused code or guess is not recorded. Served by
-- activation_ledger_mailbox_occurred_at_idx.
SELECT kind, occurred_at
FROM identity.activation_ledger
WHERE mailbox = @mailbox
  AND occurred_at > sqlc.arg(since)::timestamptz
ORDER BY occurred_at DESC;

-- name: AppendLedger :exec
INSERT INTO identity.activation_ledger (mailbox, kind, occurred_at)
VALUES (@mailbox, @kind, @occurred_at);

-- name: LockClientBudget :exec
-- A transaction-scoped advisory lock on one kind of one client's budget, for the short
-- transaction that checks it and reserves a unit of it, never for a request's change.
SELECT pg_advisory_xact_lock(hashtextextended('identity.client:' || @client::text || '/' || @kind::text, 0));

-- name: RecentClientLedger :many
-- The newest @max_rows entries of @kind of @client in the 24 h window of @window_ms
-- milliseconds (database clock), newest first: a budget of @max_rows units is decided by
-- them alone, so the read never grows with what the client did that day. Served by
-- client_ledger_client_kind_occurred_at_idx.
SELECT occurred_at
FROM identity.client_ledger
WHERE client = @client
  AND kind = @kind
  AND occurred_at > clock_timestamp() - sqlc.arg(window_ms)::bigint * interval '1 millisecond'
ORDER BY occurred_at DESC
LIMIT sqlc.arg(max_rows)::integer;

-- name: ReserveClientLedger :one
-- One unit of @kind reserved for @client, at the database clock's now.
INSERT INTO identity.client_ledger (client, kind, occurred_at)
VALUES (@client, @kind, clock_timestamp())
RETURNING id;

-- name: DeleteClientLedgerEntry :exec
-- A reserved unit given back: the change did not spend it, or failed.
DELETE FROM identity.client_ledger
WHERE id = @id;
