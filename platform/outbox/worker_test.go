package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/poll"
)

// These tests run the outbox's worker in River clients (platform/jobs) against the real
// PostgreSQL, a fresh database each, with a fake Sender whose behaviour each test scripts.

// fastOptions keep the tests quick: short backoff and polls, generous timeouts.
var fastOptions = Options{
	Concurrency:  4,
	SendTimeout:  2 * time.Second,
	MinBackoff:   100 * time.Millisecond,
	MaxBackoff:   400 * time.Millisecond,
	PollInterval: 100 * time.Millisecond,
}

// fastJobs are the job system's test options: short polls and shutdown.
var fastJobs = jobs.Options{PollInterval: 100 * time.Millisecond, ShutdownGrace: 2 * time.Second, AbandonAfter: time.Second}

// fakeSender records what it is asked to send; send (when set) decides the outcome.
type fakeSender struct {
	send func(ctx context.Context, m mail.Message) error

	mu       sync.Mutex
	attempts []mail.Message
	sent     []mail.Message
}

func (f *fakeSender) Send(ctx context.Context, m mail.Message) error {
	f.mu.Lock()
	f.attempts = append(f.attempts, m)
	f.mu.Unlock()
	var err error
	if f.send != nil {
		err = f.send(ctx, m)
	}
	if err == nil {
		f.mu.Lock()
		f.sent = append(f.sent, m)
		f.mu.Unlock()
	}
	return err
}

// sentTo counts the successful sends to addr.
func (f *fakeSender) sentTo(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.sent {
		if m.To == addr {
			n++
		}
	}
	return n
}

func (f *fakeSender) attemptsTo(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.attempts {
		if m.To == addr {
			n++
		}
	}
	return n
}

// replica is the outbox of one replica: its job system, not started yet, and its outbox.
type replica struct {
	jobs *jobs.Jobs
	ob   *Outbox
}

// newReplica returns a replica over pool that sends through sender.
func newReplica(t testing.TB, pool *pgxpool.Pool, sender Sender, opts Options, jopts jobs.Options, logger *slog.Logger) *replica {
	t.Helper()
	j, err := jobs.New(context.Background(), pool, jopts, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	ob, err := New(j, sender, opts, logger)
	if err != nil {
		t.Fatal(err)
	}
	return &replica{jobs: j, ob: ob}
}

// enqueue queues an email to "to" in its own committed transaction, through ob.
func enqueue(t testing.TB, pool *pgxpool.Pool, ob *Outbox, to string, expiresAt *time.Time) {
	t.Helper()
	ctx := context.Background()
	err := database.InTx(ctx, pool, func(tx pgx.Tx) error {
		return ob.Queue(ctx, tx, Email{
			Message:   mail.Message{To: to, Subject: "subject " + to, Text: "text " + to, HTML: "<p>html " + to + "</p>"},
			ExpiresAt: expiresAt,
		})
	})
	if err != nil {
		t.Fatalf("enqueue %s: %v", to, err)
	}
}

// emailRow is the recorded state of the email to one recipient, and of its job.
type emailRow struct {
	// Attempts are the attempts recorded in the row (at each outcome).
	Attempts  int
	LastError *string
	Sent      bool
	Dropped   bool
	Failed    bool
	// Leased: its job is running (a send is under way).
	Leased bool
	// Erased: both bodies are empty.
	Erased bool
	// DueInMs is how long until its job is next due (negative: due already).
	DueInMs   float64
	MessageID string
	// JobState and JobAttempt are its job's (River's state, and the attempts started).
	JobState   string
	JobAttempt int
}

func rowOf(t *testing.T, pool *pgxpool.Pool, to string) emailRow {
	t.Helper()
	var r emailRow
	err := pool.QueryRow(context.Background(), `
		SELECT o.attempts, o.last_error, o.sent_at IS NOT NULL, o.dropped_at IS NOT NULL, o.failed_at IS NOT NULL,
		       coalesce(j.state = 'running', false), o.text_body = '' AND o.html_body = '',
		       coalesce(extract(epoch FROM j.scheduled_at - clock_timestamp()) * 1000, 0), o.message_id::text,
		       coalesce(j.state::text, ''), coalesce(j.attempt, 0)
		FROM platform.outbox_emails AS o
		LEFT JOIN LATERAL (
		    SELECT state, scheduled_at, attempt FROM river.river_job
		    WHERE kind = 'outbox.email' AND args @> jsonb_build_object('email_id', o.id)
		) AS j ON true
		WHERE o.recipient = $1`, to).
		Scan(&r.Attempts, &r.LastError, &r.Sent, &r.Dropped, &r.Failed, &r.Leased, &r.Erased, &r.DueInMs, &r.MessageID,
			&r.JobState, &r.JobAttempt)
	if err != nil {
		t.Fatalf("outbox row of %s: %v", to, err)
	}
	return r
}

func countSent(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM platform.outbox_emails WHERE sent_at IS NOT NULL`).Scan(&n); err != nil {
		t.Fatalf("count sent emails: %v", err)
	}
	return n
}

// run starts r's job system and returns a function that stops it and waits for Run to
// return (also called at cleanup).
func run(t *testing.T, r *replica) (stop func()) {
	t.Helper()
	_, stop = runContext(t, r)
	return stop
}

// runContext is run, and also returns the context Run got: it is done as soon as stop
// has begun the shutdown.
func runContext(t *testing.T, r *replica) (ctx context.Context, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.jobs.Run(ctx) }()
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
	return ctx, stop
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestWorkerSendsAndMarksSent(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	sender := &fakeSender{}
	r := newReplica(t, pool, sender, fastOptions, fastJobs, testLogger(t))
	run(t, r)

	enqueue(t, pool, r.ob, "a@example.com", nil)
	poll.Until(t, 5*time.Second, "the email is recorded as sent", func() bool { return rowOf(t, pool, "a@example.com").Sent })

	row := rowOf(t, pool, "a@example.com")
	want := mail.Message{ID: row.MessageID, To: "a@example.com", Subject: "subject a@example.com", Text: "text a@example.com", HTML: "<p>html a@example.com</p>"}
	sender.mu.Lock()
	got := sender.sent
	sender.mu.Unlock()
	if len(got) != 1 || got[0] != want || len(row.MessageID) != 36 {
		t.Fatalf("sent %+v, want exactly %+v (the row's message_id as ID)", got, want)
	}
	// The bodies hold the code: erased by the statement that records the email sent, in
	// the transaction that completes its job.
	if row.Attempts != 1 || row.Leased || row.LastError != nil || !row.Erased || row.Failed || row.Dropped || row.JobState != "completed" {
		t.Errorf("row after sending: %+v, want 1 attempt, job completed, no error, bodies erased", row)
	}
	if s := r.ob.Stats(); s != (Stats{Sent: 1}) {
		t.Errorf("stats %+v, want Sent 1 only", s)
	}
}

func TestWorkerRetriesFailedSendWithBackoff(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	var (
		mu    sync.Mutex
		times []time.Time
	)
	secondAttempt := make(chan struct{})
	proceed := make(chan struct{})
	sender := &fakeSender{send: func(_ context.Context, _ mail.Message) error {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		switch n {
		case 1:
			return errors.New("451 4.3.0 try again later")
		case 2:
			close(secondAttempt)
			<-proceed
			return errors.New("421 4.7.0 too busy")
		}
		return nil
	}}
	opts := fastOptions
	opts.MinBackoff, opts.MaxBackoff = 200*time.Millisecond, 2*time.Second
	r := newReplica(t, pool, sender, opts, fastJobs, testLogger(t))
	run(t, r)

	enqueue(t, pool, r.ob, "retry@example.com", nil)
	select {
	case <-secondAttempt:
	case <-time.After(5 * time.Second):
		t.Fatal("no second attempt within 5 s of a failed first one")
	}
	// While the second attempt runs, the row records the first failure.
	row := rowOf(t, pool, "retry@example.com")
	if row.LastError == nil || !strings.Contains(*row.LastError, "451 4.3.0 try again later") || row.Attempts != 1 ||
		row.JobAttempt != 2 || !row.Leased || row.Sent || row.Erased {
		t.Fatalf("row during attempt 2: %+v (last_error %v), want attempt 1 recorded with its error, the job at attempt 2, not sent, bodies kept",
			row, deref(row.LastError))
	}
	close(proceed)
	poll.Until(t, 5*time.Second, "the third attempt succeeds", func() bool { return rowOf(t, pool, "retry@example.com").Sent })

	mu.Lock()
	defer mu.Unlock()
	if len(times) != 3 {
		t.Fatalf("%d attempts, want 3", len(times))
	}
	// Equal jitter: the delay after failed attempt n is at least half of MinBackoff*2^(n-1).
	if gap := times[1].Sub(times[0]); gap < opts.MinBackoff/2 {
		t.Errorf("first retry after %v, want at least %v (backoff)", gap, opts.MinBackoff/2)
	}
	if gap := times[2].Sub(times[1]); gap < opts.MinBackoff {
		t.Errorf("second retry after %v, want at least %v (doubled backoff)", gap, opts.MinBackoff)
	}
	if row := rowOf(t, pool, "retry@example.com"); row.Attempts != 3 || row.LastError != nil {
		t.Errorf("row after sending %+v, want sent at attempt 3, its last error cleared", row)
	}
	if s := r.ob.Stats(); s.Failed != 2 || s.Sent != 1 {
		t.Errorf("stats %+v, want Failed 2, Sent 1", s)
	}
}

func TestBackoffDoublesWithinBounds(t *testing.T) {
	t.Parallel()
	o := &Outbox{opts: DefaultOptions}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{5, 8 * time.Second, 16 * time.Second},
		{6, 12 * time.Second, 24 * time.Second},
		{64, 12 * time.Second, 24 * time.Second},
		{1 << 30, 12 * time.Second, 24 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if got := o.backoff(tt.attempt); got < tt.min || got > tt.max {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempt, got, tt.min, tt.max)
			}
		}
	}
	// A large MinBackoff must not overflow into a negative delay.
	big := &Outbox{opts: Options{MinBackoff: time.Hour, MaxBackoff: 1 << 62}}
	for _, attempt := range []int{1, 31, 40, 100} {
		if got := big.backoff(attempt); got < 30*time.Minute {
			t.Errorf("backoff(%d) with MinBackoff 1h = %v, want at least 30m", attempt, got)
		}
	}
}

// TestDefaultsKeepTheRetryContract: the first retry comes within 2 s of a failure, and
// two attempts are never more than 30 s apart. A retry due within River's scheduler
// interval (5 s) is made available at once and taken at the queue's next poll; one due
// later waits for the scheduler's next run (every 5 s) as well.
func TestDefaultsKeepTheRetryContract(t *testing.T) {
	const schedulerInterval = 5 * time.Second // River's JobSchedulerIntervalDefault
	d := DefaultOptions
	first := d.MinBackoff + d.PollInterval + d.PollInterval/10 // the poll's jitter: up to a tenth
	if first > 2*time.Second {
		t.Errorf("first retry up to %v after the failure, want within 2 s", first)
	}
	if worst := d.MaxBackoff + schedulerInterval + d.PollInterval + d.PollInterval/10; worst > 30*time.Second {
		t.Errorf("attempts up to %v apart, want at most 30 s", worst)
	}
}

func TestWorkerDropsExpiredEmail(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	sender := &fakeSender{}
	past := time.Now().Add(-time.Minute)
	future := time.Now().Add(time.Hour)
	r := newReplica(t, pool, sender, fastOptions, fastJobs, testLogger(t))
	enqueue(t, pool, r.ob, "expired@example.com", &past)
	enqueue(t, pool, r.ob, "fresh@example.com", &future)

	run(t, r)
	poll.Until(t, 5*time.Second, "the fresh email is sent and the expired one dropped", func() bool {
		return rowOf(t, pool, "fresh@example.com").Sent && rowOf(t, pool, "expired@example.com").Dropped
	})
	if n := sender.attemptsTo("expired@example.com"); n != 0 {
		t.Errorf("the expired email was handed to the sender %d times, want never", n)
	}
	if row := rowOf(t, pool, "expired@example.com"); row.Sent || row.Attempts != 0 || !row.Erased || row.JobState != "completed" {
		t.Errorf("expired row %+v, want dropped, never attempted, bodies erased, its job completed", row)
	}
	if s := r.ob.Stats(); s.Dropped != 1 || s.Sent != 1 {
		t.Errorf("stats %+v, want Dropped 1, Sent 1", s)
	}
}

func TestWorkerHungSendDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	hangDone := make(chan struct{})
	sender := &fakeSender{send: func(ctx context.Context, m mail.Message) error {
		if m.To == "hang@example.com" {
			<-ctx.Done() // the provider never answers; only the send timeout ends it
			select {
			case <-hangDone:
			default:
				close(hangDone)
			}
			return fmt.Errorf("smtp: %w", ctx.Err())
		}
		return nil
	}}
	opts := fastOptions
	opts.Concurrency, opts.SendTimeout = 2, 3*time.Second
	opts.MinBackoff = time.Minute // the hung email is not retried during the test
	opts.MaxBackoff = time.Minute
	r := newReplica(t, pool, sender, opts, fastJobs, testLogger(t))
	enqueue(t, pool, r.ob, "hang@example.com", nil)
	run(t, r)
	poll.Until(t, 5*time.Second, "the hanging send starts", func() bool { return sender.attemptsTo("hang@example.com") == 1 })

	for i := range 5 {
		enqueue(t, pool, r.ob, fmt.Sprintf("u%d@example.com", i), nil)
	}
	poll.Until(t, 5*time.Second, "the other five emails are sent", func() bool { return countSent(t, pool) == 5 })
	select {
	case <-hangDone:
		t.Fatal("the other emails waited for the hung send to time out")
	default:
	}

	// The hung send then times out and is recorded as a failure to retry.
	poll.Until(t, 5*time.Second, "the hung send times out and is recorded", func() bool {
		row := rowOf(t, pool, "hang@example.com")
		return row.LastError != nil && !row.Leased
	})
	row := rowOf(t, pool, "hang@example.com")
	if row.Sent || !strings.Contains(*row.LastError, "deadline exceeded") || row.DueInMs <= 0 {
		t.Errorf("hung email row %+v (last_error %q), want unsent, a timeout recorded, retry scheduled", row, *row.LastError)
	}
}

func TestWorkerShutdownHandsBackItsEmail(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	started := make(chan struct{})
	sender := &fakeSender{send: func(ctx context.Context, _ mail.Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}
	opts := fastOptions
	opts.SendTimeout = 20 * time.Second
	jopts := fastJobs
	jopts.ShutdownGrace = 200 * time.Millisecond
	r := newReplica(t, pool, sender, opts, jopts, testLogger(t))
	enqueue(t, pool, r.ob, "inflight@example.com", nil)
	stop := run(t, r)
	<-started
	if row := rowOf(t, pool, "inflight@example.com"); !row.Leased || row.JobAttempt != 1 {
		t.Fatalf("row while sending: %+v, want its job running at attempt 1", row)
	}

	begin := time.Now()
	stop()
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("Run took %v to return, want about ShutdownGrace (%v)", took, jopts.ShutdownGrace)
	}
	if s := r.ob.Stats(); s.Released != 1 || s.Failed != 0 || s.Sent != 0 {
		t.Errorf("stats %+v, want Released 1 only", s)
	}
	row := rowOf(t, pool, "inflight@example.com")
	if row.Sent || row.Leased || row.JobAttempt != 0 || row.JobState != "available" || row.DueInMs > 0 || row.LastError != nil {
		t.Fatalf("row after shutdown: %+v, want unsent, its job available and due now, the attempt not counted", row)
	}

	// Nothing is lost: the next replica sends it at once (not after a rescue).
	next := &fakeSender{}
	run(t, newReplica(t, pool, next, fastOptions, fastJobs, testLogger(t)))
	poll.Until(t, 2*time.Second, "the next replica sends the handed-back email", func() bool {
		return rowOf(t, pool, "inflight@example.com").Sent
	})
	if n := next.sentTo("inflight@example.com"); n != 1 {
		t.Errorf("the next replica sent it %d times, want 1", n)
	}
}

func TestWorkerShutdownLetsSendFinishWithinGrace(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	started := make(chan struct{})
	finish := make(chan struct{})
	sender := &fakeSender{send: func(ctx context.Context, _ mail.Message) error {
		close(started)
		<-finish
		return ctx.Err()
	}}
	r := newReplica(t, pool, sender, fastOptions, fastJobs, testLogger(t))
	enqueue(t, pool, r.ob, "slow@example.com", nil)
	runCtx, stop := runContext(t, r)
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	<-runCtx.Done() // the shutdown has begun while the send is under way
	close(finish)
	<-stopped
	if row := rowOf(t, pool, "slow@example.com"); !row.Sent || row.JobState != "completed" {
		t.Errorf("row %+v: a send that ends within ShutdownGrace must be recorded as sent", row)
	}
	if s := r.ob.Stats(); s != (Stats{Sent: 1}) {
		t.Errorf("stats %+v, want Sent 1 only", s)
	}
}

func TestWorkerShutdownAbandonsSenderIgnoringContext(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	started := make(chan struct{})
	never := make(chan struct{})
	// The abandoned send ends when the test does; what it records then does not matter.
	t.Cleanup(func() { close(never) })
	sender := &fakeSender{send: func(context.Context, mail.Message) error {
		close(started)
		<-never // a broken client that ignores its context
		return errors.New("gave up")
	}}
	jopts := fastJobs
	jopts.ShutdownGrace = 100 * time.Millisecond
	jopts.AbandonAfter = 100 * time.Millisecond
	r := newReplica(t, pool, sender, fastOptions, jopts, slog.New(slog.DiscardHandler))
	enqueue(t, pool, r.ob, "stuck@example.com", nil)
	stop := run(t, r)
	<-started
	begin := time.Now()
	stop()
	if took := time.Since(begin); took > jopts.ShutdownGrace+jopts.AbandonAfter+time.Second {
		t.Errorf("Run took %v to return with a sender that ignores cancellation, want at most %v",
			took, jopts.ShutdownGrace+jopts.AbandonAfter)
	}
	if row := rowOf(t, pool, "stuck@example.com"); row.Sent || !row.Leased {
		t.Errorf("row %+v: the abandoned email's job stays running, so River's rescuer retries it later", row)
	}
}

// listening reports whether a connection of the database LISTENs for River's inserts,
// with its application_name.
func listening(t *testing.T, pool *pgxpool.Pool) (app string, ok bool) {
	t.Helper()
	err := pool.QueryRow(context.Background(), `SELECT application_name FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN "river.%' LIMIT 1`).Scan(&app)
	return app, err == nil
}

// TestWorkerWakesOnNotifyFromAnotherReplica: with DATABASE_DIRECT_URL, the job system
// LISTENs there, on a connection of its own (not one of the main pool), and an email
// queued by another replica is sent at once, long before the queue's next poll.
func TestWorkerWakesOnNotifyFromAnotherReplica(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	pool, err := pgxpool.New(context.Background(), url+"&application_name=outbox-pool")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sender := &fakeSender{}
	opts := fastOptions
	opts.PollInterval = time.Minute // only LISTEN/NOTIFY can wake it in time
	jopts := fastJobs
	jopts.PollInterval = time.Minute
	jopts.DirectURL = url + "&application_name=outbox-direct"
	r := newReplica(t, pool, sender, opts, jopts, testLogger(t))
	run(t, r)
	poll.Until(t, 5*time.Second, "the job system listens on the direct connection", func() bool {
		app, ok := listening(t, pool)
		return ok && app == "outbox-direct"
	})
	time.Sleep(200 * time.Millisecond) // the queue has made its first fetch and waits

	other := newReplica(t, pool, &fakeSender{}, fastOptions, fastJobs, testLogger(t)) // not running
	begin := time.Now()
	enqueue(t, pool, other.ob, "notified@example.com", nil)
	poll.Until(t, 3*time.Second, "the email queued elsewhere is sent", func() bool { return sender.sentTo("notified@example.com") == 1 })
	t.Logf("sent %v after the commit of another replica", time.Since(begin))
}

func TestReplicasShareTheOutboxWithoutDuplicates(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	const emails = 100
	sender := &fakeSender{send: func(context.Context, mail.Message) error {
		time.Sleep(2 * time.Millisecond) // a provider that takes a moment
		return nil
	}}
	var pools []*pgxpool.Pool
	var replicas []*replica
	for i := range 3 {
		pool, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatalf("pool: %v", err)
		}
		t.Cleanup(pool.Close)
		pools = append(pools, pool)
		jopts := fastJobs
		if i == 0 {
			jopts.DirectURL = url // one listens, the others poll
		}
		r := newReplica(t, pool, sender, fastOptions, jopts, testLogger(t))
		replicas = append(replicas, r)
		run(t, r)
	}
	for i := range emails {
		enqueue(t, pools[i%3], replicas[i%3].ob, fmt.Sprintf("r%03d@example.com", i), nil)
	}
	poll.Until(t, 20*time.Second, "every email is recorded as sent", func() bool { return countSent(t, pools[0]) == emails })

	for i := range emails {
		to := fmt.Sprintf("r%03d@example.com", i)
		if n := sender.sentTo(to); n != 1 {
			t.Errorf("%s got %d emails, want exactly 1", to, n)
		}
	}
	var total int64
	for i, r := range replicas {
		s := r.ob.Stats()
		total += s.Sent
		t.Logf("replica %d sent %d", i, s.Sent)
	}
	if total != emails {
		t.Errorf("replicas sent %d in all, want %d", total, emails)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestWorkerKeepsMessageIDAcrossAttempts(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	sender := &fakeSender{}
	var (
		mu   sync.Mutex
		byTo = map[string][]string{} // the IDs each recipient's attempts carried
	)
	first := true
	sender.send = func(_ context.Context, m mail.Message) error {
		mu.Lock()
		defer mu.Unlock()
		// Recorded here, with its recipient: the two emails may be sent at once, so the
		// order of the fake's own attempts need not match this one.
		byTo[m.To] = append(byTo[m.To], m.ID)
		if first {
			first = false
			return errors.New("451 4.4.2 connection dropped")
		}
		return nil
	}
	r := newReplica(t, pool, sender, fastOptions, fastJobs, testLogger(t))
	run(t, r)
	enqueue(t, pool, r.ob, "twice@example.com", nil)
	enqueue(t, pool, r.ob, "other@example.com", nil)
	poll.Until(t, 5*time.Second, "both emails are sent", func() bool { return countSent(t, pool) == 2 })

	mu.Lock()
	defer mu.Unlock()
	for to, got := range byTo {
		want := rowOf(t, pool, to).MessageID
		for _, id := range got {
			if id != want {
				t.Errorf("%s attempts carried IDs %v, want %s every time", to, got, want)
			}
		}
	}
	if len(byTo["twice@example.com"])+len(byTo["other@example.com"]) != 3 || byTo["twice@example.com"][0] == byTo["other@example.com"][0] {
		t.Errorf("attempts %v: want 3 attempts, and each email its own ID", byTo)
	}
}

// riverJobText is everything River keeps of the outbox's jobs (arguments, errors,
// metadata), as text.
func riverJobText(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var text string
	if err := pool.QueryRow(context.Background(), `
		SELECT coalesce(string_agg(args::text || ' ' || coalesce(array_to_string(errors, ' '), '') || ' ' || metadata::text, ' '), '')
		FROM river.river_job WHERE kind = 'outbox.email'`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	return text
}

func TestWorkerRecordsRejectedEmailFailedForGood(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	sender := &fakeSender{send: func(_ context.Context, m mail.Message) error {
		switch m.To {
		case "gone@example.com":
			return fmt.Errorf("send: %w", &mail.RejectedError{Command: "RCPT", Code: 550, Reply: "5.1.1 <gone@example.com> mailbox unavailable"})
		case "later@example.com":
			return errors.New("SMTP server deferred the email at RCPT: 450 4.2.1 <later@example.com> try later")
		}
		return nil
	}}
	r := newReplica(t, pool, sender, fastOptions, fastJobs, testLogger(t))
	run(t, r)
	enqueue(t, pool, r.ob, "gone@example.com", nil)
	enqueue(t, pool, r.ob, "later@example.com", nil)
	poll.Until(t, 5*time.Second, "the rejected email is recorded failed, the deferred one retried", func() bool {
		return rowOf(t, pool, "gone@example.com").JobState == "cancelled" && rowOf(t, pool, "later@example.com").Attempts >= 2
	})
	row := rowOf(t, pool, "gone@example.com")
	if row.Attempts != 1 || row.Sent || row.Dropped || row.Leased || !row.Erased || row.JobState != "cancelled" ||
		row.LastError == nil || !strings.Contains(*row.LastError, "550 5.1.1 <gone@example.com> mailbox unavailable") {
		t.Errorf("row %+v (last_error %s), want failed after 1 attempt with the reply, bodies erased, its job cancelled", row, deref(row.LastError))
	}
	// River keeps each failed attempt's error with the job: the email's id and the
	// failure's class, never the reply, which quotes the address.
	if text := riverJobText(t, pool); strings.Contains(text, "@example.com") || strings.Contains(text, "text ") ||
		!strings.Contains(text, "not sent (") {
		t.Errorf("river_job holds %s: want the failures' classes, no address and no body", text)
	}

	// Run again (River's dashboard can retry a cancelled job), the job finds the email
	// finished and sends nothing.
	if _, err := pool.Exec(context.Background(), `UPDATE river.river_job SET state = 'available', finalized_at = NULL, scheduled_at = now()
		WHERE args @> jsonb_build_object('email_id', (SELECT id FROM platform.outbox_emails WHERE recipient = 'gone@example.com'))`); err != nil {
		t.Fatal(err)
	}
	enqueue(t, pool, r.ob, "next@example.com", nil)
	poll.Until(t, 5*time.Second, "a later email is sent, and the job retried", func() bool {
		return rowOf(t, pool, "next@example.com").Sent && rowOf(t, pool, "gone@example.com").JobState == "completed"
	})
	if n := sender.attemptsTo("gone@example.com"); n != 1 {
		t.Errorf("the rejected email was tried %d times, want once", n)
	}
	if s := r.ob.Stats(); s.Rejected != 1 || s.Sent != 1 {
		t.Errorf("stats %+v, want 1 rejected, 1 sent", s)
	}
}

// TestWorkerGivesUpAfterTheLastAttempt: an email whose last attempt fails is recorded
// failed, its bodies erased, its job cancelled rather than left to River's discard.
func TestWorkerGivesUpAfterTheLastAttempt(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	sender := &fakeSender{send: func(context.Context, mail.Message) error { return errors.New("dial tcp: connection refused") }}
	opts := fastOptions
	opts.MaxAttempts = 3
	opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 20*time.Millisecond
	r := newReplica(t, pool, sender, opts, fastJobs, testLogger(t))
	run(t, r)
	enqueue(t, pool, r.ob, "never@example.com", nil)
	poll.Until(t, 5*time.Second, "the email is recorded failed and its job cancelled", func() bool {
		row := rowOf(t, pool, "never@example.com")
		return row.Failed && row.JobState == "cancelled"
	})
	row := rowOf(t, pool, "never@example.com")
	if row.Attempts != 3 || !row.Erased || row.JobState != "cancelled" || !strings.Contains(deref(row.LastError), "gave up after 3 attempts") {
		t.Errorf("row %+v (last_error %s), want failed at attempt 3, bodies erased, its job cancelled", row, deref(row.LastError))
	}
	if n := sender.attemptsTo("never@example.com"); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

// boundedSender is a sender that sends at most n emails at once, like the SMTP pool, and
// holds each until released.
type boundedSender struct {
	n       int
	release chan struct{}

	mu             sync.Mutex
	inFlight, most int
	sent           int
}

func (b *boundedSender) MaxConcurrent() int { return b.n }

func (b *boundedSender) Send(ctx context.Context, _ mail.Message) error {
	b.mu.Lock()
	b.inFlight++
	b.most = max(b.most, b.inFlight)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.sent++
		b.mu.Unlock()
	}()
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *boundedSender) counts() (inFlight, most, sent int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight, b.most, b.sent
}

func TestWorkerSendsAsManyAtOnceAsTheSenderCan(t *testing.T) {
	for _, n := range []int{3, 12} { // below and above the default of 8
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			pool := dbtest.NewPool(t)
			sender := &boundedSender{n: n, release: make(chan struct{})}
			opts := fastOptions
			opts.Concurrency = 0 // the sender decides
			r := newReplica(t, pool, sender, opts, fastJobs, testLogger(t))
			for i := range 2 * n {
				enqueue(t, pool, r.ob, fmt.Sprintf("c%02d@example.com", i), nil)
			}
			run(t, r)
			poll.Until(t, 5*time.Second, fmt.Sprintf("%d sends are under way", n), func() bool {
				inFlight, _, _ := sender.counts()
				return inFlight == n
			})
			close(sender.release)
			poll.Until(t, 5*time.Second, "every email is sent", func() bool { return countSent(t, pool) == 2*n })
			if _, most, _ := sender.counts(); most != n {
				t.Errorf("at most %d sends at once, want the sender's %d", most, n)
			}
		})
	}
}
