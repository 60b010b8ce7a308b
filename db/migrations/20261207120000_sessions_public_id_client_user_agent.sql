-- migrate:up

-- Issue 28. Sessions an owner can see and end one by one: each has an opaque public id
-- (never the row's sequence, never the token), and keeps the client and the User-Agent of
-- its sign-in (at most 256 characters).
ALTER TABLE identity.sessions
    ADD COLUMN public_id  uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN client     text NOT NULL DEFAULT '',
    ADD COLUMN user_agent text NOT NULL DEFAULT '',
    ADD CONSTRAINT sessions_public_id_key UNIQUE (public_id),
    ADD CONSTRAINT sessions_user_agent_length_check CHECK (char_length(user_agent) <= 256);

-- migrate:down

ALTER TABLE identity.sessions
    DROP CONSTRAINT sessions_user_agent_length_check,
    DROP CONSTRAINT sessions_public_id_key,
    DROP COLUMN user_agent,
    DROP COLUMN client,
    DROP COLUMN public_id;
