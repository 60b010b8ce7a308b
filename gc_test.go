package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/acme/identity/modules/identity"
)

func TestGCSettingsGrowWithTheHashMemory(t *testing.T) {
	for _, c := range []struct {
		name string
		ph   identity.PasswordHash
		want gcSettings
	}{
		// 2 slots of 19 MiB: the heap may grow by 3 hashes (57 MiB) over a 16 MiB base.
		{"defaults on 2 CPUs", identity.PasswordHash{MemoryKiB: 19456, Concurrency: 2}, gcSettings{Percent: 356, Limit: 159 * mib}},
		{"8 slots", identity.PasswordHash{MemoryKiB: 19456, Concurrency: 8}, gcSettings{Percent: 1000, Limit: (64 + 2*152 + 19) * mib}},
		// A tiny hash leaves the runtime's default percentage.
		{"cheapest hash", identity.PasswordHash{MemoryKiB: 8, Concurrency: 2}, gcSettings{Percent: 100, Limit: 64*mib + 2*16*1024 + 8*1024}},
	} {
		if got := gcSettingsFor(c.ph); got != c.want {
			t.Errorf("%s: gcSettingsFor = %+v, want %+v", c.name, got, c.want)
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
