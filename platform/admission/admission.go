// Package admission bounds how much of a scarce resource (CPU-heavy password hashing) runs
// at once: a Gate of n slots that a caller waits for, in a queue of bounded length and for
// a bounded time, before it does the expensive work. The queue admits no more callers than
// the slots serve within the timeout at the recent time in a slot, nor more than its
// length. A caller that finds the queue full is held for RefusalHold (at most the queue
// timeout), then gets ErrBusy, as does one that waits past the timeout; the HTTP layer
// answers ErrBusy with 503 and Retry-After. A caller whose context ends while waiting or
// held never starts.
package admission

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrBusy says every slot stayed taken for the whole queue timeout: the service is
// saturated and the caller should retry shortly.
var ErrBusy = errors.New("saturated: no free slot within the queue timeout")

// RefusalHold is how long a caller that finds the queue full is held before it gets
// ErrBusy (never longer than the queue timeout): the second the HTTP layer's Retry-After
// asks for. A client that ignores Retry-After and resends as soon as it is answered (a
// flood, a thundering herd) then resends once a second instead of as fast as the service
// can refuse it: refused at once, 256 such connections made about 2,300 refusals a second,
// each of which parsed, validated and judged a request before it reached the gate, and
// registrations fell to a twentieth of their unloaded rate (docs/decisions.md). A held
// caller costs a parked goroutine and its request, which its open connection holds
// anyway; it takes no slot, no place in the queue, and is never admitted. Screen refuses
// so before the caller's own work.
const RefusalHold = time.Second

// Observer is told how long each admitted or refused caller waited; it may be nil.
type Observer func(wait time.Duration, admitted bool)

// Gate admits at most n callers at once and lets at most queue more wait (fewer when the
// slots would not serve them within the timeout at the recent time in a slot).
// Waiting callers are admitted in the order they arrived.
type Gate struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	timeout time.Duration
	hold    time.Duration
	observe Observer
	// held is a moving average of how long a caller holds a slot, in nanoseconds (0:
	// none yet).
	held atomic.Int64
}

// NewGate returns a gate of n slots (at least 1) in front of which at most queue callers
// (at least 0) wait, each at most timeout; a caller past a full queue is held for
// RefusalHold, or timeout when shorter.
func NewGate(n, queue int, timeout time.Duration, observe Observer) *Gate {
	return &Gate{
		slots: make(chan struct{}, max(n, 1)), queue: int64(max(queue, 0)),
		timeout: timeout, hold: min(RefusalHold, max(timeout, 0)), observe: observe,
	}
}

// Do runs fn in a slot. It returns ErrBusy (wrapped) when every slot is taken and the
// queue is full (after the hold), or when no slot freed up within the timeout, and ctx's
// error when ctx ended first or before fn could start: a request whose client has gone
// never starts fn.
func (g *Gate) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	select {
	case g.slots <- struct{}{}: // a free slot: no wait
	default:
		if err := g.wait(ctx, start); err != nil {
			return err
		}
	}
	defer func() { <-g.slots }()
	// A slot and the end of ctx can be ready together; select picks either.
	if err := ctx.Err(); err != nil {
		g.report(start, false)
		return err
	}
	g.report(start, true)
	began := time.Now()
	fn()
	g.recordHeld(time.Since(began))
	return nil
}

// recordHeld adds d, a caller's time in a slot, to the moving average (a weight of 1/8).
func (g *Gate) recordHeld(d time.Duration) {
	for {
		old := g.held.Load()
		avg := int64(d)
		if old > 0 {
			avg = old + (int64(d)-old)/8
		}
		if g.held.CompareAndSwap(old, avg) {
			return
		}
	}
}

// queueLimit is how many callers may wait at once now: the queue length, or fewer when
// the slots would not serve more within the timeout at the recent time in a slot (at
// least one), so that a waiting caller is served rather than timed out after the work
// it did before it queued (docs/decisions.md).
func (g *Gate) queueLimit() int64 {
	held := g.held.Load()
	if held <= 0 {
		return g.queue
	}
	served := int64(cap(g.slots)) * int64(g.timeout) / held
	return min(g.queue, max(served, 1))
}

// Screen refuses at the door a caller that Do would refuse now, before it does any work
// of its own: when every slot is taken and the queue is full, it holds the caller for the
// refusal hold and returns ErrBusy (wrapped), or ctx's error if ctx ends first. Otherwise
// it returns nil at once, and the caller goes on to Do, which may still refuse it. A
// request that will need a slot calls it first, so that under a flood a refusal costs
// neither reading nor judging the request (docs/decisions.md).
func (g *Gate) Screen(ctx context.Context) error {
	if len(g.slots) < cap(g.slots) || g.waiting.Load() < g.queueLimit() {
		return nil
	}
	return g.refuse(ctx, time.Now())
}

// wait queues for a slot, when the queue has room; else it holds the caller, then
// refuses it.
func (g *Gate) wait(ctx context.Context, start time.Time) error {
	if g.waiting.Add(1) > g.queueLimit() {
		g.waiting.Add(-1)
		return g.refuse(ctx, start)
	}
	defer g.waiting.Add(-1)
	timer := time.NewTimer(g.timeout)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		g.report(start, false)
		return ctx.Err()
	case <-timer.C:
		g.report(start, false)
		return fmt.Errorf("%w (%d running, waited %s)", ErrBusy, cap(g.slots), g.timeout)
	}
}

// refuse holds a caller that found the queue full for the hold, then refuses it; a
// caller whose context ends meanwhile is let go at once.
func (g *Gate) refuse(ctx context.Context, start time.Time) error {
	timer := time.NewTimer(g.hold)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		g.report(start, false)
		return ctx.Err()
	case <-timer.C:
	}
	g.report(start, false)
	return fmt.Errorf("%w (%d running, %d waiting: the queue is full; held %s)", ErrBusy, cap(g.slots), g.queueLimit(), g.hold)
}

// Waiting is the number of callers waiting for a slot now (not those held to be refused).
func (g *Gate) Waiting() int { return int(g.waiting.Load()) }

// Slots is the number of slots: how many callers run at once at most.
func (g *Gate) Slots() int { return cap(g.slots) }

// InUse is the number of slots taken now.
func (g *Gate) InUse() int { return len(g.slots) }

func (g *Gate) report(start time.Time, admitted bool) {
	if g.observe != nil {
		g.observe(time.Since(start), admitted)
	}
}
