package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/acme/identity/modules/identity"
)

const (
	mib = 1 << 20
	// gcBaseFootprint is what the process needs besides the hashes' memory: runtime,
	// stacks and buffers of many connections, the heap of the rest of the service and
	// its garbage.
	gcBaseFootprint = 64 * mib
)

// memoryLimitFor is the soft memory limit (GOMEMLIMIT) for the password hash
// configuration ph: the process's base footprint, the hashing memory the service keeps
// (one hash's memory per slot, reused by every hash: argon2id's internal/argon2), as much
// again for the heap's growth between two cycles of the collector at the runtime's
// default GOGC=100 (the kept memory is most of the live heap), and one more hash (a
// verification of a hash made with a larger memory cost runs in memory of its own):
// 159 MiB with the defaults (2 slots of 19 MiB), so that the process stays well under
// 256 MiB of RSS under a flood (the runtime, stacks and buffers come on top).
//
// GOGC is left at the runtime's default: hashing makes no garbage since its memory is
// reused, so the collector runs rarely without a larger percentage (docs/decisions.md).
func memoryLimitFor(ph identity.PasswordHash) int64 {
	perHash := int64(ph.MemoryKiB) * 1024
	kept := int64(max(ph.Concurrency, 1)) * perHash
	return gcBaseFootprint + 2*kept + perHash
}

// tuneGC sets memoryLimitFor unless the operator set GOGC or GOMEMLIMIT, which the
// runtime has then applied already and which win.
func tuneGC(ph identity.PasswordHash, getenv func(string) string, logger *slog.Logger) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		logger.Info("garbage collector settings left to GOGC and GOMEMLIMIT",
			slog.String("gogc", getenv("GOGC")), slog.String("gomemlimit", getenv("GOMEMLIMIT")))
		return
	}
	limit := memoryLimitFor(ph)
	debug.SetMemoryLimit(limit)
	logger.Info("garbage collector's memory limit sized for password hashing", slog.Int64("memory_limit_mib", limit/mib))
}
