package httpserver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestReadinessChecksAtMostOncePerInterval: however many probes arrive, the check runs
// once per interval, and its answer (good or bad) is what they all get.
func TestReadinessChecksAtMostOncePerInterval(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var (
		mu     sync.Mutex
		checks int
		fail   error
	)
	r := &readiness{every: time.Second, now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	r.check = func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		checks++
		if err := ctx.Err(); err != nil {
			return err
		}
		return fail
	}
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if err := r.ready(context.Background()); err != nil {
				t.Errorf("ready: %v", err)
			}
		})
	}
	wg.Wait()
	if checks != 1 {
		t.Fatalf("100 probes ran %d checks, want 1", checks)
	}

	mu.Lock()
	fail = errors.New("database down")
	mu.Unlock()
	advance(999 * time.Millisecond)
	if err := r.ready(context.Background()); err != nil || checks != 1 {
		t.Fatalf("within the interval: err %v after %d checks, want the cached success", err, checks)
	}
	advance(time.Millisecond)
	if err := r.ready(context.Background()); err == nil || checks != 2 {
		t.Fatalf("after the interval: err %v after %d checks, want a new failing check", err, checks)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	advance(time.Second)
	mu.Lock()
	fail = nil
	mu.Unlock()
	if err := r.ready(ctx); err != nil {
		t.Fatalf("a probe whose context ended got %v: the check must not use its context", err)
	}
}
