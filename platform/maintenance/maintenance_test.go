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

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/maintenance"
	"github.com/acme/identity/platform/poll"
)

// TestReplicasShareTheWorkWithoutColliding: three replicas' job systems run one task every
// 50 ms on one table of 2,000 rows. Every row is deleted exactly once, and no two batches
// of the task ever run at the same time (one job of the task at a time, and the advisory
// lock); each batch handles at most the batch size. The elected leader schedules the
// task; any replica may run it.
func TestReplicasShareTheWorkWithoutColliding(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewURL(t)
	setup, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Exec(ctx, `CREATE TABLE chores (id int PRIMARY KEY);
	                            INSERT INTO chores SELECT generate_series(1, 2000)`); err != nil {
		t.Fatal(err)
	}
	_ = setup.Close(ctx)
	var running, overlaps, biggest, batches atomic.Int64
	task := maintenance.Task{Name: "test.chores", Batch: func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		batches.Add(1)
		tag, err := tx.Exec(ctx, `DELETE FROM chores WHERE id IN (SELECT id FROM chores ORDER BY id LIMIT $1)`, limit)
		if tag.RowsAffected() > biggest.Load() {
			biggest.Store(tag.RowsAffected())
		}
		time.Sleep(time.Millisecond) // widen the window in which a collision would show
		return tag.RowsAffected(), err
	}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var runners []*maintenance.Runner
	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	for range 3 {
		pool, err := database.Open(ctx, url, database.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		j, err := jobs.New(ctx, pool, jobs.Options{PollInterval: 20 * time.Millisecond}, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(j.Close)
		r, err := maintenance.NewRunner(j, 50*time.Millisecond, logger)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Add(task); err != nil {
			t.Fatal(err)
		}
		if err := r.Add(task); err == nil {
			t.Error("a task added twice: no error")
		}
		runners = append(runners, r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.Run(runCtx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	removed := func() int64 {
		var n int64
		for _, r := range runners {
			n += r.Removed()["test.chores"]
		}
		return n
	}
	poll.Until(t, 20*time.Second, "every row is deleted", func() bool { return removed() == 2000 })
	time.Sleep(200 * time.Millisecond) // later runs find nothing more
	stop()
	wg.Wait()

	if got := removed(); got != 2000 {
		t.Fatalf("%d rows reported removed; want 2000", got)
	}
	if overlaps.Load() != 0 {
		t.Fatalf("%d batches ran while another replica's batch was running", overlaps.Load())
	}
	if biggest.Load() > maintenance.DefaultBatchSize {
		t.Fatalf("a batch handled %d rows, more than the batch size %d", biggest.Load(), maintenance.DefaultBatchSize)
	}
	t.Logf("%d batches; removed by replica: %d, %d, %d", batches.Load(),
		runners[0].Removed()["test.chores"], runners[1].Removed()["test.chores"], runners[2].Removed()["test.chores"])
}
