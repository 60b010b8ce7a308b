-- migrate:up

-- Retention of the outbox (DeleteFinishedEmails, run by platform/maintenance): finished
-- emails by the time they finished. Unfinished rows (the dispatcher's queue, served by
-- outbox_emails_due_idx) have no finishing time and stay out of this index.
CREATE INDEX outbox_emails_finished_idx ON outbox_emails ((coalesce(sent_at, dropped_at, failed_at)))
    WHERE sent_at IS NOT NULL OR dropped_at IS NOT NULL OR failed_at IS NOT NULL;

-- migrate:down

DROP INDEX outbox_emails_finished_idx;
