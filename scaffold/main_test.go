package main

import (
	"io/fs"
	"os"
	"regexp"
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

// TestTemplatesReachIdentityOnlyThroughItsAPI: the module the scaffold writes is the one
// others copy, so its code and tests name none of identity's tables (identity.accounts,
// identity.activation_codes...): they reach identity through its HTTP API, its Go API
// (modules/identity: New, API, AccountFrom...) and the emails it sends. An exported Go
// name (identity.Account) is the API; a lower-case one is a table.
func TestTemplatesReachIdentityOnlyThroughItsAPI(t *testing.T) {
	table := regexp.MustCompile(`\bidentity\.[a-z_]+\b`)
	err := fs.WalkDir(templates, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := templates.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range table.FindAllString(string(raw), -1) {
			t.Errorf("%s names %s: reach identity through its API, never its tables", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
