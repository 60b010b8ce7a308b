package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/acme/identity/platform/outbox"
)

// OutboxSource is what the outbox metrics read.
type OutboxSource struct {
	// Queued counts the emails queued by this replica (outbox.Outbox.Queued).
	Queued func() int64
	// Stats are this replica's outbox counters (outbox.Outbox.Stats).
	Stats func() outbox.Stats
	// Backlog reads the backlog every replica shares (outbox.Outbox.Backlog), from
	// the refresh loop, never from a scrape.
	Backlog func(context.Context) (outbox.Backlog, error)
	// RefreshEvery is how often the backlog is read; 0 means DefaultBacklogRefresh.
	RefreshEvery time.Duration
}

const (
	// DefaultBacklogRefresh is how often a replica reads the outbox backlog: a scrape
	// serves a value at most this old (plus one query), and the database answers one
	// cheap indexed query per replica per interval, however often /metrics is scraped.
	DefaultBacklogRefresh = 2 * time.Second
	// BacklogTimeout bounds one backlog query: a slow database costs the refresh loop at
	// most this.
	BacklogTimeout = time.Second
	// backlogStaleAfter is how many refresh intervals a value is served after the last
	// successful read: past it the series are left out (the database is unreachable).
	backlogStaleAfter = 3
)

// Outbox exports the email outbox: emails queued, sent and dropped by this replica, the
// backlog and the age of its oldest unsent email (shared by every replica). It returns
// the loop that reads the backlog: run it as a worker until ctx ends. A scrape serves the
// loop's last value, and leaves the backlog series out while no read succeeded for
// three intervals.
func (m *Metrics) Outbox(src OutboxSource) (refresh func(ctx context.Context) error) {
	if src.RefreshEvery <= 0 {
		src.RefreshEvery = DefaultBacklogRefresh
	}
	c := &outboxCollector{src: src}
	m.reg.MustRegister(c)
	return Every(src.RefreshEvery, func(ctx context.Context) { c.refresh(ctx, m.logger) })
}

// Every returns a loop that calls read at once and then every interval until ctx ends:
// how a collector keeps a value read from the database (read stores it, a scrape serves
// it) without a query per scrape. Run it as a worker.
func Every(interval time.Duration, read func(ctx context.Context)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			read(ctx)
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}
}

var (
	descQueued = prometheus.NewDesc(Namespace+"_outbox_emails_queued_total",
		"Emails queued by this replica's modules (committed with the change that caused them).", nil, nil)
	descSent = prometheus.NewDesc(Namespace+"_outbox_emails_sent_total",
		"Emails this replica handed to the mail provider.", nil, nil)
	descDropped = prometheus.NewDesc(Namespace+"_outbox_emails_dropped_total",
		"Emails this replica dropped unsent because they had expired (their content was no longer of use).", nil, nil)
	descReleased = prometheus.NewDesc(Namespace+"_outbox_emails_released_total",
		"Emails this replica handed back to the queue at shutdown, unsent.", nil, nil)
	descBacklog = prometheus.NewDesc(Namespace+"_outbox_backlog_emails",
		"Emails queued and neither sent, dropped nor failed yet, across every replica.", nil, nil)
	descOldest = prometheus.NewDesc(Namespace+"_outbox_oldest_unsent_age_seconds",
		"Age of the oldest email not yet sent, dropped or failed, across every replica (0 when none).", nil, nil)
)

type outboxCollector struct {
	src OutboxSource

	mu      sync.Mutex
	backlog outbox.Backlog
	readAt  time.Time // of the last successful read; zero: none yet
}

func (c *outboxCollector) refresh(ctx context.Context, logger *slog.Logger) {
	qctx, cancel := context.WithTimeout(ctx, BacklogTimeout)
	defer cancel()
	b, err := c.src.Backlog(qctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.WarnContext(ctx, "metrics: outbox backlog not read", slog.Any("error", err))
		}
		return
	}
	c.mu.Lock()
	c.backlog, c.readAt = b, time.Now()
	c.mu.Unlock()
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descSent, descDropped, descReleased, descBacklog, descOldest} {
		ch <- d
	}
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.CounterValue, float64(c.src.Queued()))
	ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(stats.Sent))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(stats.Dropped))
	ch <- prometheus.MustNewConstMetric(descReleased, prometheus.CounterValue, float64(stats.Released))

	c.mu.Lock()
	b, readAt := c.backlog, c.readAt
	c.mu.Unlock()
	if readAt.IsZero() || time.Since(readAt) > backlogStaleAfter*c.src.RefreshEvery {
		// Absent series, not a wrong zero: alert on absent(...) as on a high value.
		return
	}
	ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(b.Emails))
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, b.OldestAge.Seconds())
}

// Pool exports the statistics of the PostgreSQL pool.
func (m *Metrics) Pool(pool *pgxpool.Pool) {
	m.reg.MustRegister(&poolCollector{stat: pool.Stat})
}

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_db_pool_"+name, help, nil, nil)
}

var (
	descPoolMax          = poolDesc("max_connections", "Largest size of the pool.")
	descPoolTotal        = poolDesc("connections", "Connections in the pool: acquired, idle and being opened.")
	descPoolAcquired     = poolDesc("acquired_connections", "Connections in use by the service now.")
	descPoolIdle         = poolDesc("idle_connections", "Idle connections in the pool.")
	descPoolConstructing = poolDesc("constructing_connections", "Connections being opened.")
	descPoolAcquires     = poolDesc("acquires_total", "Successful acquisitions of a connection.")
	descPoolAcquireTime  = poolDesc("acquire_duration_seconds_total", "Total time spent acquiring connections.")
	descPoolEmpty        = poolDesc("empty_acquires_total", "Acquisitions that had to wait for a connection (the pool was empty).")
	descPoolEmptyWait    = poolDesc("empty_acquire_wait_seconds_total", "Total time acquisitions waited for a connection because the pool was empty.")
	descPoolCanceled     = poolDesc("canceled_acquires_total", "Acquisitions cancelled by their context (timeouts, clients that left).")
	descPoolNew          = poolDesc("new_connections_total", "Connections opened.")
)

type poolCollector struct {
	stat func() *pgxpool.Stat
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descPoolMax, float64(s.MaxConns()))
	gauge(descPoolTotal, float64(s.TotalConns()))
	gauge(descPoolAcquired, float64(s.AcquiredConns()))
	gauge(descPoolIdle, float64(s.IdleConns()))
	gauge(descPoolConstructing, float64(s.ConstructingConns()))
	counter(descPoolAcquires, float64(s.AcquireCount()))
	counter(descPoolAcquireTime, s.AcquireDuration().Seconds())
	counter(descPoolEmpty, float64(s.EmptyAcquireCount()))
	counter(descPoolEmptyWait, s.EmptyAcquireWaitTime().Seconds())
	counter(descPoolCanceled, float64(s.CanceledAcquireCount()))
	counter(descPoolNew, float64(s.NewConnsCount()))
}

var descMaintenanceRemoved = prometheus.NewDesc(Namespace+"_maintenance_removed_rows_total",
	"Rows the retention work of this replica deleted, by task (platform/maintenance).", []string{"task"}, nil)

// Maintenance exports what the retention tasks removed (maintenance.Runner.Removed): one
// series per task, a fixed set named by the code.
func (m *Metrics) Maintenance(removed func() map[string]int64) {
	m.reg.MustRegister(maintenanceCollector(removed))
}

type maintenanceCollector func() map[string]int64

func (c maintenanceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descMaintenanceRemoved }

func (c maintenanceCollector) Collect(ch chan<- prometheus.Metric) {
	for task, n := range c() {
		ch <- prometheus.MustNewConstMetric(descMaintenanceRemoved, prometheus.CounterValue, float64(n), task)
	}
}
