-- migrate:up

-- The retention work of the identity module (platform/maintenance tasks):
-- DeleteStalePendingAccounts finds pending accounts by the age of their latest code, and
-- PruneActivationLedger finds ledger rows past the 24 h window. Only pending accounts
-- have a code row, so the first index stays as small as the pending accounts are few.
CREATE INDEX activation_codes_issued_at_idx ON activation_codes (issued_at);
CREATE INDEX activation_ledger_occurred_at_idx ON activation_ledger (occurred_at);

-- migrate:down

DROP INDEX activation_ledger_occurred_at_idx;
DROP INDEX activation_codes_issued_at_idx;
