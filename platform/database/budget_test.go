package database_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
)

func openPool(t *testing.T, url string, opts database.Options) *pgxpool.Pool {
	t.Helper()
	pool, err := database.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// wantUnavailable fails t unless err is a database error the HTTP layer answers with 503.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want the database unavailable", what)
	}
	if !errors.Is(database.Classify(err), database.ErrUnavailable) {
		t.Fatalf("%s: Classify(%v) is not ErrUnavailable", what, err)
	}
}

// TestBudgetStartsAtTheFirstDatabaseCall: a budget has no deadline until the pool is
// first used with it, then one of exactly its timeout, which ends a query that outlives it.
func TestBudgetStartsAtTheFirstDatabaseCall(t *testing.T) {
	t.Parallel()
	pool := openPool(t, dbtest.NewURL(t), database.Options{})
	const timeout = 300 * time.Millisecond

	ctx, cancel := database.WithBudget(context.Background(), timeout)
	defer cancel()
	if _, ok := ctx.Deadline(); ok || ctx.Err() != nil {
		t.Fatal("the budget started before any database call")
	}
	before := time.Now()
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	deadline, ok := ctx.Deadline()
	if !ok || deadline.Before(before.Add(timeout)) || deadline.After(time.Now().Add(timeout)) {
		t.Fatalf("deadline %v (set: %v), want the first call's start + %v", deadline, ok, timeout)
	}

	// The rest of the request's database work shares the budget: a long query ends at it.
	start := time.Now()
	_, err := pool.Exec(ctx, "SELECT pg_sleep(5)")
	wantUnavailable(t, "a query past the budget", err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the query ran %v, past the budget", took)
	}
	// The pool is fine afterwards.
	if _, err := pool.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("after an expired budget: %v", err)
	}
}

// TestBudgetIncludesTheWaitForAConnection: with every connection taken, a request waits
// for one within its budget, and without a budget within the pool's timeout.
func TestBudgetIncludesTheWaitForAConnection(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	pool := openPool(t, dbtest.NewURL(t), database.Options{MaxConns: 1, Timeout: timeout})
	held, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()

	ctx, cancel := database.WithBudget(context.Background(), timeout)
	defer cancel()
	for name, ctx := range map[string]context.Context{"with a budget": ctx, "without a budget": context.Background()} {
		start := time.Now()
		_, err := pool.Exec(ctx, "SELECT 1")
		wantUnavailable(t, name, err)
		if took := time.Since(start); took < timeout || took > timeout+time.Second {
			t.Errorf("%s: waited %v for a connection, want about %v", name, took, timeout)
		}
	}
}

// TestBudgetContext: the budget is a well-behaved context: its parent's end ends it,
// contexts derived from it before it started end with it, and cancel releases it.
func TestBudgetContext(t *testing.T) {
	t.Parallel()
	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel := database.WithBudget(parent, time.Hour)
	defer cancel()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	cancelParent()
	<-ctx.Done()
	<-child.Done()
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("errors %v, %v; want context.Canceled", ctx.Err(), child.Err())
	}

	ctx, cancel = database.WithBudget(context.Background(), time.Hour)
	cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("after cancel: %v", ctx.Err())
	}

	// A budget that runs out ends the contexts derived from it before it started. It is
	// long enough for the query below to finish on a loaded machine (a new pool's first
	// query connects), short enough to wait for.
	pool := openPool(t, dbtest.NewURL(t), database.Options{})
	ctx, cancel = database.WithBudget(context.Background(), 2*time.Second)
	defer cancel()
	child, cancelChild = context.WithTimeout(ctx, time.Hour)
	defer cancelChild()
	if _, err := pool.Exec(child, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-child.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the derived context outlived the budget")
	}
	if !errors.Is(child.Err(), context.DeadlineExceeded) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("errors %v, %v; want context.DeadlineExceeded", child.Err(), ctx.Err())
	}
}

// TestCloseIsBounded: pgxpool's Close waits for every connection in use; Close gives up
// after its timeout.
func TestCloseIsBounded(t *testing.T) {
	t.Parallel()
	pool, err := database.Open(context.Background(), dbtest.NewURL(t), database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	held, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if database.Close(pool, 200*time.Millisecond) {
		t.Fatal("closed while a connection was in use")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v", took)
	}
	held.Release()
	if !database.Close(pool, 5*time.Second) {
		t.Fatal("not closed once the connection came back")
	}
}
