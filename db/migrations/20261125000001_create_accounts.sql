-- migrate:up

-- One row per registered email address. An account starts 'pending' and becomes 'active'
-- once its owner confirms the activation code. A pending account may be taken over by a
-- new registration of the same email (new password, new code); an active one may not.
CREATE TABLE accounts (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    -- Stored trimmed and lower-cased by the service, so the plain unique constraint below
    -- is case-insensitive uniqueness; the check keeps any other writer honest.
    email         text        NOT NULL,
    -- argon2id in PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash), so the
    -- parameters can change without a migration.
    password_hash text        NOT NULL,
    status        text        NOT NULL DEFAULT 'pending',
    -- When the current registration was made: a takeover of a pending account resets it.
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    activated_at  timestamptz,

    CONSTRAINT accounts_pkey PRIMARY KEY (id),
    CONSTRAINT accounts_email_key UNIQUE (email),
    CONSTRAINT accounts_email_lower_check CHECK (email = lower(email)),
    CONSTRAINT accounts_email_length_check CHECK (char_length(email) BETWEEN 3 AND 254),
    CONSTRAINT accounts_status_check CHECK (status IN ('pending', 'active')),
    CONSTRAINT accounts_activated_at_check CHECK ((status = 'active') = (activated_at IS NOT NULL))
);

COMMENT ON TABLE accounts IS 'Registered users; pending until the emailed activation code is confirmed.';

-- migrate:down

DROP TABLE accounts;
