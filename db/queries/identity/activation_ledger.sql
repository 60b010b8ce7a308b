-- Queries on activation_ledger and client_ledger, for modules/identity/adapter/postgres.
-- Always run while the account row is locked (LockAccount*) and the mailbox and client
-- are locked (LockBudgets), so that two requests never both spend the last unit of one
-- budget.

-- name: LockBudgets :exec
-- Transaction-scoped advisory locks on the mailbox and on the client (empty: a change
-- that is no client's), taken in this order after the account's row lock: accounts of one
-- mailbox (alice+1@, alice+2@) and requests of one client share a budget but not a row.
SELECT pg_advisory_xact_lock(hashtextextended('identity.mailbox:' || @mailbox::text, 0)),
       pg_advisory_xact_lock(hashtextextended('identity.client:' || @client::text, 0));

-- name: LedgerOfMailboxAndClient :many
-- What the mailbox and the client spent since @since (the start of the 24 h window),
-- newest first, each row marked with whose it is. The budgets bound the rows: a refused
-- code or guess is not recorded.
SELECT 'mailbox'::text AS owner, kind, occurred_at
FROM identity.activation_ledger
WHERE mailbox = @mailbox
  AND occurred_at > sqlc.arg(since)::timestamptz
UNION ALL
SELECT 'client'::text AS owner, kind, occurred_at
FROM identity.client_ledger
WHERE client = @client
  AND client <> ''
  AND occurred_at > sqlc.arg(since)::timestamptz
ORDER BY occurred_at DESC;

-- name: AppendLedger :exec
INSERT INTO identity.activation_ledger (mailbox, kind, occurred_at)
VALUES (@mailbox, @kind, @occurred_at);

-- name: AppendClientLedger :exec
INSERT INTO identity.client_ledger (client, kind, occurred_at)
VALUES (@client, @kind, @occurred_at);
