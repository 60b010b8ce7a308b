package database_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/acme/identity/db"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
)

// TestClassifyEveryWayOfLosingTheDatabase drives real pgx calls through a fault-injecting
// proxy and pg_terminate_backend, and checks that Classify marks every resulting error
// ErrUnavailable (the HTTP layer's 503), that none takes longer than the budget, and that
// the pool recovers by itself once the fault ends.
func TestClassifyEveryWayOfLosingTheDatabase(t *testing.T) {
	t.Parallel()
	target := dbtest.NewURL(t)
	proxy, viaProxy := dbtest.NewProxy(t, target)
	const timeout = 500 * time.Millisecond
	pool := openPool(t, viaProxy, database.Options{MaxConns: 4, Timeout: timeout})
	ctx := context.Background()

	// query runs one statement under a fresh budget and returns its error and duration.
	query := func(sql string) (time.Duration, error) {
		bctx, cancel := database.WithBudget(ctx, timeout)
		defer cancel()
		start := time.Now()
		_, err := pool.Exec(bctx, sql)
		return time.Since(start), err
	}
	healthy := func(fault string) {
		t.Helper()
		proxy.Heal()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := query("SELECT 1")
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: the pool did not recover: %v", fault, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	within := func(fault string, err error, took time.Duration) {
		t.Helper()
		wantUnavailable(t, fault, err)
		if took > timeout+time.Second {
			t.Errorf("%s: took %v, past the %v budget", fault, took, timeout)
		}
	}
	healthy("start")

	proxy.Delay(3 * time.Second)
	took, err := query("SELECT 1")
	within("delay", err, took)
	healthy("delay")

	proxy.Blackhole()
	took, err = query("SELECT 1")
	within("black hole", err, took)
	healthy("black hole")

	// A reset while the query is under way.
	proxy.Blackhole()
	done := make(chan struct{})
	go func() {
		defer close(done)
		took, err = query("SELECT 1")
	}()
	proxy.WaitHeld(t, 1, 5*time.Second)
	proxy.Reset()
	<-done
	within("reset mid-query", err, took)
	healthy("reset mid-query")

	// A reset of idle connections: the next call finds its connection dead.
	proxy.Reset()
	took, err = query("SELECT 1")
	within("reset idle connection", err, took)
	healthy("reset idle connection")

	// The database refuses connections.
	proxy.Refuse()
	took, err = query("SELECT 1")
	within("refused", err, took)
	healthy("refused")

	// The backend is terminated (admin shutdown, 57P01) while the connection is idle.
	if n := dbtest.TerminateBackends(t, target); n == 0 {
		t.Fatal("no backend to terminate")
	}
	took, err = query("SELECT 1")
	within("backend terminated", err, took)
	healthy("backend terminated")

	// The backend is terminated inside a transaction: the statement that finds it gone
	// fails, and every later one on that connection says "conn closed".
	bctx, cancel := database.WithBudget(ctx, 5*time.Second)
	defer cancel()
	err = database.InTx(bctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(bctx, "SELECT 1"); err != nil {
			return err
		}
		dbtest.TerminateBackends(t, target)
		first := database.Classify(pgErrOf(tx.Exec(bctx, "SELECT 1")))
		wantUnavailable(t, "first statement after termination", first)
		_, second := tx.Exec(bctx, "SELECT 1")
		if !errors.Is(second, pgconn.ErrConnClosed) {
			t.Errorf("second statement: %v, want conn closed", second)
		}
		wantUnavailable(t, "statement on a closed connection", second)
		return second
	})
	wantUnavailable(t, "transaction", err)
	healthy("backend terminated in a transaction")

	// Begin on a closed pool (shutdown).
	closed := openPool(t, viaProxy, database.Options{})
	closed.Close()
	err = database.InTx(ctx, closed, func(pgx.Tx) error { return nil })
	wantUnavailable(t, "closed pool", err)

	// What is not unavailability stays what it is.
	for _, tc := range []struct {
		sql  string
		code string
	}{
		{"SELEC 1", "42601"},
		{"SELECT 1/0", "22012"},
	} {
		_, err := query(tc.sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != tc.code || errors.Is(database.Classify(err), database.ErrUnavailable) {
			t.Errorf("%s: %v, want %s not marked unavailable", tc.sql, err, tc.code)
		}
	}
	cctx, cancelNow := context.WithCancel(ctx)
	cancelNow()
	if _, err := pool.Exec(cctx, "SELECT 1"); err == nil || errors.Is(database.Classify(err), database.ErrUnavailable) {
		t.Errorf("a cancelled caller: %v, want an error not marked unavailable", err)
	}
	// A statement on a live connection whose context was cancelled meanwhile: pgconn
	// calls it a timeout, and it is still the caller's going, not the database's.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	txCtx, cancelTx := context.WithCancel(ctx)
	cancelTx()
	if _, err := tx.Exec(txCtx, "SELECT 1"); err == nil || errors.Is(database.Classify(err), database.ErrUnavailable) {
		t.Errorf("a statement of a cancelled caller in a transaction: %v, want an error not marked unavailable", err)
	}
	_ = tx.Rollback(ctx)
	if err := database.Classify(pgx.ErrNoRows); errors.Is(err, database.ErrUnavailable) {
		t.Error("no rows marked unavailable")
	}
	if err := database.Classify(fmt.Errorf("x: %w", errors.New("conn busy"))); errors.Is(err, database.ErrUnavailable) {
		t.Error("an unknown error marked unavailable")
	}
}

func pgErrOf(_ pgconn.CommandTag, err error) error { return err }

// TestMigrateRefusesWhatDbmateCannotReadWithoutQuotingIt: dbmate reads URLs only, and
// url.Parse's errors quote the URL, password included.
func TestMigrateRefusesWhatDbmateCannotReadWithoutQuotingIt(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"host=127.0.0.1 user=postgres password=S3cretPW dbname=identity_never_created",
		"postgres://postgres:S3cret PW@127.0.0.1/identity_never_created",
	} {
		err := database.Migrate(context.Background(), u, db.Migrations, db.MigrationsDir, io.Discard)
		if err == nil || strings.Contains(err.Error(), "S3cret") {
			t.Errorf("Migrate(%q) = %v; want an error without the password", u, err)
		}
	}
}
