-- Queries on activation_ledger (the mailboxes' budgets) and client_budgets (the clients'
-- budgets), for modules/identity/adapter/postgres.
--
-- A mailbox's budgets are read and written while the account row is locked
-- (LockAccount*) and the mailbox is locked (LockMailbox), so that two requests never both
-- spend the last unit of one. A client's are never locked across a request's transaction
-- (many requests share one client: a backend, a NAT): a short transaction of their own
-- locks the client's budget of one kind, reads its spans in the window (at most 97,
-- whatever it spent), and reserves one unit (SpendClientBudget) that the request's change
-- keeps, or gives back once its transaction is over (GiveBackClientBudget).

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

-- name: ClientBudgetSpans :many
-- The spans of @kind of @client whose units are in the 24 h window of @window_ms
-- milliseconds (database clock): a span of @span_ms counts until @window_ms after its end.
-- Newest first, at most window/span + 1 rows however many units they hold. Served by
-- client_budgets_pkey, the window's start included in the index condition: hence
-- statement_timestamp() (stable), not clock_timestamp() (volatile, which PostgreSQL can
-- only filter by, reading every span of the client that waits for its pruning).
SELECT span, spent
FROM identity.client_budgets
WHERE client = @client
  AND kind = @kind
  AND span > statement_timestamp() - (sqlc.arg(window_ms)::bigint + sqlc.arg(span_ms)::bigint) * interval '1 millisecond'
ORDER BY span DESC;

-- name: SpendClientBudget :one
-- One unit of @kind spent by @client in the span of @span_ms milliseconds under way
-- (database clock); returns the span, for a give-back.
INSERT INTO identity.client_budgets (client, kind, span, spent)
VALUES (@client, @kind,
        date_bin(sqlc.arg(span_ms)::bigint * interval '1 millisecond', clock_timestamp(), TIMESTAMPTZ '2000-01-01 00:00:00+00'),
        1)
ON CONFLICT (client, kind, span) DO UPDATE SET spent = client_budgets.spent + 1
RETURNING span;

-- name: GiveBackClientBudget :exec
-- A reserved unit given back: the change did not spend it, or failed. Its own statement,
-- after the change's transaction, so that no request holds the client's span locked.
UPDATE identity.client_budgets
SET spent = spent - 1
WHERE client = @client
  AND kind = @kind
  AND span = @span
  AND spent > 0;
