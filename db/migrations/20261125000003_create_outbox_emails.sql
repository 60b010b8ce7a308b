-- migrate:up

-- Emails waiting to be sent, written in the same transaction as the change that caused
-- them (the transactional outbox). A background dispatcher in every replica claims due
-- rows with FOR UPDATE SKIP LOCKED, leases them, sends them and marks them sent.
CREATE TABLE outbox_emails (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    recipient    text        NOT NULL,
    subject      text        NOT NULL,
    -- Rendered once, when queued: the dispatcher sends these bytes as they are.
    text_body    text        NOT NULL,
    html_body    text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Past this instant the email is useless (its code expired): dropped, never sent.
    -- NULL: no expiry.
    expires_at   timestamptz,
    -- When the row is next due. A claim moves it to the end of the lease, a failure to the
    -- next retry, so one column drives the dispatcher's queue.
    available_at timestamptz NOT NULL DEFAULT now(),
    -- Send attempts started so far (claims), for backoff and for the record.
    attempts     integer     NOT NULL DEFAULT 0,
    -- Identifies the current claim; a dispatcher whose lease ran out cannot overwrite the
    -- outcome of the claim that followed it.
    lease_token  uuid,
    last_error   text,
    sent_at      timestamptz,
    dropped_at   timestamptz,

    CONSTRAINT outbox_emails_pkey PRIMARY KEY (id),
    CONSTRAINT outbox_emails_attempts_check CHECK (attempts >= 0),
    CONSTRAINT outbox_emails_outcome_check CHECK (sent_at IS NULL OR dropped_at IS NULL)
);

-- The dispatcher's queue: unfinished rows by due time (ClaimDueEmails, DropExpiredEmails,
-- OldestUnsentEmail). Finished rows leave the index, so it stays small.
CREATE INDEX outbox_emails_due_idx ON outbox_emails (available_at)
    WHERE sent_at IS NULL AND dropped_at IS NULL;

COMMENT ON TABLE outbox_emails IS 'Transactional outbox of emails; see platform/outbox.';

-- migrate:down

DROP TABLE outbox_emails;
