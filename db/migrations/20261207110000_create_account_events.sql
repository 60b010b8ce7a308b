-- migrate:up

-- Issue 26. The audit trail: one row per account event, written by the store's one change
-- path in the transaction of the change that caused it (a rolled-back change leaves none).
-- Append-only, but for the deletion of an account, which removes every email address from
-- its events (data - 'email'), and the retention, which deletes rows older than
-- AUDIT_RETENTION. No foreign key to accounts: the events outlive the account.
CREATE TABLE identity.account_events (
    -- The order of the trail (keyset pagination), never shown.
    seq         bigint      GENERATED ALWAYS AS IDENTITY,
    -- The event's public id (the webhook-id of its deliveries).
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id  uuid        NOT NULL,
    type        text        NOT NULL,
    -- The database clock of the change.
    occurred_at timestamptz NOT NULL,
    -- What the type needs; never a password, hash, code or token.
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- Who caused it: the request's client (empty for no client's change) and its id.
    client      text        NOT NULL DEFAULT '',
    request_id  text        NOT NULL DEFAULT '',

    CONSTRAINT account_events_pkey PRIMARY KEY (seq),
    CONSTRAINT account_events_id_key UNIQUE (id),
    CONSTRAINT account_events_type_check CHECK (type IN (
        'account.registered', 'account.activated', 'account.signed_in', 'account.password_changed',
        'account.password_reset', 'account.email_changed', 'account.disabled', 'account.enabled',
        'account.sessions_revoked', 'account.deleted'))
);

-- AccountEventsOf: one account's events, newest first.
CREATE INDEX account_events_account_id_seq_idx ON identity.account_events (account_id, seq DESC);
-- The events of one type since a time (the administration API's trail).
CREATE INDEX account_events_type_occurred_at_idx ON identity.account_events (type, occurred_at);
-- PurgeAccountEvents: the rows past AUDIT_RETENTION.
CREATE INDEX account_events_occurred_at_idx ON identity.account_events (occurred_at);

COMMENT ON TABLE identity.account_events IS 'The audit trail: every change of an account as an event, written in the change''s transaction. Kept AUDIT_RETENTION; a deletion strips the account''s email addresses.';

-- migrate:down

DROP TABLE identity.account_events;
