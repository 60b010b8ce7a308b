-- migrate:up

-- Sign-in sessions (POST /v1/sessions): a Bearer token stands for the account until it is
-- unused for SESSION_IDLE_TIMEOUT, SESSION_MAX_AGE after its sign-in, or revoked. Only
-- the token's SHA-256 is kept: the token is 256 random bits, so a fast hash is enough,
-- and a leaked table signs nobody in. Times are the database clock's.
CREATE TABLE identity.sessions (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    account_id   uuid        NOT NULL,
    -- SHA-256 of the token; the lookup of every Bearer request.
    token_hash   bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Kept coarsely: written by a request only when it is older than the touch interval
    -- (at most a minute), so a busy session costs no write per request.
    last_used_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sessions_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES identity.accounts (id) ON DELETE CASCADE,
    CONSTRAINT sessions_token_hash_length_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT sessions_last_used_at_check CHECK (last_used_at >= created_at)
);

-- The sessions of an account, least recently used first: eviction past
-- SESSIONS_PER_ACCOUNT, and sign-out everywhere.
CREATE INDEX sessions_account_id_last_used_at_idx ON identity.sessions (account_id, last_used_at);
-- The purge of sessions idle too long, and of those past their maximum age.
CREATE INDEX sessions_last_used_at_idx ON identity.sessions (last_used_at);
CREATE INDEX sessions_created_at_idx ON identity.sessions (created_at);

COMMENT ON TABLE identity.sessions IS 'Sign-in sessions by the SHA-256 of their Bearer token; ended by idleness, age, sign-out, password change and account deletion. Purged by the maintenance runner once ended.';

-- migrate:down

DROP TABLE identity.sessions;
