-- migrate:up

-- The W3C traceparent of the request that queued the email (NULL when tracing is off), so
-- the span of its delivery links back to that request.
ALTER TABLE outbox_emails ADD COLUMN trace_parent text;

-- migrate:down

ALTER TABLE outbox_emails DROP COLUMN trace_parent;
