-- migrate:up

-- Issue 18. The per-address budgets count by mailbox (the address without its +tag; for
-- gmail.com without its dots): the ledger's key is now the mailbox.
ALTER TABLE identity.activation_ledger RENAME COLUMN email TO mailbox;
ALTER TABLE identity.activation_ledger
    RENAME CONSTRAINT activation_ledger_email_lower_check TO activation_ledger_mailbox_lower_check;
ALTER INDEX identity.activation_ledger_email_occurred_at_idx RENAME TO activation_ledger_mailbox_occurred_at_idx;
COMMENT ON TABLE identity.activation_ledger IS 'Codes issued to and wrong codes sent for each mailbox, for the 24 h budgets; kept by mailbox, so neither a re-registration nor a deletion resets them. Pruned after 24 h.';
COMMENT ON COLUMN identity.activation_ledger.mailbox IS 'The mailbox of the address (lower-cased, +tag removed; gmail.com without dots), shared by every address that delivers to it.';

-- The per-client budgets (ACTIVATION_GUESSES_PER_CLIENT_PER_DAY, CODES_PER_CLIENT_PER_DAY):
-- one row per code issued at a client's request and per wrong code a client sent, across
-- every address. Read and written under a transaction-scoped advisory lock on the client,
-- taken after the account's row lock (always in that order: no deadlock).
CREATE TABLE identity.client_ledger (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    -- The client IP, IPv6 grouped by CLIENT_IPV6_PREFIX ("2001:db8::/64").
    client      text        NOT NULL,
    kind        text        NOT NULL,
    occurred_at timestamptz NOT NULL,

    CONSTRAINT client_ledger_pkey PRIMARY KEY (id),
    CONSTRAINT client_ledger_kind_check CHECK (kind IN ('code_issued', 'wrong_code'))
);

-- LedgerOfMailboxAndClient: one client's rows in time order.
CREATE INDEX client_ledger_client_occurred_at_idx ON identity.client_ledger (client, occurred_at);
-- PruneClientLedger: the rows that left the 24 h window.
CREATE INDEX client_ledger_occurred_at_idx ON identity.client_ledger (occurred_at);

COMMENT ON TABLE identity.client_ledger IS 'Codes issued at the request of and wrong codes sent by each client, for the 24 h per-client budgets. Pruned after 24 h.';

-- Password guessing: one row per wrong password for an email, known or not (an unknown
-- email behaves like a known one), with the client that sent it. A row is written before
-- the password is checked (under an advisory lock on the email, so concurrent attempts
-- cannot all pass one check), marked checked when the password was wrong, and deleted
-- when it was right or never checked. A row left unchecked (the database failed the
-- request in between) counts only while a request could still be under way.
CREATE TABLE identity.sign_in_failures (
    id        bigint      GENERATED ALWAYS AS IDENTITY,
    -- The address as given (lower-cased), not its mailbox: the password is the account's.
    email     text        NOT NULL,
    client    text        NOT NULL,
    failed_at timestamptz NOT NULL,
    -- The password was checked and wrong; false while the attempt is under way.
    checked   boolean     NOT NULL DEFAULT false,

    CONSTRAINT sign_in_failures_pkey PRIMARY KEY (id),
    CONSTRAINT sign_in_failures_email_lower_check CHECK (email = lower(email))
);

-- FailuresOfEmail and EndFailuresOfClient: one email's rows in time order.
CREATE INDEX sign_in_failures_email_failed_at_idx ON identity.sign_in_failures (email, failed_at);
-- PruneSignInFailures: the rows that left the 7-day window.
CREATE INDEX sign_in_failures_failed_at_idx ON identity.sign_in_failures (failed_at);

COMMENT ON TABLE identity.sign_in_failures IS 'Wrong passwords per email of the last 7 days, for the sign-in delay (PASSWORD_FAILURES_BEFORE_DELAY). Pruned after 7 days.';

-- The clients that signed in to an account: for 30 days they are exempt from the delay
-- that other clients' failures cause (a stranger cannot lock the owner out).
CREATE TABLE identity.sign_in_clients (
    account_id   uuid        NOT NULL,
    client       text        NOT NULL,
    signed_in_at timestamptz NOT NULL,

    CONSTRAINT sign_in_clients_pkey PRIMARY KEY (account_id, client),
    CONSTRAINT sign_in_clients_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES identity.accounts (id) ON DELETE CASCADE
);

-- PruneSignInClients: the rows older than 30 days.
CREATE INDEX sign_in_clients_signed_in_at_idx ON identity.sign_in_clients (signed_in_at);

COMMENT ON TABLE identity.sign_in_clients IS 'Clients that signed in to each account, exempt for 30 days from the delay of other clients'' failures. Pruned after 30 days.';

-- migrate:down

DROP TABLE identity.sign_in_clients;
DROP TABLE identity.sign_in_failures;
DROP TABLE identity.client_ledger;
COMMENT ON COLUMN identity.activation_ledger.mailbox IS NULL;
ALTER INDEX identity.activation_ledger_mailbox_occurred_at_idx RENAME TO activation_ledger_email_occurred_at_idx;
ALTER TABLE identity.activation_ledger
    RENAME CONSTRAINT activation_ledger_mailbox_lower_check TO activation_ledger_email_lower_check;
ALTER TABLE identity.activation_ledger RENAME COLUMN mailbox TO email;
COMMENT ON TABLE identity.activation_ledger IS 'Codes issued to and wrong codes sent for each email address, for the 24 h budgets; kept by address, so a re-registration does not reset them. Pruned after 24 h.';
