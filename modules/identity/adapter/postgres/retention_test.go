package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/modules/identity/adapter/postgres"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database"
)

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// batch runs one retention batch in a transaction, as the maintenance runner does.
func batch(t *testing.T, pool *pgxpool.Pool, limit int32, fn func(context.Context, pgx.Tx, int32) (int64, error)) int64 {
	t.Helper()
	var n int64
	err := database.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		var err error
		n, err = fn(context.Background(), tx, limit)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeleteStalePendingAccounts(t *testing.T) {
	ctx := context.Background()
	store, pool := newStore(t)
	for _, email := range []domain.Email{"old1@example.com", "old2@example.com", "old3@example.com", "fresh@example.com", "active@example.com"} {
		if _, err := register(ctx, store, email, "hash-1"); err != nil {
			t.Fatal(err)
		}
	}
	// Three pending accounts whose code is 8 days old, one fresh, and one activated long
	// ago (it has no code any more: activation deletes it).
	exec(t, pool, `UPDATE identity.activation_codes SET issued_at = issued_at - interval '8 days', expires_at = expires_at - interval '8 days'
	               WHERE account_id IN (SELECT id FROM identity.accounts WHERE email LIKE 'old%' OR email = 'active@example.com')`)
	exec(t, pool, `DELETE FROM identity.activation_codes WHERE account_id = (SELECT id FROM identity.accounts WHERE email = 'active@example.com')`)
	exec(t, pool, `UPDATE identity.accounts SET status = 'active', activated_at = now() - interval '8 days', created_at = now() - interval '9 days'
	               WHERE email = 'active@example.com'`)
	ledgerBefore := count(t, pool, "SELECT count(*) FROM identity.activation_ledger")

	del := postgres.DeleteStalePendingAccounts(7 * 24 * time.Hour)
	if n := batch(t, pool, 2, del); n != 2 {
		t.Fatalf("first batch of 2 deleted %d", n)
	}
	if n := batch(t, pool, 2, del); n != 1 {
		t.Fatalf("second batch deleted %d, want the last stale one", n)
	}
	if n := batch(t, pool, 2, del); n != 0 {
		t.Fatalf("third batch deleted %d, want 0", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM identity.accounts WHERE email LIKE 'old%'"); n != 0 {
		t.Fatalf("%d stale pending accounts left", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM identity.accounts WHERE email IN ('fresh@example.com', 'active@example.com')"); n != 2 {
		t.Fatalf("%d of the fresh and the active account left, want both", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM identity.activation_codes c LEFT JOIN identity.accounts a ON a.id = c.account_id WHERE a.id IS NULL"); n != 0 {
		t.Fatalf("%d codes of deleted accounts left", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM identity.activation_ledger"); n != ledgerBefore {
		t.Fatalf("the ledger went from %d to %d rows: the budgets must outlive the account", ledgerBefore, n)
	}

	// The address can register again; its ledger still counts the earlier code.
	acc, err := register(ctx, store, "old1@example.com", "hash-1")
	if err != nil {
		t.Fatalf("register a deleted account's address again: %v", err)
	}
	if len(acc.Ledger.CodesIssued) != 2 {
		t.Fatalf("ledger of the new account holds %d codes, want 2 (the earlier one counts)", len(acc.Ledger.CodesIssued))
	}
}

func TestDeleteStalePendingAccountsSkipsLockedAccounts(t *testing.T) {
	ctx := context.Background()
	store, pool := newStore(t)
	acc, err := register(ctx, store, "busy@example.com", "hash-1")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `UPDATE identity.activation_codes SET issued_at = issued_at - interval '8 days', expires_at = expires_at - interval '8 days'`)
	// A request holds the account (as an activation does): the retention batch neither
	// waits for it nor deletes it.
	_, err = update(ctx, store, acc.ID, func(*domain.Account, time.Time) error {
		done := make(chan int64, 1)
		go func() { done <- batch(t, pool, 10, postgres.DeleteStalePendingAccounts(7*24*time.Hour)) }()
		select {
		case n := <-done:
			if n != 0 {
				t.Errorf("deleted %d locked accounts", n)
			}
		case <-time.After(5 * time.Second):
			t.Error("the retention batch waited for a locked account")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := batch(t, pool, 10, postgres.DeleteStalePendingAccounts(7*24*time.Hour)); n != 1 {
		t.Fatalf("once unlocked: deleted %d, want 1", n)
	}
}

func TestPruneActivationLedger(t *testing.T) {
	_, pool := newStore(t)
	exec(t, pool, `INSERT INTO identity.activation_ledger (mailbox, kind, occurred_at)
	               SELECT 'a@example.com', 'wrong_code', now() - i * interval '1 hour' FROM generate_series(0, 47) AS i`)
	total := int64(0)
	for {
		n := batch(t, pool, 10, postgres.PruneActivationLedger)
		total += n
		if n < 10 {
			break
		}
	}
	// 0..23 hours old stay (24 rows); 24..47 hours old (24 rows) leave.
	if total != 24 || count(t, pool, "SELECT count(*) FROM identity.activation_ledger") != 24 ||
		count(t, pool, "SELECT count(*) FROM identity.activation_ledger WHERE occurred_at < now() - interval '24 hours'") != 0 {
		t.Fatalf("pruned %d, left %d", total, count(t, pool, "SELECT count(*) FROM identity.activation_ledger"))
	}
}

// TestDeleteStalePendingAccountsKeepsAReissuedCode: a code re-issued while the retention
// batch runs saves its account. A transaction rewrites the stale code with a fresh
// issued_at, as UpsertActivationCode does, and holds it uncommitted while the batch
// runs: the batch's snapshot still sees the old, stale code. (The account lock the store
// takes first is left out: it makes any batch skip the account while it is held; the
// danger is the code's newer version the batch cannot see, which this reproduces.) The
// batch must skip the account (the code row is locked) or wait and recheck it, never
// delete it; a batch that locked only the account deleted it, waiting for the code's
// row in the cascade and then deleting the fresh code too.
func TestDeleteStalePendingAccountsKeepsAReissuedCode(t *testing.T) {
	ctx := context.Background()
	store, pool := newStore(t)
	acc, err := register(ctx, store, "reissued@example.com", "hash-1")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `UPDATE identity.activation_codes SET issued_at = issued_at - interval '8 days', expires_at = expires_at - interval '8 days'`)

	reissue, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reissue.Rollback(ctx) }()
	if _, err := reissue.Exec(ctx, `UPDATE identity.activation_codes SET issued_at = now(), expires_at = now() + interval '1 hour'
	                                WHERE account_id = $1`, acc.ID); err != nil {
		t.Fatal(err)
	}

	del := postgres.DeleteStalePendingAccounts(7 * 24 * time.Hour)
	done := make(chan int64, 1)
	go func() { done <- batch(t, pool, 10, del) }()
	// Either the batch returns (it skipped the locked code) or it waits for a row lock.
	var deleted int64 = -1
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; deleted < 0 && !waiting; {
		select {
		case deleted = <-done:
			continue
		default:
		}
		waiting = count(t, pool, `SELECT count(*) FROM pg_stat_activity
		                           WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`) > 0
		if !waiting && time.Now().After(deadline) {
			t.Fatal("the retention batch neither returned nor waited for a lock")
		}
	}
	if err := reissue.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if deleted < 0 {
		deleted = <-done
	}
	if deleted != 0 {
		t.Errorf("the batch deleted %d accounts, want 0: the code was re-issued", deleted)
	}
	if n := count(t, pool, `SELECT count(*) FROM identity.accounts a JOIN identity.activation_codes c ON c.account_id = a.id
	                        WHERE a.id = $1 AND c.issued_at > now() - interval '1 hour'`, acc.ID); n != 1 {
		t.Fatalf("the re-issued account and its fresh code: %d rows, want 1", n)
	}
	if n := batch(t, pool, 10, del); n != 0 {
		t.Fatalf("a later batch deleted %d, want 0: the code is fresh", n)
	}
}

// TestPurgeSessions: the retention batches delete the sessions that ended by idleness or
// by age, and keep the live ones.
func TestPurgeSessions(t *testing.T) {
	ctx := context.Background()
	store, pool := newStore(t)
	acc, err := register(ctx, store, "sessions@example.com", "hash-1")
	if err != nil {
		t.Fatal(err)
	}
	p := domain.SessionPolicy{IdleTimeout: time.Hour, MaxAge: 24 * time.Hour, PerAccount: 10}
	// Three sessions: live, idle for over an hour, and used a minute ago but signed in
	// over a day ago.
	for i, ages := range [][2]string{{"0 minutes", "0 minutes"}, {"2 hours", "61 minutes"}, {"25 hours", "1 minute"}} {
		exec(t, pool, `INSERT INTO identity.sessions (account_id, token_hash, created_at, last_used_at)
		               VALUES ($1, sha256(convert_to($2, 'UTF8')), now() - $3::interval, now() - $4::interval)`,
			acc.ID, string(rune('a'+i)), ages[0], ages[1])
	}
	idle, old := postgres.PurgeSessions(p)
	if n := batch(t, pool, 10, idle); n != 1 {
		t.Fatalf("the idle batch deleted %d, want the idle session", n)
	}
	if n := batch(t, pool, 10, old); n != 1 {
		t.Fatalf("the age batch deleted %d, want the session past its maximum age", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM identity.sessions"); n != 1 {
		t.Fatalf("%d sessions left, want the live one", n)
	}
	if n := batch(t, pool, 10, idle) + batch(t, pool, 10, old); n != 0 {
		t.Fatalf("the batches deleted %d live sessions", n)
	}
}
