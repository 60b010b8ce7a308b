package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// The whole scaffold is proved by `make check-scaffold` (CI): it writes a module into a
// scratch copy of the repository, which must build and pass the guardrails there. These
// are the checks it makes before writing anything.

func TestRunRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "p", "Payment", "pay-ment", "pay_ment", "1pay", "identity", "platform", "public", "utils",
		"averyveryveryveryverylongmodulename"} {
		err := run(name, time.Now())
		if err == nil || !strings.Contains(err.Error(), "NAME=") {
			t.Errorf("run(%q) = %v, want a refusal naming NAME", name, err)
		}
	}
}

func TestRunRefusesAnExistingModule(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("modules/payment", 0o750); err != nil {
		t.Fatal(err)
	}
	err := run("payment", time.Now())
	if err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("scaffolding over modules/payment: %v, want a refusal", err)
	}
	if entries, _ := os.ReadDir("modules/payment"); len(entries) != 0 {
		t.Fatalf("wrote %v into the existing module", entries)
	}
}

func TestNextMigrationSortsAfterTheLatest(t *testing.T) {
	t.Chdir("..")
	past := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	ts, err := nextMigration(past)
	if err != nil {
		t.Fatal(err)
	}
	if ts <= "20261126070000" {
		t.Errorf("with a clock in the past: %s, want after the latest migration", ts)
	}
	future := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
	if ts, err := nextMigration(future); err != nil || ts != "20990102030405" {
		t.Errorf("with a clock after every migration: %s, %v; want the clock's time", ts, err)
	}
}
