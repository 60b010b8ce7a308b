package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/jobs/internal/sqlcgen"
)

// What the job system tells the metrics: the jobs waiting or running across every
// replica, read from the database on a timer, and what this replica's workers did,
// counted as it happens.

// Count is how many jobs of one kind are in one unfinished state, across every replica.
type Count struct {
	Kind string
	// State is River's: available, pending, retryable, running or scheduled.
	State string
	Jobs  int64
}

// Counts reads the jobs not finished yet by kind and state (one indexed query; finished
// jobs are left out, see CountUnfinishedJobs). For a refresh loop, never a scrape.
func (j *Jobs) Counts(ctx context.Context) ([]Count, error) {
	rows, err := sqlcgen.New(j.pool).CountUnfinishedJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", database.Classify(err))
	}
	out := make([]Count, len(rows))
	for i, r := range rows {
		out[i] = Count{Kind: r.Kind, State: r.State, Jobs: r.Jobs}
	}
	return out, nil
}

// OldestUnfinished returns when the oldest job of kind not finished yet was inserted
// (the zero time when none is waiting or running), across every replica. For a refresh
// loop, never a scrape.
func (j *Jobs) OldestUnfinished(ctx context.Context, kind string) (time.Time, error) {
	oldest, err := sqlcgen.New(j.pool).OldestUnfinishedJob(ctx, kind)
	if err != nil {
		return time.Time{}, fmt.Errorf("oldest %s job: %w", kind, database.Classify(err))
	}
	if !oldest.Valid {
		return time.Time{}, nil
	}
	return oldest.Time, nil
}

// Outcome is what became of a job this replica worked: its kind and how the attempt
// ended: completed, cancelled (for good, by its worker), retried (failed; it will run
// again), discarded (failed its last attempt) or snoozed.
type Outcome struct {
	Kind, Result string
}

// Worked returns how many jobs this replica worked, by outcome, since it started.
func (j *Jobs) Worked() map[Outcome]int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make(map[Outcome]int64, len(j.worked))
	for k, v := range j.worked {
		out[k] = v
	}
	return out
}

// count tallies the client's events until ctx ends.
func (j *Jobs) count(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-j.events:
			if !ok {
				return
			}
			if ev.Job == nil {
				continue
			}
			result := ""
			switch ev.Kind {
			case river.EventKindJobCompleted:
				result = "completed"
			case river.EventKindJobCancelled:
				result = "cancelled"
			case river.EventKindJobSnoozed:
				result = "snoozed"
			case river.EventKindJobFailed:
				result = "retried"
				if ev.Job.State == rivertype.JobStateDiscarded {
					result = "discarded"
				}
			default:
				continue
			}
			j.mu.Lock()
			j.worked[Outcome{Kind: ev.Job.Kind, Result: result}]++
			j.mu.Unlock()
		}
	}
}
