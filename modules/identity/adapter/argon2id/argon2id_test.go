package argon2id

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/acme/identity/modules/identity/adapter/argon2id/internal/argon2"
	"github.com/acme/identity/platform/admission"
)

var (
	cheap = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	ctx   = context.Background()
)

func TestHashIsPHCAndVerifies(t *testing.T) {
	h := New(cheap, nil)
	encoded, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(encoded) {
		t.Fatalf("hash %q is not a PHC argon2id string with the configured parameters", encoded)
	}
	again, _ := h.Hash(ctx, "correct horse")
	if again == encoded {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
		ok, err := h.Verify(ctx, pw, encoded)
		if err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestVerifyUsesTheHashParameters(t *testing.T) {
	old, err := New(cheap, nil).Hash(ctx, "s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	// The configuration changed since the hash was made: it must still verify.
	ok, err := New(Params{MemoryKiB: 128, Iterations: 2, Parallelism: 2}, nil).Verify(ctx, "s3cret pass", old)
	if err != nil || !ok {
		t.Fatalf("Verify with new parameters = %v, %v; want true", ok, err)
	}
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	h := New(cheap, nil)
	for _, bad := range []string{
		"",
		"plain",
		"$2a$10$abcdefghijklmnopqrstuu", // bcrypt
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", // argon2i
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=19$m=x,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
	} {
		if ok, err := h.Verify(ctx, "x", bad); ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformedHash", bad, ok, err)
		}
	}
}

func BenchmarkHashDefaultParams(b *testing.B) {
	h := New(Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}, nil)
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHashesWaitForASlotOfTheGate(t *testing.T) {
	gate := admission.NewGate(1, 10, 20*time.Millisecond, nil)
	h := New(cheap, gate)
	encoded, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	// Hold the only slot: a hash and a verification both give up after the queue timeout.
	release := make(chan struct{})
	held := make(chan struct{})
	go func() { _ = gate.Do(ctx, func() { close(held); <-release }) }()
	<-held
	if _, err := h.Hash(ctx, "correct horse"); !errors.Is(err, admission.ErrBusy) {
		t.Errorf("Hash with the slot held: got %v, want ErrBusy", err)
	}
	if _, err := h.Verify(ctx, "correct horse", encoded); !errors.Is(err, admission.ErrBusy) {
		t.Errorf("Verify with the slot held: got %v, want ErrBusy", err)
	}
	close(release)
	if ok, err := h.Verify(ctx, "correct horse", encoded); err != nil || !ok {
		t.Fatalf("Verify once the slot is free = %v, %v", ok, err)
	}
}

func TestNoHashForAGoneCaller(t *testing.T) {
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for _, h := range []*Hasher{New(cheap, nil), New(cheap, admission.NewGate(1, 10, time.Second, nil))} {
		if _, err := h.Hash(gone, "correct horse"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash for a cancelled caller: got %v, want context.Canceled", err)
		}
	}
}

// allocated is how many bytes the process allocated while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHashesReuseTheirMemory checks that hashes and verifications after the first ones
// run in memory the hasher kept (a few KiB of allocations each, not their memory cost),
// as many at once as the gate has slots, and that a verification of a hash with a larger
// memory cost leaves nothing that large behind.
func TestHashesReuseTheirMemory(t *testing.T) {
	p := Params{MemoryKiB: 4096, Iterations: 1, Parallelism: 1}
	h := New(p, admission.NewGate(2, 10, time.Second, nil))
	encoded, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	larger, err := New(Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, nil).Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	twoAtOnce := func() {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if ok, err := h.Verify(ctx, "correct horse", encoded); err != nil || !ok {
					t.Errorf("Verify = %v, %v", ok, err)
				}
			})
		}
		wg.Wait()
	}
	// Two memories sized for p, as two computations at once leave them; two goroutines
	// are not sure to overlap, so the test makes them itself.
	first, second := h.memories.get(), h.memories.get()
	for _, m := range []*argon2.Memory{first, second} {
		argon2.IDKey(m, []byte("correct horse"), []byte("0123456789abcdef"), p.Iterations, p.MemoryKiB, p.Parallelism, 32)
	}
	h.memories.put(first)
	h.memories.put(second)
	if ok, err := h.Verify(ctx, "correct horse", larger); err != nil || !ok {
		t.Fatalf("Verify of a larger hash = %v, %v", ok, err)
	}
	cost := uint64(p.MemoryKiB) * 1024
	for range 3 {
		if n := allocated(func() {
			twoAtOnce()
			if _, err := h.Hash(ctx, "correct horse"); err != nil {
				t.Fatal(err)
			}
		}); n > cost/4 {
			t.Fatalf("three computations allocated %d bytes: their memory (%d bytes each) was not reused", n, cost)
		}
	}
	if n := len(h.memories.free); n != 2 {
		t.Fatalf("the hasher keeps %d memories, want the gate's 2 slots", n)
	}
	for range 2 {
		if m := <-h.memories.free; m.Size() != p.MemoryKiB {
			t.Fatalf("a kept memory holds %d KiB, want %d", m.Size(), p.MemoryKiB)
		}
	}
}
