package architecture

import (
	"fmt"
	"slices"
	"strings"
)

// Package is one package of the Go module as the rules see it: a path and what it imports.
type Package struct {
	// Path is the import path.
	Path string
	// Imports are the imports of the package's non-test files.
	Imports []string
	// TestImports are the imports of its _test.go files, in-package and external.
	TestImports []string
	// Source is the text of its non-test Go files, for the rules that read names
	// (Load fills it for platform packages only).
	Source string
}

// Rule is one dependency rule of docs/architecture.md.
type Rule struct {
	// Name identifies the rule in messages.
	Name string
	// Why is the rule in one sentence.
	Why string
}

// The rules Check enforces.
var (
	RuleDomainPure = Rule{"domain-pure",
		"a domain package imports only the standard library, its own module's domain packages and " +
			strings.Join(domainAllowed, ", ") + " (in tests also " + strings.Join(domainTestAllowed, ", ") + ")"}
	RuleAppOwnsPorts = Rule{"app-owns-ports",
		"an app package imports no adapter, no platform package and none of " + strings.Join(appForbidden, ", ") +
			": it declares the interfaces it needs in ports.go and adapters satisfy them"}
	RulePlatformKnowsNoModule = Rule{"platform-knows-no-module",
		"platform is shared by every module and imports nothing under modules/"}
	RuleModulesThroughRoot = Rule{"modules-through-root",
		"a module uses another module only through its root package (modules/<name>), never its domain, app or adapter packages"}
	RulePackageNaming = Rule{"package-naming",
		"a package is named for what it provides, never " + strings.Join(badPackageNames, ", ")}
	RuleStoreRendersNoEmail = Rule{"store-renders-no-email",
		"a module's persistence adapter (adapter/postgres) imports neither platform/mail nor go-mail: " +
			"the emails a change causes are rendered by the module's notifier, a port the store is handed"}
	RuleMetricsNamesNoModule = Rule{"metrics-names-no-module",
		"platform/metrics offers a registry and the platform's own series, and names no module's concept (" +
			strings.Join(moduleConcepts, ", ") + "): each module registers its series itself"}
)

var (
	// domainAllowed are the only imports outside the standard library a domain may have.
	domainAllowed = []string{"github.com/google/uuid"}
	// domainTestAllowed are also allowed in a domain package's tests.
	domainTestAllowed = []string{"github.com/google/go-cmp"}
	// appForbidden are the frameworks an app package must not see (path prefixes).
	appForbidden = []string{"github.com/labstack/echo", "github.com/jackc/pgx", "github.com/wneessen/go-mail"}
	// mailLibraries compose or send emails.
	mailLibraries = []string{"github.com/wneessen/go-mail"}
	// moduleConcepts are words of the modules' languages that platform/metrics must not
	// use (case-insensitive, in code and comments alike).
	moduleConcepts = []string{"password", "argon2", "activation", "account", "sign-in", "sign_in"}
	// badPackageNames say nothing about what a package provides.
	badPackageNames = []string{"util", "utils", "common", "helpers", "models", "misc"}
)

// Violation is one import, or one package name, that breaks a rule.
type Violation struct {
	Rule Rule
	// Package is the offending package.
	Package string
	// Import is the offending import; empty for a package-naming violation.
	Import string
	// Test is set when only a _test.go file has the import.
	Test bool
	// Word is the module concept a package names (metrics-names-no-module).
	Word string
}

func (v Violation) String() string {
	where := v.Package
	if v.Test {
		where += " (in a test)"
	}
	if v.Word != "" {
		return fmt.Sprintf("%s names %q, which breaks rule %s: %s", where, v.Word, v.Rule.Name, v.Rule.Why)
	}
	if v.Import == "" {
		return fmt.Sprintf("%s breaks rule %s: %s", where, v.Rule.Name, v.Rule.Why)
	}
	return fmt.Sprintf("%s imports %s, which breaks rule %s: %s", where, v.Import, v.Rule.Name, v.Rule.Why)
}

// Check applies every rule to pkgs, the packages of the Go module modulePath, and returns
// the violations sorted by package and import. It is a pure function of its arguments.
func Check(modulePath string, pkgs []Package) []Violation {
	var out []Violation
	for _, p := range pkgs {
		src := locate(modulePath, p.Path)
		if name := p.Path[strings.LastIndexByte(p.Path, '/')+1:]; slices.Contains(badPackageNames, name) {
			out = append(out, Violation{Rule: RulePackageNaming, Package: p.Path})
		}
		if p.Path == modulePath+"/platform/metrics" {
			text := strings.ToLower(p.Source)
			for _, w := range moduleConcepts {
				if strings.Contains(text, w) {
					out = append(out, Violation{Rule: RuleMetricsNamesNoModule, Package: p.Path, Word: w})
				}
			}
		}
		for _, imp := range p.Imports {
			out = append(out, checkImport(modulePath, src, p.Path, imp, false)...)
		}
		for _, imp := range p.TestImports {
			if slices.Contains(p.Imports, imp) {
				continue // already judged as a non-test import
			}
			out = append(out, checkImport(modulePath, src, p.Path, imp, true)...)
		}
	}
	slices.SortFunc(out, func(a, b Violation) int {
		return strings.Compare(a.Package+" "+a.Import+" "+a.Word+" "+a.Rule.Name, b.Package+" "+b.Import+" "+b.Word+" "+b.Rule.Name)
	})
	return slices.CompactFunc(out, func(a, b Violation) bool {
		return a.Package == b.Package && a.Import == b.Import && a.Word == b.Word && a.Rule.Name == b.Rule.Name
	})
}

func checkImport(modulePath string, src location, pkg, imp string, test bool) []Violation {
	dst := locate(modulePath, imp)
	var broken []Rule
	switch src.layer {
	case layerDomain:
		ok := isStandard(imp) && !dst.inModule ||
			dst.layer == layerDomain && dst.module == src.module ||
			hasAnyPrefix(imp, domainAllowed) ||
			test && hasAnyPrefix(imp, domainTestAllowed)
		if !ok {
			broken = append(broken, RuleDomainPure)
		}
	case layerApp:
		if dst.layer == layerAdapter || dst.platform || hasAnyPrefix(imp, appForbidden) {
			broken = append(broken, RuleAppOwnsPorts)
		}
	}
	if src.platform && dst.module != "" {
		broken = append(broken, RulePlatformKnowsNoModule)
	}
	if src.layer == layerAdapter && src.adapter == "postgres" &&
		(hasAnyPrefix(imp, []string{modulePath + "/platform/mail"}) || hasAnyPrefix(imp, mailLibraries)) {
		broken = append(broken, RuleStoreRendersNoEmail)
	}
	if src.module != "" && dst.module != "" && dst.module != src.module && dst.layer != layerRoot {
		broken = append(broken, RuleModulesThroughRoot)
	}
	vs := make([]Violation, 0, len(broken))
	for _, r := range broken {
		vs = append(vs, Violation{Rule: r, Package: pkg, Import: imp, Test: test})
	}
	return vs
}

// Layers of a module package: modules/<name>/<layer>/...
const (
	layerRoot    = "root" // modules/<name> itself: the module's public face
	layerDomain  = "domain"
	layerApp     = "app"
	layerAdapter = "adapter"
	layerOther   = "other"
)

// location is where a package sits in the layout.
type location struct {
	inModule bool   // part of the Go module under check
	platform bool   // under platform/
	module   string // the bounded context under modules/, if any
	layer    string // the layer within that module
	adapter  string // under adapter/: which one (postgres, http, ...)
}

func locate(modulePath, pkg string) location {
	if pkg != modulePath && !strings.HasPrefix(pkg, modulePath+"/") {
		return location{}
	}
	loc := location{inModule: true}
	parts := strings.Split(strings.TrimPrefix(strings.TrimPrefix(pkg, modulePath), "/"), "/")
	switch {
	case parts[0] == "platform":
		loc.platform = true
	case parts[0] == "modules" && len(parts) >= 2:
		loc.module = parts[1]
		loc.layer = layerRoot
		if len(parts) > 2 {
			switch parts[2] {
			case layerDomain, layerApp, layerAdapter:
				loc.layer = parts[2]
				if parts[2] == layerAdapter && len(parts) > 3 {
					loc.adapter = parts[3]
				}
			default:
				loc.layer = layerOther
			}
		}
	}
	return loc
}

// isStandard reports whether imp looks like a standard library path: no dot in its first
// element (the rule the go command itself uses for module paths). Packages of the module
// under check are told apart by the caller, since a module path may lack a dot.
func isStandard(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

// hasAnyPrefix reports whether imp is one of prefixes or a package below one.
func hasAnyPrefix(imp string, prefixes []string) bool {
	for _, p := range prefixes {
		if imp == p || strings.HasPrefix(imp, p+"/") {
			return true
		}
	}
	return false
}
