package admission

import (
	"context"
	"crypto/sha256"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// burn spends CPU: n rounds of SHA-256 over a small block (a stand-in for work that takes
// CPU, not wall time: a goroutine kept off the CPU takes longer to finish it).
func burn(n int) {
	sum := [32]byte{}
	for range n {
		sum = sha256.Sum256(sum[:])
	}
	runtime.KeepAlive(sum)
}

// roundsFor is how many rounds of burn take d of CPU here.
func roundsFor(d time.Duration) int {
	const probe = 20000
	begin := time.Now()
	burn(probe)
	return max(1, int(float64(probe)*float64(d)/float64(time.Since(begin))))
}

// TestGateRefusalsDoNotStarveTheAdmittedWork: callers in a closed loop that resend as soon
// as they are answered (a flood that ignores Retry-After), each spending a little CPU before
// it reaches the gate (reading, validating the request), leave the admitted work most of
// the CPU they use. Refused at once, 256 such callers spent it on refusals and the admitted
// work crawled (issue 24: 0.05 of the unloaded rate of registrations).
//
// The share is counted, not timed: the CPU spent by admitted calls against the CPU spent by
// every call before the gate, in rounds of the same work, so other programs on the machine
// do not move it. The admitted rates, with 256 callers and with a few, are logged.
func TestGateRefusalsDoNotStarveTheAdmittedWork(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	work := roundsFor(20 * time.Millisecond)    // one admitted call: a password hash
	before := roundsFor(300 * time.Microsecond) // what a request costs before the gate
	// run runs callers in a closed loop for d on a gate sized as the service sizes its own
	// (a slot per CPU, a queue of what a second can serve, a timeout of a second) and
	// returns the calls admitted and the calls made in d.
	run := func(callers int, d time.Duration) (admitted, calls int64) {
		g := NewGate(procs, procs*32, time.Second, nil)
		ctx, cancel := context.WithCancel(context.Background())
		var done, made atomic.Int64
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for ctx.Err() == nil {
					burn(before)
					made.Add(1)
					_ = g.Do(ctx, func() { burn(work); done.Add(1) })
				}
			})
		}
		time.Sleep(d / 2) // warm up: the queue fills, the first refusals come back
		done0, made0 := done.Load(), made.Load()
		time.Sleep(d)
		admitted, calls = done.Load()-done0, made.Load()-made0
		cancel()
		wg.Wait()
		return admitted, calls
	}
	const d = 2 * time.Second
	unloaded, _ := run(2*procs, d)
	admitted, calls := run(256, d)
	share := float64(admitted*int64(work)) / float64(admitted*int64(work)+calls*int64(before))
	t.Logf("admitted calls a second: %.1f with %d callers, %.1f with 256 (%.2f); with 256, %d calls, %.2f of the CPU spent on admitted work",
		float64(unloaded)/d.Seconds(), 2*procs, float64(admitted)/d.Seconds(), float64(admitted)/float64(unloaded), calls, share)
	// Each refused caller comes back once per hold at most: the refusals' CPU is bounded
	// by the callers, not by how fast the gate can refuse. (Past the bound, the queue's
	// timeouts and the admitted calls themselves.)
	if most := int64(256*d/RefusalHold) + admitted + int64(procs*32)*int64(d/time.Second); calls > most {
		t.Errorf("256 closed-loop callers made %d calls in %v (%d admitted), want at most %d: refused callers spin", calls, d, admitted, most)
	}
	// Most of the CPU goes to the admitted work (0.8-0.95 here; 0.00 when refusals were
	// answered at once). The floor is low: admitted work slows down when other programs
	// take the CPU, the held callers' pace does not.
	if share < 0.5 {
		t.Errorf("256 closed-loop callers made %d calls in %v for %d admitted: %.2f of their CPU went to admitted work, want at least 0.5",
			calls, d, admitted, share)
	}
}
