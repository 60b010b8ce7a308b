package main

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/acme/identity/modules/identity/adapter/argon2id"
)

// HashLimit is the hash-bound limit: argon2id with the server's parameters, by the
// server's own hasher (which reuses its memory), in as many goroutines as the process may
// use CPUs, in this process, with nothing else running.
type HashLimit struct {
	Hash       HashParams
	Goroutines int
	Hashes     int
	Elapsed    time.Duration
	CPU        time.Duration
	// MinorFaults of this process while hashing.
	MinorFaults int64
}

// PerSecond is hashes per second.
func (h HashLimit) PerSecond() float64 { return float64(h.Hashes) / h.Elapsed.Seconds() }

// CPUPerHash is the CPU time one hash costs a plain program.
func (h HashLimit) CPUPerHash() time.Duration {
	if h.Hashes == 0 {
		return 0
	}
	return h.CPU / time.Duration(h.Hashes)
}

// MeasureHashLimit hashes for d in GOMAXPROCS goroutines.
func MeasureHashLimit(ctx context.Context, p HashParams, d time.Duration) (HashLimit, error) {
	n := runtime.GOMAXPROCS(0)
	h := argon2id.New(argon2id.Params{MemoryKiB: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism}, nil)
	// Warm up: the first hashes fault their memory in, which the hasher keeps.
	var warm sync.WaitGroup
	for range n {
		warm.Go(func() { _, _ = h.Hash(ctx, password) })
	}
	warm.Wait()
	r0, err := rusage()
	if err != nil {
		return HashLimit{}, err
	}
	start := time.Now()
	deadline := start.Add(d)
	var hashes atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := h.Hash(ctx, password); err != nil {
					return
				}
				hashes.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r1, err := rusage()
	if err != nil {
		return HashLimit{}, err
	}
	return HashLimit{
		Hash: p, Goroutines: n, Hashes: int(hashes.Load()), Elapsed: elapsed,
		CPU:         cpuOf(r1) - cpuOf(r0),
		MinorFaults: r1.Minflt - r0.Minflt,
	}, ctx.Err()
}

func rusage() (syscall.Rusage, error) {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return r, fmt.Errorf("getrusage: %w", err)
	}
	return r, nil
}

func cpuOf(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

func stepLimits(steps []StepResult) []HashLimit {
	out := make([]HashLimit, len(steps))
	for i, r := range steps {
		out[i] = r.Limit
	}
	return out
}

// MedianLimit returns the measurement of median rate (the upper one of an even count).
func MedianLimit(ls []HashLimit) HashLimit {
	if len(ls) == 0 {
		return HashLimit{}
	}
	s := slices.Clone(ls)
	slices.SortFunc(s, func(a, b HashLimit) int { return cmp.Compare(a.PerSecond(), b.PerSecond()) })
	return s[len(s)/2]
}

// Plus sums two measurements: the limit around a step is the one before it plus the one
// after it.
func (h HashLimit) Plus(o HashLimit) HashLimit {
	h.Hashes += o.Hashes
	h.Elapsed += o.Elapsed
	h.CPU += o.CPU
	h.MinorFaults += o.MinorFaults
	return h
}
