// Package admission bounds how much of a scarce resource (CPU-heavy password hashing) runs
// at once: a Gate of n slots that a caller waits for, in a queue of bounded length and for
// a bounded time, before it does the expensive work. A caller that finds the queue full,
// or waits past the timeout, gets ErrBusy, which the HTTP layer answers with 503 and
// Retry-After; a caller whose context ends while waiting never starts.
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

// Observer is told how long each admitted or refused caller waited; it may be nil.
type Observer func(wait time.Duration, admitted bool)

// Gate admits at most n callers at once and lets at most queue more wait. Waiting callers
// are admitted in the order they arrived.
type Gate struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	timeout time.Duration
	observe Observer
}

// NewGate returns a gate of n slots (at least 1) in front of which at most queue callers
// (at least 0) wait, each at most timeout.
func NewGate(n, queue int, timeout time.Duration, observe Observer) *Gate {
	return &Gate{slots: make(chan struct{}, max(n, 1)), queue: int64(max(queue, 0)), timeout: timeout, observe: observe}
}

// Do runs fn in a slot. It returns ErrBusy (wrapped) at once when every slot is taken and
// the queue is full, or when no slot freed up within the timeout, and ctx's error when
// ctx ended first or before fn could start: a request whose client has gone never starts
// fn.
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
	fn()
	return nil
}

// wait queues for a slot, when the queue has room.
func (g *Gate) wait(ctx context.Context, start time.Time) error {
	defer g.waiting.Add(-1)
	if g.waiting.Add(1) > g.queue {
		g.report(start, false)
		return fmt.Errorf("%w (%d running, %d waiting: the queue is full)", ErrBusy, cap(g.slots), g.queue)
	}
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

// Waiting is the number of callers waiting for a slot now.
func (g *Gate) Waiting() int { return int(g.waiting.Load()) }

// InUse is the number of slots taken now.
func (g *Gate) InUse() int { return len(g.slots) }

func (g *Gate) report(start time.Time, admitted bool) {
	if g.observe != nil {
		g.observe(time.Since(start), admitted)
	}
}
