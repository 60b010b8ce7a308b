-- migrate:up

-- The latest activation code of a pending account. The primary key on account_id is the
-- rule "only the latest code counts": issuing a code replaces the row, so an earlier code
-- cannot be found any more. The row is deleted when the account is activated.
CREATE TABLE activation_codes (
    account_id      uuid        NOT NULL,
    -- Four ASCII digits. Kept in clear: 10^4 values make a hash worthless, and the row
    -- lives at most as long as the account stays pending.
    code            text        NOT NULL,
    -- Both set from the database clock, so every replica judges expiry alike.
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    -- Wrong guesses taken by this code; at ACTIVATION_CODE_MAX_ATTEMPTS it is locked.
    failed_attempts integer     NOT NULL DEFAULT 0,

    CONSTRAINT activation_codes_pkey PRIMARY KEY (account_id),
    CONSTRAINT activation_codes_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE CASCADE,
    CONSTRAINT activation_codes_code_check CHECK (code ~ '^[0-9]{4}$'),
    CONSTRAINT activation_codes_expiry_check CHECK (expires_at > issued_at),
    CONSTRAINT activation_codes_failed_attempts_check CHECK (failed_attempts >= 0)
);

COMMENT ON TABLE activation_codes IS 'The one valid activation code of each pending account.';

-- migrate:down

DROP TABLE activation_codes;
