// Package maintenance runs the service's housekeeping: every interval, each registered
// task (retention of old rows, for now) deletes what it no longer needs in short batches,
// each in its own transaction, so no batch holds locks for long. Replicas share the work
// without colliding: a batch runs under a transaction-scoped advisory lock of its task
// (which works behind a transaction-mode pooler), and a replica that finds the lock taken
// leaves the task to the replica holding it until the next round.
package maintenance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/platform/database"
)

// DefaultBatchSize is how many rows one batch handles: small enough that a batch takes
// milliseconds and its locks are released at once. The runner hands it to every batch as
// an int32 (Task.Batch), the type of a query's LIMIT parameter, so the bound is checked
// here, once, by the compiler: batches pass it to their query as it is.
const DefaultBatchSize = 500

// Task is one kind of housekeeping.
type Task struct {
	// Name identifies the task in logs, metrics and its advisory lock, e.g.
	// "identity.pending_accounts".
	Name string
	// Batch handles at most limit rows within tx and returns how many it handled; the
	// runner calls it again while it returns limit. limit is at least 1 and at most
	// DefaultBatchSize, already an int32: a batch passes it to its query unchanged.
	Batch func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error)
}

// Runner runs the tasks every interval.
type Runner struct {
	pool      *pgxpool.Pool
	interval  time.Duration
	batchSize int32 // DefaultBatchSize: a constant, so the compiler checks that it fits
	logger    *slog.Logger

	mu     sync.Mutex
	tasks  []Task
	totals map[string]int64
}

// NewRunner returns a runner of no task yet over pool, every interval.
func NewRunner(pool *pgxpool.Pool, interval time.Duration, logger *slog.Logger) *Runner {
	return &Runner{
		pool: pool, interval: interval, batchSize: DefaultBatchSize,
		logger: logger.With(slog.String("component", "maintenance")), totals: map[string]int64{},
	}
}

// Add registers a task; modules add theirs when they are built.
func (r *Runner) Add(t Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, t)
	r.totals[t.Name] += 0 // every task reports, from the start
}

// Removed returns how many rows each task handled since the runner started.
func (r *Runner) Removed() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.totals))
	for k, v := range r.totals {
		out[k] = v
	}
	return out
}

// Run runs every task once per interval until ctx ends, then returns nil. A failed round
// is logged and tried again at the next interval.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.logger.WarnContext(ctx, "maintenance round failed; retrying at the next interval", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce runs every task until it has nothing left to do, or another replica holds it,
// and returns how many rows each handled.
func (r *Runner) RunOnce(ctx context.Context) (map[string]int64, error) {
	r.mu.Lock()
	tasks := append([]Task(nil), r.tasks...)
	r.mu.Unlock()
	done := map[string]int64{}
	var errs []error
	for _, task := range tasks {
		n, err := r.runTask(ctx, task)
		done[task.Name] = n
		if n > 0 {
			r.mu.Lock()
			r.totals[task.Name] += n
			r.mu.Unlock()
			r.logger.InfoContext(ctx, "maintenance removed rows", slog.String("task", task.Name), slog.Int64("rows", n))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("maintenance task %s: %w", task.Name, err))
		}
	}
	return done, errors.Join(errs...)
}

// runTask runs batches of task while they come back full.
func (r *Runner) runTask(ctx context.Context, task Task) (int64, error) {
	var total int64
	for ctx.Err() == nil {
		var n int64
		held := false
		err := database.InTx(ctx, r.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
				"maintenance:"+task.Name).Scan(&held); err != nil {
				return fmt.Errorf("advisory lock: %w", database.Classify(err))
			}
			if !held {
				return nil
			}
			var err error
			n, err = task.Batch(ctx, tx, r.batchSize)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if !held || n < int64(r.batchSize) {
			return total, nil
		}
	}
	return total, nil
}
