-- migrate:up

-- Issue 26. Webhook endpoints (registered through the administration API) and every
-- delivery attempt to them. A delivery itself is a River job (identity.webhook_delivery,
-- inserted by the store's one change path in the change's transaction); these tables
-- hold what the job's arguments must not: the secret, and the history of the attempts.
CREATE TABLE identity.webhook_endpoints (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    url             text        NOT NULL,
    -- The event types delivered to it.
    events          text[]      NOT NULL,
    -- The whsec_ secret that signs its deliveries (Standard Webhooks), shown once at
    -- creation. Kept as it is, under the database's access control: the service must be
    -- able to sign with it (docs/decisions.md, "Webhooks").
    secret          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Set when the endpoint answered 410 Gone: nothing more is delivered to it.
    disabled_at     timestamptz,
    disabled_reason text        NOT NULL DEFAULT '',

    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id)
);

-- AppendAccountEvent: the live endpoints of an event's type.
CREATE INDEX webhook_endpoints_events_idx ON identity.webhook_endpoints USING gin (events)
    WHERE disabled_at IS NULL;

CREATE TABLE identity.webhook_attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    endpoint_id uuid        NOT NULL,
    -- The event delivered (its webhook-id); no foreign key: the audit trail's retention
    -- deletes events, the attempts go with their endpoint.
    event_id    uuid        NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    -- The HTTP status answered; NULL when none came (a timeout, a refused connection, an
    -- address the guard refused).
    status      integer,
    duration_ms integer     NOT NULL,
    -- Why the attempt failed ('' when it was delivered).
    error       text        NOT NULL DEFAULT '',

    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_attempts_endpoint_id_fkey FOREIGN KEY (endpoint_id)
        REFERENCES identity.webhook_endpoints (id) ON DELETE CASCADE
);

-- WebhookAttempts: one endpoint's attempts, newest first.
CREATE INDEX webhook_attempts_endpoint_id_attempted_at_idx ON identity.webhook_attempts (endpoint_id, attempted_at DESC, id DESC);

-- PurgeWebhookAttempts: the attempts past AUDIT_RETENTION.
CREATE INDEX webhook_attempts_attempted_at_idx ON identity.webhook_attempts (attempted_at);

COMMENT ON TABLE identity.webhook_endpoints IS 'Webhook endpoints: where account events are POSTed, signed with the endpoint''s whsec_ secret (Standard Webhooks).';
COMMENT ON TABLE identity.webhook_attempts IS 'Every delivery attempt of an account event to a webhook endpoint: time, status, duration, error.';

-- migrate:down

DROP TABLE identity.webhook_attempts;
DROP TABLE identity.webhook_endpoints;
