-- migrate:up

-- The per-address budgets against abuse (ACTIVATION_CODES_PER_DAY, ACTIVATION_GUESSES_PER_DAY):
-- one row per activation code issued to an address and per wrong code sent for it. Keyed by
-- the email address, not by the account, so neither a re-registration of a pending account
-- nor its deletion resets them. Read and written only while the address's account row is
-- locked; rows older than the 24 h window count for nothing and are deleted by the
-- retention work.
CREATE TABLE activation_ledger (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    -- The normalised (lower-cased) address, as in accounts.email.
    email       text        NOT NULL,
    -- 'code_issued': a code was issued (registration, re-registration or resend);
    -- 'wrong_code': a wrong code was sent for the address's latest code.
    kind        text        NOT NULL,
    -- From the database clock, like every activation time.
    occurred_at timestamptz NOT NULL,

    CONSTRAINT activation_ledger_pkey PRIMARY KEY (id),
    CONSTRAINT activation_ledger_email_lower_check CHECK (email = lower(email)),
    CONSTRAINT activation_ledger_kind_check CHECK (kind IN ('code_issued', 'wrong_code'))
);

-- LedgerOfEmail: one address's rows in time order.
CREATE INDEX activation_ledger_email_occurred_at_idx ON activation_ledger (email, occurred_at);

COMMENT ON TABLE activation_ledger IS 'Codes issued to and wrong codes sent for each email address, for the 24 h budgets.';

-- migrate:down

DROP TABLE activation_ledger;
