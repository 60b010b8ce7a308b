-- Queries on activation_ledger, for modules/identity/adapter/postgres.
-- Always run while the account row of the address is locked (LockAccount*), so that two
-- requests for one address never both spend its last unit of budget.

-- name: LedgerOfEmail :many
-- What the address spent since @since (the start of the 24 h window), newest first. The
-- budgets bound the rows: a refused code or guess is not recorded.
SELECT kind, occurred_at
FROM identity.activation_ledger
WHERE email = @email
  AND occurred_at > @since
ORDER BY occurred_at DESC;

-- name: AppendLedger :exec
INSERT INTO identity.activation_ledger (email, kind, occurred_at)
VALUES (@email, @kind, @occurred_at);
