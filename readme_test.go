package main

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/module"
)

// TestREADMEConfigurationTable keeps README.md's table of variables true: every variable
// the platform or a module reads is in it, and every variable in it is read (but the
// OpenTelemetry variables the SDK reads itself, in the row that says so).
func TestREADMEConfigurationTable(t *testing.T) {
	read := map[string]bool{}
	getenv := func(name string) string { read[name] = true; return "" }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	// The modules read their variables as main builds them; the pool is never used.
	p := module.Platform{Env: cfg.Modules}
	settings, err := loadModuleSettings(cfg.Modules)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newModules(p, settings); err != nil {
		t.Fatal(err)
	}

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented, sdk := configurationTable(t, string(readme))
	for name := range read {
		if !documented[name] {
			t.Errorf("%s is read by the code but missing from README.md's configuration table", name)
		}
	}
	for name := range documented {
		if !read[name] && !sdk[name] {
			t.Errorf("%s is in README.md's configuration table but nothing reads it", name)
		}
	}
	if len(read) < 20 {
		t.Errorf("only %d variables read: %v", len(read), slices.Sorted(maps.Keys(read)))
	}
}

var variableName = regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")

// configurationTable returns the variables named in the first column of README.md's table
// under "## Commands and configuration", and those of the row read by the OpenTelemetry
// SDK itself.
func configurationTable(t *testing.T, readme string) (documented, sdk map[string]bool) {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Commands and configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Commands and configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented, sdk = map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `") {
			continue
		}
		bySDK := strings.Contains(line, "read by the OpenTelemetry SDK itself")
		for _, m := range variableName.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
			if bySDK {
				sdk[m[1]] = true
			}
		}
	}
	if len(documented) == 0 {
		t.Fatal("README.md's configuration table names no variable")
	}
	return documented, sdk
}
