-- Queries on outbox_emails, for platform/outbox.
--
-- An email is unfinished until exactly one of sent_at, dropped_at and failed_at is set
-- (outbox_emails_outcome_check). The statement that finishes it also erases its bodies,
-- which hold the activation code (outbox_emails_erased_check); the row keeps the
-- recipient, the times, the attempts, the outcome and the last error.

-- name: InsertEmail :one
-- Queues an email inside the transaction of the caller.
INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body, expires_at, trace_parent)
VALUES (@recipient, @subject, @text_body, @html_body, @expires_at, @trace_parent)
RETURNING id;

-- name: NotifyEmailQueued :exec
-- Wakes the dispatchers that LISTEN on this channel; delivered only when the caller commits.
SELECT pg_notify('outbox_emails', '');

-- name: DropExpiredEmails :many
-- Gives up on unsent emails whose content expired (their code can no longer be used).
-- Claimed emails (available_at in the future) are left to their claim. SKIP LOCKED: two
-- replicas dropping at once neither wait for nor deadlock on each other.
WITH expired AS (
    SELECT id
    FROM platform.outbox_emails
    WHERE sent_at IS NULL
      AND dropped_at IS NULL
      AND failed_at IS NULL
      AND expires_at <= now()
      AND available_at <= now()
    FOR UPDATE SKIP LOCKED
)
UPDATE platform.outbox_emails AS e
SET dropped_at  = now(),
    lease_token = NULL,
    text_body   = '',
    html_body   = ''
FROM expired
WHERE e.id = expired.id
RETURNING e.id;

-- name: ClaimDueEmails :many
-- Claims up to batch_size due emails for this dispatcher: SKIP LOCKED lets replicas claim
-- side by side without waiting, and the lease (available_at pushed to the end of the lease)
-- keeps them claimed after this short transaction commits. A dispatcher that dies leaves
-- its claims to be taken again once the lease ends.
WITH due AS (
    SELECT id
    FROM platform.outbox_emails
    WHERE sent_at IS NULL
      AND dropped_at IS NULL
      AND failed_at IS NULL
      AND available_at <= now()
      AND (expires_at IS NULL OR expires_at > now())
    ORDER BY available_at
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
)
UPDATE platform.outbox_emails AS e
SET available_at = now() + sqlc.arg(lease_ms)::bigint * interval '1 millisecond',
    attempts     = e.attempts + 1,
    lease_token  = @lease_token
FROM due
WHERE e.id = due.id
RETURNING e.id, e.message_id, e.recipient, e.subject, e.text_body, e.html_body, e.attempts, e.trace_parent;

-- name: MarkEmailSent :execrows
-- The SMTP server accepted the email: it is finished, and its bodies are erased.
UPDATE platform.outbox_emails
SET sent_at     = now(),
    lease_token = NULL,
    last_error  = NULL,
    text_body   = '',
    html_body   = ''
WHERE id = @id
  AND lease_token = @lease_token;

-- name: MarkEmailFailed :execrows
-- The SMTP server refused the email for good (a 5xx reply to MAIL, RCPT or the data): it is
-- finished, never retried, with the reply in last_error, and its bodies are erased.
UPDATE platform.outbox_emails
SET failed_at   = now(),
    lease_token = NULL,
    last_error  = @last_error,
    text_body   = '',
    html_body   = ''
WHERE id = @id
  AND lease_token = @lease_token;

-- name: RetryEmailLater :execrows
-- Records a failed attempt that may succeed later (a 4xx reply, a timeout, a broken
-- connection, TLS or AUTH) and schedules the next one after retry_in_ms milliseconds.
UPDATE platform.outbox_emails
SET available_at = now() + sqlc.arg(retry_in_ms)::bigint * interval '1 millisecond',
    lease_token  = NULL,
    last_error   = @last_error
WHERE id = @id
  AND lease_token = @lease_token;

-- name: ReleaseEmail :execrows
-- Hands a claimed but unsent email back at shutdown, due at once, without counting the
-- attempt as a failure.
UPDATE platform.outbox_emails
SET available_at = now(),
    attempts     = greatest(attempts - 1, 0),
    lease_token  = NULL
WHERE id = @id
  AND lease_token = @lease_token;

-- name: MillisUntilNextEmailDue :one
-- How long until the next unfinished email falls due, in milliseconds (0: one is due now;
-- -1: none is waiting). The dispatcher sleeps that long, so a retry or an expired lease is
-- taken on time. Served by outbox_emails_due_idx.
-- (GREATEST ignores NULLs: the empty case is tested first, or it would read "due now" and
-- the dispatcher would poll an empty outbox every 10 ms.)
SELECT CASE
           WHEN min(available_at) IS NULL THEN -1
           ELSE greatest(0, ceil(extract(epoch FROM min(available_at) - clock_timestamp()) * 1000))
       END::bigint AS wait_ms
FROM platform.outbox_emails
WHERE sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL;

-- name: OutboxBacklog :one
-- The unfinished emails (not sent, dropped or failed) and the age of the oldest in
-- seconds (0 when there is none), for the metrics. Served by outbox_emails_due_idx.
SELECT count(*)::bigint AS emails,
       coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8 AS oldest_age_seconds
FROM platform.outbox_emails
WHERE sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL;

-- name: DeleteFinishedEmails :execrows
-- Retention: deletes up to @batch_size finished emails (sent, dropped or failed) that
-- finished more than @retention_ms milliseconds ago (database clock). Their bodies were
-- erased when they finished; what is left is their record. SKIP LOCKED: a row another
-- replica is deleting is left to it. Served by outbox_emails_finished_idx (the first
-- condition repeats its predicate, so the planner can prove the partial index applies).
DELETE FROM platform.outbox_emails
WHERE id IN (
    SELECT id
    FROM platform.outbox_emails
    WHERE (sent_at IS NOT NULL OR dropped_at IS NOT NULL OR failed_at IS NOT NULL)
      AND coalesce(sent_at, dropped_at, failed_at) < now() - sqlc.arg(retention_ms)::bigint * interval '1 millisecond'
    ORDER BY coalesce(sent_at, dropped_at, failed_at)
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: DeleteUnsentEmails :execrows
-- Deletes the unfinished emails (not sent, dropped or failed) to @recipient, inside the
-- transaction of the caller: the deletion of the recipient's account. Finished ones keep
-- their record (bodies erased) until the retention deletes them. Served by
-- outbox_emails_due_idx (its predicate repeated, so the planner can prove it applies).
DELETE FROM platform.outbox_emails
WHERE recipient = @recipient
  AND sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL;
