package db_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestQueriesTouchOnlyTheirOwnSchema is the guardrail of docs/architecture.md: each sqlc
// block's queries (sqlc.yaml) name tables of their owner's schema only, and always
// qualified with it. The owner of a block is the module its code is generated into
// (modules/<name>/… owns schema <name>), the job system (platform/jobs/… owns schema
// river, River's tables), or the rest of the platform (platform/… owns schema platform).
func TestQueriesTouchOnlyTheirOwnSchema(t *testing.T) {
	schemas, tables := catalog(t)
	blocks := sqlcBlocks(t)
	if len(blocks) < 2 {
		t.Fatalf("sqlc.yaml: %d blocks, want every module's and the outbox's", len(blocks))
	}
	for _, b := range blocks {
		files, err := filepath.Glob(filepath.Join("..", b.Queries, "*.sql"))
		if err != nil || len(files) == 0 {
			t.Errorf("block %s: no queries in %s (%v)", b.Name, b.Queries, err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range trespasses(b.Owner, string(raw), schemas, tables) {
				t.Errorf("%s (owner: schema %s): %s", f, b.Owner, v)
			}
		}
	}
}

// TestSchemaGuardrailFires: the guardrail refuses each trespass of the fixture, and
// nothing else.
func TestSchemaGuardrailFires(t *testing.T) {
	schemas, tables := catalog(t)
	schemas["payment"] = true
	raw, err := os.ReadFile("testdata/schemaguard/payment_trespasses.sql")
	if err != nil {
		t.Fatal(err)
	}
	got := trespasses("payment", string(raw), schemas, tables)
	want := []string{
		"ReadsIdentity: touches schema identity (identity.accounts)",
		"WritesThePlatformsOutbox: touches schema platform (platform.outbox_emails)",
		"UnqualifiedTable: names table accounts without its schema",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

type sqlcBlock struct {
	Name, Queries, Owner string
}

// sqlcBlocks reads the blocks of sqlc.yaml and the schema each owns.
func sqlcBlocks(t *testing.T) []sqlcBlock {
	t.Helper()
	raw, err := os.ReadFile("../sqlc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		SQL []struct {
			Name    string `yaml:"name"`
			Queries string `yaml:"queries"`
			Gen     struct {
				Go struct {
					Out string `yaml:"out"`
				} `yaml:"go"`
			} `yaml:"gen"`
		} `yaml:"sql"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("sqlc.yaml: %v", err)
	}
	var blocks []sqlcBlock
	for _, s := range cfg.SQL {
		parts := strings.Split(s.Gen.Go.Out, "/")
		var owner string
		switch {
		case len(parts) > 1 && parts[0] == "modules":
			owner = parts[1]
		case len(parts) > 1 && parts[0] == "platform" && parts[1] == "jobs":
			owner = "river"
		case parts[0] == "platform":
			owner = "platform"
		default:
			t.Errorf("sqlc.yaml block %s generates into %s: neither modules/<name>/… nor platform/…", s.Name, s.Gen.Go.Out)
			continue
		}
		blocks = append(blocks, sqlcBlock{Name: s.Name, Queries: s.Queries, Owner: owner})
	}
	return blocks
}

// catalog reads the schemas and table names of db/schema.sql (what the migrations make).
func catalog(t *testing.T) (schemas, tables map[string]bool) {
	t.Helper()
	raw, err := os.ReadFile("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	schemas, tables = map[string]bool{"public": true}, map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^CREATE SCHEMA (\w+);`).FindAllStringSubmatch(string(raw), -1) {
		schemas[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^CREATE TABLE (\w+)\.(\w+) \(`).FindAllStringSubmatch(string(raw), -1) {
		tables[m[2]] = true
	}
	return schemas, tables
}

var (
	qualified = regexp.MustCompile(`\b([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\b`)
	relation  = regexp.MustCompile(`(?i)\b(?:FROM|JOIN|INTO|UPDATE|TABLE|USING)\s+([a-z_][a-z0-9_]*)\b(\s*[.(])?`)
	cte       = regexp.MustCompile(`(?i)(?:\bWITH|,)\s+([a-z_][a-z0-9_]*)\s+AS\s*(?:NOT\s+)?(?:MATERIALIZED\s+)?\(`)
	comment   = regexp.MustCompile(`--[^\n]*`)
)

// trespasses lists, for each sqlc query of file (-- name: blocks), the schemas other than
// owner it names, and the known tables it names without a schema.
func trespasses(owner, file string, schemas, tables map[string]bool) []string {
	var out []string
	for _, block := range strings.Split(file, "-- name: ")[1:] {
		name, _, _ := strings.Cut(block, " ")
		sql := comment.ReplaceAllString(block[strings.Index(block, "\n")+1:], "")
		for _, m := range qualified.FindAllStringSubmatch(sql, -1) {
			if schemas[m[1]] && m[1] != owner {
				out = append(out, fmt.Sprintf("%s: touches schema %s (%s)", name, m[1], m[0]))
			}
		}
		ctes := map[string]bool{}
		for _, m := range cte.FindAllStringSubmatch(sql, -1) {
			ctes[strings.ToLower(m[1])] = true
		}
		for _, m := range relation.FindAllStringSubmatch(sql, -1) {
			table := strings.ToLower(m[1])
			if m[2] == "" && tables[table] && !ctes[table] {
				out = append(out, fmt.Sprintf("%s: names table %s without its schema", name, table))
			}
		}
	}
	return out
}
