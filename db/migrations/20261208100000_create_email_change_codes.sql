-- migrate:up

-- Issue 28. The latest email-change code of an active account (POST /v1/users/me/email),
-- with the address it was sent to, which its confirmation makes the account's. As with
-- the other codes, the primary key on account_id is the rule "only the latest counts": a
-- new request replaces the row, whatever its address. The row goes when the code is used,
-- when the password changes, and with the account. Several accounts may hold a code for
-- one address: the unique constraint on accounts.email decides at the confirmation.
CREATE TABLE identity.email_change_codes (
    account_id      uuid        NOT NULL,
    -- Eight ASCII digits, in clear like the reset codes (see password_reset_codes).
    code            text        NOT NULL,
    -- The new address, normalised like accounts.email.
    new_email       text        NOT NULL,
    -- Both from the database clock, so every replica judges expiry alike.
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    -- Wrong guesses taken by this code; at 5 it is void.
    failed_attempts integer     NOT NULL DEFAULT 0,

    CONSTRAINT email_change_codes_pkey PRIMARY KEY (account_id),
    CONSTRAINT email_change_codes_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES identity.accounts (id) ON DELETE CASCADE,
    CONSTRAINT email_change_codes_code_check CHECK (code ~ '^[0-9]{8}$'),
    CONSTRAINT email_change_codes_new_email_lower_check CHECK (new_email = lower(new_email)),
    CONSTRAINT email_change_codes_new_email_length_check CHECK (char_length(new_email) BETWEEN 3 AND 254),
    CONSTRAINT email_change_codes_expiry_check CHECK (expires_at > issued_at),
    CONSTRAINT email_change_codes_failed_attempts_check CHECK (failed_attempts >= 0)
);

-- The retention of expired email-change codes.
CREATE INDEX email_change_codes_expires_at_idx ON identity.email_change_codes (expires_at);

COMMENT ON TABLE identity.email_change_codes IS 'The one valid email-change code of each account that asked to change its address, with that address.';

-- migrate:down

DROP TABLE identity.email_change_codes;
