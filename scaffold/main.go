// Command scaffold writes a new bounded context that builds and passes every guardrail:
//
//	go run ./scaffold -name payment   (make module NAME=payment)
//
// The module it writes under modules/<name>/ is one worked example of each hard part, to
// rewrite with the module's own rules:
//
//   - the root package: New, and Identity, what the module needs of identity's API;
//   - domain: an aggregate whose method decides and can refuse (Balance.Post), and the
//     values a request is parsed into at the edge (ParsePosting);
//   - app: the use cases (Balance, Post) and ports.go, whose Store changes a balance only
//     through Update, an update closure; app/storetest, the Store's contract, which the
//     app's in-memory fake and the PostgreSQL store both run, concurrency included;
//   - adapter/postgres: Update over sqlc (lock the row, let the closure decide, write
//     back, commit);
//   - adapter/http: GET /v1/<name> and POST /v1/<name>/entries behind identity's
//     authentication, a 422 validation_failed for a bad request, and one table from
//     domain errors to problems;
//   - tests of each layer, and of the module behind identity, which they reach only
//     through its HTTP and Go APIs and the emails it sends, never its tables.
//
// Beside it: db/migrations/<timestamp>_create_<name>_schema.sql (the module's schema and
// tables), db/queries/<name>/, its block in sqlc.yaml, its line in main.go, and its routes
// and schema in api/openapi.yaml. `make module` then runs `make generate` (sqlc, the API
// client) and rewrites db/schema.sql. Run it at the root of the repository.
package main

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

//go:embed all:templates
var templates embed.FS

// openAPIPaths are the module's routes in api/openapi.yaml, and openAPISchemas the
// schemas they name.
var (
	//go:embed openapi.yaml.tmpl
	openAPIPaths string
	//go:embed openapi-schemas.yaml.tmpl
	openAPISchemas string
)

// module is what the templates are executed with.
type module struct {
	// Name is the package, schema, route and folder name: payment.
	Name string
	// Title is Name as a Go identifier's start: Payment.
	Title string
	// GoModule is the Go module path: github.com/acme/identity.
	GoModule string
	// Migration is the migration file's timestamp.
	Migration string
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)

// reserved are names a module cannot take: the schemas PostgreSQL and the platform own,
// and the package names the architecture test refuses.
var reserved = []string{"identity", "platform", "public", "pg", "information", "util", "utils", "common",
	"helpers", "models", "misc", "module", "main", "test", "internal", "http", "postgres", "domain", "app"}

func main() {
	name := flag.String("name", "", "the module's name: lower-case letters and digits, such as payment")
	flag.Parse()
	if err := run(*name, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "scaffold:", err)
		os.Exit(1)
	}
}

func run(name string, now time.Time) error {
	if !validName.MatchString(name) || slices.Contains(reserved, name) {
		return fmt.Errorf("NAME=%q: want 2 to 31 lower-case letters and digits, starting with a letter, and not one of %s",
			name, strings.Join(reserved, ", "))
	}
	if _, err := os.Stat(filepath.Join("modules", name)); err == nil {
		return fmt.Errorf("modules/%s exists already", name)
	}
	goMod, err := os.ReadFile("go.mod")
	if err != nil {
		return fmt.Errorf("run me at the root of the repository: %w", err)
	}
	m := module{Name: name, Title: strings.ToUpper(name[:1]) + name[1:], GoModule: modulePath(goMod)}
	if m.Migration, err = nextMigration(now); err != nil {
		return err
	}
	if err := writeTemplates(m); err != nil {
		return err
	}
	if err := appendSQLCBlock(m); err != nil {
		return err
	}
	if err := wireMain(m); err != nil {
		return err
	}
	if err := documentRoute(m); err != nil {
		return err
	}
	fmt.Printf("scaffold: wrote modules/%s, db/migrations/%s_create_%s_schema.sql, db/queries/%s/, its sqlc.yaml block, "+
		"its line in main.go and its routes in api/openapi.yaml\n", name, m.Migration, name, name)
	return nil
}

// documentRoute adds the module's routes to api/openapi.yaml, at the end of its paths,
// and their schemas, at the start of its components' schemas: the root package's tests
// hold the routes served and the document's operations equal.
func documentRoute(m module) error {
	raw, err := os.ReadFile("api/openapi.yaml")
	if err != nil {
		return err
	}
	s := string(raw)
	for _, part := range []struct {
		name, text string
		// mark is where the text goes: skip bytes into the first match of mark.
		mark string
		skip int
	}{
		{"paths", openAPIPaths, "\ncomponents:\n", 1},                        // after the last path
		{"schemas", openAPISchemas, "\n  schemas:\n", len("\n  schemas:\n")}, // before the first schema
	} {
		tmpl, err := template.New(part.name).Delims("[[", "]]").Parse(part.text)
		if err != nil {
			return err
		}
		var text bytes.Buffer
		if err := tmpl.Execute(&text, m); err != nil {
			return err
		}
		at := strings.Index(s, part.mark)
		if at < 0 {
			return fmt.Errorf("api/openapi.yaml: no %q to add the %s at", strings.TrimSpace(part.mark), part.name)
		}
		at += part.skip
		s = s[:at] + text.String() + s[at:]
	}
	return os.WriteFile("api/openapi.yaml", []byte(s), 0o644) //nolint:gosec // a source file
}

func modulePath(goMod []byte) string {
	for _, line := range strings.Split(string(goMod), "\n") {
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// nextMigration is now as a dbmate timestamp, or one second after the latest migration
// when that is later (migrations apply in name order).
func nextMigration(now time.Time) (string, error) {
	files, err := filepath.Glob("db/migrations/*.sql")
	if err != nil {
		return "", fmt.Errorf("list db/migrations: %w", err)
	}
	if len(files) == 0 {
		return "", errors.New("no migrations in db/migrations")
	}
	slices.Sort(files)
	last, err := time.Parse("20060102150405", filepath.Base(files[len(files)-1])[:14])
	if err != nil {
		return "", fmt.Errorf("latest migration %s: %w", files[len(files)-1], err)
	}
	next := now.UTC().Truncate(time.Second)
	if !next.After(last) {
		next = last.Add(time.Second)
	}
	return next.Format("20060102150405"), nil
}

// writeTemplates executes every file under templates/ into the repository: a path's
// "_name_" becomes the module's name, "_migration_" the timestamp, and ".tmpl" is cut.
func writeTemplates(m module) error {
	return fs.WalkDir(templates, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := templates.ReadFile(path)
		if err != nil {
			return err
		}
		tmpl, err := template.New(path).Delims("[[", "]]").Parse(string(raw))
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, m); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		dst := strings.TrimSuffix(strings.TrimPrefix(path, "templates/"), ".tmpl")
		dst = strings.NewReplacer("_name_", m.Name, "_migration_", m.Migration).Replace(dst)
		body := out.Bytes()
		if strings.HasSuffix(dst, ".go") {
			if body, err = format.Source(body); err != nil {
				return fmt.Errorf("%s: %w", dst, err)
			}
		}
		// The templates are this program's own (embedded); dst is a path under the
		// working directory, the repository.
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil { //nolint:gosec // see above
			return err
		}
		if _, err := os.Stat(dst); err == nil {
			return fmt.Errorf("%s exists already", dst)
		}
		return os.WriteFile(dst, body, 0o644) //nolint:gosec // source files are world-readable
	})
}

// appendSQLCBlock adds the module's block to sqlc.yaml: a copy of identity's, for the
// module's queries and adapter.
func appendSQLCBlock(m module) error {
	raw, err := os.ReadFile("sqlc.yaml")
	if err != nil {
		return err
	}
	s := string(raw)
	start := strings.Index(s, "  - name: identity\n")
	if start < 0 {
		return errors.New("sqlc.yaml has no identity block to copy")
	}
	end := strings.Index(s[start+1:], "\n  - name: ")
	block := s[start:]
	if end >= 0 {
		block = s[start : start+1+end+1]
	}
	block = strings.NewReplacer(
		"name: identity", "name: "+m.Name,
		"queries: db/queries/identity", "queries: db/queries/"+m.Name,
		"out: modules/identity/", "out: modules/"+m.Name+"/",
	).Replace(block)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return os.WriteFile("sqlc.yaml", []byte(s+strings.TrimRight(block, "\n")+"\n"), 0o644) //nolint:gosec // a source file
}

// mainMarker is the line of main.go's newModules above which modules are wired.
const mainMarker = "\t// make module: new modules above this line.\n"

// wireMain adds the module to main.go: its import, and its New, given identity's API,
// above the marker of newModules.
func wireMain(m module) error {
	raw, err := os.ReadFile("main.go")
	if err != nil {
		return err
	}
	s := string(raw)
	identityImport := "\t\"" + m.GoModule + "/modules/identity\"\n"
	if !strings.Contains(s, mainMarker) || !strings.Contains(s, identityImport) {
		return errors.New("main.go: no newModules marker or identity import to wire the module next to")
	}
	s = strings.Replace(s, identityImport, identityImport+"\t\""+m.GoModule+"/modules/"+m.Name+"\"\n", 1)
	wiring := fmt.Sprintf("\t%[1]sModule, err := %[1]s.New(p, identityModule.API())\n"+
		"\tif err != nil {\n\t\treturn nil, err\n\t}\n\tmodules = append(modules, %[1]sModule)\n", m.Name)
	s = strings.Replace(s, mainMarker, wiring+mainMarker, 1)
	out, err := format.Source([]byte(s))
	if err != nil {
		return fmt.Errorf("main.go: %w", err)
	}
	return os.WriteFile("main.go", out, 0o644) //nolint:gosec // a source file
}
