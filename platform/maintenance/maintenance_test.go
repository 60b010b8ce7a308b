package maintenance_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/maintenance"
)

// TestReplicasShareTheWorkWithoutColliding: three replicas' runners drain one table of
// 2,000 rows at once. Every row is deleted exactly once, and no two batches of the task
// ever run at the same time (the advisory lock); each batch handles at most the batch
// size.
func TestReplicasShareTheWorkWithoutColliding(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE chores (id int PRIMARY KEY);
	                            INSERT INTO chores SELECT generate_series(1, 2000)`); err != nil {
		t.Fatal(err)
	}
	var running, overlaps, biggest atomic.Int64
	task := maintenance.Task{Name: "test.chores", Batch: func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		tag, err := tx.Exec(ctx, `DELETE FROM chores WHERE id IN (SELECT id FROM chores ORDER BY id LIMIT $1)`, limit)
		if tag.RowsAffected() > biggest.Load() {
			biggest.Store(tag.RowsAffected())
		}
		time.Sleep(time.Millisecond) // widen the window in which a collision would show
		return tag.RowsAffected(), err
	}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		wg      sync.WaitGroup
		removed atomic.Int64
	)
	for range 3 {
		r := maintenance.NewRunner(pool, time.Hour, logger)
		r.Add(task)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 { // rounds: a replica that finds the lock taken tries again later
				done, err := r.RunOnce(ctx)
				if err != nil {
					t.Errorf("RunOnce: %v", err)
					return
				}
				removed.Add(done["test.chores"])
			}
			if got := r.Removed()["test.chores"]; got < 0 {
				t.Errorf("Removed = %d", got)
			}
		}()
	}
	wg.Wait()
	var left int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM chores").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 || removed.Load() != 2000 {
		t.Fatalf("%d rows left, %d reported removed; want 0 and 2000", left, removed.Load())
	}
	if overlaps.Load() != 0 {
		t.Fatalf("%d batches ran while another replica's batch was running", overlaps.Load())
	}
	if biggest.Load() > maintenance.DefaultBatchSize {
		t.Fatalf("a batch handled %d rows, more than the batch size %d", biggest.Load(), maintenance.DefaultBatchSize)
	}
}
