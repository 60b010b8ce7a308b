// Command bench measures the identity service from outside, as docs/benchmarks.md
// describes: it builds the binary, creates and migrates a fresh database on the local
// PostgreSQL, runs an SMTP server in this process, starts `identity serve` against both
// and drives it with closed-loop connections (each sends its next request when the last
// one answered): register-only and the full flow at several concurrencies, then a flood.
// It does all of that for the production argon2id parameters and for the cheapest ones,
// measures the hash-bound limit (argon2id alone in this process) in the same run, and
// prints the figures. It never passes or fails on them.
//
//	go run ./bench [flags]        (make bench runs it with the durations of issue 13)
//
// Flags default from the environment: BENCH_STEP, BENCH_FLOOD, BENCH_OUT,
// BENCH_DATABASE_URL.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options are the command line.
type Options struct {
	Step, Flood, Warmup, Limit time.Duration
	Conns                      []int
	FloodConns                 int
	// NoAuthConns are the connections of the unauthenticated step (0: none).
	NoAuthConns int
	// MeConns are the connections of the me-basic and me-bearer steps (0: none).
	MeConns int
	// BusyConns are the connections of the busy-client steps (0: none); BusyUnits what
	// the busy client spent of each budget before them.
	BusyConns, BusyUnits int
	// Scale is the fraction of issue 24's sizes the scale step fills the database to (0:
	// no scale step); ScaleRoutes are the steps it runs before and after, at ScaleConns.
	Scale       float64
	ScaleConns  int
	ScaleRoutes []Workload
	// ExtraHash is the hash setting the busy-client and scale steps run with.
	ExtraHash  string
	Hashes     []string
	Workloads  []Workload
	Out        string
	Repo       string
	AdminURL   string
	ServerEnv  []string
	RoundTrips int
	Label      string
	// FloodRounds is how many alternating rounds of register-only at 4 connections and the
	// flood, back to back on one server, run with the first hash setting (0: none).
	FloodRounds int
	// AB, when set, compares server variants instead of the full run; Rounds interleaves them.
	AB     []Variant
	Rounds int
	Render string
}

// The two hash settings of issue 13: the OWASP baseline the service ships with, and the
// cheapest argon2id accepts, which leaves the service's own cost.
var hashSettings = map[string]HashParams{
	"production": {Name: "production", MemoryKiB: 19456, Iterations: 2, Parallelism: 1},
	"cheapest":   {Name: "cheapest", MemoryKiB: 8, Iterations: 1, Parallelism: 1},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		say(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	if err := run(ctx, opts, os.Stdout); err != nil {
		say(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func parseFlags(args []string) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o Options
	step, err := time.ParseDuration(envOr("BENCH_STEP", "20s"))
	if err != nil {
		return o, fmt.Errorf("BENCH_STEP: %w", err)
	}
	flood, err := time.ParseDuration(envOr("BENCH_FLOOD", "15s"))
	if err != nil {
		return o, fmt.Errorf("BENCH_FLOOD: %w", err)
	}
	fs.DurationVar(&o.Step, "step", step, "measured duration of each register-only and full-flow step (BENCH_STEP)")
	fs.DurationVar(&o.Flood, "flood", flood, "measured duration of the flood (BENCH_FLOOD)")
	fs.DurationVar(&o.Warmup, "warmup", 0, "unmeasured load before each step (default: a tenth of the step, 1s to 3s)")
	fs.DurationVar(&o.Limit, "limit", 2*time.Second, "how long to measure the hash-bound limit, before and after each step")
	conns := fs.String("conns", "1,4,16,64", "concurrencies of the register-only and full-flow steps")
	fs.IntVar(&o.FloodConns, "flood-conns", 256, "connections of the flood (0: no flood)")
	fs.IntVar(&o.MeConns, "me-conns", 16, "connections of the GET /v1/users/me steps, Basic then Bearer, for -step each (0: no such steps)")
	fs.IntVar(&o.NoAuthConns, "unauthenticated-conns", 16, "connections of the step of GET /v1/users/me without credentials, for -step (0: no such step)")
	hashes := fs.String("hash", "production,cheapest", "hash settings to run: production, cheapest")
	fs.IntVar(&o.BusyConns, "busy-conns", 16, "connections of the busy-client steps, many clients then one, with the per-client budgets on (0: no such steps)")
	fs.IntVar(&o.BusyUnits, "busy-units", 100_000, "units of each per-client budget the busy client spent in the last 24 h before its step")
	fs.Float64Var(&o.Scale, "scale", 1, "the scale step fills the database to this fraction of 2M accounts, 3M sessions, 2M rows in each ledger and the outbox (0: no scale step)")
	fs.IntVar(&o.ScaleConns, "scale-conns", 16, "connections of each route step of the scale step")
	scaleRoutes := fs.String("scale-routes", "register,flow,me-basic,me-bearer,reset", "the route steps run on the empty and the filled database: register, flow, me-basic, me-bearer, reset")
	fs.StringVar(&o.ExtraHash, "extra-hash", "cheapest", "the hash setting (one of -hash) the busy-client and scale steps run with")
	workloads := fs.String("workloads", "register,flow", "workloads of the concurrency steps: register, flow")
	fs.StringVar(&o.Out, "out", envOr("BENCH_OUT", "bench/out"), "directory for report.md, results.json, chart.svg and logs/ with the server logs (BENCH_OUT)")
	fs.StringVar(&o.Repo, "repo", ".", "the repository to build")
	fs.StringVar(&o.AdminURL, "database-url", envOr("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"a database on the PostgreSQL server to use, for CREATE/DROP DATABASE (BENCH_DATABASE_URL)")
	serverEnv := fs.String("server-env", "", "extra environment of the server, comma-separated NAME=VALUE (e.g. GOGC=100)")
	fs.IntVar(&o.RoundTrips, "roundtrips", 200, "registrations and flows run one by one through a counting proxy to count SQL round trips (0: skip)")
	fs.StringVar(&o.Label, "label", "", "a label printed with the report (what this run is)")
	ab := fs.String("ab", "", "compare server variants, interleaved, with the first -hash setting: \"before=GOGC=100;after=\" (writes ab.md)")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds of an -ab comparison")
	fs.IntVar(&o.FloodRounds, "flood-rounds", 3, "alternating rounds of register-only at 4 connections and the flood, back to back, with the first -hash setting (0: none)")
	fs.StringVar(&o.Render, "render", "", "render report.md and chart.svg into -out from an earlier results.json, and measure nothing")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.AB, err = ParseVariants(*ab); err != nil {
		return o, fmt.Errorf("-ab: %w", err)
	}
	if o.Warmup == 0 {
		o.Warmup = min(max(o.Step/10, time.Second), 3*time.Second)
	}
	for _, f := range strings.Split(*conns, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return o, fmt.Errorf("-conns: %q is not a positive number", f)
		}
		o.Conns = append(o.Conns, n)
	}
	for _, h := range strings.Split(*hashes, ",") {
		if _, ok := hashSettings[strings.TrimSpace(h)]; !ok {
			return o, fmt.Errorf("-hash: unknown setting %q", h)
		}
		o.Hashes = append(o.Hashes, strings.TrimSpace(h))
	}
	for _, w := range strings.Split(*workloads, ",") {
		switch wl := Workload(strings.TrimSpace(w)); wl {
		case RegisterOnly, FullFlow:
			o.Workloads = append(o.Workloads, wl)
		case "":
		default:
			return o, fmt.Errorf("-workloads: unknown workload %q", w)
		}
	}
	for _, w := range strings.Split(*scaleRoutes, ",") {
		switch wl := Workload(strings.TrimSpace(w)); wl {
		case RegisterOnly, FullFlow, MeBasic, MeBearer, Reset:
			o.ScaleRoutes = append(o.ScaleRoutes, wl)
		case "":
		default:
			return o, fmt.Errorf("-scale-routes: unknown route step %q", w)
		}
	}
	if _, ok := hashSettings[o.ExtraHash]; !ok {
		return o, fmt.Errorf("-extra-hash: unknown setting %q", o.ExtraHash)
	}
	for _, kv := range strings.Split(*serverEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			if !strings.Contains(kv, "=") {
				return o, fmt.Errorf("-server-env: %q is not NAME=VALUE", kv)
			}
			o.ServerEnv = append(o.ServerEnv, kv)
		}
	}
	return o, nil
}

// Results is everything a run measured; results.json holds it.
type Results struct {
	Label     string
	Machine   Machine
	Started   time.Time
	Options   Options
	Settings  []SettingResults
	Elapsed   time.Duration
	LoadAfter string
}

// SettingResults are the measurements of one hash setting.
type SettingResults struct {
	Hash HashParams
	// Limit is the median of the hash-bound limits measured before the steps (and once
	// before the server started).
	Limit      HashLimit
	Steps      []StepResult
	RoundTrips *RoundTrips `json:",omitempty"`
	// FloodRounds are the -flood-rounds rounds in the order they ran: register-only at 4
	// connections, then the flood, then the next round's register-only…
	FloodRounds []StepResult `json:",omitempty"`
	// Extra are the busy-client and scale steps (with -extra-hash only).
	Extra *Extra `json:",omitempty"`
}

func run(ctx context.Context, o Options, stdout io.Writer) error {
	if o.Render != "" {
		return render(o.Render, o.Out)
	}
	started := time.Now()
	if err := os.MkdirAll(filepath.Join(o.Out, "logs"), 0o750); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	machine := DescribeMachine(ctx, o.Repo, o.AdminURL)
	say(stdout, "bench: %s, commit %s, load average %s\n", machine.CPU, machine.Commit, machine.LoadBefore)

	tmp, err := os.MkdirTemp("", "identity-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	say(stdout, "bench: building the service\n")
	bin, err := Build(ctx, o.Repo, tmp)
	if err != nil {
		return err
	}

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	runID := hex.EncodeToString(suffix)
	db, err := NewDatabase(o.AdminURL, "identity_bench_"+runID)
	if err != nil {
		return err
	}
	// Drop the database whatever happens, even after ^C.
	defer func() {
		dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := db.Drop(dropCtx); err != nil {
			say(os.Stderr, "bench: %v\n", err)
		}
	}()
	if err := Migrate(ctx, bin, db.URL); err != nil {
		return err
	}
	mailbox, err := StartMailbox()
	if err != nil {
		return err
	}
	defer mailbox.Close()
	backends, err := NewBackends(ctx, o.AdminURL, db.name)
	if err != nil {
		return err
	}
	defer backends.Close(context.WithoutCancel(ctx))

	if len(o.AB) > 0 {
		results, err := runAB(ctx, o, o.AB, bin, db, mailbox, backends, runID, stdout)
		report := fmt.Sprintf("# A/B: %s\n\n- machine: %s, %d CPUs; commit %s; %s hash (%s)\n- load average before: %s; after: %s\n- %d rounds, steps of %s after %s of warm-up\n\n",
			o.Label, machine.CPU, machine.CPUs, machine.Commit, o.Hashes[0], hashSettings[o.Hashes[0]], machine.LoadBefore, LoadAverage(), o.Rounds, o.Step, o.Warmup) +
			ABReport(results, o.AB)
		say(stdout, "\n")
		say(stdout, "%s", report)
		if werr := os.WriteFile(filepath.Join(o.Out, "ab.md"), []byte(report), 0o600); werr != nil && err == nil {
			err = fmt.Errorf("write ab.md: %w", werr)
		}
		return err
	}

	res := Results{Label: o.Label, Machine: machine, Started: started, Options: o}
	for _, name := range o.Hashes {
		hash := hashSettings[name]
		sr, err := runSetting(ctx, o, hash, bin, db, mailbox, backends, runID, stdout)
		res.Settings = append(res.Settings, sr)
		if err != nil {
			return err
		}
	}
	// Last, with one setting: the scale step leaves the database filled.
	for i := range res.Settings {
		if s := &res.Settings[i]; s.Hash.Name == o.ExtraHash && (o.BusyConns > 0 || o.Scale > 0) {
			x, err := runExtra(ctx, o, s.Hash, bin, db, mailbox, backends, runID, stdout)
			s.Extra = &x
			if err != nil {
				return err
			}
		}
	}
	res.Elapsed = time.Since(started)
	res.LoadAfter = LoadAverage()

	say(stdout, "\n")
	say(stdout, "%s", Report(res))
	if err := write(res, o.Out, true); err != nil {
		return err
	}
	say(stdout, "\nbench: wrote report.md, results.json, chart.svg and logs/ to %s\n", o.Out)
	return nil
}

// write writes report.md, chart.svg and, with withJSON, results.json into dir.
func write(res Results, dir string, withJSON bool) error {
	files := map[string][]byte{
		"report.md": []byte(Report(res)),
		"chart.svg": []byte(Chart(res)),
	}
	if withJSON {
		raw, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode results: %w", err)
		}
		files["results.json"] = raw
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// render rewrites the report and the chart of an earlier run.
func render(resultsPath, dir string) error {
	raw, err := os.ReadFile(resultsPath) //nolint:gosec // a path the user gave on the command line
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	var res Results
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("decode %s: %w", resultsPath, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	return write(res, dir, false)
}

// runSetting measures the hash-bound limit, then runs every step against a server with
// the hash parameters hash.
func runSetting(ctx context.Context, o Options, hash HashParams, bin string, db *Database, mailbox *Mailbox,
	backends *Backends, runID string, stdout io.Writer,
) (SettingResults, error) {
	sr := SettingResults{Hash: hash}
	say(stdout, "bench: %s hash (%s): measuring the hash-bound limit for %s\n", hash.Name, hash, o.Limit)
	limit, err := MeasureHashLimit(ctx, hash, o.Limit)
	if err != nil {
		return sr, err
	}
	sr.Limit = limit
	say(stdout, "bench:   %.1f hashes/s in %d goroutines, %.2f ms CPU per hash\n",
		limit.PerSecond(), limit.Goroutines, ms(limit.CPUPerHash()))

	steps, err := runSteps(ctx, o, hash, bin, db, mailbox, backends, runID, stdout)
	sr.Steps = steps
	if err != nil {
		return sr, err
	}
	sr.Limit = MedianLimit(append([]HashLimit{limit}, stepLimits(steps)...))
	if o.FloodRounds > 0 && o.FloodConns > 0 && o.Flood > 0 && hash.Name == o.Hashes[0] {
		sr.FloodRounds, err = runFloodRounds(ctx, o, hash, bin, db, mailbox, backends, runID, stdout)
		if err != nil {
			return sr, err
		}
	}
	// The round trips are counted with a second server alone on the database: the first
	// one's dispatcher would share the outbox with it.
	if o.RoundTrips > 0 {
		rt, err := CountRoundTrips(ctx, o, hash, bin, db, mailbox, runID)
		if err != nil {
			return sr, err
		}
		sr.RoundTrips = &rt
		say(stdout, "bench:   SQL round trips: %.1f per registration, %.1f per full flow\n", rt.PerRegistration, rt.PerFlow)
	}
	return sr, nil
}

// startRunner starts a server with the hash parameters hash, the extra environment env
// and its log in o.Out/logs/logName, and returns a Runner of steps against it and the
// function that stops it.
func startRunner(ctx context.Context, o Options, hash HashParams, bin string, db *Database, mailbox *Mailbox,
	backends *Backends, logName string, env []string,
) (*Runner, func(), error) {
	srv, err := StartServer(ctx, ServerConfig{
		Bin: bin, DatabaseURL: db.URL, SMTPHost: mailbox.Host, SMTPPort: mailbox.Port, Hash: hash,
		LogPath: filepath.Join(o.Out, "logs", logName), Env: env,
	})
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		if err := srv.Stop(); err != nil {
			say(os.Stderr, "bench: stop server: %v\n", err)
		}
	}
	return &Runner{
		BaseURL: srv.BaseURL, Mailbox: mailbox, PID: srv.PID(), Backends: backends, Hash: hash,
		EmailTimeout: 15 * time.Second, DrainTimeout: 30 * time.Second,
	}, stop, nil
}

// runSteps starts a server with the hash parameters hash and runs every step against it.
func runSteps(ctx context.Context, o Options, hash HashParams, bin string, db *Database, mailbox *Mailbox,
	backends *Backends, runID string, stdout io.Writer,
) ([]StepResult, error) {
	runner, stop, err := startRunner(ctx, o, hash, bin, db, mailbox, backends, "server-"+hash.Name+".log", o.ServerEnv)
	if err != nil {
		return nil, err
	}
	defer stop()
	runner.Prefix = "b" + runID + "-" + hash.Name[:1]
	var specs []StepSpec
	for _, w := range o.Workloads {
		for _, c := range o.Conns {
			specs = append(specs, StepSpec{Name: fmt.Sprintf("%s-%d", w, c), Workload: w, Conns: c, Warmup: o.Warmup, Duration: o.Step})
		}
	}
	if o.FloodConns > 0 && o.Flood > 0 {
		specs = append(specs, StepSpec{Name: fmt.Sprintf("flood-%d", o.FloodConns), Workload: Flood, Conns: o.FloodConns, Warmup: o.Warmup, Duration: o.Flood})
	}
	if o.MeConns > 0 {
		for _, w := range []Workload{MeBasic, MeBearer} {
			specs = append(specs, StepSpec{Name: fmt.Sprintf("%s-%d", w, o.MeConns), Workload: w, Conns: o.MeConns, Warmup: o.Warmup, Duration: o.Step})
		}
	}
	if o.NoAuthConns > 0 {
		specs = append(specs, StepSpec{Name: fmt.Sprintf("unauthenticated-%d", o.NoAuthConns), Workload: Unauthenticated, Conns: o.NoAuthConns, Warmup: o.Warmup, Duration: o.Step})
	}
	var steps []StepResult
	for _, spec := range specs {
		say(stdout, "bench: %s hash: %s, %d connections, %s (+%s warm-up), load average %s\n",
			hash.Name, spec.Workload, spec.Conns, spec.Duration, spec.Warmup, LoadAverage())
		r, err := runner.RunBracketed(ctx, spec, o.Limit)
		if err != nil {
			return steps, fmt.Errorf("step %s: %w", spec.Name, err)
		}
		steps = append(steps, r)
		say(stdout, "bench:   %s\n", OneLine(r))
	}
	return steps, nil
}

// runFloodRounds runs o.FloodRounds rounds of register-only at 4 connections and the
// flood, back to back on a server of their own. The flood's goal is a ratio of the two
// rates; on a shared virtual machine whose speed moves by a tenth or more within minutes,
// a ratio of two steps run minutes apart measures the machine as much as the service, and
// pairs run back to back, each with its hash-bound limit, measure it less.
func runFloodRounds(ctx context.Context, o Options, hash HashParams, bin string, db *Database, mailbox *Mailbox,
	backends *Backends, runID string, stdout io.Writer,
) ([]StepResult, error) {
	runner, stop, err := startRunner(ctx, o, hash, bin, db, mailbox, backends, "server-"+hash.Name+"-flood-rounds.log", o.ServerEnv)
	if err != nil {
		return nil, err
	}
	defer stop()
	runner.Prefix = "b" + runID + "-fr"
	specs := []StepSpec{
		{Name: "register-4", Workload: RegisterOnly, Conns: 4, Warmup: o.Warmup, Duration: o.Step},
		{Name: fmt.Sprintf("flood-%d", o.FloodConns), Workload: Flood, Conns: o.FloodConns, Warmup: o.Warmup, Duration: o.Flood},
	}
	var out []StepResult
	for round := range o.FloodRounds {
		for _, spec := range specs {
			r, err := runner.RunBracketed(ctx, spec, o.Limit)
			if err != nil {
				return out, fmt.Errorf("flood round %d, %s: %w", round+1, spec.Name, err)
			}
			out = append(out, r)
			say(stdout, "bench: %s hash: flood round %d, %s: %s\n", hash.Name, round+1, spec.Name, OneLine(r))
		}
	}
	return out, nil
}

// Machine describes where the run happened.
type Machine struct {
	CPU, Kernel, Go, PostgreSQL, Commit, LoadBefore string
	CPUs, GOMAXPROCS                                int
	MemoryMiB                                       int
}

// DescribeMachine gathers the facts the report starts with.
func DescribeMachine(ctx context.Context, repo, adminURL string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), LoadBefore: LoadAverage()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int
		if _, err := fmt.Sscanf(string(raw), "MemTotal: %d kB", &kib); err == nil {
			m.MemoryMiB = kib / 1024
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	m.Commit = gitCommit(ctx, repo)
	m.PostgreSQL = postgresVersion(ctx, adminURL)
	return m
}

func gitCommit(ctx context.Context, repo string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--short=12", "HEAD").Output() //nolint:gosec // the repository the user named
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	status, err := exec.CommandContext(ctx, "git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output() //nolint:gosec // the repository the user named
	if err == nil && len(strings.TrimSpace(string(status))) > 0 {
		commit += " (with uncommitted changes)"
	}
	return commit
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func postgresVersion(ctx context.Context, adminURL string) string {
	v, err := queryString(ctx, adminURL, "SHOW server_version")
	if err != nil {
		return "unknown"
	}
	return v
}

// say prints progress; a failed write to the terminal is not worth stopping a run for.
func say(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
