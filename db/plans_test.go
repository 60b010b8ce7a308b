package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/acme/identity/platform/database/dbtest"
)

// query returns the SQL of the sqlc query name in file, its parameters (@p and
// sqlc.arg(p)) numbered $1, $2… in order of first use, sqlc.embed(t) as t.*.
func query(t *testing.T, file, name string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(raw), "-- name: ")
	for _, b := range blocks[1:] {
		if !strings.HasPrefix(b, name+" ") {
			continue
		}
		var sql []string
		for _, line := range strings.Split(b, "\n")[1:] {
			if !strings.HasPrefix(strings.TrimSpace(line), "--") {
				sql = append(sql, line)
			}
		}
		params := map[string]int{}
		param := regexp.MustCompile(`sqlc\.n?arg\((\w+)\)|@(\w+)`)
		embed := regexp.MustCompile(`sqlc\.embed\((\w+)\)`)
		text := embed.ReplaceAllString(strings.Join(sql, "\n"), "$1.*")
		return param.ReplaceAllStringFunc(text, func(m string) string {
			sub := param.FindStringSubmatch(m)
			p := sub[1] + sub[2]
			if _, ok := params[p]; !ok {
				params[p] = len(params) + 1
			}
			return fmt.Sprintf("$%d", params[p])
		})
	}
	t.Fatalf("no query %s in %s", name, file)
	return ""
}

// TestMaintenanceQueriesUseTheirIndexes: each query the retention worker runs in batches
// (and the metrics' reads of the queues, and the ledger's read) finds its rows through
// the index made for it, never by reading the whole table. The tables hold what they hold
// in production, most rows recent or finished (20,000 accounts, nearly all active; 20,000
// emails, nearly all sent recently, and their 20,000 jobs, nearly all completed; 20,000
// ledger rows of the last day), and are analysed; sequential scans are priced out
// besides, so a query that no index serves still plans a Seq Scan and fails. The plans
// are logged (go test -v ./db).
func TestMaintenanceQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	if _, err := pool.Exec(ctx, `
		INSERT INTO identity.accounts (email, password_hash, status, activated_at, created_at)
		SELECT 'user' || i || '@example.com', 'h',
		       CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'active' END,
		       CASE WHEN i % 100 = 0 THEN NULL ELSE now() END,
		       now() - (i % 30) * interval '1 day'
		FROM generate_series(1, 20000) AS i;
		INSERT INTO identity.activation_codes (account_id, code, issued_at, expires_at)
		SELECT id, '1234', created_at, created_at + interval '1 minute' FROM identity.accounts WHERE status = 'pending';
		INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body, created_at, sent_at)
		SELECT 'user' || i || '@example.com', 's', '', '', now() - (i % 14) * interval '1 day',
		       CASE WHEN i % 1000 = 0 THEN NULL ELSE now() - (i % 14) * interval '1 day' END
		FROM generate_series(1, 20000) AS i;
		INSERT INTO river.river_job (kind, args, queue, max_attempts, state, finalized_at)
		SELECT 'outbox.email', jsonb_build_object('email_id', i), 'outbox', 10000,
		       CASE WHEN i % 1000 = 0 THEN 'available' ELSE 'completed' END::river.river_job_state,
		       CASE WHEN i % 1000 = 0 THEN NULL ELSE now() END
		FROM generate_series(1, 20000) AS i;
		INSERT INTO identity.activation_ledger (mailbox, kind, occurred_at)
		SELECT 'user' || (i % 5000) || '@example.com', 'code_issued', now() - (i % 1440) * interval '1 minute'
		FROM generate_series(1, 20000) AS i;
		INSERT INTO identity.client_budgets (client, kind, span, spent)
		SELECT '192.0.2.' || (i % 250), 'code_issued', date_bin('15 minutes', now(), TIMESTAMPTZ '2000-01-01') - (i / 250) * interval '15 minutes', 3
		FROM generate_series(1, 20000) AS i;
		INSERT INTO identity.sign_in_failures (email, client, failed_at)
		SELECT 'user' || (i % 5000) || '@example.com', '192.0.2.' || (i % 250), now() - (i % 10080) * interval '1 minute'
		FROM generate_series(1, 20000) AS i;
		INSERT INTO identity.sign_in_clients (account_id, client, signed_in_at)
		SELECT id, '192.0.2.1', created_at FROM identity.accounts WHERE status = 'active';
		INSERT INTO identity.webhook_endpoints (id, url, events, secret)
		SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'https://example.com/' || i, '{account.activated}', 'whsec_x'
		FROM generate_series(0, 19) AS i;
		INSERT INTO identity.webhook_attempts (endpoint_id, event_id, attempted_at, status, duration_ms)
		SELECT ('00000000-0000-0000-0000-' || lpad((i % 20)::text, 12, '0'))::uuid, gen_random_uuid(),
		       now() - (i % 1440) * interval '1 minute', 200, 10
		FROM generate_series(1, 20000) AS i;
		ANALYZE`); err != nil {
		t.Fatal(err)
	}
	indexConds := map[string]string{"ClientBudgetSpans": "AND (span "}
	for _, tc := range []struct {
		file, name string
		args       []any
		index      string
	}{
		{"queries/outbox/outbox_emails.sql", "DeleteFinishedEmails", []any{int64(7 * 24 * 3600 * 1000), int64(500)}, "outbox_emails_finished_idx"},
		{"queries/identity/retention.sql", "DeleteStalePendingAccounts", []any{int64(7 * 24 * 3600 * 1000), int64(500)}, "activation_codes_issued_at_idx"},
		{"queries/identity/retention.sql", "PruneActivationLedger", []any{int64(24 * 3600 * 1000), int64(500)}, "activation_ledger_occurred_at_idx"},
		{"queries/outbox/outbox_emails.sql", "DeleteUnsentEmails", []any{"user1@example.com"}, "outbox_emails_unfinished_idx"},
		{"queries/outbox/outbox_emails.sql", "OutboxBacklog", nil, "outbox_emails_unfinished_idx"},
		{"queries/jobs/river_job.sql", "CountUnfinishedJobs", nil, "river_job_prioritized_fetching_index"},
		{"queries/identity/activation_ledger.sql", "MailboxLedger", []any{"a@example.com", "2026-01-01T00:00:00Z"}, "activation_ledger_mailbox_occurred_at_idx"},
		{"queries/identity/activation_ledger.sql", "ClientBudgetSpans", []any{"192.0.2.1", "wrong_code", int64(24 * 3600 * 1000), int64(15 * 60 * 1000)}, "client_budgets_pkey"},
		{"queries/identity/sign_in.sql", "ForgetSignIns", []any{"a@example.com", "00000000-0000-0000-0000-000000000000", "192.0.2.1"}, "sign_in_failures_email_failed_at_idx"},
		{"queries/identity/prune.sql", "PruneClientBudgets", []any{int64(24 * 3600 * 1000), int64(15 * 60 * 1000), int64(500)}, "client_budgets_span_idx"},
		{"queries/identity/prune.sql", "PruneSignInFailures", []any{int64(7 * 24 * 3600 * 1000), int64(500)}, "sign_in_failures_failed_at_idx"},
		{"queries/identity/prune.sql", "PruneSignInClients", []any{int64(30 * 24 * 3600 * 1000), int64(500)}, "sign_in_clients_signed_in_at_idx"},
		{"queries/identity/sign_in.sql", "FailuresOfEmail", []any{"a@example.com", "2026-01-01T00:00:00Z"}, "sign_in_failures_email_failed_at_idx"},
		{"queries/identity/sessions.sql", "UseSession", []any{make([]byte, 32), int64(24 * 3600 * 1000), int64(720 * 3600 * 1000), int64(60000)}, "sessions_token_hash_key"},
		{"queries/identity/sessions.sql", "EvictSessions", []any{"00000000-0000-0000-0000-000000000000", int32(50), int64(24 * 3600 * 1000), int64(720 * 3600 * 1000)}, "sessions_account_id_last_used_at_idx"},
		{"queries/identity/sessions.sql", "DeleteAccountSessions", []any{"00000000-0000-0000-0000-000000000000"}, "sessions_account_id_last_used_at_idx"},
		{"queries/identity/sessions.sql", "PurgeIdleSessions", []any{int64(24 * 3600 * 1000), int64(500)}, "sessions_last_used_at_idx"},
		{"queries/identity/password_reset.sql", "PurgeExpiredResetCodes", []any{int64(24 * 3600 * 1000), int64(500)}, "password_reset_codes_expires_at_idx"},
		{"queries/identity/email_change.sql", "PurgeExpiredEmailChangeCodes", []any{int64(24 * 3600 * 1000), int64(500)}, "email_change_codes_expires_at_idx"},
		{"queries/identity/email_change.sql", "MoveSignInFailures", []any{"a@example.com", "b@example.com"}, "sign_in_failures_email_failed_at_idx"},
		{"queries/identity/sessions.sql", "DeleteOtherSessions", []any{"00000000-0000-0000-0000-000000000000", nil}, "sessions_account_id_last_used_at_idx"},
		{"queries/identity/sessions.sql", "PurgeOldSessions", []any{int64(720 * 3600 * 1000), int64(500)}, "sessions_created_at_idx"},
		{"queries/identity/webhooks.sql", "PurgeWebhookAttempts", []any{int64(90 * 24 * 3600 * 1000), int64(500)}, "webhook_attempts_attempted_at_idx"},
		{"queries/identity/webhooks.sql", "WebhookAttempts", []any{"00000000-0000-0000-0000-000000000000", int32(100)}, "webhook_attempts_endpoint_id_attempted_at_idx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
				t.Fatal(err)
			}
			var plan []map[string]any
			if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+query(t, tc.file, tc.name), tc.args...).Scan(&plan); err != nil {
				t.Fatalf("explain: %v", err)
			}
			out, _ := json.MarshalIndent(plan, "", " ")
			t.Logf("%s:\n%s", tc.name, out)
			if !strings.Contains(string(out), `"Index Name": "`+tc.index+`"`) || strings.Contains(string(out), `"Seq Scan"`) {
				t.Fatalf("%s does not use %s alone:\n%s", tc.name, tc.index, out)
			}
			// The window of a client's budget bounds the index scan itself, not a filter
			// of what it read (a volatile clock_timestamp() cannot be an index condition).
			if cond, ok := indexConds[tc.name]; ok && !regexp.MustCompile(`"Index Cond": "[^"]*`+regexp.QuoteMeta(cond)).Match(out) {
				t.Fatalf("%s: %q is not in the index condition:\n%s", tc.name, cond, out)
			}
		})
	}
}
