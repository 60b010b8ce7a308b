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

	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/poll"
)

// These tests run the dispatcher against the real PostgreSQL, a fresh database each, with
// a fake Sender whose behaviour each test scripts.

// fastOptions keep the tests quick: short backoff and polls, generous timeouts.
var fastOptions = Options{
	Concurrency:   4,
	SendTimeout:   2 * time.Second,
	MinBackoff:    100 * time.Millisecond,
	MaxBackoff:    400 * time.Millisecond,
	PollInterval:  200 * time.Millisecond,
	ShutdownGrace: 2 * time.Second,
}

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

// enqueue queues an email to "to" in its own committed transaction, through ob.
func enqueue(t *testing.T, pool *pgxpool.Pool, ob *Outbox, to string, expiresAt *time.Time) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return ob.enqueue(ctx, tx, mail.Message{To: to, Subject: "subject " + to, Text: "text " + to, HTML: "<p>html " + to + "</p>"}, expiresAt)
	})
	if err != nil {
		t.Fatalf("enqueue %s: %v", to, err)
	}
	ob.wake(1)
}

// emailRow is the recorded state of the email to one recipient.
type emailRow struct {
	Attempts  int
	LastError *string
	Sent      bool
	Dropped   bool
	Failed    bool
	Leased    bool
	// Erased: both bodies are empty.
	Erased bool
	// DueInMs is how long until it is next due (negative: due already).
	DueInMs   float64
	MessageID string
}

func rowOf(t *testing.T, pool *pgxpool.Pool, to string) emailRow {
	t.Helper()
	var r emailRow
	err := pool.QueryRow(context.Background(), `
		SELECT attempts, last_error, sent_at IS NOT NULL, dropped_at IS NOT NULL, failed_at IS NOT NULL,
		       lease_token IS NOT NULL, text_body = '' AND html_body = '',
		       extract(epoch FROM available_at - clock_timestamp()) * 1000, message_id::text
		FROM platform.outbox_emails WHERE recipient = $1`, to).
		Scan(&r.Attempts, &r.LastError, &r.Sent, &r.Dropped, &r.Failed, &r.Leased, &r.Erased, &r.DueInMs, &r.MessageID)
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

// run starts d and returns a function that stops it and waits for Run to return (also
// called at cleanup).
func run(t *testing.T, d *Dispatcher) (stop func()) {
	t.Helper()
	_, stop = runContext(t, d)
	return stop
}

// runContext is run, and also returns the context Run got: it is done as soon as stop
// has begun the shutdown.
func runContext(t *testing.T, d *Dispatcher) (ctx context.Context, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
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

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestDispatcherSendsAndMarksSent(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
	sender := &fakeSender{}
	d := NewDispatcher(pool, ob, sender, fastOptions, testLogger(t))
	run(t, d)

	enqueue(t, pool, ob, "a@example.com", nil)
	poll.Until(t, 5*time.Second, "the email is recorded as sent", func() bool { return rowOf(t, pool, "a@example.com").Sent })

	r := rowOf(t, pool, "a@example.com")
	want := mail.Message{ID: r.MessageID, To: "a@example.com", Subject: "subject a@example.com", Text: "text a@example.com", HTML: "<p>html a@example.com</p>"}
	sender.mu.Lock()
	got := sender.sent
	sender.mu.Unlock()
	if len(got) != 1 || got[0] != want || len(r.MessageID) != 36 {
		t.Fatalf("sent %+v, want exactly %+v (the row's message_id as ID)", got, want)
	}
	// The bodies hold the code: erased by the statement that records the email sent.
	if r.Attempts != 1 || r.Leased || r.LastError != nil || !r.Erased || r.Failed || r.Dropped {
		t.Errorf("row after sending: %+v, want 1 attempt, no lease, no error, bodies erased", r)
	}
	if s := d.Stats(); s != (Stats{Sent: 1}) {
		t.Errorf("stats %+v, want Sent 1 only", s)
	}
}

func TestDispatcherRetriesFailedSendWithBackoff(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
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
	d := NewDispatcher(pool, ob, sender, opts, testLogger(t))
	run(t, d)

	enqueue(t, pool, ob, "retry@example.com", nil)
	select {
	case <-secondAttempt:
	case <-time.After(5 * time.Second):
		t.Fatal("no second attempt within 5 s of a failed first one")
	}
	// While the second attempt runs, the row records the first failure.
	r := rowOf(t, pool, "retry@example.com")
	if r.LastError == nil || !strings.Contains(*r.LastError, "451 4.3.0 try again later") || r.Attempts != 2 || r.Sent || r.Erased {
		t.Fatalf("row during attempt 2: %+v (last_error %v), want attempts 2, last_error of attempt 1, not sent, bodies kept", r, deref(r.LastError))
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
	if s := d.Stats(); s.Failed != 2 || s.Sent != 1 {
		t.Errorf("stats %+v, want Failed 2, Sent 1", s)
	}
}

func TestBackoffDoublesWithinBounds(t *testing.T) {
	t.Parallel()
	d := &Dispatcher{opts: DefaultOptions}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{5, 8 * time.Second, 16 * time.Second},
		{6, 15 * time.Second, 30 * time.Second},
		{64, 15 * time.Second, 30 * time.Second},
		{1 << 30, 15 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if got := d.backoff(tt.attempt); got < tt.min || got > tt.max {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempt, got, tt.min, tt.max)
			}
		}
	}
	// A large MinBackoff must not overflow into a negative delay.
	big := &Dispatcher{opts: Options{MinBackoff: time.Hour, MaxBackoff: 1 << 62}}
	for _, attempt := range []int{1, 31, 40, 100} {
		if got := big.backoff(attempt); got < 30*time.Minute {
			t.Errorf("backoff(%d) with MinBackoff 1h = %v, want at least 30m", attempt, got)
		}
	}
}

func TestDispatcherDropsExpiredEmail(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
	sender := &fakeSender{}
	past := time.Now().Add(-time.Minute)
	future := time.Now().Add(time.Hour)
	enqueue(t, pool, ob, "expired@example.com", &past)
	enqueue(t, pool, ob, "fresh@example.com", &future)

	d := NewDispatcher(pool, ob, sender, fastOptions, testLogger(t))
	run(t, d)
	poll.Until(t, 5*time.Second, "the fresh email is sent and the expired one dropped", func() bool {
		return rowOf(t, pool, "fresh@example.com").Sent && rowOf(t, pool, "expired@example.com").Dropped
	})
	if n := sender.attemptsTo("expired@example.com"); n != 0 {
		t.Errorf("the expired email was handed to the sender %d times, want never", n)
	}
	if r := rowOf(t, pool, "expired@example.com"); r.Sent || r.Attempts != 0 || !r.Erased {
		t.Errorf("expired row %+v, want dropped, never attempted, bodies erased", r)
	}
	if s := d.Stats(); s.Dropped != 1 || s.Sent != 1 {
		t.Errorf("stats %+v, want Dropped 1, Sent 1", s)
	}
}

func TestDispatcherHungSendDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
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
	enqueue(t, pool, ob, "hang@example.com", nil)
	d := NewDispatcher(pool, ob, sender, opts, testLogger(t))
	run(t, d)
	poll.Until(t, 5*time.Second, "the hanging send starts", func() bool { return sender.attemptsTo("hang@example.com") == 1 })

	for i := range 5 {
		enqueue(t, pool, ob, fmt.Sprintf("u%d@example.com", i), nil)
	}
	poll.Until(t, 5*time.Second, "the other five emails are sent", func() bool { return countSent(t, pool) == 5 })
	select {
	case <-hangDone:
		t.Fatal("the other emails waited for the hung send to time out")
	default:
	}

	// The hung send then times out and is recorded as a failure to retry.
	poll.Until(t, 5*time.Second, "the hung send times out and is recorded", func() bool {
		r := rowOf(t, pool, "hang@example.com")
		return r.LastError != nil && !r.Leased
	})
	r := rowOf(t, pool, "hang@example.com")
	if r.Sent || !strings.Contains(*r.LastError, "deadline exceeded") || r.DueInMs <= 0 {
		t.Errorf("hung email row %+v (last_error %q), want unsent, a timeout recorded, retry scheduled", r, *r.LastError)
	}
}

func TestDispatcherShutdownHandsBackClaimedEmail(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
	started := make(chan struct{})
	sender := &fakeSender{send: func(ctx context.Context, _ mail.Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}
	opts := fastOptions
	opts.ShutdownGrace, opts.SendTimeout = 200*time.Millisecond, 20*time.Second
	enqueue(t, pool, ob, "inflight@example.com", nil)
	d := NewDispatcher(pool, ob, sender, opts, testLogger(t))
	stop := run(t, d)
	<-started
	if r := rowOf(t, pool, "inflight@example.com"); !r.Leased || r.Attempts != 1 {
		t.Fatalf("row while sending: %+v, want leased, 1 attempt", r)
	}

	begin := time.Now()
	stop()
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("Run took %v to return, want about ShutdownGrace (%v)", took, opts.ShutdownGrace)
	}
	if s := d.Stats(); s.Released != 1 || s.Failed != 0 || s.Sent != 0 {
		t.Errorf("stats %+v, want Released 1 only", s)
	}
	r := rowOf(t, pool, "inflight@example.com")
	if r.Sent || r.Leased || r.Attempts != 0 || r.DueInMs > 0 || r.LastError != nil {
		t.Fatalf("row after shutdown: %+v, want unsent, unleased, due now, the attempt not counted", r)
	}

	// Nothing is lost: the next dispatcher sends it at once (not after the lease).
	next := &fakeSender{}
	run(t, NewDispatcher(pool, New(), next, fastOptions, testLogger(t)))
	poll.Until(t, 2*time.Second, "the next dispatcher sends the handed-back email", func() bool {
		return rowOf(t, pool, "inflight@example.com").Sent
	})
	if n := next.sentTo("inflight@example.com"); n != 1 {
		t.Errorf("the next dispatcher sent it %d times, want 1", n)
	}
}

func TestDispatcherShutdownLetsSendFinishWithinGrace(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
	started := make(chan struct{})
	finish := make(chan struct{})
	sender := &fakeSender{send: func(ctx context.Context, _ mail.Message) error {
		close(started)
		<-finish
		return ctx.Err()
	}}
	enqueue(t, pool, ob, "slow@example.com", nil)
	d := NewDispatcher(pool, ob, sender, fastOptions, testLogger(t))
	runCtx, stop := runContext(t, d)
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	<-runCtx.Done() // the shutdown has begun while the send is under way
	close(finish)
	<-stopped
	if r := rowOf(t, pool, "slow@example.com"); !r.Sent {
		t.Errorf("row %+v: a send that ends within ShutdownGrace must be recorded as sent", r)
	}
	if s := d.Stats(); s != (Stats{Sent: 1}) {
		t.Errorf("stats %+v, want Sent 1 only", s)
	}
}

func TestDispatcherShutdownAbandonsSenderIgnoringContext(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
	started := make(chan struct{})
	never := make(chan struct{})
	// The abandoned send ends when the test does; what it records then does not matter.
	t.Cleanup(func() { close(never) })
	sender := &fakeSender{send: func(context.Context, mail.Message) error {
		close(started)
		<-never // a broken client that ignores its context
		return errors.New("gave up")
	}}
	opts := fastOptions
	opts.ShutdownGrace = 100 * time.Millisecond
	opts.AbandonAfter = 100 * time.Millisecond
	enqueue(t, pool, ob, "stuck@example.com", nil)
	d := NewDispatcher(pool, ob, sender, opts, slog.New(slog.DiscardHandler))
	stop := run(t, d)
	<-started
	begin := time.Now()
	stop()
	if took := time.Since(begin); took > opts.ShutdownGrace+opts.AbandonAfter+time.Second {
		t.Errorf("Run took %v to return with a sender that ignores cancellation, want at most %v",
			took, opts.ShutdownGrace+opts.AbandonAfter)
	}
	if r := rowOf(t, pool, "stuck@example.com"); r.Sent || !r.Leased {
		t.Errorf("row %+v: the abandoned email keeps its lease, so another replica sends it later", r)
	}
}

func TestDispatcherWakesOnNotifyFromAnotherProcess(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	sender := &fakeSender{}
	opts := fastOptions
	opts.PollInterval = time.Minute // only LISTEN/NOTIFY can wake it in time
	d := NewDispatcher(pool, New(), sender, opts, testLogger(t))
	run(t, d)
	// Let the dispatcher settle into its long sleep, listening.
	poll.Until(t, 5*time.Second, "the dispatcher listens", func() bool {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN outbox_emails'`).Scan(&n)
		return err == nil && n == 1
	})
	time.Sleep(100 * time.Millisecond) // the dispatcher has done its first claim and sleeps

	other := New() // another replica's outbox: its in-process signal does not reach d
	begin := time.Now()
	enqueue(t, pool, other, "notified@example.com", nil)
	poll.Until(t, 3*time.Second, "the email queued elsewhere is sent", func() bool { return sender.sentTo("notified@example.com") == 1 })
	t.Logf("sent %v after the commit of another replica", time.Since(begin))
}

// TestDispatcherListensOnListenURL: with ListenURL set (DATABASE_DIRECT_URL, the pool
// going through a transaction-mode pooler), LISTEN runs on a connection of its own to that
// URL, not on one of the pool, and a NOTIFY still wakes the dispatcher.
func TestDispatcherListensOnListenURL(t *testing.T) {
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
	opts.ListenURL = url + "&application_name=outbox-direct"
	d := NewDispatcher(pool, New(), sender, opts, testLogger(t))
	run(t, d)
	poll.Until(t, 5*time.Second, "the dispatcher listens on the direct connection", func() bool {
		var app string
		err := pool.QueryRow(context.Background(), `SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN outbox_emails'`).Scan(&app)
		return err == nil && app == "outbox-direct"
	})
	time.Sleep(100 * time.Millisecond) // the dispatcher has done its first claim and sleeps
	enqueue(t, pool, New(), "direct@example.com", nil)
	poll.Until(t, 3*time.Second, "the email queued elsewhere is sent", func() bool { return sender.sentTo("direct@example.com") == 1 })
}

func TestDispatchersShareOutboxWithoutDuplicates(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	const emails = 100
	sender := &fakeSender{send: func(context.Context, mail.Message) error {
		time.Sleep(2 * time.Millisecond) // a provider that takes a moment
		return nil
	}}
	var pools []*pgxpool.Pool
	var dispatchers []*Dispatcher
	for range 3 {
		pool, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatalf("pool: %v", err)
		}
		t.Cleanup(pool.Close)
		pools = append(pools, pool)
		d := NewDispatcher(pool, New(), sender, fastOptions, testLogger(t))
		dispatchers = append(dispatchers, d)
		run(t, d)
	}
	for i := range emails {
		enqueue(t, pools[i%3], New(), fmt.Sprintf("r%03d@example.com", i), nil)
	}
	poll.Until(t, 20*time.Second, "every email is recorded as sent", func() bool { return countSent(t, pools[0]) == emails })

	for i := range emails {
		to := fmt.Sprintf("r%03d@example.com", i)
		if n := sender.sentTo(to); n != 1 {
			t.Errorf("%s got %d emails, want exactly 1", to, n)
		}
	}
	var total int64
	for i, d := range dispatchers {
		s := d.Stats()
		total += s.Sent
		t.Logf("dispatcher %d sent %d", i, s.Sent)
	}
	if total != emails {
		t.Errorf("dispatchers sent %d in all, want %d", total, emails)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestDispatcherKeepsMessageIDAcrossAttempts(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
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
	run(t, NewDispatcher(pool, ob, sender, fastOptions, testLogger(t)))
	enqueue(t, pool, ob, "twice@example.com", nil)
	enqueue(t, pool, ob, "other@example.com", nil)
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

func TestDispatcherRecordsRejectedEmailFailedForGood(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	ob := New()
	sender := &fakeSender{send: func(_ context.Context, m mail.Message) error {
		if m.To == "gone@example.com" {
			return fmt.Errorf("send: %w", &mail.RejectedError{Command: "RCPT", Code: 550, Reply: "5.1.1 mailbox unavailable"})
		}
		return nil
	}}
	d := NewDispatcher(pool, ob, sender, fastOptions, testLogger(t))
	run(t, d)
	enqueue(t, pool, ob, "gone@example.com", nil)
	poll.Until(t, 5*time.Second, "the rejected email is recorded failed", func() bool { return rowOf(t, pool, "gone@example.com").Failed })
	r := rowOf(t, pool, "gone@example.com")
	if r.Attempts != 1 || r.Sent || r.Dropped || r.Leased || !r.Erased || r.LastError == nil || !strings.Contains(*r.LastError, "550 5.1.1 mailbox unavailable") {
		t.Errorf("row %+v (last_error %s), want failed after 1 attempt with the reply, bodies erased", r, deref(r.LastError))
	}
	// Even once due, a failed email is never claimed again: make it due, then wait for a
	// later email to go out (a claim that would have taken the failed one first).
	if _, err := pool.Exec(context.Background(), `UPDATE platform.outbox_emails SET available_at = now() - interval '1 hour' WHERE recipient = 'gone@example.com'`); err != nil {
		t.Fatal(err)
	}
	enqueue(t, pool, ob, "next@example.com", nil)
	poll.Until(t, 5*time.Second, "a later email is sent", func() bool { return rowOf(t, pool, "next@example.com").Sent })
	if n := sender.attemptsTo("gone@example.com"); n != 1 {
		t.Errorf("the rejected email was tried %d times, want once", n)
	}
	if s := d.Stats(); s.Rejected != 1 || s.Failed != 0 || s.Sent != 1 {
		t.Errorf("stats %+v, want 1 rejected, 1 sent, no failed attempt", s)
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

func TestDispatcherSendsAsManyAtOnceAsTheSenderCan(t *testing.T) {
	for _, n := range []int{3, 12} { // below and above the default of 8
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			pool := dbtest.NewPool(t)
			ob := New()
			sender := &boundedSender{n: n, release: make(chan struct{})}
			opts := fastOptions
			opts.Concurrency = 0 // the sender decides
			d := NewDispatcher(pool, ob, sender, opts, testLogger(t))
			for i := range 2 * n {
				enqueue(t, pool, ob, fmt.Sprintf("c%02d@example.com", i), nil)
			}
			run(t, d)
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

// TestUntilNextDue: an empty outbox lets the dispatcher sleep its whole poll interval (it
// once read "due now", and the dispatcher polled an empty outbox every 10 ms); an email
// due later sets the sleep to its due time; one due now to the shortest sleep.
func TestUntilNextDue(t *testing.T) {
	pool := dbtest.NewPool(t)
	opts := fastOptions
	opts.PollInterval = time.Minute
	d := NewDispatcher(pool, New(), &fakeSender{}, opts, testLogger(t))
	ctx := context.Background()
	if got := d.untilNextDue(ctx); got != time.Minute {
		t.Fatalf("empty outbox: sleep %v, want the poll interval", got)
	}
	enqueue(t, pool, New(), "later@example.com", nil)
	if _, err := pool.Exec(ctx, `UPDATE platform.outbox_emails SET available_at = now() + interval '20 seconds'`); err != nil {
		t.Fatal(err)
	}
	if got := d.untilNextDue(ctx); got < 15*time.Second || got > 20*time.Second {
		t.Fatalf("an email due in 20 s: sleep %v", got)
	}
	if _, err := pool.Exec(ctx, `UPDATE platform.outbox_emails SET available_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if got := d.untilNextDue(ctx); got != minWait {
		t.Fatalf("an email due now: sleep %v, want %v", got, minWait)
	}
}
