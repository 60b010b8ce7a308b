-- Retention queries of the identity module, run in batches by platform/maintenance.

-- name: DeleteStalePendingAccounts :execrows
-- Deletes up to @batch_size pending accounts whose latest code was issued more than
-- @retention_ms milliseconds ago (database clock): their owner never activated them and
-- cannot any more without a new registration. Their code goes with them (ON DELETE
-- CASCADE); their address's ledger stays, so the daily budgets survive. SKIP LOCKED: an
-- account being registered, activated or re-registered right now is left for the next
-- round. A disabled pending account stays: an administrator holds its address until
-- they enable or delete it. Served by activation_codes_issued_at_idx.
--
-- Both rows are locked (FOR UPDATE OF a, c), because the decision rests on both: the
-- status on a, the age on c. A re-registration or a re-issue locks the account
-- (LockAccount*), then rewrites the code row (UpsertActivationCode: a new version with a
-- fresh issued_at) and perhaps the account, and commits. The scan reads both tables from
-- the statement's snapshot, so it can see the code as it was before such a change that
-- committed while this statement ran. Locking the account alone was not enough: if the
-- re-registration left the account row unchanged (locked, not updated), locking it
-- succeeds with no recheck, and the stale issued_at of the snapshot's code row decided.
-- With c locked too, under READ COMMITTED the lock of each row (LockRows, below the
-- LIMIT, so a row dropped here does not count against the batch) ends one of three ways:
--   * the code row's writer is still in progress: SKIP LOCKED skips the account;
--   * the code row was updated or deleted by a transaction that committed after the
--     snapshot: the lock follows the update chain to the newest committed version, locks
--     it, and EvalPlanQual re-evaluates the whole WHERE (issued_at < cutoff, status,
--     join) on the newest versions of a and c, so a fresh issued_at drops the row (a
--     deleted one, as a takeover's cascade does, is skipped);
--   * the row is unchanged since the snapshot: the snapshot's issued_at is its newest.
-- Either way the issued_at that passed the filter is the locked row's newest committed
-- one, and no one can change it before this transaction ends: a re-issue waits for the
-- account lock, then finds the account gone. A re-check of issued_at in the DELETE's own
-- WHERE (a subquery on activation_codes) would add nothing: unlocked, it reads the same
-- snapshot, not the newest version. SKIP LOCKED never waits, so locking two rows cannot
-- deadlock with the store, which locks the account and then writes the code.
DELETE FROM identity.accounts
WHERE id IN (
    SELECT a.id
    FROM identity.activation_codes AS c
    JOIN identity.accounts AS a ON a.id = c.account_id
    WHERE c.issued_at < now() - sqlc.arg(retention_ms)::bigint * interval '1 millisecond'
      AND a.status = 'pending'
      AND a.disabled_at IS NULL
    ORDER BY c.issued_at
    LIMIT @batch_size
    FOR UPDATE OF a, c SKIP LOCKED
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
