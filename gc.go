package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/acme/identity/modules/identity"
)

// gcSettings size Go's garbage collector for a process whose allocations are dominated
// by argon2id: every hash allocates its whole memory (19 MiB by default) afresh, so at
// the runtime's defaults (GOGC=100) a cycle runs about once per hash, and the heap goal
// swings with the number of hashes in flight when it starts (docs/benchmarks.md).
type gcSettings struct {
	// Percent is the GOGC percentage.
	Percent int
	// Limit is the soft memory limit in bytes (GOMEMLIMIT).
	Limit int64
}

const (
	mib = 1 << 20
	// gcBaseLive is the heap the service keeps live besides the hashes: pools, caches,
	// connections (a few MiB idle; more under a flood of connections).
	gcBaseLive = 16 * mib
	// gcBaseFootprint is what the process needs besides the hashes' memory: runtime,
	// stacks and buffers of many connections, the base heap and its garbage.
	gcBaseFootprint = 64 * mib
)

// gcSettingsFor derives the settings from the password hash configuration:
//
//   - GOGC lets the heap grow, from the base heap alone, by the memory of every hash
//     that may run at once plus one more before the next cycle: the collector runs
//     once per several hashes instead of about every hash. Never below the runtime's
//     default of 100, never above 1000.
//   - GOMEMLIMIT caps what that growth may reach: the process's base footprint, twice
//     every slot's hash memory (the live hashes and as much garbage) and one more hash:
//     159 MiB with the defaults (2 slots of 19 MiB), so that the process stays well under
//     256 MiB of RSS under a flood (the runtime, stacks and buffers come on top).
func gcSettingsFor(ph identity.PasswordHash) gcSettings {
	perHash := int64(ph.MemoryKiB) * 1024
	slots := int64(max(ph.Concurrency, 1))
	hashes := slots * perHash
	percent := min(max(100*(hashes+perHash)/gcBaseLive, 100), 1000)
	return gcSettings{Percent: int(percent), Limit: gcBaseFootprint + 2*hashes + perHash}
}

// tuneGC applies gcSettingsFor unless the operator set GOGC or GOMEMLIMIT, which the
// runtime has then applied already and which win.
func tuneGC(ph identity.PasswordHash, getenv func(string) string, logger *slog.Logger) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		logger.Info("garbage collector settings left to GOGC and GOMEMLIMIT",
			slog.String("gogc", getenv("GOGC")), slog.String("gomemlimit", getenv("GOMEMLIMIT")))
		return
	}
	s := gcSettingsFor(ph)
	debug.SetGCPercent(s.Percent)
	debug.SetMemoryLimit(s.Limit)
	logger.Info("garbage collector sized for password hashing",
		slog.Int("gogc", s.Percent), slog.Int64("memory_limit_mib", s.Limit/mib))
}
