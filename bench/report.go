package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Derived are the figures of a step computed against its setting's hash-bound limit.
type Derived struct {
	Rate float64
	// Limit is the hash-bound limit in units per second: hashes/s ÷ hashes per unit.
	Limit float64
	// OfLimit is Rate ÷ Limit.
	OfLimit float64
	// CPUPerUnit is the server's CPU (user+sys) per unit; User and System split it.
	CPUPerUnit, UserPerUnit, SysPerUnit time.Duration
	// HashCPUPerUnit is what the unit's hashes cost a plain program.
	HashCPUPerUnit time.Duration
	// Efficiency is HashCPUPerUnit ÷ CPUPerUnit.
	Efficiency    float64
	FaultsPerUnit float64
	PGCPUPerUnit  time.Duration
	// MachineBusy is the share of all CPUs busy in the window (every process).
	MachineBusy float64
	// OtherCores is the CPU of everything but the server, its PostgreSQL backends and
	// this tool, in cores: colleagues' work on a shared machine.
	OtherCores float64
	// Errors counts unexpected responses, responses missing, emails lost or doubled
	// and flows that gave up on their email.
	Errors int
}

// Derive computes the figures of r against the hash-bound limit measured before it.
func Derive(r StepResult) Derived {
	limit := r.Limit
	d := Derived{Rate: r.Rate()}
	hashes := r.Spec.Workload.HashesPerUnit()
	if hashes > 0 { // a unit without a hash has no hash-bound limit
		d.Limit = limit.PerSecond() / float64(hashes)
		d.OfLimit = Ratio(d.Rate, d.Limit)
	}
	if r.Units > 0 {
		n := time.Duration(r.Units)
		d.CPUPerUnit = (r.Server.User + r.Server.System) / n
		d.UserPerUnit = r.Server.User / n
		d.SysPerUnit = r.Server.System / n
		d.PGCPUPerUnit = r.PGCPU / n
	}
	d.HashCPUPerUnit = limit.CPUPerHash() * time.Duration(hashes)
	d.Efficiency = Ratio(float64(d.HashCPUPerUnit), float64(d.CPUPerUnit))
	d.FaultsPerUnit = PerUnit(float64(r.Server.MinorFaults+r.Server.MajorFaults), r.Units)
	d.MachineBusy = Ratio(float64(r.Machine.Busy), float64(r.Machine.Total))
	other := r.Machine.Busy - r.Server.User - r.Server.System - r.PGCPU - r.BenchCPU
	d.OtherCores = max(0, other.Seconds()/r.Window.Seconds())
	for _, byStatus := range r.Unexpected {
		for _, n := range byStatus {
			d.Errors += n
		}
	}
	d.Errors += r.TransportErrors + r.Mail.Lost + r.Mail.Duplicated + r.EmailTimeouts
	return d
}

// OneLine is the progress line of a finished step.
func OneLine(r StepResult) string {
	d := Derive(r)
	main := mainRoute(r.Spec.Workload)
	unit := unitName(r.Spec.Workload)
	return fmt.Sprintf("%.1f %s/s (%.2f of the limit %.1f/s), server CPU %.2f ms per %s (hash %.2f ms: efficiency %.2f), %.0f page faults per %s, %s p99 %.0f ms, errors %d, emails lost %d duplicated %d, peak RSS %d MiB, other load %.2f cores",
		d.Rate, unit, d.OfLimit, d.Limit, ms(d.CPUPerUnit), unit, ms(d.HashCPUPerUnit), d.Efficiency, d.FaultsPerUnit, unit,
		main, ms(r.Latency[main].P99), d.Errors, r.Mail.Lost, r.Mail.Duplicated, r.Server.PeakRSSKiB/1024, d.OtherCores)
}

func unitName(w Workload) string {
	switch w {
	case FullFlow:
		return "flow"
	case Unauthenticated:
		return "401"
	case MeBasic, MeBearer:
		return "request"
	case Reset:
		return "reset request"
	}
	return "registration"
}

// Report renders the results as Markdown.
func Report(res Results) string {
	var b strings.Builder
	m := res.Machine
	title := "identity benchmark"
	if res.Label != "" {
		title += ": " + res.Label
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "- machine: %s, %d CPUs (GOMAXPROCS %d), %d MiB, Linux %s\n", m.CPU, m.CPUs, m.GOMAXPROCS, m.MemoryMiB, m.Kernel)
	fmt.Fprintf(&b, "- software: %s, PostgreSQL %s; load generator, PostgreSQL and SMTP server on the same machine\n", m.Go, m.PostgreSQL)
	fmt.Fprintf(&b, "- commit %s; started %s; took %s\n", m.Commit, res.Started.UTC().Format(time.RFC3339), res.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) before: %s; after: %s\n", m.LoadBefore, res.LoadAfter)
	o := res.Options
	fmt.Fprintf(&b, "- steps: %s measured after %s of warm-up each; flood %d connections for %s, each a client of its own (X-Forwarded-For); closed loop (each connection sends its next request when the last one answered, a 429 or 503 included: Retry-After is ignored)\n",
		o.Step, o.Warmup, o.FloodConns, o.Flood)
	if len(o.ServerEnv) > 0 {
		fmt.Fprintf(&b, "- server environment added: `%s`\n", strings.Join(o.ServerEnv, " "))
	}
	b.WriteString("- server: RATE_LIMIT_PER_IP=0, CODES_PER_CLIENT_PER_DAY=0 and ACTIVATION_GUESSES_PER_CLIENT_PER_DAY=0 (the load generator is one client), every other variable at its default\n")
	for _, s := range res.Settings {
		writeSetting(&b, s)
	}
	return b.String()
}

func writeSetting(b *strings.Builder, s SettingResults) {
	l := s.Limit
	fmt.Fprintf(b, "\n## %s hash: argon2id %s\n\n", s.Hash.Name, s.Hash)
	fmt.Fprintf(b, "Hash-bound limit, measured in this run around each step (the median): %.1f hashes/s in %d goroutines, %.3f ms CPU per hash, %.1f minor faults per hash. "+
		"Limit: %.1f registrations/s, %.1f full flows/s (3 hashes each).\n\n",
		l.PerSecond(), l.Goroutines, ms(l.CPUPerHash()), PerUnit(float64(l.MinorFaults), l.Hashes), l.PerSecond(), l.PerSecond()/3)

	b.WriteString("| step | conns | units/s | limit | ÷ limit | requests/s by route | server CPU per unit (user + sys) | hash CPU per unit | efficiency | page faults per unit | peak RSS | PostgreSQL CPU per unit | other load (cores) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range s.Steps {
		d := Derive(r)
		fmt.Fprintf(b, "| %s | %d | %.1f | %.1f | %.2f | %s | %.2f ms (%.2f + %.2f) | %.2f ms | %.2f | %.0f | %d MiB | %.2f ms | %.2f |\n",
			r.Spec.Workload, r.Spec.Conns, d.Rate, d.Limit, d.OfLimit, routeRates(r), ms(d.CPUPerUnit), ms(d.UserPerUnit), ms(d.SysPerUnit),
			ms(d.HashCPUPerUnit), d.Efficiency, d.FaultsPerUnit, r.Server.PeakRSSKiB/1024, ms(d.PGCPUPerUnit), d.OtherCores)
	}
	b.WriteString("\nUnits: registrations answered 201 (register, flood), whole flows (flow) 401s to GET /v1/users/me without an Authorization header (unauthenticated: no hash, no limit), or 200s to GET /v1/users/me of an active account (me-basic: one hash each; me-bearer: a session token, no hash). Limit: the hash-bound limit in units/s, argon2id alone in this process in as many goroutines as CPUs, measured just before and just after the step (hashes/s ÷ hashes per unit). " +
		"Hash CPU per unit: what the unit's hashes cost that plain program; efficiency: hash CPU ÷ server CPU per unit. " +
		"Other load: CPU used by everything but the server, its PostgreSQL backends and the load generator, in cores (colleagues' work on a shared machine).\n")
	for _, r := range s.Steps {
		if r.Spec.Workload == Unauthenticated {
			d := Derive(r)
			fmt.Fprintf(b, "401 without credentials: %.3f ms of server CPU per request (%.3f of one hash's %.3f ms), %.0f requests/s at %d connections.\n",
				ms(d.CPUPerUnit), Ratio(float64(d.CPUPerUnit), float64(l.CPUPerHash())), ms(l.CPUPerHash()), d.Rate, r.Spec.Conns)
		}
	}
	var basic, bearer *StepResult
	for i, r := range s.Steps {
		switch r.Spec.Workload {
		case MeBasic:
			basic = &s.Steps[i]
		case MeBearer:
			bearer = &s.Steps[i]
		}
	}
	if basic != nil && bearer != nil {
		db, dr := Derive(*basic), Derive(*bearer)
		fmt.Fprintf(b, "GET /v1/users/me at %d connections: Basic %.1f requests/s at %.3f ms of server CPU each; Bearer %.1f requests/s at %.3f ms each: "+
			"Bearer costs %.3f of Basic's CPU and serves %.1f× its rate.\n",
			basic.Spec.Conns, db.Rate, ms(db.CPUPerUnit), dr.Rate, ms(dr.CPUPerUnit),
			Ratio(float64(dr.CPUPerUnit), float64(db.CPUPerUnit)), Ratio(dr.Rate, db.Rate))
	}
	if flood, base, ok := floodAndBase(s.Steps); ok {
		fmt.Fprintf(b, "Flood goodput: %.1f registrations/s = %.2f × register-only at %d connections (%.1f/s) (goal ≥ 0.9); %s; peak RSS %d MiB (bound 256 MiB).\n",
			flood.Rate(), Ratio(flood.Rate(), base.Rate()), base.Spec.Conns, base.Rate(), refusals(flood), flood.Server.PeakRSSKiB/1024)
	}

	if len(s.FloodRounds) >= 2 {
		b.WriteString(floodRoundsReport(s.FloodRounds))
	}

	b.WriteString("\nLatency in ms (requests completed in the measured window; email: 201 → SMTP receipt):\n\n")
	b.WriteString("| step | conns | route | n | p50 | p95 | p99 | max |\n|---|---:|---|---:|---:|---:|---:|---:|\n")
	for _, r := range s.Steps {
		for _, route := range []string{routeRegister, routeActivate, routeMe, routeMeBearer, routeMeNoAuth, routeFlow} {
			if l, ok := r.Latency[route]; ok {
				fmt.Fprintf(b, "| %s | %d | %s | %d | %.1f | %.1f | %.1f | %.1f |\n", r.Spec.Workload, r.Spec.Conns, route, l.N, ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max))
			}
		}
		if e := r.DeliverySummary; e.N > 0 {
			fmt.Fprintf(b, "| %s | %d | email delivery | %d | %.1f | %.1f | %.1f | %.1f |\n", r.Spec.Workload, r.Spec.Conns, e.N, ms(e.P50), ms(e.P95), ms(e.P99), ms(e.Max))
		}
	}

	b.WriteString("\nResponses and emails (the whole step, warm-up and drain included):\n\n")
	b.WriteString("| step | conns | responses by status | errors | no response | 429/503 without Retry-After | emails expected | lost | duplicated | flows without email |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range s.Steps {
		d := Derive(r)
		fmt.Fprintf(b, "| %s | %d | %s | %d | %d | %d | %d | %d | %d | %d |\n", r.Spec.Workload, r.Spec.Conns, statusCounts(r.Status),
			d.Errors, r.TransportErrors, r.MissingRetryAfter, r.Mail.Expected, r.Mail.Lost, r.Mail.Duplicated, r.EmailTimeouts)
	}
	if s.Extra != nil {
		writeExtra(b, *s.Extra)
	}
	if rt := s.RoundTrips; rt != nil {
		fmt.Fprintf(b, "\nSQL round trips (%d registrations, then %d full flows, one at a time through a counting proxy; the dispatch of their emails included): "+
			"**%.1f per registration, %.1f per full flow**.\n\n", rt.N, rt.N, rt.PerRegistration, rt.PerFlow)
		b.WriteString("| statement | per registration | per full flow |\n|---|---:|---:|\n")
		flow := map[string]float64{}
		for _, c := range rt.Flow {
			flow[c.Statement] = c.PerUnit
		}
		seen := map[string]bool{}
		for _, c := range rt.Registration {
			seen[c.Statement] = true
			fmt.Fprintf(b, "| `%s` | %.2f | %.2f |\n", c.Statement, c.PerUnit, flow[c.Statement])
		}
		for _, c := range rt.Flow {
			if !seen[c.Statement] {
				fmt.Fprintf(b, "| `%s` | 0 | %.2f |\n", c.Statement, c.PerUnit)
			}
		}
	}
}

// floodRoundsReport renders the alternating rounds of register-only and the flood: each
// round's ratio of the two rates, as measured and each rate ÷ the hash-bound limit around
// its step, and the medians.
func floodRoundsReport(steps []StepResult) string {
	var b strings.Builder
	b.WriteString("\nThe flood against register-only at 4 connections in alternating rounds, each pair back to back on one server " +
		"(the ratio of the rates, and of the rates each ÷ the hash-bound limit measured around its step):\n\n")
	b.WriteString("| round | register-only, units/s | ÷ limit | flood, units/s | ÷ limit | flood ÷ register-only | the same ÷ limit | refusals without Retry-After | peak RSS |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var raw, normalized []float64
	for i := 0; i+1 < len(steps); i += 2 {
		base, flood := steps[i], steps[i+1]
		db, df := Derive(base), Derive(flood)
		r, n := Ratio(flood.Rate(), base.Rate()), Ratio(df.OfLimit, db.OfLimit)
		raw, normalized = append(raw, r), append(normalized, n)
		fmt.Fprintf(&b, "| %d | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f | %d | %d MiB |\n", i/2+1, base.Rate(), db.OfLimit,
			flood.Rate(), df.OfLimit, r, n, flood.MissingRetryAfter, flood.Server.PeakRSSKiB/1024)
	}
	fmt.Fprintf(&b, "\nFlood ÷ register-only over %d rounds: median **%.2f** as measured, **%.2f** ÷ limit (goal ≥ 0.9).\n",
		len(raw), median(raw), median(normalized))
	return b.String()
}

// median is the middle of xs (the mean of the two middle ones for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// floodAndBase finds the flood and the register-only step it is compared with: 4
// connections when there is one, else the fastest register-only step.
func floodAndBase(steps []StepResult) (flood, base StepResult, ok bool) {
	var haveFlood, haveBase bool
	for _, r := range steps {
		switch r.Spec.Workload {
		case Flood:
			flood, haveFlood = r, true
		case RegisterOnly:
			better := r.Spec.Conns == 4 || base.Spec.Conns != 4 && r.Rate() > base.Rate()
			if !haveBase || better {
				base, haveBase = r, true
			}
		}
	}
	return flood, base, haveFlood && haveBase
}

func routeRates(r StepResult) string {
	var parts []string
	for _, route := range []string{routeRegister, routeActivate, routeMe, routeMeBearer, routeMeNoAuth, routeSignIn, routeReset} {
		if n, ok := r.Requests[route]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", shortRoute(route), float64(n)/r.Window.Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

func shortRoute(route string) string {
	switch route {
	case routeRegister:
		return "register"
	case routeActivate:
		return "activate"
	case routeMe:
		return "me"
	case routeMeNoAuth:
		return "me without credentials"
	case routeMeBearer:
		return "me (Bearer)"
	case routeSignIn:
		return "sign-in"
	case routeReset:
		return "reset request"
	}
	return route
}

func statusCounts(m map[string]map[int]int) string {
	var parts []string
	for _, route := range []string{routeRegister, routeActivate, routeMe, routeMeBearer, routeMeNoAuth, routeSignIn, routeReset} {
		byStatus := m[route]
		var statuses []int
		for s := range byStatus {
			statuses = append(statuses, s)
		}
		slices.Sort(statuses)
		for _, s := range statuses {
			parts = append(parts, fmt.Sprintf("%s %d×%d", shortRoute(route), s, byStatus[s]))
		}
	}
	return strings.Join(parts, ", ")
}

// refusals sums a step's 429 and 503 responses and how many lacked a Retry-After.
func refusals(r StepResult) string {
	var n429, n503 int
	for _, byStatus := range r.Status {
		n429 += byStatus[429]
		n503 += byStatus[503]
	}
	return fmt.Sprintf("refused: %d × 503 and %d × 429, %d of them without a valid Retry-After", n503, n429, r.MissingRetryAfter)
}

// busyRoutes are the routes the busy-client steps compare.
var busyRoutes = []string{routeRegister, routeSignIn, routeReset}

// busyPair finds the busy-client steps from many clients and from one.
func busyPair(steps []StepResult) (many, one StepResult, ok bool) {
	var haveMany, haveOne bool
	for _, r := range steps {
		if r.Spec.Workload != Busy {
			continue
		}
		if r.Spec.Client != "" {
			one, haveOne = r, true
		} else {
			many, haveMany = r, true
		}
	}
	return many, one, haveMany && haveOne
}

func perSecond(r StepResult, route string) float64 {
	return float64(r.Requests[route]) / r.Window.Seconds()
}

// busyRatios is the one-line comparison of the busy-client steps, route by route.
func busyRatios(steps []StepResult) string {
	many, one, ok := busyPair(steps)
	if !ok {
		return "no pair of busy-client steps"
	}
	var parts []string
	for _, route := range busyRoutes {
		parts = append(parts, fmt.Sprintf("%s %.2f (%.1f/s vs %.1f/s)", shortRoute(route),
			Ratio(perSecond(one, route), perSecond(many, route)), perSecond(one, route), perSecond(many, route)))
	}
	return strings.Join(parts, ", ") + " (goal ≥ 0.8)"
}

// scaleGoal is the share of its empty-database rate a route keeps on the filled database.
func scaleGoal(w Workload) float64 {
	if w == MeBearer {
		return 0.5
	}
	return 0.8
}

// scaleRatios is the one-line comparison of the scale step's route steps.
func scaleRatios(empty, full []StepResult) string {
	var parts []string
	for _, f := range full {
		for _, e := range empty {
			if e.Spec.Workload == f.Spec.Workload {
				parts = append(parts, fmt.Sprintf("%s %.2f (goal ≥ %.1f)", f.Spec.Workload, Ratio(f.Rate(), e.Rate()), scaleGoal(f.Spec.Workload)))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// scansLine lists the tables scanned sequentially during a step.
func scansLine(scans map[string]int64) string {
	if len(scans) == 0 {
		return "no sequential scan"
	}
	var tables []string
	for t := range scans {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	var parts []string
	for _, t := range tables {
		parts = append(parts, fmt.Sprintf("%s %d", t, scans[t]))
	}
	return "sequential scans: " + strings.Join(parts, ", ")
}

func writeExtra(b *strings.Builder, x Extra) {
	if many, one, ok := busyPair(x.Busy); ok {
		fmt.Fprintf(b, "\n### A busy client\n\nOne client (%s, `X-Forwarded-For`) that spent %d units of each per-client budget in the last 24 h "+
			"(codes and wrong guesses, in `identity.client_budgets`), the budgets on and raised (`%s`), against one client per connection; "+
			"%d connections each loop a registration, a sign-in and a password-reset request of their account. Goal: one ÷ many ≥ 0.8.\n\n",
			one.Spec.Client, x.BusyUnits, strings.Join(budgetsRaised, " "), one.Spec.Conns)
		b.WriteString("| route | many clients, requests/s | one client, requests/s | one ÷ many | p99 many | p99 one |\n|---|---:|---:|---:|---:|---:|\n")
		for _, route := range busyRoutes {
			fmt.Fprintf(b, "| %s | %.1f | %.1f | %.2f | %.1f ms | %.1f ms |\n", shortRoute(route), perSecond(many, route), perSecond(one, route),
				Ratio(perSecond(one, route), perSecond(many, route)), ms(many.Latency[route].P99), ms(one.Latency[route].P99))
		}
		fmt.Fprintf(b, "\nResponses: many clients %s; one client %s. During the steps, many clients: %s; one client: %s.\n",
			statusCounts(many.Status), statusCounts(one.Status), scansLine(many.SeqScans), scansLine(one.SeqScans))
	}
	if f := x.Fill; f != nil && len(x.Full) > 0 {
		fmt.Fprintf(b, "\n### Big tables\n\nThe route steps at %d connections (a client each; per-client budgets on and raised) on the database as the earlier steps left it, "+
			"then again once it was filled with SQL to %.3g × issue 24's sizes (%s in %s, then `VACUUM ANALYZE` in %s, then `CHECKPOINT` and the wait for autovacuum in %s). "+
			"Goal: filled ÷ empty ≥ 0.8 (Bearer ≥ 0.5), and no sequential scan. The last column is what PostgreSQL wrote during the filled step (`pg_stat_bgwriter`: checkpoints begun, buffers written by the checkpointer, the background writer, the backends).\n\n",
			x.Full[0].Spec.Conns, f.Scale, fillRows(*f), f.Took.Round(time.Second), f.Vacuum.Round(time.Second), f.Settle.Round(time.Second))
		b.WriteString("| step | empty, units/s | filled, units/s | filled ÷ empty | goal | p99 empty | p99 filled | sequential scans while filled | PostgreSQL's writes while filled |\n|---|---:|---:|---:|---:|---:|---:|---|---|\n")
		for _, full := range x.Full {
			for _, empty := range x.Empty {
				if empty.Spec.Workload != full.Spec.Workload {
					continue
				}
				route := mainRoute(full.Spec.Workload)
				fmt.Fprintf(b, "| %s | %.1f | %.1f | %.2f | %.1f | %.1f ms | %.1f ms | %s | %s |\n", full.Spec.Workload, empty.Rate(), full.Rate(),
					Ratio(full.Rate(), empty.Rate()), scaleGoal(full.Spec.Workload), ms(empty.Latency[route].P99), ms(full.Latency[route].P99),
					strings.TrimPrefix(scansLine(full.SeqScans), "sequential scans: "), writesLine(full.Writes))
			}
		}
		var tables []string
		for t := range f.SizesMiB {
			tables = append(tables, t)
		}
		slices.Sort(tables)
		var sizes []string
		for _, t := range tables {
			sizes = append(sizes, fmt.Sprintf("%s %.0f MiB", t, f.SizesMiB[t]))
		}
		fmt.Fprintf(b, "\nTable sizes after the fill (with indexes): %s.\n", strings.Join(sizes, ", "))
	}
}

// fillRows lists the rows the fill inserted, by table.
func fillRows(f Fill) string {
	var tables []string
	for t := range f.Rows {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	var parts []string
	for _, t := range tables {
		parts = append(parts, fmt.Sprintf("%s %d", t, f.Rows[t]))
	}
	return strings.Join(parts, ", ")
}

// mainRoute is the route a step's units are answers of.
func mainRoute(w Workload) string {
	switch w {
	case FullFlow:
		return routeFlow
	case Unauthenticated:
		return routeMeNoAuth
	case MeBasic:
		return routeMe
	case MeBearer:
		return routeMeBearer
	case Reset:
		return routeReset
	}
	return routeRegister
}
