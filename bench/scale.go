package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The sizes of issue 24's "big tables" (scale 1): 2 million accounts, 3 million sessions,
// and 2 million rows in each ledger and in the outbox (with as many finished River jobs).
const (
	scaleAccounts = 2_000_000
	scaleSessions = 3_000_000
	scaleLedger   = 2_000_000
	scaleOutbox   = 2_000_000
)

// busyClient is the one client of the busy-client step, whose budgets already hold
// -busy-units of each kind for the day.
const busyClient = "198.51.100.7"

// budgetsRaised are the per-client budgets of the busy-client and scale steps: on, and far
// above what any step spends, so that they are checked and never refuse.
var budgetsRaised = []string{"CODES_PER_CLIENT_PER_DAY=1000000", "ACTIVATION_GUESSES_PER_CLIENT_PER_DAY=1000000"}

// Fill is what the scale step put in the database, and how long it took.
type Fill struct {
	Scale float64
	// Rows by table, as inserted.
	Rows map[string]int64
	// Took is the time of the inserts, Vacuum of VACUUM ANALYZE, and Settle of the
	// CHECKPOINT after it and of the wait for autovacuum workers to finish: the steps after
	// the fill measure the service on the filled tables, not the fill's writes still on
	// their way to disk.
	Took, Vacuum, Settle time.Duration
	// Sizes are the tables' total sizes (pg_total_relation_size) after it, in MiB.
	SizesMiB map[string]float64
}

// Extra are the busy-client and scale steps of one hash setting.
type Extra struct {
	// Busy are the busy-client steps: many clients, then one (busyClient).
	Busy []StepResult `json:",omitempty"`
	// BusyUnits is what busyClient had spent of each budget before the steps.
	BusyUnits int `json:",omitempty"`
	// Empty and Full are the route steps before and after the fill.
	Empty, Full []StepResult `json:",omitempty"`
	Fill        *Fill        `json:",omitempty"`
}

// runExtra runs the busy-client and scale steps with the hash parameters hash, against a
// server whose per-client budgets are on and raised (budgetsRaised).
func runExtra(ctx context.Context, o Options, hash HashParams, bin string, db *Database, mailbox *Mailbox,
	backends *Backends, runID string, stdout io.Writer,
) (Extra, error) {
	var x Extra
	runner, stop, err := startRunner(ctx, o, hash, bin, db, mailbox, backends, "server-"+hash.Name+"-budgets.log",
		append(append([]string{}, budgetsRaised...), o.ServerEnv...))
	if err != nil {
		return x, err
	}
	defer stop()
	run := func(prefix string, specs []StepSpec) ([]StepResult, error) {
		var out []StepResult
		for _, spec := range specs {
			runner.Prefix = "b" + runID + "-" + prefix
			say(stdout, "bench: %s hash: %s, %d connections%s, %s (+%s warm-up), load average %s\n",
				hash.Name, spec.Name, spec.Conns, clientsOf(spec), spec.Duration, spec.Warmup, LoadAverage())
			before, err := readCounters(ctx, db.URL)
			if err != nil {
				return out, err
			}
			r, err := runner.RunBracketed(ctx, spec, o.Limit)
			if err != nil {
				return out, fmt.Errorf("step %s: %w", spec.Name, err)
			}
			mailbox.Resets()
			// A backend sends its counts to the statistics at most once a second.
			time.Sleep(1500 * time.Millisecond)
			after, err := readCounters(ctx, db.URL)
			if err != nil {
				return out, err
			}
			r.SeqScans, r.Writes = delta(before.Scans, after.Scans), delta(before.Writes, after.Writes)
			out = append(out, r)
			say(stdout, "bench:   %s; %s; %s\n", OneLine(r), scansLine(r.SeqScans), writesLine(r.Writes))
		}
		return out, nil
	}

	if o.BusyConns > 0 {
		if err := fillBusyClient(ctx, db.URL, busyClient, o.BusyUnits); err != nil {
			return x, err
		}
		x.BusyUnits = o.BusyUnits
		say(stdout, "bench: %s hash: busy client %s holds %d units of each budget for the day\n", hash.Name, busyClient, o.BusyUnits)
		x.Busy, err = run("busy", []StepSpec{
			{Name: "busy-many", Workload: Busy, Conns: o.BusyConns, Warmup: o.Warmup, Duration: o.Step},
			{Name: "busy-one", Workload: Busy, Conns: o.BusyConns, Client: busyClient, Warmup: o.Warmup, Duration: o.Step},
		})
		if err != nil {
			return x, err
		}
		say(stdout, "bench:   busy client ÷ many clients: %s\n", busyRatios(x.Busy))
	}
	if o.Scale > 0 && len(o.ScaleRoutes) > 0 {
		specs := func(stage string) []StepSpec {
			var out []StepSpec
			for _, w := range o.ScaleRoutes {
				out = append(out, StepSpec{Name: fmt.Sprintf("%s-%s-%d", stage, w, o.ScaleConns), Workload: w, Conns: o.ScaleConns,
					OwnClients: true, Warmup: o.Warmup, Duration: o.Step})
			}
			return out
		}
		if x.Empty, err = run("empty", specs("empty")); err != nil {
			return x, err
		}
		say(stdout, "bench: %s hash: filling the database to %.3g × issue 24's sizes\n", hash.Name, o.Scale)
		fill, err := fillScale(ctx, db.URL, o.Scale, stdout)
		x.Fill = &fill
		if err != nil {
			return x, err
		}
		if x.Full, err = run("full", specs("full")); err != nil {
			return x, err
		}
		say(stdout, "bench:   full ÷ empty: %s\n", scaleRatios(x.Empty, x.Full))
	}
	return x, nil
}

func clientsOf(s StepSpec) string {
	switch {
	case s.Client != "":
		return " from one client " + s.Client
	case s.OwnClients || s.Workload == Busy || s.Workload == Flood:
		return ", a client each"
	}
	return ""
}

// fillBusyClient gives client units of each per-client budget spent over the last 24 h,
// spread over the spans of identity.client_budgets.
func fillBusyClient(ctx context.Context, url, client string, units int) error {
	return execAll(ctx, url, []string{fmt.Sprintf(`
		INSERT INTO identity.client_budgets (client, kind, span, spent)
		SELECT %s, kind, date_bin('15 minutes', at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), count(*)
		FROM generate_series(now() - interval '23 hours 50 minutes', now() - interval '1 minute', (interval '23 hours 49 minutes') / %d) AS at,
		     (VALUES ('code_issued'), ('wrong_code')) AS k (kind)
		GROUP BY 1, 2, 3
		ON CONFLICT (client, kind, span) DO UPDATE SET spent = client_budgets.spent + excluded.spent`,
		quote(client), max(units, 1))})
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// fillScale fills the database to scale × issue 24's sizes with SQL, then runs VACUUM
// ANALYZE. The rows look like production's: accounts nearly all active (1 % pending with
// a code) with a known client and their account events, sessions live (used in the last
// day) over the accounts, ledgers of the last day over many mailboxes and clients, and
// finished emails of the last week (bodies erased, as delivery leaves them) and completed
// River jobs of the last hour.
func fillScale(ctx context.Context, url string, scale float64, stdout io.Writer) (Fill, error) {
	n := func(size int) int64 { return max(int64(float64(size)*scale), 1) }
	f := Fill{Scale: scale, Rows: map[string]int64{}, SizesMiB: map[string]float64{}}
	accounts, sessions, ledger, outbox := n(scaleAccounts), n(scaleSessions), n(scaleLedger), n(scaleOutbox)
	steps := []struct {
		table string
		rows  int64
		sql   string
	}{
		{"identity.accounts", accounts, fmt.Sprintf(`
			INSERT INTO identity.accounts (email, password_hash, status, activated_at, created_at)
			SELECT 'scale' || i || '@example.org', '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
			       CASE WHEN i %% 100 = 0 THEN 'pending' ELSE 'active' END,
			       CASE WHEN i %% 100 = 0 THEN NULL ELSE now() - (i %% 30) * interval '1 day' END,
			       now() - (i %% 30) * interval '1 day' - interval '1 hour'
			FROM generate_series(1, %d) AS i`, accounts)},
		{"identity.activation_codes", accounts / 100, `
			INSERT INTO identity.activation_codes (account_id, code, issued_at, expires_at)
			SELECT id, '1234', now() - interval '1 minute', now() + interval '14 minutes'
			FROM identity.accounts WHERE status = 'pending' AND email LIKE 'scale%'`},
		// What the accounts' lives leave besides, so that no table a request reads is
		// empty: a known client and two account events per account, reset codes of 1 %,
		// wrong passwords of the last week.
		{"identity.sign_in_clients", accounts, `
			INSERT INTO identity.sign_in_clients (account_id, client, signed_in_at)
			SELECT id, '10.' || (abs(hashtext(email)) % 250) || '.0.1', now() - interval '3 days'
			FROM identity.accounts WHERE status = 'active' AND email LIKE 'scale%'`},
		{"identity.account_events", 2 * accounts, `
			INSERT INTO identity.account_events (account_id, type, occurred_at)
			SELECT id, t.type, created_at FROM identity.accounts, (VALUES ('account.registered'), ('account.activated')) AS t (type)
			WHERE email LIKE 'scale%'`},
		{"identity.password_reset_codes", accounts / 100, `
			INSERT INTO identity.password_reset_codes (account_id, code, issued_at, expires_at)
			SELECT id, '12345678', now() - interval '1 minute', now() + interval '14 minutes'
			FROM identity.accounts WHERE status = 'active' AND email LIKE 'scale%' AND abs(hashtext(email)) % 100 = 0`},
		{"identity.sign_in_failures", accounts / 5, fmt.Sprintf(`
			INSERT INTO identity.sign_in_failures (email, client, failed_at, checked)
			SELECT 'scale' || (i %% %d) || '@example.org', '10.9.' || (i %% 250) || '.1', now() - (i %% 10000) * interval '1 minute', true
			FROM generate_series(1, %d) AS i`, max(accounts/2, 1), max(accounts/5, 1))},
		{"identity.sessions", sessions, fmt.Sprintf(`
			INSERT INTO identity.sessions (account_id, token_hash, created_at, last_used_at, client, user_agent)
			SELECT a.id, sha256(('scale-session-' || s.i)::bytea), now() - interval '2 days', now() - (s.i %% 1380) * interval '1 minute',
			       '10.' || (s.i %% 250) || '.' || (s.i / 250 %% 250) || '.1', 'bench'
			FROM generate_series(1, %d) AS s (i)
			JOIN (SELECT id, row_number() OVER () AS k FROM identity.accounts WHERE status = 'active' AND email LIKE 'scale%%') AS a
			  ON a.k = 1 + s.i %% %d`, sessions, max(accounts-accounts/100, 1))},
		{"identity.activation_ledger", ledger, fmt.Sprintf(`
			INSERT INTO identity.activation_ledger (mailbox, kind, occurred_at)
			SELECT 'scale' || (i %% %d) || '@example.org', CASE WHEN i %% 3 = 0 THEN 'wrong_code' ELSE 'code_issued' END,
			       now() - (i %% 1380) * interval '1 minute'
			FROM generate_series(1, %d) AS i`, max(accounts/2, 1), ledger)},
		// Spans of many clients (in 198.18.0.0/15, the benchmarking range, where no step's
		// connection is: those are 10.0.x.y, whose spans from the empty steps' requests may
		// be among the fill's), each client's 92 spans of the last 23 h.
		{"identity.client_budgets", ledger, fmt.Sprintf(`
			INSERT INTO identity.client_budgets (client, kind, span, spent)
			SELECT '198.' || (18 + c / 65536 %% 2) || '.' || (c / 256 %% 256) || '.' || (c %% 256), k.kind,
			       date_bin('15 minutes', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00') - s * interval '15 minutes', 3
			FROM generate_series(0, %d) AS c, generate_series(1, 92) AS s, (VALUES ('code_issued')) AS k (kind)`, ledger/92)},
		{"platform.outbox_emails", outbox, fmt.Sprintf(`
			INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body, created_at, sent_at, attempts)
			SELECT 'scale' || i || '@example.org', 'Your activation code', '', '', now() - (i %% 10080) * interval '1 minute',
			       now() - (i %% 10080) * interval '1 minute' + interval '1 second', 1
			FROM generate_series(1, %d) AS i`, outbox)},
		// Completed jobs of the last 50 minutes: River's cleaner deletes them an hour after
		// they finished (jobs.DefaultOptions.CompletedRetention), so no more than an hour of
		// them is ever there. Spread over the last day, as they once were, the cleaner
		// deleted 1.9 million of them while the filled steps ran, and took their CPU.
		{"river.river_job", outbox, fmt.Sprintf(`
			INSERT INTO river.river_job (kind, args, queue, max_attempts, attempt, state, attempted_at, finalized_at, created_at, scheduled_at)
			SELECT 'outbox.email', jsonb_build_object('email_id', i), 'outbox', 10000, 1, 'completed',
			       now() - (i %% 3000) * interval '1 second', now() - (i %% 3000) * interval '1 second',
			       now() - (i %% 3000) * interval '1 second', now() - (i %% 3000) * interval '1 second'
			FROM generate_series(1, %d) AS i`, outbox)},
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return f, fmt.Errorf("connect to fill: %w", err)
	}
	defer conn.Close(ctx)
	started := time.Now()
	for _, s := range steps {
		t := time.Now()
		tag, err := conn.Exec(ctx, s.sql)
		if err != nil {
			return f, fmt.Errorf("fill %s: %w", s.table, err)
		}
		f.Rows[s.table] += tag.RowsAffected()
		say(stdout, "bench:   %s: %d rows in %s\n", s.table, tag.RowsAffected(), time.Since(t).Round(100*time.Millisecond))
	}
	f.Took = time.Since(started)
	t := time.Now()
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return f, fmt.Errorf("vacuum analyze: %w", err)
	}
	f.Vacuum = time.Since(t)
	t = time.Now()
	if err := settle(ctx, conn); err != nil {
		return f, err
	}
	f.Settle = time.Since(t)
	rows, err := conn.Query(ctx, `SELECT schemaname || '.' || relname, pg_total_relation_size(relid) / 1048576.0
		FROM pg_stat_user_tables WHERE schemaname IN ('identity', 'platform', 'river')`)
	if err != nil {
		return f, fmt.Errorf("table sizes: %w", err)
	}
	for rows.Next() {
		var name string
		var mib float64
		if err := rows.Scan(&name, &mib); err != nil {
			return f, fmt.Errorf("table sizes: %w", err)
		}
		if mib >= 1 {
			f.SizesMiB[name] = mib
		}
	}
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("table sizes: %w", err)
	}
	say(stdout, "bench:   filled in %s, VACUUM ANALYZE %s, CHECKPOINT and autovacuum %s\n",
		f.Took.Round(time.Second), f.Vacuum.Round(time.Second), f.Settle.Round(time.Second))
	return f, nil
}

// settle writes every dirty buffer to disk (CHECKPOINT) and waits, at most five minutes,
// until no autovacuum worker runs.
func settle(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); {
		var workers int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`).Scan(&workers); err != nil {
			return fmt.Errorf("autovacuum workers: %w", err)
		}
		if workers == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil
}

func execAll(ctx context.Context, url string, sqls []string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	for _, sql := range sqls {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
	}
	return nil
}

// counters are PostgreSQL's cumulative statistics a step is measured by.
type counters struct {
	// Scans is pg_stat_user_tables.seq_scan of the service's tables (schema.table).
	Scans map[string]int64
	// Writes are pg_stat_bgwriter's figures under the names of writesKeys.
	Writes map[string]int64
}

// writesKeys name pg_stat_bgwriter's figures: checkpoints begun, and buffers written by
// the checkpointer, by the background writer and by the backends themselves.
var writesKeys = []string{"checkpoints", "buffers_checkpoint", "buffers_clean", "buffers_backend"}

// readCounters reads the counters now.
func readCounters(ctx context.Context, url string) (counters, error) {
	c := counters{Scans: map[string]int64{}, Writes: map[string]int64{}}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return c, fmt.Errorf("connect for statistics: %w", err)
	}
	defer conn.Close(ctx)
	var w [4]int64
	if err := conn.QueryRow(ctx, `SELECT checkpoints_timed + checkpoints_req, buffers_checkpoint, buffers_clean, buffers_backend
		FROM pg_stat_bgwriter`).Scan(&w[0], &w[1], &w[2], &w[3]); err != nil {
		return c, fmt.Errorf("read pg_stat_bgwriter: %w", err)
	}
	for i, k := range writesKeys {
		c.Writes[k] = w[i]
	}
	rows, err := conn.Query(ctx, `SELECT schemaname || '.' || relname, coalesce(seq_scan, 0)
		FROM pg_stat_user_tables WHERE schemaname IN ('identity', 'platform', 'river')`)
	if err != nil {
		return c, fmt.Errorf("read seq_scan: %w", err)
	}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return c, fmt.Errorf("read seq_scan: %w", err)
		}
		c.Scans[name] = n
	}
	return c, rows.Err()
}

// delta is what grew from before to after, by name (names that did not grow left out).
func delta(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, n := range after {
		if d := n - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// writesLine is what PostgreSQL wrote during a step.
func writesLine(w map[string]int64) string {
	if len(w) == 0 {
		return "no checkpoint, no buffer written"
	}
	var parts []string
	for _, k := range writesKeys {
		if n := w[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}
