package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acme/identity/platform/jobs"
)

// JobsSource is what the job system's metrics read.
type JobsSource struct {
	// Counts reads the jobs not finished yet by kind and state, across every replica
	// (jobs.Jobs.Counts), from the refresh loop, never from a scrape.
	Counts func(context.Context) ([]jobs.Count, error)
	// Worked is what this replica's workers did (jobs.Jobs.Worked).
	Worked func() map[jobs.Outcome]int64
	// RefreshEvery is how often the counts are read; 0 means DefaultBacklogRefresh.
	RefreshEvery time.Duration
}

var (
	descJobs = prometheus.NewDesc(Namespace+"_jobs",
		"Jobs not finished yet, by kind and River state (available, pending, retryable, running, scheduled), across every replica.",
		[]string{"kind", "state"}, nil)
	descJobsWorked = prometheus.NewDesc(Namespace+"_jobs_worked_total",
		"Job attempts this replica worked, by kind and result (completed, cancelled, retried, discarded, snoozed).",
		[]string{"kind", "result"}, nil)
)

// Jobs exports the job system: the jobs waiting or running by kind and state (read every
// RefreshEvery by the loop it returns: run it as a worker), and the attempts this
// replica worked by kind and result. A state with no job is exported at 0 for every kind
// seen since start (read, or worked here), so a queue that drains shows 0 rather than
// vanishing; the counts are left out while no read succeeded for three intervals.
func (m *Metrics) Jobs(src JobsSource) (refresh func(ctx context.Context) error) {
	if src.RefreshEvery <= 0 {
		src.RefreshEvery = DefaultBacklogRefresh
	}
	c := &jobsCollector{src: src, seen: map[string]bool{}}
	m.reg.MustRegister(c)
	return Every(src.RefreshEvery, func(ctx context.Context) { c.refresh(ctx, m.logger) })
}

// jobStates are River's unfinished states, the ones jobs.Jobs.Counts reads.
var jobStates = []string{"available", "pending", "retryable", "running", "scheduled"}

type jobsCollector struct {
	src JobsSource

	mu     sync.Mutex
	counts map[[2]string]int64 // kind, state
	seen   map[string]bool     // kinds seen since start
	readAt time.Time
}

func (c *jobsCollector) refresh(ctx context.Context, logger *slog.Logger) {
	qctx, cancel := context.WithTimeout(ctx, BacklogTimeout)
	defer cancel()
	counts, err := c.src.Counts(qctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.WarnContext(ctx, "metrics: job counts not read", slog.Any("error", err))
		}
		return
	}
	byKey := make(map[[2]string]int64, len(counts))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range counts {
		byKey[[2]string{n.Kind, n.State}] = n.Jobs
		c.seen[n.Kind] = true
	}
	c.counts, c.readAt = byKey, time.Now()
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJobs
	ch <- descJobsWorked
}

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	kinds := map[string]bool{}
	for o, n := range c.src.Worked() {
		kinds[o.Kind] = true
		ch <- prometheus.MustNewConstMetric(descJobsWorked, prometheus.CounterValue, float64(n), o.Kind, o.Result)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readAt.IsZero() || time.Since(c.readAt) > backlogStaleAfter*c.src.RefreshEvery {
		return // absent, not a wrong zero (as the outbox backlog)
	}
	for kind := range c.seen {
		kinds[kind] = true
	}
	for kind := range kinds {
		for _, state := range jobStates {
			ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(c.counts[[2]string{kind, state}]), kind, state)
		}
	}
}
