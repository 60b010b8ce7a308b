package database

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WithBudget returns a context that bounds the database work done under it: the first
// time a pool opened by Open is used with the context (or one derived from it), a clock of
// timeout starts, and when it runs out the context ends with context.DeadlineExceeded, so
// the database call under way, or the wait for a connection, stops and fails with an error
// that Classify marks ErrUnavailable. Until that first use the context has no deadline of
// its own: work done before the database (hashing a password, say) does not spend the
// budget. The HTTP server gives each request one; cancel releases it.
func WithBudget(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	b := &budget{parent: parent, timeout: timeout, done: make(chan struct{})}
	if err := parent.Err(); err != nil {
		b.end(err)
		return b, func() {}
	}
	stop := context.AfterFunc(parent, func() { b.end(parent.Err()) })
	b.mu.Lock()
	b.stopParent = stop
	b.mu.Unlock()
	return b, func() { b.end(context.Canceled) }
}

// budgetKey finds the budget among a context's values.
type budgetKey struct{}

// budget is the context of WithBudget. It is a context.Context of its own (not one of the
// context package's) because its deadline is unknown until its first database call.
type budget struct {
	parent  context.Context
	timeout time.Duration
	done    chan struct{}

	mu         sync.Mutex
	deadline   time.Time // zero until started
	timer      *time.Timer
	stopParent func() bool
	err        error
}

var _ context.Context = (*budget)(nil)

// start starts the clock; later calls do nothing.
func (b *budget) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.deadline.IsZero() || b.err != nil {
		return
	}
	b.deadline = time.Now().Add(b.timeout)
	b.timer = time.AfterFunc(b.timeout, func() { b.end(context.DeadlineExceeded) })
}

// end ends the context with err, once.
func (b *budget) end(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	b.err = err
	close(b.done)
	if b.timer != nil {
		b.timer.Stop()
	}
	if b.stopParent != nil {
		b.stopParent()
	}
}

func (b *budget) Deadline() (time.Time, bool) {
	b.mu.Lock()
	own := b.deadline
	b.mu.Unlock()
	parent, ok := b.parent.Deadline()
	switch {
	case own.IsZero():
		return parent, ok
	case ok && parent.Before(own):
		return parent, true
	}
	return own, true
}

func (b *budget) Done() <-chan struct{} { return b.done }

func (b *budget) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *budget) Value(key any) any {
	if key == (budgetKey{}) {
		return b
	}
	return b.parent.Value(key)
}

// startBudget starts the budget ctx carries, if any: ctx is about to wait on the database.
func startBudget(ctx context.Context) bool {
	b, ok := ctx.Value(budgetKey{}).(*budget)
	if ok {
		b.start()
	}
	return ok
}

// boundTracer is the pool's tracer: it starts the caller's budget when the caller first
// asks for a connection (every pool operation begins by acquiring one), and bounds the
// wait for a connection by acquireTimeout for callers without a budget (the outbox
// workers, probes). It implements pgx.QueryTracer with no-ops so that it can be
// combined with other tracers by github.com/jackc/pgx/v5/multitracer.
type boundTracer struct {
	acquireTimeout time.Duration
}

var (
	_ pgxpool.AcquireTracer = boundTracer{}
	_ pgx.QueryTracer       = boundTracer{}
)

// acquireCancelKey holds the cancel function of an acquire timeout, for TraceAcquireEnd.
type acquireCancelKey struct{}

func (t boundTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	if startBudget(ctx) || t.acquireTimeout <= 0 {
		return ctx
	}
	ctx, cancel := context.WithTimeout(ctx, t.acquireTimeout)
	return context.WithValue(ctx, acquireCancelKey{}, cancel)
}

func (t boundTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	if cancel, ok := ctx.Value(acquireCancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

func (boundTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (boundTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
