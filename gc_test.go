package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/acme/identity/modules/identity"
)

func TestMemoryLimitGrowsWithTheHashMemory(t *testing.T) {
	for _, c := range []struct {
		name string
		ph   identity.PasswordHash
		want int64
	}{
		// 2 slots of 19 MiB: 64 MiB, the 38 MiB kept twice, and one more hash.
		{"defaults on 2 CPUs", identity.PasswordHash{MemoryKiB: 19456, Concurrency: 2}, 159 * mib},
		{"8 slots", identity.PasswordHash{MemoryKiB: 19456, Concurrency: 8}, (64 + 2*152 + 19) * mib},
		{"cheapest hash", identity.PasswordHash{MemoryKiB: 8, Concurrency: 2}, 64*mib + 2*16*1024 + 8*1024},
	} {
		if got := memoryLimitFor(c.ph); got != c.want {
			t.Errorf("%s: memoryLimitFor = %d MiB, want %d MiB", c.name, got/mib, c.want/mib)
		}
	}
}

func TestTuneGCLeavesTheOperatorsSettings(t *testing.T) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	tuneGC(identity.PasswordHash{}, func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}, logger)
	if !strings.Contains(log.String(), "left to GOGC and GOMEMLIMIT") {
		t.Fatalf("with GOMEMLIMIT set, tuneGC did not leave the settings alone: %s", log.String())
	}
}
