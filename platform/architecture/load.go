package architecture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Load lists every package of the Go module that contains dir (the pattern ./... at the
// module's root) with its imports, test imports included, by running `go list`. It
// returns the module path too. A package that does not load (a syntax error, a missing
// dependency) is an error: the rules are not judged on a partial graph.
func Load(ctx context.Context, dir string) (modulePath string, pkgs []Package, err error) {
	mod, err := goList(ctx, dir, "-m", "-f", "{{.Path}}\t{{.Dir}}")
	if err != nil {
		return "", nil, err
	}
	modulePath, root, ok := strings.Cut(strings.TrimSpace(string(mod)), "\t")
	if !ok || modulePath == "" || root == "" {
		return "", nil, fmt.Errorf("go list -m in %s: no module (got %q)", dir, mod)
	}
	out, err := goList(ctx, root, "-json=ImportPath,Dir,GoFiles,Imports,TestImports,XTestImports", "./...")
	if err != nil {
		return "", nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath   string
			Dir          string
			GoFiles      []string
			Imports      []string
			TestImports  []string
			XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", nil, fmt.Errorf("decode go list output: %w", err)
		}
		tests := slices.Concat(p.TestImports, p.XTestImports)
		slices.Sort(tests)
		pkg := Package{Path: p.ImportPath, Imports: p.Imports, TestImports: slices.Compact(tests)}
		if strings.HasPrefix(p.ImportPath, modulePath+"/platform/") {
			var src strings.Builder
			for _, f := range p.GoFiles {
				b, err := os.ReadFile(filepath.Join(p.Dir, f)) //nolint:gosec // a file go list named in this module
				if err != nil {
					return "", nil, fmt.Errorf("read %s: %w", f, err)
				}
				src.Write(b)
			}
			pkg.Source = src.String()
		}
		pkgs = append(pkgs, pkg)
	}
	return modulePath, pkgs, nil
}

// goList runs `go list args...` in dir, in module mode without a workspace, and never
// lets it edit go.mod.
func goList(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list"}, args...)...) //nolint:gosec // args are this file's constants
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return out, nil
}
