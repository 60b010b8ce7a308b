package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Variant is a server configuration compared with others in an A/B run.
type Variant struct {
	Name string
	Env  []string
}

// ParseVariants reads "name=NAME=VALUE,NAME=VALUE;name2=..." (an empty environment is
// the server's defaults).
func ParseVariants(s string) ([]Variant, error) {
	var out []Variant
	for _, part := range strings.Split(s, ";") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, env, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("variant %q is not name=ENV,ENV", part)
		}
		v := Variant{Name: name}
		for _, kv := range strings.Split(env, ",") {
			if kv = strings.TrimSpace(kv); kv != "" {
				if !strings.Contains(kv, "=") {
					return nil, fmt.Errorf("variant %s: %q is not NAME=VALUE", name, kv)
				}
				v.Env = append(v.Env, kv)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// ABResult sums one variant's runs of one step.
type ABResult struct {
	Variant string
	Spec    StepSpec
	Runs    []StepResult
}

// runAB interleaves the variants: in each round every variant gets a fresh server and
// runs every step, so a change of the machine's load during the run touches them alike.
// It compares figures per unit, which a shared machine disturbs less than rates.
func runAB(ctx context.Context, o Options, variants []Variant, bin string, db *Database, mailbox *Mailbox,
	backends *Backends, runID string, stdout io.Writer,
) ([]ABResult, error) {
	hash := hashSettings[o.Hashes[0]]
	var specs []StepSpec
	for _, w := range o.Workloads {
		for _, c := range o.Conns {
			specs = append(specs, StepSpec{Name: fmt.Sprintf("%s-%d", w, c), Workload: w, Conns: c, Warmup: o.Warmup, Duration: o.Step})
		}
	}
	if o.FloodConns > 0 && o.Flood > 0 {
		specs = append(specs, StepSpec{Name: fmt.Sprintf("flood-%d", o.FloodConns), Workload: Flood, Conns: o.FloodConns, Warmup: o.Warmup, Duration: o.Flood})
	}
	results := make([]ABResult, 0, len(variants)*len(specs))
	for _, v := range variants {
		for _, s := range specs {
			results = append(results, ABResult{Variant: v.Name, Spec: s})
		}
	}
	for round := range o.Rounds {
		for vi, v := range variants {
			srv, err := StartServer(ctx, ServerConfig{
				Bin: bin, DatabaseURL: db.URL, SMTPHost: mailbox.Host, SMTPPort: mailbox.Port, Hash: hash,
				LogPath: filepath.Join(o.Out, "logs", fmt.Sprintf("server-ab-%s-%d.log", v.Name, round)), Env: slices.Concat(o.ServerEnv, v.Env),
			})
			if err != nil {
				return results, err
			}
			runner := &Runner{
				BaseURL: srv.BaseURL, Mailbox: mailbox, PID: srv.PID(), Backends: backends, Hash: hash,
				Prefix:       fmt.Sprintf("b%s-ab%d-%d", runID, vi, round),
				EmailTimeout: 15 * time.Second, DrainTimeout: 30 * time.Second,
			}
			for si, spec := range specs {
				r, err := runner.RunBracketed(ctx, spec, o.Limit)
				if err != nil {
					_ = srv.Stop()
					return results, err
				}
				results[vi*len(specs)+si].Runs = append(results[vi*len(specs)+si].Runs, r)
				say(stdout, "bench: round %d, %s, %s: %s\n", round+1, v.Name, spec.Name, OneLine(r))
			}
			if err := srv.Stop(); err != nil {
				return results, fmt.Errorf("stop server: %w", err)
			}
		}
	}
	return results, nil
}

// ABReport renders the sums of an A/B run as Markdown.
func ABReport(results []ABResult, variants []Variant) string {
	var b strings.Builder
	b.WriteString("| variant | step | runs | units/s | ÷ limit | server CPU per unit (user + sys) | hash CPU per unit | efficiency | page faults per unit | peak RSS | other load (cores) |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	env := map[string]string{}
	for _, v := range variants {
		env[v.Name] = strings.Join(v.Env, " ")
	}
	for _, r := range results {
		var units int
		var window, user, sys, hashCPU time.Duration
		var faults uint64
		var ofLimit, other float64
		var peak uint64
		for _, run := range r.Runs {
			d := Derive(run)
			units += run.Units
			window += run.Window
			user += run.Server.User
			sys += run.Server.System
			hashCPU += d.HashCPUPerUnit * time.Duration(run.Units)
			faults += run.Server.MinorFaults + run.Server.MajorFaults
			ofLimit += d.OfLimit
			other += d.OtherCores
			peak = max(peak, run.Server.PeakRSSKiB)
		}
		n := len(r.Runs)
		if n == 0 || units == 0 {
			continue
		}
		u := time.Duration(units)
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.2f | %.2f ms (%.2f + %.2f) | %.2f ms | %.3f | %.0f | %d MiB | %.2f |\n",
			r.Variant, r.Spec.Name, n, float64(units)/window.Seconds(), ofLimit/float64(n),
			ms((user+sys)/u), ms(user/u), ms(sys/u), ms(hashCPU/u), Ratio(float64(hashCPU), float64(user+sys)),
			PerUnit(float64(faults), units), peak/1024, other/float64(n))
	}
	b.WriteString("\nVariants: ")
	for i, v := range variants {
		if i > 0 {
			b.WriteString("; ")
		}
		e := env[v.Name]
		if e == "" {
			e = "the server's defaults"
		}
		fmt.Fprintf(&b, "%s = `%s`", v.Name, e)
	}
	b.WriteString(".\n")
	return b.String()
}
