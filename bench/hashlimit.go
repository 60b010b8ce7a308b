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

	"golang.org/x/crypto/argon2"
)

// HashLimit is the hash-bound limit: argon2id with the server's parameters in as many
// goroutines as the process may use CPUs, in this process, with nothing else running.
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
	// Warm up: the first hashes fault the heap in.
	for range n {
		argon2.IDKey([]byte(password), []byte("0123456789abcdef"), p.Iterations, p.MemoryKiB, p.Parallelism, 32)
	}
	r0, err := rusage()
	if err != nil {
		return HashLimit{}, err
	}
	start := time.Now()
	deadline := start.Add(d)
	var hashes atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			salt := []byte(fmt.Sprintf("salt-%011d", i))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
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
