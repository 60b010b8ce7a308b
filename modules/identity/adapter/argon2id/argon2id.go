// Package argon2id hashes passwords with argon2id into PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>), which carry their own parameters: a
// hash made with old parameters still verifies after the configuration changes. Every
// hash and verification runs in a slot of an admission.Gate, so however many requests
// arrive, only a bounded number of 19 MiB argon2id computations run at once; each is timed
// for an Observer (the metrics) and, with tracing on, is a span of the request. Each
// computation runs in memory the hasher keeps for the next one (internal/argon2), not in
// 19 MiB allocated for it and left to the garbage collector.
package argon2id

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/acme/identity/modules/identity/adapter/argon2id/internal/argon2"
	"github.com/acme/identity/platform/admission"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

const (
	saltLen = 16
	keyLen  = 32
)

// ErrMalformedHash is returned when the stored string is not an argon2id PHC hash this
// package can read.
var ErrMalformedHash = errors.New("malformed argon2id hash")

// Params are the argon2id cost parameters.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// Operations an Observer is told about.
const (
	OpHash   = "hash"
	OpVerify = "verify"
)

// Observer is told how long each argon2id computation took (op is OpHash or OpVerify),
// without any wait for a slot before it.
type Observer func(op string, took time.Duration)

// Option configures a Hasher.
type Option func(*Hasher)

// WithObserver has every hash and verification timed for observe.
func WithObserver(observe Observer) Option { return func(h *Hasher) { h.observe = observe } }

// WithTracerProvider makes every hash and verification a span of tp.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(h *Hasher) { h.tracer = tp.Tracer("github.com/acme/identity/modules/identity/adapter/argon2id") }
}

// Hasher hashes and verifies passwords.
type Hasher struct {
	params   Params
	gate     *admission.Gate
	observe  Observer
	tracer   trace.Tracer
	memories memories
}

// New returns a hasher that hashes with p, each hash or verification in a slot of gate
// (nil: unbounded). It keeps the memory of as many computations as gate has slots
// (GOMAXPROCS without a gate): p.MemoryKiB each once they ran, resident for the life of
// the process.
func New(p Params, gate *admission.Gate, opts ...Option) *Hasher {
	kept := runtime.GOMAXPROCS(0)
	if gate != nil {
		kept = gate.Slots()
	}
	h := &Hasher{
		params: p, gate: gate, tracer: noop.NewTracerProvider().Tracer(""),
		memories: memories{free: make(chan *argon2.Memory, kept), most: p.MemoryKiB},
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// run runs one argon2id computation in a slot of the gate, as a span, timed for the
// observer: admission.ErrBusy when no slot frees up in time or ctx's deadline passed,
// ctx's error when the caller went away before it started.
func (h *Hasher) run(ctx context.Context, op string, p Params, fn func()) error {
	compute := func() {
		_, span := h.tracer.Start(ctx, "argon2id."+op, trace.WithAttributes(
			attribute.Int("argon2id.memory_kib", int(p.MemoryKiB)),
			attribute.Int("argon2id.iterations", int(p.Iterations)),
		))
		start := time.Now()
		fn()
		took := time.Since(start)
		span.End()
		if h.observe != nil {
			h.observe(op, took)
		}
	}
	err := ctx.Err()
	switch {
	case err != nil:
	case h.gate == nil:
		compute()
	default:
		err = h.gate.Do(ctx, compute)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The request's time ran out (its database budget, started by the work before
		// the hash) while it waited: the server is too slow for it, not the client wrong.
		return fmt.Errorf("%w: the request's time ran out before a hashing slot: %w", admission.ErrBusy, err)
	}
	return err
}

// memories is a free list of argon2id working memory: a computation takes one (or a new
// one when none is free) and gives it back after, so that computations reuse the memory
// of earlier ones. It keeps at most cap(free) of them, none larger than most KiB: a
// verification of a hash made with a larger memory cost runs in memory of its own, left
// to the garbage collector after.
type memories struct {
	free chan *argon2.Memory
	most uint32
}

func (ms *memories) get() *argon2.Memory {
	select {
	case m := <-ms.free:
		return m
	default:
		return new(argon2.Memory)
	}
}

func (ms *memories) put(m *argon2.Memory) {
	select {
	case ms.free <- m:
	default:
	}
}

// idKey is argon2id of password and salt with p in memory of ms (in memory of its own
// when p's memory cost is larger than any ms keeps).
func (ms *memories) idKey(password, salt []byte, p Params, keyLen uint32) []byte {
	if p.MemoryKiB > ms.most {
		return argon2.IDKey(new(argon2.Memory), password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	}
	m := ms.get()
	defer ms.put(m)
	return argon2.IDKey(m, password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
}

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of password with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	p := h.params
	var key []byte
	if err := h.run(ctx, OpHash, p, func() {
		key = h.memories.idKey([]byte(password), salt, p, keyLen)
	}); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, using the parameters encoded holds.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	var got []byte
	if err := h.run(ctx, OpVerify, p, func() {
		got = h.memories.idKey([]byte(password), salt, p, uint32(len(key))) //nolint:gosec // a stored key is tiny
	}); err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether encoded was made with other parameters than the hasher's
// (or cannot be read): a right password is then hashed again with the current ones, so
// that known and unknown emails keep taking the same time after a change of parameters.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != h.params
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, fmt.Errorf("%w: version %q", ErrMalformedHash, parts[2])
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil ||
		p.Iterations == 0 || p.Parallelism == 0 {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q", ErrMalformedHash, parts[3])
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt", ErrMalformedHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return Params{}, nil, nil, fmt.Errorf("%w: key", ErrMalformedHash)
	}
	return p, salt, key, nil
}
