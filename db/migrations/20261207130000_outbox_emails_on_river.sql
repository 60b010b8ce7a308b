-- migrate:up

-- Issue 25: the emails are River jobs (platform/jobs, platform/outbox). An email's row keeps
-- what it is (the bodies, the Message-ID) and how it ended; its job, in river.river_job,
-- carries the row's id alone and does the claiming, the leases and the backoff that
-- available_at and lease_token did. The trace of the request that queued an email is in
-- its job's metadata (otelriver), not in the row.
--
-- Every unfinished email gets its job here, so none is lost across the upgrade; its
-- attempts so far stay recorded in the row. A replica of the previous release claims
-- with available_at and lease_token: drain the previous replicas before migrating.
INSERT INTO river.river_job (kind, args, queue, max_attempts, priority, state, scheduled_at)
SELECT 'outbox.email', jsonb_build_object('email_id', id), 'outbox', 10000, 1, 'available', now()
FROM platform.outbox_emails
WHERE sent_at IS NULL
  AND dropped_at IS NULL
  AND failed_at IS NULL
ORDER BY id;

DROP INDEX platform.outbox_emails_due_idx;
ALTER TABLE platform.outbox_emails
    DROP COLUMN available_at,
    DROP COLUMN lease_token,
    DROP COLUMN trace_parent;

CREATE INDEX outbox_emails_unfinished_idx ON platform.outbox_emails (created_at)
    WHERE sent_at IS NULL AND dropped_at IS NULL AND failed_at IS NULL;

COMMENT ON TABLE platform.outbox_emails IS 'Transactional outbox of emails (platform/outbox): written in the transaction that caused the email with a River job that carries its id, sent by that job on any replica. Finished rows are deleted after OUTBOX_RETENTION.';
COMMENT ON COLUMN platform.outbox_emails.attempts IS 'Delivery attempts made, as of the last outcome recorded (the River job''s attempt).';
COMMENT ON COLUMN platform.outbox_emails.last_error IS 'Why the last attempt failed; cleared once sent.';
COMMENT ON COLUMN platform.outbox_emails.dropped_at IS 'Given up: expired before it could be sent.';
COMMENT ON INDEX platform.outbox_emails_unfinished_idx IS 'The unfinished emails by age: OutboxBacklog and DeleteUnsentEmails read it; finished rows leave it, so it stays small.';

-- migrate:down

DELETE FROM river.river_job WHERE kind = 'outbox.email';

DROP INDEX platform.outbox_emails_unfinished_idx;
ALTER TABLE platform.outbox_emails
    ADD COLUMN available_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN lease_token uuid,
    ADD COLUMN trace_parent text;
CREATE INDEX outbox_emails_due_idx ON platform.outbox_emails (available_at)
    WHERE sent_at IS NULL AND dropped_at IS NULL AND failed_at IS NULL;

COMMENT ON TABLE platform.outbox_emails IS 'Transactional outbox of emails (platform/outbox): written in the transaction that caused the email, sent by the dispatcher of any replica. Finished rows are deleted after OUTBOX_RETENTION.';
COMMENT ON COLUMN platform.outbox_emails.attempts IS NULL;
COMMENT ON COLUMN platform.outbox_emails.last_error IS NULL;
COMMENT ON COLUMN platform.outbox_emails.available_at IS 'When the email may next be claimed: now for a new one, later after a failed attempt (backoff) or while a claim''s lease runs.';
COMMENT ON COLUMN platform.outbox_emails.lease_token IS 'Token of the dispatcher that claimed the email; only it may record the outcome.';
COMMENT ON COLUMN platform.outbox_emails.trace_parent IS 'W3C traceparent of the request that queued the email; the delivery span links to it.';
COMMENT ON INDEX platform.outbox_emails_due_idx IS 'The unfinished emails by when they are due: ClaimDueEmails, DropExpiredEmails, MillisUntilNextEmailDue and OutboxBacklog read it; finished rows leave it, so it stays small.';
