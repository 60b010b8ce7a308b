package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	neturl "net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/poll"
)

// These tests run River clients against the real PostgreSQL, a fresh database each,
// migrated by the service's dbmate migrations (River's among them).

// pingArgs is a test job: it carries a number, and its worker reports each run.
type pingArgs struct {
	N int `json:"n"`
}

func (pingArgs) Kind() string { return "test.ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	work func(ctx context.Context, job *river.Job[pingArgs]) error
}

func (w *pingWorker) Work(ctx context.Context, job *river.Job[pingArgs]) error {
	return w.work(ctx, job)
}

// runs records which jobs ran, and how often.
type runs struct {
	mu   sync.Mutex
	byN  map[int]int
	last time.Time
}

func (r *runs) add(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byN == nil {
		r.byN = map[int]int{}
	}
	r.byN[n]++
	r.last = time.Now()
}

func (r *runs) of(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byN[n]
}

func (r *runs) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := 0
	for _, c := range r.byN {
		t += c
	}
	return t
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fast are test options: short polls and shutdown.
var fast = jobs.Options{PollInterval: 50 * time.Millisecond, ShutdownGrace: time.Second, AbandonAfter: 500 * time.Millisecond}

// newJobs returns the job system of a replica over pool with work as the worker of
// pingArgs, not started.
func newJobs(t *testing.T, pool *pgxpool.Pool, opts jobs.Options, work func(context.Context, *river.Job[pingArgs]) error) *jobs.Jobs {
	t.Helper()
	j, err := jobs.New(context.Background(), pool, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	if err := jobs.AddWorker(j, &pingWorker{work: work}); err != nil {
		t.Fatal(err)
	}
	return j
}

// start runs j until the test ends (or the returned stop is called), and checks that Run
// returns nil in time.
func start(t *testing.T, j *jobs.Jobs) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return within 10 s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func insert(t *testing.T, pool *pgxpool.Pool, j *jobs.Jobs, ns ...int) {
	t.Helper()
	insertInto(t, pool, j, jobs.QueueDefault, ns...)
}

func insertInto(t *testing.T, pool *pgxpool.Pool, j *jobs.Jobs, queue string, ns ...int) {
	t.Helper()
	err := database.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		params := make([]river.InsertManyParams, len(ns))
		for i, n := range ns {
			params[i] = river.InsertManyParams{Args: pingArgs{N: n}, InsertOpts: &river.InsertOpts{Queue: queue}}
		}
		_, err := j.InsertManyTx(context.Background(), tx, params)
		return err
	})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func countJobs(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river.river_job`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAJobOfARolledBackTransactionNeverRuns: a job inserted in a transaction that rolls
// back does not exist, and never runs; one inserted after it in a committed transaction
// runs.
func TestAJobOfARolledBackTransactionNeverRuns(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	var ran runs
	j := newJobs(t, pool, fast, func(_ context.Context, job *river.Job[pingArgs]) error {
		ran.add(job.Args.N)
		return nil
	})
	start(t, j)

	boom := errors.New("the request failed after the insert")
	err := database.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := j.InsertTx(context.Background(), tx, pingArgs{N: 1}, nil); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v", err)
	}
	insert(t, pool, j, 2)
	poll.Until(t, 5*time.Second, "the committed job runs", func() bool { return ran.of(2) == 1 })
	time.Sleep(3 * fast.PollInterval) // polls that would have found the other
	if n := ran.of(1); n != 0 {
		t.Errorf("the job of the rolled back transaction ran %d times", n)
	}
	if n := countJobs(t, pool); n != 1 {
		t.Errorf("%d jobs in river_job, want the committed one only", n)
	}
}

// TestTwoReplicasWorkEachJobOnce: two replicas' clients on one database (one listening on
// a direct connection, one polling) work 200 jobs, each exactly once, between them.
func TestTwoReplicasWorkEachJobOnce(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	const n = 200
	var ran runs
	var byReplica [2]atomic.Int64
	replicas := make([]*jobs.Jobs, 2)
	pools := make([]*pgxpool.Pool, 2)
	for i := range replicas {
		pool, err := database.Open(context.Background(), url, database.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		pools[i] = pool
		opts := fast
		if i == 0 {
			opts.DirectURL = url
		}
		replicas[i] = newJobs(t, pool, opts, func(_ context.Context, job *river.Job[pingArgs]) error {
			time.Sleep(time.Millisecond) // a job that takes a moment, so both replicas get some
			ran.add(job.Args.N)
			byReplica[i].Add(1)
			return nil
		})
		start(t, replicas[i])
	}
	for i := 0; i < n; i += 10 {
		ns := make([]int, 10)
		for k := range ns {
			ns[k] = i + k
		}
		insert(t, pools[(i/10)%2], replicas[(i/10)%2], ns...)
	}
	poll.Until(t, 20*time.Second, "every job runs", func() bool { return ran.total() >= n })
	time.Sleep(5 * fast.PollInterval) // a duplicate would show now
	for i := range n {
		if c := ran.of(i); c != 1 {
			t.Errorf("job %d ran %d times, want once", i, c)
		}
	}
	t.Logf("replica 0 (LISTEN) worked %d, replica 1 (polling) %d", byReplica[0].Load(), byReplica[1].Load())
	if byReplica[0].Load()+byReplica[1].Load() != n {
		t.Errorf("the replicas worked %d and %d, want %d in all", byReplica[0].Load(), byReplica[1].Load(), n)
	}
}

// TestShutdownLetsJobsFinishThenCancelsThem: once Run's context ends, a job under way may
// finish within ShutdownGrace; one that outlasts it has its context cancelled, and goes
// back to its queue with its attempt not counted, to run again on the next start.
func TestShutdownLetsJobsFinishThenCancelsThem(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	started := make(chan int, 2)
	var ran runs
	opts := fast
	opts.ShutdownGrace = 300 * time.Millisecond
	j := newJobs(t, pool, opts, func(ctx context.Context, job *river.Job[pingArgs]) error {
		started <- job.Args.N
		if job.Args.N == 1 {
			time.Sleep(100 * time.Millisecond) // finishes within the grace
			ran.add(1)
			return nil
		}
		<-ctx.Done() // outlasts it
		return ctx.Err()
	})
	stop := start(t, j)
	insert(t, pool, j, 1, 2)
	<-started
	<-started
	begin := time.Now()
	stop()
	if took := time.Since(begin); took > opts.ShutdownGrace+time.Second {
		t.Errorf("Run took %v to return, want about ShutdownGrace (%v)", took, opts.ShutdownGrace)
	}
	var state string
	var attempt int
	if err := pool.QueryRow(context.Background(), `SELECT state, attempt FROM river.river_job WHERE args->>'n' = '2'`).Scan(&state, &attempt); err != nil {
		t.Fatal(err)
	}
	if ran.of(1) != 1 || state != "available" || attempt != 0 {
		t.Errorf("job 1 ran %d times; job 2 is %s at attempt %d, want job 1 done and job 2 available again, its attempt not counted",
			ran.of(1), state, attempt)
	}

	next := newJobs(t, pool, fast, func(_ context.Context, job *river.Job[pingArgs]) error {
		ran.add(job.Args.N)
		return nil
	})
	start(t, next)
	poll.Until(t, 5*time.Second, "the next start runs the cancelled job", func() bool { return ran.of(2) == 1 })
}

// TestStartsWhenTheDatabaseComesBack: Run keeps trying while the database is unreachable
// and works jobs once it is back; it still stops at once when asked meanwhile.
func TestStartsWhenTheDatabaseComesBack(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	proxy, viaProxy := dbtest.NewProxy(t, url)
	proxy.Refuse()
	pool, err := database.Open(context.Background(), viaProxy, database.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(pool, time.Second) })
	var ran runs
	j := newJobs(t, pool, fast, func(_ context.Context, job *river.Job[pingArgs]) error {
		ran.add(job.Args.N)
		return nil
	})
	start(t, j)
	time.Sleep(1500 * time.Millisecond) // a failed start, and its retry
	proxy.Heal()
	insertVia, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(insertVia.Close)
	insert(t, insertVia, j, 7)
	poll.Until(t, 10*time.Second, "the job runs once the database is back", func() bool { return ran.of(7) == 1 })
}

// TestCountsAndOutcomes: Counts reads the unfinished jobs by kind and state; Worked
// counts what this replica's workers did.
func TestCountsAndOutcomes(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	j := newJobs(t, pool, fast, func(_ context.Context, job *river.Job[pingArgs]) error {
		switch job.Args.N {
		case 1:
			return river.JobCancel(errors.New("no point"))
		case 2:
			return errors.New("not now")
		}
		return nil
	})
	insert(t, pool, j, 0, 1, 2)
	counts, err := j.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(counts, []jobs.Count{{Kind: "test.ping", State: "available", Jobs: 3}}) {
		t.Fatalf("counts before start: %+v, want 3 available", counts)
	}
	start(t, j)
	poll.Until(t, 5*time.Second, "each job has had its first outcome", func() bool {
		w := j.Worked()
		return w[jobs.Outcome{Kind: "test.ping", Result: "completed"}] == 1 &&
			w[jobs.Outcome{Kind: "test.ping", Result: "cancelled"}] == 1 &&
			w[jobs.Outcome{Kind: "test.ping", Result: "retried"}] >= 1
	})
	counts, err = j.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.Kind != "test.ping" || c.Jobs != 1 || !slices.Contains([]string{"available", "retryable", "running"}, c.State) {
			t.Errorf("count %+v: want only the failing job, waiting for its retry", c)
		}
	}
}

// TestPickUpLatency measures how long a job waits after the commit that inserted it
// until its worker starts, listening on a direct connection and polling: the figures of
// docs/decisions.md (go test -run PickUpLatency -v ./platform/jobs/). With
// JOBS_PGBOUNCER_ADDR set (host:port of a PgBouncer in transaction mode in front of the
// test server, any database name passed through), the inserts and the polls go through
// it too.
func TestPickUpLatency(t *testing.T) {
	t.Parallel()
	type latencyCase struct {
		name      string
		listen    bool          // LISTEN on a direct connection (DATABASE_DIRECT_URL)
		poll      time.Duration // the queue's poll interval
		pgbouncer bool          // the main pool through PgBouncer
		within    time.Duration // the p99 wanted
	}
	cases := []latencyCase{
		{"direct, LISTEN", true, time.Second, false, 500 * time.Millisecond},
		{"direct, polling every 500ms", false, 500 * time.Millisecond, false, time.Second},
	}
	bouncer := os.Getenv("JOBS_PGBOUNCER_ADDR")
	if bouncer != "" {
		cases = append(cases,
			latencyCase{"PgBouncer, LISTEN on DATABASE_DIRECT_URL", true, time.Second, true, 500 * time.Millisecond},
			latencyCase{"PgBouncer, polling every 500ms", false, 500 * time.Millisecond, true, time.Second})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := dbtest.NewURL(t)
			mainURL := url
			if tc.pgbouncer {
				u, err := neturl.Parse(url)
				if err != nil {
					t.Fatal(err)
				}
				u.Host = bouncer
				q := u.Query()
				q.Set("default_query_exec_mode", "cache_describe") // no prepared statement survives a transaction
				u.RawQuery = q.Encode()
				mainURL = u.String()
			}
			pool, err := database.Open(context.Background(), mainURL, database.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			picked := make(chan time.Time, 1)
			opts := fast
			opts.PollInterval = tc.poll
			if tc.listen {
				opts.DirectURL = url
			}
			j := newJobs(t, pool, opts, func(context.Context, *river.Job[pingArgs]) error {
				picked <- time.Now()
				return nil
			})
			// A queue as the outbox's: its poll interval, a 10 ms cooldown.
			if err := j.AddQueue("latency", jobs.Queue{MaxWorkers: 4, PollInterval: tc.poll, Cooldown: 10 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			start(t, j)
			insertInto(t, pool, j, "latency", -1)
			<-picked // started: listening, or polling
			const samples = 20
			var waits []time.Duration
			for i := range samples {
				// Commits at any moment of a poll interval, or of a fetch's cooldown.
				step := 15 * time.Millisecond
				if !tc.listen {
					step = tc.poll / 7
				}
				time.Sleep(time.Duration(i%7) * step)
				insertInto(t, pool, j, "latency", i)
				committed := time.Now()
				select {
				case at := <-picked:
					waits = append(waits, at.Sub(committed))
				case <-time.After(5 * time.Second):
					t.Fatalf("job %d not picked up within 5 s", i)
				}
			}
			slices.Sort(waits)
			p50, p99 := waits[len(waits)/2], waits[len(waits)*99/100]
			t.Logf("%s: picked up after commit in p50 %v, p99 %v, max %v over %d jobs",
				tc.name, p50.Round(time.Millisecond), p99.Round(time.Millisecond), waits[len(waits)-1].Round(time.Millisecond), samples)
			if p99 > tc.within {
				t.Errorf("p99 %v, want within %v", p99, tc.within)
			}
		})
	}
}
