-- migrate:up

-- The latest password-reset code of an active account (POST /v1/password-reset). As with
-- activation codes, the primary key on account_id is the rule "only the latest counts":
-- issuing a code replaces the row. The row goes when the code is used, when the password
-- changes, and with the account.
CREATE TABLE identity.password_reset_codes (
    account_id      uuid        NOT NULL,
    -- Eight ASCII digits, in clear like activation codes: the row lives at most
    -- PASSWORD_RESET_CODE_TTL, and 10^8 values behind 5 guesses a code and 20 a day
    -- make a hash worth nothing more.
    code            text        NOT NULL,
    -- Both from the database clock, so every replica judges expiry alike.
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    -- Wrong guesses taken by this code; at 5 it is void.
    failed_attempts integer     NOT NULL DEFAULT 0,

    CONSTRAINT password_reset_codes_pkey PRIMARY KEY (account_id),
    CONSTRAINT password_reset_codes_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES identity.accounts (id) ON DELETE CASCADE,
    CONSTRAINT password_reset_codes_code_check CHECK (code ~ '^[0-9]{8}$'),
    CONSTRAINT password_reset_codes_expiry_check CHECK (expires_at > issued_at),
    CONSTRAINT password_reset_codes_failed_attempts_check CHECK (failed_attempts >= 0)
);

-- The retention of expired reset codes.
CREATE INDEX password_reset_codes_expires_at_idx ON identity.password_reset_codes (expires_at);

COMMENT ON TABLE identity.password_reset_codes IS 'The one valid password-reset code of each account that asked for one.';

-- Reset codes have budgets of their own per mailbox, apart from activation's.
ALTER TABLE identity.activation_ledger DROP CONSTRAINT activation_ledger_kind_check;
ALTER TABLE identity.activation_ledger ADD CONSTRAINT activation_ledger_kind_check
    CHECK (kind IN ('code_issued', 'wrong_code', 'reset_issued', 'wrong_reset_code'));
COMMENT ON COLUMN identity.activation_ledger.kind IS 'code_issued and wrong_code count against the activation budgets, reset_issued and wrong_reset_code against the password-reset budgets.';

-- migrate:down

COMMENT ON COLUMN identity.activation_ledger.kind IS NULL;
DELETE FROM identity.activation_ledger WHERE kind IN ('reset_issued', 'wrong_reset_code');
ALTER TABLE identity.activation_ledger DROP CONSTRAINT activation_ledger_kind_check;
ALTER TABLE identity.activation_ledger ADD CONSTRAINT activation_ledger_kind_check
    CHECK (kind IN ('code_issued', 'wrong_code'));
DROP TABLE identity.password_reset_codes;
