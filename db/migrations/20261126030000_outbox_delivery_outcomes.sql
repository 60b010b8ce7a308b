-- migrate:up

-- What a delivery may end in, and what a finished email keeps.
--
-- * message_id: the email's one Message-ID (<message_id@MAIL_FROM's domain>), the same on
--   every attempt, so the rare copy that at-least-once delivery sends (the database failed
--   between the send and its record) folds into the first in mail clients. A random UUID,
--   not the row id, so that two deployments (staging, production) never share one. The
--   volatile default rewrites the table once, while this migration runs: the outbox only
--   holds a few days of emails.
-- * failed_at: a permanent rejection (a 5xx reply to MAIL, RCPT or the data) ends an email
--   for good, beside sent_at and dropped_at; last_error keeps the server's reply.
-- * A finished email (sent, dropped or failed) keeps its metadata but not its bodies, which
--   hold the activation code: the statement that finishes it erases them, and
--   outbox_emails_erased_check refuses a finished row that still has them.
ALTER TABLE outbox_emails
    ADD COLUMN message_id uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN failed_at timestamptz;

UPDATE outbox_emails
SET text_body = '',
    html_body = ''
WHERE sent_at IS NOT NULL
   OR dropped_at IS NOT NULL;

ALTER TABLE outbox_emails
    DROP CONSTRAINT outbox_emails_outcome_check,
    ADD CONSTRAINT outbox_emails_outcome_check
        CHECK (num_nonnulls(sent_at, dropped_at, failed_at) <= 1),
    ADD CONSTRAINT outbox_emails_erased_check
        CHECK (num_nonnulls(sent_at, dropped_at, failed_at) = 0 OR (text_body = '' AND html_body = ''));

-- The dispatcher's queue leaves out failed emails too.
DROP INDEX outbox_emails_due_idx;
CREATE INDEX outbox_emails_due_idx ON outbox_emails (available_at)
    WHERE sent_at IS NULL AND dropped_at IS NULL AND failed_at IS NULL;

-- migrate:down

DROP INDEX outbox_emails_due_idx;
CREATE INDEX outbox_emails_due_idx ON outbox_emails (available_at)
    WHERE sent_at IS NULL AND dropped_at IS NULL;

ALTER TABLE outbox_emails
    DROP CONSTRAINT outbox_emails_erased_check,
    DROP CONSTRAINT outbox_emails_outcome_check;

-- The earlier schema knows no failed state: a failed email becomes a dropped one (never
-- sent, never retried). Erased bodies stay erased.
UPDATE outbox_emails
SET dropped_at = failed_at
WHERE failed_at IS NOT NULL;

ALTER TABLE outbox_emails
    ADD CONSTRAINT outbox_emails_outcome_check CHECK (sent_at IS NULL OR dropped_at IS NULL),
    DROP COLUMN failed_at,
    DROP COLUMN message_id;
