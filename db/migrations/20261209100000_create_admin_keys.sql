-- migrate:up

-- Issue 27: the keys of the administration API (ADMIN_ADDR), owned by the platform
-- (platform/admin). A key is shown once, when `identity admin-key create` makes it; only
-- its SHA-256 is kept, and every admin request looks its hash up here (key_hash is
-- unique: the lookup is one index probe), so a revoked key is refused at once by every
-- replica. A name is never reused, revoked or not: it is the actor of the account events
-- its key caused, and the audit trail must name one key.
CREATE TABLE platform.admin_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,
    key_hash     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CONSTRAINT admin_keys_name_key UNIQUE (name),
    CONSTRAINT admin_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT admin_keys_key_hash_check CHECK (octet_length(key_hash) = 32),
    CONSTRAINT admin_keys_name_check CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$')
);

-- migrate:down

DROP TABLE platform.admin_keys;
