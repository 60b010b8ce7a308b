-- Retention queries of the identity module, run in batches by platform/maintenance.

-- name: DeleteStalePendingAccounts :execrows
-- Deletes up to @batch_size pending accounts whose latest code was issued more than
-- @retention_ms milliseconds ago (database clock): their owner never activated them and
-- cannot any more without a new registration. Their code goes with them (ON DELETE
-- CASCADE); their address's ledger stays, so the daily budgets survive. SKIP LOCKED: an
-- account being registered, activated or re-registered right now is left for the next
-- round. Served by activation_codes_issued_at_idx.
DELETE FROM identity.accounts
WHERE id IN (
    SELECT a.id
    FROM identity.activation_codes AS c
    JOIN identity.accounts AS a ON a.id = c.account_id
    WHERE c.issued_at < now() - sqlc.arg(retention_ms)::bigint * interval '1 millisecond'
      AND a.status = 'pending'
    ORDER BY c.issued_at
    LIMIT @batch_size
    FOR UPDATE OF a SKIP LOCKED
);

-- name: PruneActivationLedger :execrows
-- Deletes up to @batch_size ledger rows older than the budgets' window of @window_ms
-- milliseconds: they count for nothing any more. Served by activation_ledger_occurred_at_idx.
DELETE FROM identity.activation_ledger
WHERE id IN (
    SELECT id
    FROM identity.activation_ledger
    WHERE occurred_at < now() - sqlc.arg(window_ms)::bigint * interval '1 millisecond'
    ORDER BY occurred_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);
