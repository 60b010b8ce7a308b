-- migrate:up

-- Issue 24. A client's budgets (CODES_PER_CLIENT_PER_DAY, ACTIVATION_GUESSES_PER_CLIENT_PER_DAY)
-- are counters per span of 15 minutes instead of one row per unit spent: a backend that
-- registers its users from one address, with a budget raised to millions, spends many
-- thousand units a day, and the check of its budget reads at most the 97 spans of its
-- window (24 h and the span under way), whatever it spent (ClientBudgetSpans).
CREATE TABLE identity.client_budgets (
    -- The client IP, IPv6 grouped by CLIENT_IPV6_PREFIX ("2001:db8::/64").
    client text        NOT NULL,
    kind   text        NOT NULL,
    -- The start of the span (the database clock truncated to its width); its units count
    -- until 24 h after the span's end.
    span   timestamptz NOT NULL,
    spent  integer     NOT NULL,

    CONSTRAINT client_budgets_pkey PRIMARY KEY (client, kind, span),
    CONSTRAINT client_budgets_kind_check CHECK (kind IN ('code_issued', 'wrong_code')),
    CONSTRAINT client_budgets_spent_check CHECK (spent >= 0)
);

-- PruneClientBudgets: the spans that left the window.
CREATE INDEX client_budgets_span_idx ON identity.client_budgets (span);

COMMENT ON TABLE identity.client_budgets IS 'Units of the per-client 24 h budgets (codes issued at the request of, wrong codes sent by, each client), counted per 15-minute span. Pruned once a span is 24 h past its end.';

-- What the clients spent in the last day moves into spans, so that a deployment gives no
-- client a fresh budget (at most a day's rows: the ledger is pruned past 24 h).
INSERT INTO identity.client_budgets (client, kind, span, spent)
SELECT client, kind, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), count(*)
FROM identity.client_ledger
WHERE occurred_at > now() - interval '24 hours'
GROUP BY 1, 2, 3;

DROP TABLE identity.client_ledger;

-- migrate:down

CREATE TABLE identity.client_ledger (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    client      text        NOT NULL,
    kind        text        NOT NULL,
    occurred_at timestamptz NOT NULL,

    CONSTRAINT client_ledger_pkey PRIMARY KEY (id),
    CONSTRAINT client_ledger_kind_check CHECK (kind IN ('code_issued', 'wrong_code'))
);
CREATE INDEX client_ledger_client_kind_occurred_at_idx ON identity.client_ledger (client, kind, occurred_at);
CREATE INDEX client_ledger_occurred_at_idx ON identity.client_ledger (occurred_at);
COMMENT ON TABLE identity.client_ledger IS 'Codes issued at the request of and wrong codes sent by each client, for the 24 h per-client budgets. Pruned after 24 h.';

-- Each unit of a span as a row at the span's start.
INSERT INTO identity.client_ledger (client, kind, occurred_at)
SELECT client, kind, span
FROM identity.client_budgets, generate_series(1, spent);

DROP TABLE identity.client_budgets;
