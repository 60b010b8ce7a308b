// Package jobs is the job system every module shares: River
// (github.com/riverqueue/river), one client per replica, its tables in the schema river
// (created by the dbmate migrations that db/rivergen writes from River's own SQL).
//
// # Inserting
//
// A job is inserted in the transaction that causes it (InsertTx, InsertManyTx, with the
// caller's pgx.Tx, whatever pool it came from): it exists, and runs, only if that
// transaction commits. Its arguments are JSON in river.river_job, readable by anyone who
// can read the table and kept after it ran: they hold ids, never a secret (an email's
// body, a code, an address). The worker loads what it needs.
//
// # Working
//
// Workers, queues and periodic jobs are registered while the modules are built (AddWorker,
// AddQueue, AddPeriodic), before Run starts the client. A worker that writes to the
// database completes its job in the same transaction (CompleteTx): the job is done
// exactly when its writes commit. Errors a worker returns are stored in the job's row
// (river_job.errors) and logged: they must not carry a secret either.
//
// The client works on a small pool of its own straight to PostgreSQL when
// DATABASE_DIRECT_URL is set, and LISTENs there, so a job is picked up as soon as the
// transaction that inserted it commits. Without it, the client polls through the main pool
// (River's PollOnly), which works behind a transaction-mode pooler: a job waits up to its
// queue's poll interval.
//
// # Stopping
//
// When Run's context ends, no job is started any more; the jobs under way get
// Options.ShutdownGrace to finish, then their contexts are cancelled (River puts a job
// cancelled so back in its queue, its attempt not counted), and Run returns at most
// Options.AbandonAfter later, leaving behind a worker that ignores its context: its job
// stays running until River's rescuer takes it for lost (Options.RescueAfter).
package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/platform/database"
)

// Schema is the PostgreSQL schema of River's tables.
const Schema = "river"

// QueueDefault is the queue of a job whose kind names none (river.InsertOpts.Queue): the
// platform's periodic work, a module's occasional jobs.
const QueueDefault = river.QueueDefault

// DirectPoolSize is the most connections the client opens to DATABASE_DIRECT_URL: one
// held for LISTEN, the others for River's fetches, completions, leader election and
// maintenance, each a short statement. A worker's own transactions use the main pool.
const DirectPoolSize = 5

// defaultCooldown is the least time between two fetches of a queue that names none.
const defaultCooldown = 100 * time.Millisecond

// Options tune the job system. Zero fields take the values of DefaultOptions.
type Options struct {
	// DirectURL is DATABASE_DIRECT_URL: a connection string straight to PostgreSQL, past
	// any pooler. Set, the client works and LISTENs on a pool of its own there; empty, it
	// polls through the main pool.
	DirectURL string
	// Timeout bounds each connection attempt to DirectURL (DATABASE_TIMEOUT).
	Timeout time.Duration
	// Tracer, when set, makes a span of each job's work (otelriver) linked to the span
	// that inserted the job, whose trace context River keeps in the job's metadata.
	Tracer trace.TracerProvider
	// PollInterval is how often a queue that names no interval of its own looks for jobs
	// when no notification woke it (every time, without DirectURL).
	PollInterval time.Duration
	// JobTimeout bounds a job whose worker names no timeout of its own (Worker.Timeout):
	// its context is cancelled then.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River's rescuer (on the
	// elected leader) takes it for lost, its replica dead, and retries it. It must exceed
	// every worker's timeout.
	RescueAfter time.Duration
	// ShutdownGrace is how long the jobs under way may finish once Run's context ends,
	// before their contexts are cancelled.
	ShutdownGrace time.Duration
	// AbandonAfter is how long Run then waits for jobs that ignore their cancelled
	// context, before it returns without them.
	AbandonAfter time.Duration
	// CompletedRetention is how long a completed job's row stays (River's cleaner deletes
	// it then); cancelled ones stay a day and discarded ones a week, River's defaults.
	CompletedRetention time.Duration
}

// DefaultOptions are the production settings: a queue that names no poll interval of its
// own (the retention work) polls every 2 s, as the outbox's dispatcher did; the shutdown
// fits the 10 s of the contract beside the HTTP server's drain (main.go); a job lost with
// its replica is retried after a minute; completed jobs stay an hour (an email's outcome
// stays in its row; a job is only how it got there).
var DefaultOptions = Options{
	Timeout:            5 * time.Second,
	PollInterval:       2 * time.Second,
	JobTimeout:         30 * time.Second,
	RescueAfter:        time.Minute,
	ShutdownGrace:      5 * time.Second,
	AbandonAfter:       2 * time.Second,
	CompletedRetention: time.Hour,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	d.DirectURL, d.Tracer = o.DirectURL, o.Tracer
	for _, f := range []struct{ dst, src *time.Duration }{
		{&d.Timeout, &o.Timeout}, {&d.PollInterval, &o.PollInterval}, {&d.JobTimeout, &o.JobTimeout},
		{&d.RescueAfter, &o.RescueAfter}, {&d.ShutdownGrace, &o.ShutdownGrace},
		{&d.AbandonAfter, &o.AbandonAfter}, {&d.CompletedRetention, &o.CompletedRetention},
	} {
		if *f.src > 0 {
			*f.dst = *f.src
		}
	}
	return d
}

// Jobs is the job system of one replica: its River client. Its zero value is not usable;
// use New.
type Jobs struct {
	pool   *pgxpool.Pool
	direct *pgxpool.Pool // nil without Options.DirectURL
	client *river.Client[pgx.Tx]
	// workers is the client's bundle: AddWorker adds to it until Run starts the client.
	workers *river.Workers
	opts    Options
	logger  *slog.Logger

	events       <-chan *river.Event
	cancelEvents func()

	mu     sync.Mutex
	worked map[Outcome]int64
	closed bool
}

// New returns the job system of a replica over pool, the main pool. It opens no
// connection: Run starts the client, and keeps trying while the database is down.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options, logger *slog.Logger) (*Jobs, error) {
	opts = opts.withDefaults()
	j := &Jobs{
		pool: pool, workers: river.NewWorkers(), opts: opts,
		logger: logger.With(slog.String("component", "jobs")), worked: map[Outcome]int64{},
	}
	workPool := pool
	if opts.DirectURL != "" {
		direct, err := database.Open(ctx, opts.DirectURL, database.Options{MaxConns: DirectPoolSize, Timeout: opts.Timeout})
		if err != nil {
			return nil, errors.New("DATABASE_DIRECT_URL: not a PostgreSQL connection string (details withheld: they could hold the password)")
		}
		j.direct, workPool = direct, direct
	}
	var middleware []rivertype.Middleware
	if opts.Tracer != nil {
		middleware = append(middleware, otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			TracerProvider:              opts.Tracer,
			MeterProvider:               noop.NewMeterProvider(), // the service's metrics are Prometheus's
			EnableTracePropagation:      true,
			EnableWorkSpanJobKindSuffix: true,
		}))
	}
	client, err := river.NewClient(riverpgxv5.New(workPool), &river.Config{
		Schema:   Schema,
		PollOnly: opts.DirectURL == "",
		// The default queue makes the client a worker from the start; the modules add
		// theirs (AddQueue).
		Queues: map[string]river.QueueConfig{QueueDefault: {
			MaxWorkers: 4, FetchCooldown: min(defaultCooldown, opts.PollInterval),
		}},
		Workers:           j.workers,
		FetchPollInterval: opts.PollInterval,
		// The client's cooldown is also how long River holds back the NOTIFY of an insert
		// after the previous one: a job inserted within it is found by the next poll only,
		// not at once. 1 ms (River's least) notifies nearly every insert; each queue's own
		// cooldown (AddQueue) then bounds how often the notifications make it fetch.
		FetchCooldown:               time.Millisecond,
		JobTimeout:                  opts.JobTimeout,
		RescueStuckJobsAfter:        opts.RescueAfter,
		SoftStopTimeout:             opts.ShutdownGrace,
		CompletedJobRetentionPeriod: opts.CompletedRetention,
		Middleware:                  middleware,
		Logger:                      j.logger,
	})
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("job system: %w", err)
	}
	j.client = client
	j.events, j.cancelEvents = client.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled,
		river.EventKindJobFailed, river.EventKindJobSnoozed)
	return j, nil
}

// Close releases what New opened (the direct pool): call it once Run has returned, or
// instead of Run.
func (j *Jobs) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	j.closed = true
	if j.cancelEvents != nil {
		j.cancelEvents()
	}
	if j.direct != nil {
		database.Close(j.direct, time.Second)
	}
}

// Pool is the main pool: where a worker runs its own transactions (CompleteTx among them).
func (j *Jobs) Pool() *pgxpool.Pool { return j.pool }

// PollOnly reports whether the client polls for jobs (no DATABASE_DIRECT_URL) rather than
// being woken by a notification.
func (j *Jobs) PollOnly() bool { return j.opts.DirectURL == "" }

// AddWorker registers w as the worker of the jobs of kind T. Call it before Run, while
// the modules are built; a kind has one worker.
func AddWorker[T river.JobArgs](j *Jobs, w river.Worker[T]) error {
	if err := river.AddWorkerSafely(j.workers, w); err != nil {
		return fmt.Errorf("job system: %w", err)
	}
	return nil
}

// Queue configures a queue of jobs. Zero fields take the client's settings.
type Queue struct {
	// MaxWorkers is how many of the queue's jobs this replica runs at once (at least 1).
	MaxWorkers int
	// PollInterval is how often the queue looks for jobs when no notification woke it:
	// the longest a job waits without DATABASE_DIRECT_URL, and how soon a retry due
	// within River's scheduler interval (5 s) is taken.
	PollInterval time.Duration
	// Cooldown is the least time between two fetches: the queue takes the jobs that
	// arrived meanwhile in one fetch. A queue that must keep many short jobs going sets
	// it short.
	Cooldown time.Duration
}

// AddQueue adds a queue this replica works. Call it before Run.
func (j *Jobs) AddQueue(name string, q Queue) error {
	cfg := river.QueueConfig{
		MaxWorkers:        q.MaxWorkers,
		FetchPollInterval: cmp.Or(q.PollInterval, j.opts.PollInterval),
		FetchCooldown:     cmp.Or(q.Cooldown, defaultCooldown),
	}
	cfg.FetchCooldown = min(cfg.FetchCooldown, cfg.FetchPollInterval)
	if err := j.client.Queues().Add(name, cfg); err != nil {
		return fmt.Errorf("job system: queue %s: %w", name, err)
	}
	return nil
}

// AddPeriodic registers a periodic job: the elected leader among the replicas inserts it
// on its schedule. Make its insert unique (river.UniqueOpts) to run one at a time.
func (j *Jobs) AddPeriodic(p *river.PeriodicJob) error {
	if _, err := j.client.PeriodicJobs().AddSafely(p); err != nil {
		return fmt.Errorf("job system: periodic job: %w", err)
	}
	return nil
}

// InsertTx inserts one job within tx, the caller's transaction: it runs once tx commits,
// never if it rolls back. Its errors are wrapped, and database.ErrUnavailable when the
// database is lost.
func (j *Jobs) InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	res, err := j.client.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("insert job %s: %w", args.Kind(), database.Classify(err))
	}
	return res, nil
}

// InsertManyTx inserts several jobs within tx in one statement, as InsertTx does one.
func (j *Jobs) InsertManyTx(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	res, err := j.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("insert %d jobs: %w", len(params), database.Classify(err))
	}
	return res, nil
}

// CompleteTx marks job completed within tx, a transaction of its worker's: the job is
// done exactly when what the worker wrote in tx commits. ctx is the worker's (it carries
// the client), or one made from it (context.WithoutCancel keeps it).
func CompleteTx[T river.JobArgs](ctx context.Context, tx pgx.Tx, job *river.Job[T]) error {
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("complete job %d: %w", job.ID, database.Classify(err))
	}
	return nil
}

// Run starts the client and works jobs until ctx ends, then stops as the package
// documentation says and returns nil. While the database is unreachable at start, it
// tries again with backoff; once started, River rides out outages by itself.
func (j *Jobs) Run(ctx context.Context) error {
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		j.count(ctx)
	}()
	defer func() { <-counted }()

	release, ok := j.start(ctx)
	if !ok {
		return nil
	}
	defer release()
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.opts.ShutdownGrace+j.opts.AbandonAfter)
	defer cancel()
	// Stop waits for the jobs under way; River cancels their contexts after ShutdownGrace
	// (SoftStopTimeout).
	if err := j.client.Stop(stopCtx); err != nil {
		j.logger.ErrorContext(stopCtx, "jobs still running after their cancellation; abandoning them (River's rescuer retries them)",
			slog.Any("error", err))
	}
	return nil
}

// start starts the client, trying again while the database is unreachable, and returns
// what releases the context the client was started with (once it has stopped); false
// when ctx ended first.
func (j *Jobs) start(ctx context.Context) (release func(), ok bool) {
	const firstRetry, maxRetry = time.Second, 30 * time.Second
	for retry := firstRetry; ; retry = min(retry*2, maxRetry) {
		// The client outlives ctx (its end starts the stop, in Run), but an attempt under
		// way is abandoned with it.
		startCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		detach := context.AfterFunc(ctx, cancel)
		err := j.client.Start(startCtx)
		detach()
		if err == nil {
			if ctx.Err() == nil {
				j.logger.InfoContext(ctx, "job system started", slog.Bool("poll_only", j.PollOnly()))
			}
			return cancel, true
		}
		cancel()
		if ctx.Err() != nil {
			return nil, false
		}
		j.logger.WarnContext(ctx, "job system not started; trying again", slog.Any("error", err), slog.Duration("retry_in", retry))
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(retry):
		}
	}
}
