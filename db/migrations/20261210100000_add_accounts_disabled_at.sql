-- migrate:up

-- Issue 27. An account an administrator disabled (POST /admin/v1/accounts/{id}/disable):
-- from disabled_at on, the right credentials answer 403 account_disabled and nothing but
-- the notice of the deactivation is emailed to it; NULL while it is enabled.
ALTER TABLE identity.accounts ADD COLUMN disabled_at timestamptz;

COMMENT ON COLUMN identity.accounts.disabled_at IS 'When an administrator disabled the account (403 account_disabled from then on); NULL while enabled.';

-- The administration API's search by email prefix (GET /admin/v1/accounts?email=): the
-- store asks lower(email) ~>=~ prefix AND lower(email) ~<~ the prefix's successor, a range
-- this index serves whatever plan a prepared statement gets, and an operator's
-- lower(email) LIKE 'prefix%' uses it too (text_pattern_ops compares bytes, whatever the
-- database's collation). Emails are stored lower-cased (accounts_email_lower_check), so
-- lower(email) is email. On a large table, build it first out of band with CREATE INDEX
-- CONCURRENTLY under the same name: this statement is then a no-op.
CREATE INDEX IF NOT EXISTS accounts_email_prefix_idx ON identity.accounts (lower(email) text_pattern_ops);

-- ?disabled=true without a prefix: the few disabled accounts in id order, without a walk
-- of every account.
CREATE INDEX IF NOT EXISTS accounts_disabled_idx ON identity.accounts (id) WHERE disabled_at IS NOT NULL;

-- migrate:down

DROP INDEX identity.accounts_disabled_idx;
DROP INDEX identity.accounts_email_prefix_idx;
ALTER TABLE identity.accounts DROP COLUMN disabled_at;
