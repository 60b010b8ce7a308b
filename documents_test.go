package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocumentsNameWhatExists fails listing every Go identifier a document names that is
// declared nowhere: a document that names a renamed or deleted function sends its reader
// looking for what is not there.
//
// The documents are README.md and docs/*.md (not docs/bench/, the output of make bench).
// Their references are the inline code spans (single backticks) outside fenced blocks, and
// the package-qualified names of their go blocks. A span is a reference when, after a
// leading *, & or [], it is:
//
//   - a chain of identifiers joined by dots (`pkg.Name`, `Type.Method`, `v.Field`), or a
//     method expression `(*pkg.Type).Method`, either followed by a call or a signature
//     (`Name(`, `pkg.Name(ctx, id) (T, error)`; what follows the first parenthesis is not
//     the reference, but each `pkg.Name` in it is);
//   - or a path to a package and a name in it (`adapter/http.Handlers`), the path matched
//     against the end of a directory of the tree.
//
// So a span with a space, a slash (but the last form), a hyphen, an = or a quote is not a
// reference: commands, paths, routes, headers, flags, SQL; nor is a file name
// (`README.md`, `main.go`). Of a reference, what is checked:
//
//   - `pkg.Name` and `pkg.Name.Member`, where pkg is the name of a package of the tree (its
//     package clause) or of one it imports (the import's name): Name is declared at the top
//     level of a package of that name (the tree's first, then the imported ones, read from
//     their source), and Member is a method, field or interface method of it or of a type
//     it embeds. A lower-case Name is not checked: `identity.accounts` is a table.
//   - `Type.Member`, an exported name first: a type of that name somewhere has the member
//     (a longer chain is not checked).
//   - `v.Member`, a lower-case name that is no package first (a variable): the last
//     exported element is a member of some type, in the tree or in a package it imports.
//   - a single name, when it has no underscore and is an exported call (`Name(`) or camel
//     case with two humps (`ErrCodeExpired`, `problemFor`; not `VmHWM` or `RealIP`): it
//     must be declared somewhere (top level or member), or be a predeclared Go name. So
//     `Store`, `Authorization`, `GOGC`, `DATABASE_URL`, `commit`, and the SQL and PromQL
//     calls `pg_notify()`, `now()`, `sum(rate(…))` are not checked.
//
// In a go block a qualifier may be a variable named like a package (`api.GET`, an echo
// group): there a name its package lacks passes when some type has a member of that name.
//
// Declared means in a .go file of the tree (tests included; testdata excluded: its fixture
// declares deliberately wrong modules) or in the scaffold's templates as `make module
// NAME=payment` writes them, which docs/adding-a-module.md describes.
func TestDocumentsNameWhatExists(t *testing.T) {
	t.Parallel()
	tree := loadTree(t)
	t.Run("the rule", func(t *testing.T) { checkTheRule(t, tree) })
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{"README.md"}, docs...)
	checked := 0
	var missing []string
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range references(string(text)) {
			checked++
			if why := tree.resolve(ref); why != "" {
				missing = append(missing, fmt.Sprintf("%s:%d: `%s`: %s", doc, ref.line, ref.span, why))
			}
		}
	}
	if tree.err != nil {
		t.Fatal(tree.err)
	}
	if len(missing) > 0 {
		t.Errorf("%d names in the documents are declared nowhere; name what exists:\n%s",
			len(missing), strings.Join(missing, "\n"))
	}
	if checked < 200 {
		t.Errorf("only %d references checked: the extraction found almost nothing", checked)
	}
}

// reference is one name a document uses, as resolve reads it: dot-separated, a method
// expression's receiver flattened (`identity.API.Account`), maybe path-qualified.
type reference struct {
	line int
	span string
	name string
	call bool // followed by a parenthesis: `Name(`, `pkg.Name(ctx)`
	// loose: from a go block, where pkg.Name may be a variable's member (api.GET).
	loose bool
}

var (
	codeSpan = regexp.MustCompile("`([^`\n]+)`")
	ident    = `[A-Za-z_][A-Za-z0-9_]*`
	// chainRe: identifiers joined by dots, or a method expression, then maybe a call.
	chainRe = regexp.MustCompile(`^(?:\(\*?(` + ident + `(?:\.` + ident + `)?)\)\.(` + ident + `)|(` + ident + `(?:\.` + ident + `)*))(\(.*)?$`)
	// pathRe: a package path ending in pkg.Name(.Member).
	pathRe = regexp.MustCompile(`^((?:[a-z0-9_]+/)+[a-z0-9_]+\.[A-Z][A-Za-z0-9_]*(?:\.` + ident + `)?)(\(.*)?$`)
	// qualifiedRe: pkg.Name inside a signature or a go block, not itself selected.
	qualifiedRe = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.])([a-z][a-z0-9]*\.[A-Z]` + `[A-Za-z0-9_]*)`)
)

// fileExtensions end a span that names a file, not a Go identifier.
var fileExtensions = map[string]bool{"go": true, "md": true, "sql": true, "yaml": true, "yml": true, "json": true,
	"svg": true, "sh": true, "mod": true, "sum": true, "txt": true, "tmpl": true, "toml": true, "html": true}

// references returns the references of a markdown text: its inline code spans outside
// fenced blocks, and the qualified names of its go blocks.
func references(text string) []reference {
	var refs []reference
	fence, goBlock := "", false
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		if fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence, goBlock = trimmed[:3], strings.TrimSpace(trimmed[3:]) == "go"
			continue
		}
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
				continue
			}
			if goBlock {
				code, _, _ := strings.Cut(line, "//")
				for _, m := range qualifiedRe.FindAllStringSubmatch(code, -1) {
					refs = append(refs, reference{line: n, span: m[1], name: m[1], loose: true})
				}
			}
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
			refs = append(refs, spanReferences(n, m[1])...)
		}
	}
	return refs
}

// spanReferences returns the references of one code span (none when it is not one).
func spanReferences(line int, span string) []reference {
	s := strings.TrimSpace(span)
	for _, p := range []string{"*", "&", "[]"} {
		s = strings.TrimPrefix(s, p)
	}
	if m := pathRe.FindStringSubmatch(s); m != nil {
		return []reference{{line: line, span: span, name: m[1], call: m[2] != ""}}
	}
	m := chainRe.FindStringSubmatch(s)
	if m == nil {
		return nil
	}
	name := m[3]
	if m[1] != "" {
		name = m[1] + "." + m[2]
	}
	if last := name[strings.LastIndexByte(name, '.')+1:]; name != last && fileExtensions[last] {
		return nil // README.md, main.go
	}
	refs := []reference{{line: line, span: span, name: name, call: m[4] != ""}}
	for _, q := range qualifiedRe.FindAllStringSubmatch(m[4], -1) { // a signature's types
		refs = append(refs, reference{line: line, span: span, name: q[1]})
	}
	return refs
}

// pkgDecls is what one package (or a template of the scaffold) declares.
type pkgDecls struct {
	dir, name string
	top       map[string]bool
	members   map[string]map[string]bool // type → its methods, fields and interface methods
	embeds    map[string][]embedded      // type → the types it embeds
}

type embedded struct{ qualifier, name string } // qualifier: "" or an import path

func newPkgDecls(dir, name string) *pkgDecls {
	return &pkgDecls{dir: dir, name: name, top: map[string]bool{}, members: map[string]map[string]bool{}, embeds: map[string][]embedded{}}
}

func (p *pkgDecls) member(typ, name string) {
	if p.members[typ] == nil {
		p.members[typ] = map[string]bool{}
	}
	p.members[typ][name] = true
}

// add records the declarations of f, its imports named by imports (name → path).
func (p *pkgDecls) add(f *ast.File, exportedOnly bool) {
	imports := map[string]string{}
	for _, im := range f.Imports {
		ipath := strings.Trim(im.Path.Value, `"`)
		name := importName(ipath)
		if im.Name != nil {
			name = im.Name.Name
		}
		imports[name] = ipath
	}
	keep := func(name string) bool { return !exportedOnly || token.IsExported(name) }
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !keep(d.Name.Name) {
				continue
			}
			if d.Recv == nil || len(d.Recv.List) == 0 {
				p.top[d.Name.Name] = true
			} else if recv := typeName(d.Recv.List[0].Type); recv != "" {
				p.member(recv, d.Name.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.ValueSpec:
					for _, n := range spec.Names {
						if keep(n.Name) {
							p.top[n.Name] = true
						}
					}
				case *ast.TypeSpec:
					if !keep(spec.Name.Name) {
						continue
					}
					typ := spec.Name.Name
					p.top[typ] = true
					var fields *ast.FieldList
					switch tt := spec.Type.(type) {
					case *ast.StructType:
						fields = tt.Fields
					case *ast.InterfaceType:
						fields = tt.Methods
					}
					if fields == nil {
						continue
					}
					for _, field := range fields.List {
						for _, n := range field.Names {
							p.member(typ, n.Name)
						}
						if len(field.Names) == 0 { // embedded
							qualifier, name := embeddedName(field.Type)
							if name == "" {
								continue
							}
							p.member(typ, name)
							p.embeds[typ] = append(p.embeds[typ], embedded{imports[qualifier], name})
						}
					}
				}
			}
		}
	}
}

// typeName is the name of a receiver or embedded type: T, *T, T[P], pkg.T.
func typeName(e ast.Expr) string {
	_, name := embeddedName(e)
	return name
}

func embeddedName(e ast.Expr) (qualifier, name string) {
	switch e := e.(type) {
	case *ast.StarExpr:
		return embeddedName(e.X)
	case *ast.IndexExpr:
		return embeddedName(e.X)
	case *ast.IndexListExpr:
		return embeddedName(e.X)
	case *ast.Ident:
		return "", e.Name
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name, e.Sel.Name
		}
	}
	return "", ""
}

// importName is the name an import path's package usually has: its last element, less a
// major version suffix (echo/v4 → echo) and a gopkg.in version (yaml.v3 → yaml). The tree's
// imports are named exactly by go list (tree.foreignNames).
func importName(ipath string) string {
	parts := strings.Split(ipath, "/")
	last := parts[len(parts)-1]
	if len(parts) > 1 && regexp.MustCompile(`^v[0-9]+$`).MatchString(last) {
		last = parts[len(parts)-2]
	}
	last, _, _ = strings.Cut(last, ".")
	return last
}

// tree is what the repository declares, and what it imports from elsewhere.
type tree struct {
	local  []*pkgDecls
	byName map[string][]*pkgDecls
	// foreignPaths: the name by which the tree imports a package from elsewhere → paths.
	foreignPaths map[string]map[string]bool
	foreign      map[string]*pkgDecls // import path → its exported declarations, read lazily
	// err is the first failure to read an imported package; what it declares is then
	// missing, and the test fails on err.
	err error
}

const modulePath = "github.com/acme/identity"

func loadTree(t *testing.T) *tree {
	t.Helper()
	tr := &tree{byName: map[string][]*pkgDecls{}, foreignPaths: map[string]map[string]bool{}, foreign: map[string]*pkgDecls{}}
	fset := token.NewFileSet()
	byDir := map[string]*pkgDecls{}
	foreign := map[string]bool{}
	addFile := func(dir string, f *ast.File) {
		p := byDir[dir+" "+f.Name.Name]
		if p == nil {
			p = newPkgDecls(dir, f.Name.Name)
			byDir[dir+" "+f.Name.Name] = p
			tr.local = append(tr.local, p)
		}
		p.add(f, false)
		for _, im := range f.Imports {
			ipath := strings.Trim(im.Path.Value, `"`)
			if ipath != modulePath && !strings.HasPrefix(ipath, modulePath+"/") && ipath != "C" {
				foreign[ipath] = true
				if im.Name != nil && im.Name.Name != "_" && im.Name.Name != "." {
					tr.foreignName(im.Name.Name, ipath)
				}
			}
		}
	}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(base, ".") || base == "testdata" || base == "node_modules" ||
				(strings.HasPrefix(base, "_") && !strings.HasPrefix(filepath.ToSlash(p), "scaffold/templates/"))) {
				return fs.SkipDir
			}
			return nil
		}
		var src []byte
		dir := filepath.ToSlash(filepath.Dir(p))
		switch {
		case strings.HasSuffix(base, ".go"):
			src, err = os.ReadFile(p)
		case strings.HasSuffix(base, ".go.tmpl") && strings.HasPrefix(filepath.ToSlash(p), "scaffold/templates/"):
			src, err = os.ReadFile(p)
			src = []byte(strings.NewReplacer("[[.Name]]", "payment", "[[.GoModule]]", modulePath).Replace(string(src)))
			dir = strings.ReplaceAll(strings.TrimPrefix(dir, "scaffold/templates/"), "_name_", "payment")
		default:
			return nil
		}
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, p, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		addFile(dir, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tr.local {
		tr.byName[p.name] = append(tr.byName[p.name], p)
	}
	// The name each imported package declares in its package clause.
	paths := slices.Sorted(maps.Keys(foreign))
	out, err := exec.Command("go", append([]string{"list", "-e", "-f", "{{.ImportPath}} {{.Name}}"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("go list the imported packages: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if ipath, name, ok := strings.Cut(line, " "); ok && name != "" {
			tr.foreignName(name, ipath)
		}
	}
	return tr
}

func (tr *tree) foreignName(name, ipath string) {
	if tr.foreignPaths[name] == nil {
		tr.foreignPaths[name] = map[string]bool{}
	}
	tr.foreignPaths[name][ipath] = true
}

// foreignPkgs reads the exported declarations of the imported packages of these paths.
func (tr *tree) foreignPkgs(paths []string) []*pkgDecls {
	var todo []string
	for _, p := range paths {
		if _, ok := tr.foreign[p]; !ok {
			todo = append(todo, p)
		}
	}
	if len(todo) > 0 {
		out, err := exec.Command("go", append([]string{"list", "-e", "-f", "{{.ImportPath}}\t{{.Name}}\t{{.Dir}}\t{{join .GoFiles \" \"}}"}, todo...)...).Output()
		if err != nil && tr.err == nil {
			tr.err = fmt.Errorf("go list %v: %w", todo, err)
		}
		fset := token.NewFileSet()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Split(line, "\t")
			if len(f) != 4 {
				continue
			}
			p := newPkgDecls(f[2], f[1])
			for _, file := range strings.Fields(f[3]) {
				parsed, err := parser.ParseFile(fset, filepath.Join(f[2], file), nil, parser.SkipObjectResolution)
				if err != nil {
					if tr.err == nil {
						tr.err = fmt.Errorf("parse %s: %w", file, err)
					}
					continue
				}
				p.add(parsed, true)
			}
			tr.foreign[f[0]] = p
		}
		for _, p := range todo { // a path go list could not find declares nothing
			if tr.foreign[p] == nil {
				tr.foreign[p] = newPkgDecls("", "")
			}
		}
	}
	var pkgs []*pkgDecls
	for _, p := range paths {
		pkgs = append(pkgs, tr.foreign[p])
	}
	return pkgs
}

func (tr *tree) foreignNamed(name string) []*pkgDecls {
	return tr.foreignPkgs(slices.Sorted(maps.Keys(tr.foreignPaths[name])))
}

// hasMember reports whether type typ of p, or a type it embeds, has the member.
func (tr *tree) hasMember(p *pkgDecls, typ, member string, depth int) bool {
	if p.members[typ][member] {
		return true
	}
	if depth > 4 {
		return false
	}
	for _, e := range p.embeds[typ] {
		var in []*pkgDecls
		switch {
		case e.qualifier == "":
			in = []*pkgDecls{p}
		case e.qualifier == modulePath || strings.HasPrefix(e.qualifier, modulePath+"/"):
			dir := strings.TrimPrefix(strings.TrimPrefix(e.qualifier, modulePath), "/")
			for _, q := range tr.local {
				if q.dir == dir || (dir == "" && q.dir == ".") {
					in = append(in, q)
				}
			}
		default:
			in = tr.foreignPkgs([]string{e.qualifier})
		}
		for _, q := range in {
			if tr.hasMember(q, e.name, member, depth+1) {
				return true
			}
		}
	}
	return false
}

// resolve returns why the reference names nothing declared, or "" when it does (or is not
// checked).
func (tr *tree) resolve(ref reference) string {
	name := ref.name
	if pathPart, rest, ok := cutLast(name, "/"); ok { // adapter/http.Handlers
		pkgName, decl, _ := strings.Cut(rest, ".")
		suffix := pathPart + "/" + pkgName
		var pkgs []*pkgDecls
		for _, p := range tr.local {
			if p.dir == suffix || strings.HasSuffix(p.dir, "/"+suffix) {
				pkgs = append(pkgs, p)
			}
		}
		if len(pkgs) == 0 {
			return "no package " + suffix + " in the tree"
		}
		return tr.resolveIn(pkgs, nil, decl, suffix)
	}
	parts := strings.Split(name, ".")
	first := parts[0]
	local, foreign := tr.byName[first], len(tr.foreignPaths[first]) > 0
	switch {
	case len(parts) > 1 && (len(local) > 0 || foreign): // pkg.Name(.Member)
		if !token.IsExported(parts[1]) {
			return "" // pkg.lower: a table (identity.accounts), a file (main.go)
		}
		var more func() []*pkgDecls
		if foreign {
			more = func() []*pkgDecls { return tr.foreignNamed(first) }
		}
		why := tr.resolveIn(local, more, strings.Join(parts[1:], "."), first)
		if why != "" && ref.loose && tr.anyMember(parts[len(parts)-1]) {
			return "" // a variable named like a package: api.GET
		}
		return why
	case len(parts) > 1 && token.IsExported(first): // Type.Member
		if len(parts) > 2 {
			return ""
		}
		found := false
		for _, p := range tr.local {
			if p.top[first] {
				found = true
				if tr.hasMember(p, first, parts[1], 0) {
					return ""
				}
			}
		}
		if !found {
			return "no type " + first
		}
		return first + " has no method or field " + parts[1]
	case len(parts) > 1: // v.Member: the last exported element
		last := ""
		for _, p := range parts[1:] {
			if token.IsExported(p) {
				last = p
			}
		}
		if last == "" || tr.anyMember(last) {
			return ""
		}
		return "no type has a method or field " + last
	default: // a single name
		checked := camelCase.MatchString(first) || ref.call && token.IsExported(first)
		if !checked || strings.Contains(first, "_") {
			return "" // Store, Authorization, GOGC, commit, pg_notify(), sum(rate(…))
		}
		if types.Universe.Lookup(first) != nil || tr.declared(first) {
			return ""
		}
		return "declared nowhere"
	}
}

// camelCase is a name with two humps: ErrCodeExpired, problemFor (not VmHWM, RealIP).
var camelCase = regexp.MustCompile(`^(?:[a-z][a-z0-9]*|[A-Z][a-z0-9]*)[A-Z][a-z0-9]|^[A-Z][A-Za-z0-9]*[a-z][A-Z][a-z0-9]`)

// resolveIn checks decl (Name or Name.Member) in the packages, then in more.
func (tr *tree) resolveIn(pkgs []*pkgDecls, more func() []*pkgDecls, decl, pkgName string) string {
	name, member, hasMember := strings.Cut(decl, ".")
	if !token.IsExported(name) {
		return ""
	}
	check := func(pkgs []*pkgDecls) (string, bool) {
		for _, p := range pkgs {
			if p.top[name] && (!hasMember || tr.hasMember(p, name, member, 0)) {
				return "", true
			}
		}
		for _, p := range pkgs {
			if p.top[name] {
				return pkgName + "." + name + " has no method or field " + member, false
			}
		}
		return "package " + pkgName + " declares no " + name, false
	}
	why, ok := check(pkgs)
	if ok || more == nil {
		return why
	}
	if why2, ok := check(more()); ok {
		return ""
	} else if len(pkgs) == 0 {
		return why2
	}
	return why
}

// declared reports whether name is declared anywhere in the tree, at the top level or as
// a member.
func (tr *tree) declared(name string) bool {
	for _, p := range tr.local {
		if p.top[name] {
			return true
		}
	}
	return tr.anyMember(name)
}

// anyMember reports whether some type of the tree, or of a package it imports, has the
// method or field.
func (tr *tree) anyMember(name string) bool {
	has := func(pkgs []*pkgDecls) bool {
		for _, p := range pkgs {
			for _, m := range p.members {
				if m[name] {
					return true
				}
			}
		}
		return false
	}
	if has(tr.local) {
		return true
	}
	var all []string
	for _, paths := range tr.foreignPaths {
		for p := range paths {
			all = append(all, p)
		}
	}
	slices.Sort(all)
	return has(tr.foreignPkgs(slices.Compact(all)))
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// checkTheRule pins what the rule reports, and what it leaves alone, on the real tree.
func checkTheRule(t *testing.T, tree *tree) {
	text := "`database.InTx` `(*identity.API).Account(ctx, id) (identity.Account, error)`\n" +
		"`adapter/http.Handlers` `*domain.InvalidCodeError` `problemFor` `httpserver.New(opts, logger)`\n" +
		"`postgres.Store.Change` `app.Store` `Handlers.Register` `h.Authenticate` `pgx.ErrNoRows` `echo.IPExtractor`\n" +
		"`make test` `DATABASE_URL` `/v1/users` `Store` `commit` `pg_notify()` `Retry-After` `a=b`\n" +
		"`identity.accounts` `\"x\"` `GOGC` `main.go` `len(x)` `outbox_emails.trace_parent` `VmHWM` `README.md` `api/openapi.yaml` `now()` `sum(rate(x[5m]))`\n" +
		"```sh\nmake `app.Gone`\n```\n" +
		"```go\nx := database.InTx(ctx) // app.Gone\ns.outbox.Gone()\napi.GET(\"/x\", h.get)\n```\n" +
		"`app.Gone` `(*identity.API).Gone` `identity.Gone(ctx)` `adapter/http.Gone` `nowhere/http.Handlers`\n" +
		"`*domain.GoneError` `goneFor` `Gone(x)` `postgres.Store.Gone` `Handlers.Gone` `h.GoneMethod`\n" +
		"`pgx.ErrGone` `ErrGoneToo` `(*identity.API).Account(ctx) (identity.Gone, error)`\n" +
		"```go\nx := database.Gone(ctx)\n```\n"
	var reported []string
	for _, ref := range references(text) {
		if why := tree.resolve(ref); why != "" {
			reported = append(reported, fmt.Sprintf("%d %s", ref.line, ref.name))
		}
	}
	want := []string{
		"14 app.Gone", "14 identity.API.Gone", "14 identity.Gone", "14 adapter/http.Gone", "14 nowhere/http.Handlers",
		"15 domain.GoneError", "15 goneFor", "15 Gone", "15 postgres.Store.Gone", "15 Handlers.Gone", "15 h.GoneMethod",
		"16 pgx.ErrGone", "16 ErrGoneToo", "16 identity.Gone",
		"18 database.Gone",
	}
	if tree.err != nil {
		t.Fatal(tree.err)
	}
	if !slices.Equal(reported, want) {
		t.Errorf("reported\n  %q\nwant\n  %q", reported, want)
	}
}

// TestBenchmarksIsOneReportOfOneRun keeps docs/benchmarks.md the report of the run whose
// raw output sits next to it (docs/bench/report.md), not a changelog of later
// measurements: the commit it names is that run's, every date it gives is that run's
// day, no section is an "After …" epilogue, and no document has a table whose header is
// empty.
func TestBenchmarksIsOneReportOfOneRun(t *testing.T) {
	raw, err := os.ReadFile("docs/bench/report.md")
	if err != nil {
		t.Fatal(err)
	}
	run := regexp.MustCompile(`(?m)^- commit ([0-9a-f]{7,}); started (\d{4}-\d{2}-\d{2})T`).FindSubmatch(raw)
	if run == nil {
		t.Fatal("docs/bench/report.md names no commit and start (- commit …; started …)")
	}
	commit, day := string(run[1][:7]), string(run[2])
	page, err := os.ReadFile("docs/benchmarks.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "`"+commit+"`") {
		t.Errorf("docs/benchmarks.md does not name the commit of its run, %s", commit)
	}
	for _, m := range regexp.MustCompile("commit `([0-9a-f]{7,})`").FindAllStringSubmatch(string(page), -1) {
		if m[1][:7] != commit {
			t.Errorf("docs/benchmarks.md names commit %s; its run is %s", m[1], commit)
		}
	}
	for _, h := range regexp.MustCompile(`(?m)^#+ (After .*)$`).FindAllStringSubmatch(string(page), -1) {
		t.Errorf("docs/benchmarks.md has a section %q: what changed after the run is not its report", h[1])
	}
	for _, d := range regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`).FindAllString(string(page), -1) {
		if d != day {
			t.Errorf("docs/benchmarks.md gives the date %s; its run is of %s: a later measurement is another report", d, day)
		}
	}

	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	emptyHeader := regexp.MustCompile(`^\|(\s*\|)+\s*$`)
	for _, doc := range append([]string{"README.md"}, docs...) {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(text), "\n")
		for i := 0; i+1 < len(lines); i++ {
			if emptyHeader.MatchString(lines[i]) && strings.HasPrefix(lines[i+1], "|-") {
				t.Errorf("%s:%d: a table with an empty header", doc, i+1)
			}
		}
	}
}
