package admission

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hold takes n slots of g until the returned release is called.
func hold(t *testing.T, g *Gate, n int) (release func()) {
	t.Helper()
	done := make(chan struct{})
	var started sync.WaitGroup
	for range n {
		started.Add(1)
		go func() {
			if err := g.Do(context.Background(), func() { started.Done(); <-done }); err != nil {
				t.Errorf("hold a slot: %v", err)
				started.Done()
			}
		}()
	}
	started.Wait()
	return func() { close(done) }
}

func TestGateRunsAtMostNAtOnce(t *testing.T) {
	g := NewGate(3, 100, time.Minute, nil)
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.Do(context.Background(), func() {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
			})
			if err != nil {
				t.Errorf("Do: %v", err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak concurrency %d, want 3", p)
	}
}

func TestGateRefusesAfterTheQueueTimeout(t *testing.T) {
	var waits []time.Duration
	var mu sync.Mutex
	g := NewGate(2, 100, 30*time.Millisecond, func(wait time.Duration, admitted bool) {
		if !admitted {
			mu.Lock()
			waits = append(waits, wait)
			mu.Unlock()
		}
	})
	release := hold(t, g, 2)
	ran := false
	err := g.Do(context.Background(), func() { ran = true })
	if !errors.Is(err, ErrBusy) || ran {
		t.Fatalf("Do with every slot held: err %v, ran %v; want ErrBusy and not run", err, ran)
	}
	mu.Lock()
	if len(waits) != 1 || waits[0] < 30*time.Millisecond {
		t.Errorf("observed refusals %v, want one after the 30ms timeout", waits)
	}
	mu.Unlock()
	release()
	if err := g.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("Do once the slots are free: err %v, ran %v", err, ran)
	}
}

func TestGateNeverStartsForAGoneCaller(t *testing.T) {
	g := NewGate(1, 100, time.Minute, nil)
	ran := false

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Do(cancelled, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Do with a cancelled context: err %v, ran %v", err, ran)
	}

	// A caller that goes away while it waits is released at once, not at the timeout,
	// and its work never starts, even once a slot frees up.
	release := hold(t, g, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Do(ctx, func() { ran = true }) }()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do for a caller gone while waiting: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller gone while waiting was not released")
	}
	release()
	if ran || g.InUse() > 1 {
		t.Fatalf("ran %v, %d slots in use", ran, g.InUse())
	}
}

// TestGateRefusesAfterTheHoldWhenTheQueueIsFull: with every slot taken and queue callers
// waiting, the next caller gets ErrBusy after the refusal hold (a second), not after the
// timeout (an hour), and without taking a place in the queue; once a waiter leaves, there
// is room again.
func TestGateRefusesAfterTheHoldWhenTheQueueIsFull(t *testing.T) {
	var refused atomic.Int32
	g := NewGate(1, 2, time.Hour, func(_ time.Duration, admitted bool) {
		if !admitted {
			refused.Add(1)
		}
	})
	release := hold(t, g, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiters := make(chan error, 2)
	for range 2 {
		go func() { waiters <- g.Do(ctx, func() {}) }()
	}
	for g.Waiting() < 2 {
		runtime.Gosched()
	}
	done := make(chan error, 1)
	go func() { done <- g.Do(context.Background(), func() { t.Error("ran past a full queue") }) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("past a full queue: %v, want ErrBusy", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller past a full queue waited instead of being refused after the hold")
	}
	if g.Waiting() != 2 || refused.Load() != 1 {
		t.Fatalf("%d waiting, %d refused; want 2 and 1", g.Waiting(), refused.Load())
	}
	release()
	for range 2 {
		if err := <-waiters; err != nil {
			t.Fatalf("a queued caller: %v", err)
		}
	}
	if g.Waiting() != 0 {
		t.Fatalf("%d still waiting", g.Waiting())
	}
}

// TestGateScreen: Screen lets a caller through at once while the gate has a free slot or
// room in its queue; once every slot is taken and the queue is full, it holds the caller
// for the refusal hold (a second; the queue timeout, when shorter) and refuses it with
// ErrBusy, and lets a caller that goes away meanwhile go at once.
func TestGateScreen(t *testing.T) {
	var refusals atomic.Int32
	g := NewGate(1, 1, time.Hour, func(_ time.Duration, admitted bool) {
		if !admitted {
			refusals.Add(1)
		}
	})
	if err := g.Screen(context.Background()); err != nil {
		t.Fatalf("Screen with a free slot: %v", err)
	}
	release := hold(t, g, 1)
	defer release()
	if err := g.Screen(context.Background()); err != nil {
		t.Fatalf("Screen with room in the queue: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiter := make(chan error, 1)
	go func() { waiter <- g.Do(ctx, func() {}) }()
	for g.Waiting() < 1 {
		runtime.Gosched()
	}
	begin := time.Now()
	err := g.Screen(context.Background())
	if took := time.Since(begin); !errors.Is(err, ErrBusy) || took < RefusalHold || took > 5*time.Second {
		t.Fatalf("Screen with the queue full: %v after %v, want ErrBusy after the %v hold", err, took, RefusalHold)
	}
	if g.Waiting() != 1 || refusals.Load() != 1 {
		t.Fatalf("%d waiting, %d refusals observed; want 1 and 1", g.Waiting(), refusals.Load())
	}
	gone, leave := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Screen(gone) }()
	leave()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Screen for a caller gone while held: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller gone while held was not let go")
	}
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Errorf("the queued caller, its context cancelled: %v, want context.Canceled", err)
	}
}

// TestQueueHoldsWhatTheSlotsServeWithinTheTimeout checks that the queue admits no more
// callers than the slots serve within the queue timeout at the recent time in a slot:
// 200 ms in a slot, 2 slots and a 1 s timeout let 10 wait (not the queue length's 100),
// and a caller past them is refused without queueing. Before any caller held a slot, the
// queue length alone counts.
func TestQueueHoldsWhatTheSlotsServeWithinTheTimeout(t *testing.T) {
	g := NewGate(2, 100, time.Second, nil)
	if got := g.queueLimit(); got != 100 {
		t.Fatalf("queue limit before any hash: %d, want the queue length 100", got)
	}
	for range 64 {
		g.recordHeld(200 * time.Millisecond)
	}
	if got := g.queueLimit(); got != 10 {
		t.Fatalf("queue limit at 200 ms a slot: %d, want 10 (2 slots × 1 s ÷ 200 ms)", got)
	}
	release := hold(t, g, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiters := make(chan error, 10)
	for range 10 {
		go func() { waiters <- g.Do(ctx, func() {}) }()
	}
	for g.Waiting() < 10 {
		runtime.Gosched()
	}
	// The eleventh is held, then refused: never queued.
	short, stop := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer stop()
	if err := g.Screen(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Screen past the limit: %v, want to be held (and let go at its deadline)", err)
	}
	if err := g.Do(short, func() { t.Error("a caller past the limit ran") }); err == nil {
		t.Fatal("Do past the limit: nil")
	}
	if g.Waiting() != 10 {
		t.Fatalf("%d waiting, want 10", g.Waiting())
	}
	// Faster slots make room: at 10 ms, the queue length bounds it again.
	for range 64 {
		g.recordHeld(10 * time.Millisecond)
	}
	if got := g.queueLimit(); got != 100 {
		t.Fatalf("queue limit at 10 ms a slot: %d, want the queue length 100", got)
	}
	if err := g.Screen(context.Background()); err != nil {
		t.Fatalf("Screen with room again: %v", err)
	}
	release()
	for range 10 {
		if err := <-waiters; err != nil {
			t.Errorf("a waiter: %v", err)
		}
	}
}
