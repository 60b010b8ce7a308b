-- migrate:up

-- Issue 24. A client's budget of one kind is checked by reading its newest entries of that
-- kind, at most the budget's limit (RecentClientLedger), whatever else the client did that
-- day: the index leads with the client and the kind, so the read stops after the limit.
CREATE INDEX client_ledger_client_kind_occurred_at_idx ON identity.client_ledger (client, kind, occurred_at);
DROP INDEX identity.client_ledger_client_occurred_at_idx;

-- migrate:down

CREATE INDEX client_ledger_client_occurred_at_idx ON identity.client_ledger (client, occurred_at);
DROP INDEX identity.client_ledger_client_kind_occurred_at_idx;
