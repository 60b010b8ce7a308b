-- Queries on River's tables (schema river), for platform/jobs: what River's own API does
-- not offer. River's tables are River's: nothing here writes them.

-- name: CountUnfinishedJobs :many
-- The jobs not finished yet (every state but completed, cancelled and discarded), by
-- kind and state, for the metrics. Finished jobs are left out: they are most of the table
-- (until River's cleaner deletes them), and no replica counts a whole table on a timer.
-- Served by river_job_prioritized_fetching_index, which leads with the state.
SELECT kind, state::text AS state, count(*)::bigint AS jobs
FROM river.river_job
WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
GROUP BY kind, state
ORDER BY kind, state;

-- name: OldestUnfinishedJob :one
-- When the oldest job of @kind not finished yet was inserted (NULL when there is none),
-- for the metrics' refresh loop. Served by river_job_kind (an index of River's).
SELECT min(created_at)::timestamptz AS oldest
FROM river.river_job
WHERE kind = @kind
  AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled');
