package postgres_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/acme/identity/platform/database/dbtest"
)

// generated is the text of the sqlc query name as the store sends it.
func generated(t *testing.T, file, name string) string {
	t.Helper()
	src, err := os.ReadFile("internal/sqlcgen/" + file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)const " + name + " = `(.*?)`").FindSubmatch(src)
	if m == nil {
		t.Fatalf("no query %s in %s", name, file)
	}
	return string(m[1])
}

// TestAdminQueriesUseTheirIndexes: the administration API's reads on 20,000 accounts and
// 20,000 events, planned with their parameters as the store sends them (customPlans),
// read an index range (an Index Cond), never the whole table: the email prefix the range
// of accounts_email_prefix_idx (a broad one may walk accounts_pkey instead, stopping at
// the page's end), a deep page the ids after its cursor, the disabled accounts the partial
// accounts_disabled_idx, the trail the times before its cursor. An operator's LIKE
// 'prefix%' uses the prefix index too. In a generic plan (a named prepared statement's
// after five runs) the prefix was a filter on a walk of accounts_pkey: that is why the
// store plans each read with its parameters.
func TestAdminQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	if _, err := pool.Exec(ctx, `
		INSERT INTO identity.accounts (email, password_hash)
		SELECT 'user' || i || '@example.com', 'x' FROM generate_series(1, 20000) AS i;
		INSERT INTO identity.account_events (account_id, type, occurred_at)
		SELECT gen_random_uuid(), (ARRAY['account.registered', 'account.activated', 'account.signed_in', 'account.disabled'])[1 + i % 4],
		       now() - i * interval '1 minute'
		FROM generate_series(1, 20000) AS i;
		ANALYZE identity.accounts; ANALYZE identity.account_events`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	explain := func(t *testing.T, sql string, args ...any) string {
		t.Helper()
		rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", sql, err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		return strings.Join(plan, "\n")
	}
	for i, q := range []struct {
		name, file, query, args string
		index                   string // the index the plan reads, with an Index Cond
	}{
		{"the email prefix", "accounts.sql.go", "listAccountsByEmail",
			`('user123', 'user124', '00000000-0000-0000-0000-000000000000', NULL, NULL, 51)`, "accounts_email_prefix_idx"},
		{"a broad prefix", "accounts.sql.go", "listAccountsByEmail",
			`('user1', 'user2', '00000000-0000-0000-0000-000000000000', NULL, NULL, 51)`, "accounts_"},
		{"a deep page", "accounts.sql.go", "listAccounts", `('fff00000-0000-4000-8000-000000000000', NULL, NULL, 51)`, "accounts_pkey"},
		{"the disabled", "accounts.sql.go", "listDisabledAccounts", `('00000000-0000-0000-0000-000000000000', NULL, 51)`, "accounts_disabled_idx"},
		{"the trail of a type since", "account_events.sql.go", "accountEventsOfType",
			`('account.disabled', now() - interval '1 hour', '9999-12-31', 9223372036854775807, 51)`, "account_events_"},
		{"a deep page of the trail", "account_events.sql.go", "accountEvents",
			`('0001-01-01', now() - interval '300 hours', 1000, 51)`, "account_events_occurred_at_idx"},
	} {
		text := generated(t, q.file, q.query)
		stmt := "admin_q" + string(rune('a'+i))
		if _, err := conn.Exec(ctx, "PREPARE "+stmt+" AS "+text); err != nil {
			t.Fatalf("PREPARE %s: %v", q.name, err)
		}
		for _, mode := range []string{"force_custom_plan"} {
			if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
			plan := explain(t, "EXECUTE "+stmt+q.args)
			if !strings.Contains(plan, "Index Cond") || !strings.Contains(plan, q.index) || strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s (%s): want an Index Cond on %s and no Seq Scan; the plan:\n%s", q.name, mode, q.index, plan)
			}
			t.Logf("%s (%s):\n%s", q.name, mode, plan)
		}
	}
	if _, err := conn.Exec(ctx, "RESET plan_cache_mode"); err != nil {
		t.Fatal(err)
	}
	if plan := explain(t, `SELECT id FROM identity.accounts WHERE lower(email) LIKE 'user123%' ORDER BY id LIMIT 51`); !strings.Contains(plan, "accounts_email_prefix_idx") {
		t.Errorf("an operator's LIKE 'prefix%%' does not use the index:\n%s", plan)
	}
}
