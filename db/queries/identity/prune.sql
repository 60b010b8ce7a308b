-- Pruning of the abuse budgets' tables, run in batches by platform/maintenance: rows that
-- left their window count for nothing. Each is served by its table's time index.

-- name: PruneClientBudgets :execrows
-- The spans whose units left the window (@window_ms after the end of a span of
-- @span_ms). Served by client_budgets_span_idx.
DELETE FROM identity.client_budgets
WHERE (client, kind, span) IN (
    SELECT client, kind, span
    FROM identity.client_budgets
    WHERE span < now() - (sqlc.arg(window_ms)::bigint + sqlc.arg(span_ms)::bigint) * interval '1 millisecond'
    ORDER BY span
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: PruneSignInFailures :execrows
-- Served by sign_in_failures_failed_at_idx.
DELETE FROM identity.sign_in_failures
WHERE id IN (
    SELECT id
    FROM identity.sign_in_failures
    WHERE failed_at < now() - sqlc.arg(window_ms)::bigint * interval '1 millisecond'
    ORDER BY failed_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: PruneSignInClients :execrows
-- Served by sign_in_clients_signed_in_at_idx.
DELETE FROM identity.sign_in_clients
WHERE (account_id, client) IN (
    SELECT account_id, client
    FROM identity.sign_in_clients
    WHERE signed_in_at < now() - sqlc.arg(window_ms)::bigint * interval '1 millisecond'
    ORDER BY signed_in_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);
