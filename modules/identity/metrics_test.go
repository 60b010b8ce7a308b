package identity_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/acme/identity/modules/identity"
	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/module"
	"github.com/acme/identity/platform/outbox/outboxtest"
	"github.com/acme/identity/platform/poll"
)

// TestSessionsGaugeScansNoTable: the live-sessions gauge follows the sessions held, and
// its refreshes (every 30 s on every replica) read PostgreSQL's statistics, not the table:
// identity.sessions is neither sequentially nor index scanned however often it runs (a
// count(*) over 1.5 million sessions took 365 ms, issue 24).
func TestSessionsGaugeScansNoTable(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewURL(t)
	// One connection: its statistics are flushed on demand before they are read.
	pool, err := pgxpool.New(ctx, url+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reg := prometheus.NewRegistry()
	env := map[string]string{"PASSWORD_HASH_MEMORY_KIB": "1024", "PASSWORD_HASH_ITERATIONS": "1"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	settings, err := identity.LoadSettings(cfg.Modules)
	if err != nil {
		t.Fatal(err)
	}
	m, err := identity.New(module.Platform{Env: cfg.Modules, Pool: pool, Outbox: outboxtest.New(t, pool), Metrics: reg}, settings)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Workers()) != 1 {
		t.Fatalf("%d workers, want the gauge's refresh alone", len(m.Workers()))
	}
	refresh := m.Workers()[0]

	seed, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = seed.Close(ctx) })
	// flush has the backend of exec hand its pending statistics over at once (PostgreSQL
	// 15: at the end of the statement's transaction, before it answers).
	flush := func(exec func(context.Context, string, ...any) error) {
		t.Helper()
		if err := exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
			t.Fatal(err)
		}
	}
	seedExec := func(ctx context.Context, sql string, args ...any) error {
		_, err := seed.Exec(ctx, sql, args...)
		return err
	}
	poolExec := func(ctx context.Context, sql string, args ...any) error {
		_, err := pool.Exec(ctx, sql, args...)
		return err
	}
	scans := func() (n int64) {
		t.Helper()
		conn, err := pgx.Connect(ctx, url) // a fresh snapshot of the statistics
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close(ctx) }()
		if err := conn.QueryRow(ctx, `SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
			FROM pg_stat_user_tables WHERE relid = 'identity.sessions'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	gauge := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "identity_sessions_live" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no series identity_sessions_live")
		return 0
	}

	if err := seedExec(ctx, `INSERT INTO identity.accounts (email, password_hash) VALUES ('gauge@example.com', 'x')`); err != nil {
		t.Fatal(err)
	}
	sessions := 0
	addSessions := func(n int) {
		t.Helper()
		if err := seedExec(ctx, `INSERT INTO identity.sessions (account_id, token_hash)
			SELECT a.id, sha256(($1 || '-' || i)::bytea) FROM identity.accounts a, generate_series(1, $2) i`,
			fmt.Sprint(sessions), n); err != nil {
			t.Fatal(err)
		}
		sessions += n
		flush(seedExec)
	}
	addSessions(100)
	before := scans()
	for round := range 3 {
		addSessions(round + 1)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- refresh(rctx) }()
		poll.Until(t, 5*time.Second, fmt.Sprintf("the gauge reads %d sessions", sessions), func() bool {
			return gauge() == float64(sessions)
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	flush(poolExec)
	if after := scans(); after != before {
		t.Errorf("identity.sessions scanned %d times by 3 refreshes of the gauge, want none", after-before)
	}
}
