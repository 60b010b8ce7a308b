-- Queries on outbox_emails, for platform/outbox.
--
-- An email is unfinished until exactly one of sent_at, dropped_at and failed_at is set
-- (outbox_emails_outcome_check). The statement that finishes it also erases its bodies,
-- which hold the activation code (outbox_emails_erased_check); the row keeps the
-- recipient, the times, the attempts, the outcome and the last error. Its River job
-- (platform/jobs), inserted with it, carries its id alone; the worker reads the rest here.

-- name: InsertEmail :one
-- Queues an email inside the transaction of the caller (its job is inserted beside it).
INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body, expires_at)
VALUES (@recipient, @subject, @text_body, @html_body, @expires_at)
RETURNING id;

-- name: LoadEmail :one
-- What the worker sends, and whether there is anything left to do: finished (an earlier
-- attempt recorded its outcome) or expired (its code can no longer be used: dropped, not
-- sent), both judged on the database's clock.
SELECT message_id,
       recipient,
       subject,
       text_body,
       html_body,
       num_nonnulls(sent_at, dropped_at, failed_at) > 0 AS finished,
       coalesce(expires_at <= now(), false)::boolean AS expired
FROM platform.outbox_emails
WHERE id = @id;

-- name: MarkEmailSent :execrows
-- The SMTP server accepted the email at attempt @attempts: it is finished, and its bodies
-- are erased. Run in the transaction that completes its job.
UPDATE platform.outbox_emails
SET sent_at    = now(),
    attempts   = @attempts,
    last_error = NULL,
    text_body  = '',
    html_body  = ''
WHERE id = @id
  AND sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL;

-- name: MarkEmailFailed :execrows
-- The SMTP server refused the email for good (a 5xx reply to MAIL, RCPT or the data), or
-- its job ran out of attempts: it is finished, never retried, with the reason in
-- last_error, and its bodies are erased.
UPDATE platform.outbox_emails
SET failed_at  = now(),
    attempts   = @attempts,
    last_error = @last_error,
    text_body  = '',
    html_body  = ''
WHERE id = @id
  AND sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL;

-- name: MarkEmailDropped :execrows
-- Gives up on an unsent email whose content expired, and erases its bodies. Run in the
-- transaction that completes its job.
UPDATE platform.outbox_emails
SET dropped_at = now(),
    text_body  = '',
    html_body  = ''
WHERE id = @id
  AND sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL;

-- name: RecordFailedAttempt :execrows
-- Records attempt @attempts, which failed in a way that may succeed later (a 4xx reply, a
-- timeout, a broken connection, TLS or AUTH): its job is retried with backoff.
UPDATE platform.outbox_emails
SET attempts   = @attempts,
    last_error = @last_error
WHERE id = @id
  AND sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL;

-- name: OutboxBacklog :one
-- The unfinished emails (not sent, dropped or failed) and the age of the oldest in
-- seconds (0 when there is none), for the metrics. Served by outbox_emails_unfinished_idx.
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
-- transaction of the caller: the deletion of the recipient's account. Their jobs find no
-- row and end. Finished ones keep their record (bodies erased) until the retention
-- deletes them. Served by outbox_emails_unfinished_idx (its predicate repeated, so the
-- planner can prove it applies).
DELETE FROM platform.outbox_emails
WHERE recipient = @recipient
  AND sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL;
