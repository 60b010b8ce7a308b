-- A fixture of db/ownership_test.go: queries of a "payment" module that the schema
-- guardrail must refuse, one violation per query.

-- name: ReadsIdentity :many
SELECT p.id, a.email
FROM payment.payments AS p
JOIN identity.accounts AS a ON a.id = p.account_id;

-- name: WritesThePlatformsOutbox :exec
INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body)
VALUES ('a@example.com', 's', 't', 'h');

-- name: UnqualifiedTable :one
SELECT count(*) FROM accounts;

-- name: StaysHome :one
-- Not a violation: its own schema, a CTE and a function.
WITH recent AS (SELECT id FROM payment.payments WHERE created_at > now() - interval '1 day')
SELECT count(*) FROM recent, generate_series(1, 2);
