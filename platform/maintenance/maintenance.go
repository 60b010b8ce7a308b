// Package maintenance runs the service's housekeeping: each registered task (retention of
// old rows, for now) is a periodic job of the job system (platform/jobs), inserted every
// interval by River's elected leader among the replicas, unique while one is waiting or
// running, so a task runs one at a time, on whichever replica takes its job. A run
// deletes what the task no longer needs in short batches, each in its own transaction, so
// no batch holds locks for long, and each under a transaction-scoped advisory lock of its
// task (which works behind a transaction-mode pooler) as a second guard: a batch that
// finds the lock taken leaves the task to the run holding it.
package maintenance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/jobs"
)

// DefaultBatchSize is how many rows one batch handles: small enough that a batch takes
// milliseconds and its locks are released at once. The runner hands it to every batch as
// an int32 (Task.Batch), the type of a query's LIMIT parameter, so the bound is checked
// here, once, by the compiler: batches pass it to their query as it is.
const DefaultBatchSize = 500

// Kind is the kind of a task's job.
const Kind = "maintenance.task"

// runBudget is how long one run of a task works before it leaves the rest to its next
// run, which it asks for at once (a snooze): a backlog of rows (a long outage, a lowered
// retention) is deleted in runs that each end well within the job's timeout.
const runBudget = 15 * time.Second

// Task is one kind of housekeeping.
type Task struct {
	// Name identifies the task in logs, metrics, its job's arguments and its advisory
	// lock, e.g. "identity.pending_accounts".
	Name string
	// Batch handles at most limit rows within tx and returns how many it handled; the
	// runner calls it again while it returns limit. limit is at least 1 and at most
	// DefaultBatchSize, already an int32: a batch passes it to its query unchanged.
	Batch func(ctx context.Context, tx pgx.Tx, limit int32) (int64, error)
}

// Runner registers the tasks as periodic jobs, and runs their jobs.
type Runner struct {
	jobs      *jobs.Jobs
	interval  time.Duration
	batchSize int32 // DefaultBatchSize: a constant, so the compiler checks that it fits
	logger    *slog.Logger

	mu     sync.Mutex
	tasks  map[string]Task
	totals map[string]int64
}

// NewRunner returns a runner of no task yet on j, every interval (MAINTENANCE_INTERVAL):
// it registers the worker of the tasks' jobs. Call it before j runs, once per j.
func NewRunner(j *jobs.Jobs, interval time.Duration, logger *slog.Logger) (*Runner, error) {
	r := &Runner{
		jobs: j, interval: interval, batchSize: DefaultBatchSize,
		logger: logger.With(slog.String("component", "maintenance")),
		tasks:  map[string]Task{}, totals: map[string]int64{},
	}
	if err := jobs.AddWorker(j, &worker{r: r}); err != nil {
		return nil, err
	}
	return r, nil
}

// Add registers a task, a periodic job from then on; modules add theirs when they are
// built. A task's name is its identity: adding a name twice is an error.
func (r *Runner) Add(t Task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.tasks[t.Name]; dup {
		return fmt.Errorf("maintenance task %s added twice", t.Name)
	}
	err := r.jobs.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(r.interval),
		func() (river.JobArgs, *river.InsertOpts) { return taskArgs{Task: t.Name}, nil },
		// Run at once when a replica becomes leader: a task never waits a whole interval
		// after a deployment.
		&river.PeriodicJobOpts{RunOnStart: true}))
	if err != nil {
		return err
	}
	r.tasks[t.Name] = t
	r.totals[t.Name] += 0 // every task reports, from the start
	return nil
}

// Removed returns how many rows each task handled on this replica since it started.
func (r *Runner) Removed() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.totals))
	for k, v := range r.totals {
		out[k] = v
	}
	return out
}

// taskArgs are the arguments of a task's job: its name.
type taskArgs struct {
	Task string `json:"task"`
}

// Kind implements river.JobArgs.
func (taskArgs) Kind() string { return Kind }

// InsertOpts implements river.JobArgsWithInsertOpts: a task's job is unique by its
// arguments while it waits or runs (not once completed, or the next interval's would be
// refused until River's cleaner deletes it), so the leader's insert at an interval when
// the previous run is still going is skipped: one run of a task at a time.
func (taskArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: jobs.QueueDefault,
		// One attempt more would be the next interval's run anyway.
		MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

// worker runs a task's job.
type worker struct {
	river.WorkerDefaults[taskArgs]
	r *Runner
}

// Timeout implements river.Worker: a run ends within its budget plus one batch.
func (w *worker) Timeout(*river.Job[taskArgs]) time.Duration { return runBudget + 15*time.Second }

// Work implements river.Worker: it runs the task's batches while they come back full,
// for at most runBudget; then it asks to run again at once.
func (w *worker) Work(ctx context.Context, job *river.Job[taskArgs]) error {
	r := w.r
	r.mu.Lock()
	task, ok := r.tasks[job.Args.Task]
	r.mu.Unlock()
	if !ok {
		// A task of another release (a rolling upgrade): nothing to do here.
		r.logger.WarnContext(ctx, "maintenance task unknown to this replica; skipped", slog.String("task", job.Args.Task))
		return nil
	}
	n, more, err := r.runTask(ctx, task, time.Now().Add(runBudget))
	if n > 0 {
		r.mu.Lock()
		r.totals[task.Name] += n
		r.mu.Unlock()
		r.logger.InfoContext(ctx, "maintenance removed rows", slog.String("task", task.Name), slog.Int64("rows", n))
	}
	if err != nil {
		return fmt.Errorf("maintenance task %s: %w", task.Name, err)
	}
	if more {
		return river.JobSnooze(0)
	}
	return nil
}

// runTask runs batches of task while they come back full, until deadline; more reports
// that rows were left for the next run.
func (r *Runner) runTask(ctx context.Context, task Task, deadline time.Time) (total int64, more bool, err error) {
	for ctx.Err() == nil {
		if time.Now().After(deadline) {
			return total, true, nil
		}
		var n int64
		held := false
		err := database.InTx(ctx, r.jobs.Pool(), func(tx pgx.Tx) error {
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
			return total, false, err
		}
		total += n
		if !held || n < int64(r.batchSize) {
			return total, false, nil
		}
	}
	return total, false, errors.Join(ctx.Err())
}
