package architecture_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/acme/identity/platform/architecture"
)

// TestRepositoryFollowsTheRules is the guardrail: every package of this repository, with
// its test imports, against every rule.
func TestRepositoryFollowsTheRules(t *testing.T) {
	modulePath, pkgs, err := architecture.Load(t.Context(), ".")
	if err != nil {
		t.Fatal(err)
	}
	// The rules only bite if the graph has the layers they talk about: a wrong pattern or
	// a renamed folder must not turn this test into one that checks nothing.
	for _, want := range []string{
		modulePath,
		modulePath + "/modules/identity",
		modulePath + "/modules/identity/domain",
		modulePath + "/modules/identity/app",
		modulePath + "/modules/identity/adapter/postgres",
		modulePath + "/platform/database",
	} {
		if !slices.ContainsFunc(pkgs, func(p architecture.Package) bool { return p.Path == want }) {
			t.Errorf("go list found no package %s; the rules would check nothing there", want)
		}
	}
	for _, v := range architecture.Check(modulePath, pkgs) {
		t.Error(v)
	}
}

// want is one expected violation: pkg relative to the module under check, imp too when it
// starts with "./".
type want struct {
	rule   architecture.Rule
	pkg    string
	imp    string // relative when it starts with "./"
	inTest bool
}

// TestCheckCatchesEveryRuleInFixture is the test of the test: a module under testdata
// breaks each rule on purpose (and keeps it elsewhere), loaded the same way as the real
// tree. Check must report exactly the breaches, each message naming package, import and
// rule.
func TestCheckCatchesEveryRuleInFixture(t *testing.T) {
	modulePath, pkgs, err := architecture.Load(t.Context(), "testdata/fixture")
	if err != nil {
		t.Fatal(err)
	}
	if modulePath != "example.com/fixture" {
		t.Fatalf("fixture module path = %q, want example.com/fixture", modulePath)
	}
	wants := []want{
		{architecture.RuleDomainPure, "modules/shop/domain", "github.com/labstack/echo/v4", false},
		{architecture.RuleDomainPure, "modules/shop/domain", "github.com/jackc/pgx/v5", true},
		{architecture.RuleDomainPure, "modules/billing/domain", "./modules/shop/domain/money", false},
		{architecture.RuleAppOwnsPorts, "modules/shop/app", "./modules/shop/adapter/store", false},
		{architecture.RuleAppOwnsPorts, "modules/shop/app", "./platform/clock", false},
		{architecture.RuleAppOwnsPorts, "modules/shop/app", "github.com/jackc/pgx/v5", false},
		{architecture.RuleAppOwnsPorts, "modules/shop/app", "github.com/wneessen/go-mail", false},
		{architecture.RulePlatformKnowsNoModule, "platform/events", "./modules/shop", false},
		{architecture.RuleModulesThroughRoot, "modules/billing/domain", "./modules/shop/domain/money", false},
		{architecture.RuleModulesThroughRoot, "modules/billing/adapter/web", "./modules/shop/app", false},
		{architecture.RuleModulesThroughRoot, "modules/billing/adapter/web", "./modules/shop/adapter/store", true},
		{architecture.RulePackageNaming, "platform/util", "", false},
		{architecture.RuleStoreRendersNoEmail, "modules/shop/adapter/postgres", "./platform/mail", false},
		{architecture.RuleStoreRendersNoEmail, "modules/shop/adapter/postgres", "github.com/wneessen/go-mail", false},
		{architecture.RuleMetricsNamesNoModule, "platform/metrics", "word password", false},
	}
	assertViolations(t, modulePath, architecture.Check(modulePath, pkgs), wants)
}

// TestCheckEdgeCases feeds synthetic graphs for what the fixture does not show.
func TestCheckEdgeCases(t *testing.T) {
	tests := []struct {
		name   string
		module string
		pkgs   []architecture.Package
		want   []want
	}{
		{
			name:   "a module path without a dot is not mistaken for the standard library",
			module: "acme",
			pkgs: []architecture.Package{
				{Path: "acme/modules/shop/domain", Imports: []string{"acme/platform/clock", "time"}},
			},
			want: []want{{architecture.RuleDomainPure, "modules/shop/domain", "./platform/clock", false}},
		},
		{
			name:   "prefixes match whole path elements",
			module: "example.com/m",
			pkgs: []architecture.Package{
				{Path: "example.com/m/modules/shop/app", Imports: []string{"github.com/labstack/echox", "github.com/google/uuidx"}},
				{Path: "example.com/m/modules/shopping/app", Imports: []string{"example.com/m/modules/shop"}},
				{Path: "example.com/m/platform/utility"},
			},
			want: nil,
		},
		{
			name:   "go-cmp is allowed in domain tests only",
			module: "example.com/m",
			pkgs: []architecture.Package{
				{Path: "example.com/m/modules/shop/domain", Imports: []string{"github.com/google/go-cmp/cmp"}},
			},
			want: []want{{architecture.RuleDomainPure, "modules/shop/domain", "github.com/google/go-cmp/cmp", false}},
		},
		{
			name:   "an import in code and tests is reported once, as code",
			module: "example.com/m",
			pkgs: []architecture.Package{{
				Path:        "example.com/m/platform/mail",
				Imports:     []string{"example.com/m/modules/shop"},
				TestImports: []string{"example.com/m/modules/shop"},
			}},
			want: []want{{architecture.RulePlatformKnowsNoModule, "platform/mail", "./modules/shop", false}},
		},
		{
			name:   "main and a module's own layers may import each other's packages freely",
			module: "example.com/m",
			pkgs: []architecture.Package{
				{Path: "example.com/m", Imports: []string{"example.com/m/modules/shop/adapter/http", "example.com/m/modules/shop/domain"}},
				{Path: "example.com/m/modules/shop", Imports: []string{"example.com/m/modules/shop/adapter/http", "example.com/m/modules/bill"}},
				{Path: "example.com/m/modules/shop/adapter/http", Imports: []string{"example.com/m/modules/shop/app", "example.com/m/platform/httpserver"}},
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertViolations(t, tt.module, architecture.Check(tt.module, tt.pkgs), tt.want)
		})
	}
}

// assertViolations fails unless got holds exactly wants, and each message names the
// package, the import and the rule.
func assertViolations(t *testing.T, modulePath string, got []architecture.Violation, wants []want) {
	t.Helper()
	// Packages are relative to the module; imports are when they start with "./".
	abs := func(rel string) string { return strings.TrimSuffix(modulePath+"/"+strings.TrimPrefix(rel, "./"), "/") }
	key := func(rule, pkg, imp string, inTest bool) string {
		return fmt.Sprintf("%s: %s imports %q (test: %v)", rule, pkg, imp, inTest)
	}
	// A word a package names (metrics-names-no-module) is wanted as imp "word <word>".
	gotKeys := map[string]architecture.Violation{}
	for _, v := range got {
		imp := v.Import
		if v.Word != "" {
			imp = "word " + v.Word
		}
		gotKeys[key(v.Rule.Name, v.Package, imp, v.Test)] = v
	}
	for _, w := range wants {
		imp := w.imp
		if strings.HasPrefix(imp, "./") {
			imp = abs(imp)
		}
		k := key(w.rule.Name, abs(w.pkg), imp, w.inTest)
		imp = strings.TrimPrefix(imp, "word ")
		v, ok := gotKeys[k]
		if !ok {
			t.Errorf("missing violation %s", k)
			continue
		}
		delete(gotKeys, k)
		msg := v.String()
		t.Log(msg)
		for _, part := range []string{abs(w.pkg), imp, w.rule.Name, w.rule.Why} {
			if !strings.Contains(msg, part) {
				t.Errorf("message %q does not name %q", msg, part)
			}
		}
	}
	for k := range gotKeys {
		t.Errorf("unexpected violation %s", k)
	}
}
