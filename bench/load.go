package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Workload is what each connection of a step does in a loop.
type Workload string

// The workloads.
const (
	// RegisterOnly: POST /v1/users with a new address, again and again.
	RegisterOnly Workload = "register"
	// FullFlow: register, wait for the email, activate with its code, GET /v1/users/me.
	FullFlow Workload = "flow"
	// Flood is RegisterOnly with many connections, each a client of its own (its own
	// X-Forwarded-For, which the server trusts from 127.0.0.1): a herd of clients that
	// resend as soon as they are answered, whatever the answer (Retry-After ignored).
	// From one address the per-IP rate limit (off here) and the per-client budgets
	// would be measured instead (the busy-client case).
	Flood Workload = "flood"
	// Unauthenticated: GET /v1/users/me without an Authorization header, answered 401
	// without a password hash; what it costs is what any stranger can make the server
	// spend per request.
	Unauthenticated Workload = "unauthenticated"
	// MeBasic and MeBearer: GET /v1/users/me of an active account, with its password
	// (a hash per request) and with its session token (none), at the same concurrency.
	// Each connection registers, activates and (Bearer) signs in one account first.
	MeBasic  Workload = "me-basic"
	MeBearer Workload = "me-bearer"
	// Reset: POST /v1/password-reset for the connection's active account (set up first),
	// again and again: the first issues a code, the next ones fall inside the resend
	// interval (the same 202, no email); a 202 is a unit.
	Reset Workload = "reset"
	// Busy: each connection sets up an active account, then loops a registration of a
	// new address (the unit), a sign-in (POST /v1/sessions) and a password-reset request
	// of its account: the busy-client step runs it from one client (StepSpec.Client) and
	// from one client per connection, with the per-client budgets on.
	Busy Workload = "busy"
)

// HashesPerUnit is how many argon2id computations one completed unit costs the server.
func (w Workload) HashesPerUnit() int {
	switch w {
	case FullFlow:
		return 3 // the registration's hash, the activation's and /me's verifications
	case Unauthenticated, MeBearer, Reset:
		return 0
	case Busy:
		return 2 // the registration's hash and the sign-in's verification
	}
	return 1
}

// Routes are the request kinds a step records.
const (
	routeRegister = "POST /v1/users"
	routeActivate = "POST /v1/users/me/activation"
	routeMe       = "GET /v1/users/me"
	routeMeNoAuth = "GET /v1/users/me, no Authorization"
	routeMeBearer = "GET /v1/users/me, Bearer" //nolint:gosec // a route name, no credential
	routeSignIn   = "POST /v1/sessions"
	routeReset    = "POST /v1/password-reset"
	routeFlow     = "whole flow"
)

// StepSpec describes one step.
type StepSpec struct {
	Name     string
	Workload Workload
	Conns    int
	// Client, when set, is the one client every connection claims to be
	// (X-Forwarded-For); else the flood, busy and scale steps give each connection a
	// client of its own, and the others send from 127.0.0.1.
	Client string `json:",omitempty"`
	// OwnClients gives each connection a client of its own (X-Forwarded-For) for any
	// workload (the flood and busy steps always have them unless Client is set).
	OwnClients bool `json:",omitempty"`
	// Warmup runs the load without measuring it; Duration is the measured window.
	Warmup, Duration time.Duration
}

// StepResult is everything measured in one step.
type StepResult struct {
	Spec StepSpec
	Hash HashParams

	Window time.Duration
	// Units completed in the window: registrations answered 201 (register, flood) or
	// whole flows (flow).
	Units int
	// Requests completed in the window, by route, whatever their status.
	Requests map[string]int
	// Latency of the requests completed in the window, by route (and whole flows).
	Latency map[string]Summary
	// Status counts every response of the step, warm-up and drain included, by route.
	Status map[string]map[int]int
	// Unexpected counts responses other than the success of their route, by route and
	// status: the errors of the step.
	Unexpected map[string]map[int]int
	// TransportErrors counts requests that got no response (client timeout, reset).
	TransportErrors int
	// MissingRetryAfter counts 429 and 503 responses without Retry-After.
	MissingRetryAfter int
	// EmailTimeouts counts flows that gave up waiting for their email.
	EmailTimeouts int

	Mail Tally
	// DeliverySummary summarises Mail.Delivery.
	DeliverySummary Summary

	Server ProcDelta
	PGCPU  time.Duration
	// BenchCPU is this process's CPU in the window (load generator and SMTP server).
	BenchCPU time.Duration
	Machine  MachineCPU
	LoadAvg  string
	// Limit is the hash-bound limit measured just before the step.
	Limit HashLimit
	// SeqScans counts the sequential scans of each table (pg_stat_user_tables.seq_scan,
	// schema.table) during the step, where any were counted (busy and scale steps).
	SeqScans map[string]int64 `json:",omitempty"`
	// Writes are PostgreSQL's checkpoints and buffer writes during the step (writesKeys).
	Writes map[string]int64 `json:",omitempty"`
}

// ProcDelta is what the server process spent in the window, and its peak RSS in the step.
type ProcDelta struct {
	User, System time.Duration
	MinorFaults  uint64
	MajorFaults  uint64
	PeakRSSKiB   uint64
}

// Rate is units per second in the window.
func (r StepResult) Rate() float64 { return float64(r.Units) / r.Window.Seconds() }

// Runner runs steps against one server.
type Runner struct {
	BaseURL  string
	Mailbox  *Mailbox
	PID      int
	Backends *Backends
	Hash     HashParams
	// Prefix makes the addresses of this run unique.
	Prefix string
	// EmailTimeout bounds a flow's wait for its email; DrainTimeout the wait for the
	// step's last emails before they are counted as lost.
	EmailTimeout, DrainTimeout time.Duration
}

const password = "correct horse battery staple"

// recorder is one connection's record of a step; merged at the end.
type recorder struct {
	windowFrom, windowTo time.Time

	latency           map[string]Latencies
	requests          map[string]int
	status            map[string]map[int]int
	unexpected        map[string]map[int]int
	transportErrors   int
	missingRetryAfter int
	emailTimeouts     int
	units             int
	addresses         []string
}

func newRecorder(from, to time.Time) *recorder {
	return &recorder{
		windowFrom: from, windowTo: to,
		latency: map[string]Latencies{}, requests: map[string]int{},
		status: map[string]map[int]int{}, unexpected: map[string]map[int]int{},
	}
}

func (r *recorder) inWindow(t time.Time) bool { return !t.Before(r.windowFrom) && t.Before(r.windowTo) }

// RunBracketed runs one step between two measurements of the hash-bound limit, each of
// d: on a shared machine the CPU the run gets changes from one minute to the next, and
// the step's ratios are fair only against a limit measured under the same load.
func (rn *Runner) RunBracketed(ctx context.Context, spec StepSpec, d time.Duration) (StepResult, error) {
	before, err := MeasureHashLimit(ctx, rn.Hash, d)
	if err != nil {
		return StepResult{}, err
	}
	r, err := rn.Run(ctx, spec)
	if err != nil {
		return r, err
	}
	after, err := MeasureHashLimit(ctx, rn.Hash, d)
	if err != nil {
		return r, err
	}
	r.Limit = before.Plus(after)
	return r, nil
}

// Run runs one step and measures it.
func (rn *Runner) Run(ctx context.Context, spec StepSpec) (StepResult, error) {
	client := newClient(spec.Conns)
	defer client.CloseIdleConnections()

	if err := ResetPeakRSS(rn.PID); err != nil {
		return StepResult{}, fmt.Errorf("reset peak RSS: %w", err)
	}
	start := time.Now()
	from := start.Add(spec.Warmup)
	to := from.Add(spec.Duration)

	var stop atomic.Bool
	recs := make([]*recorder, spec.Conns)
	var wg sync.WaitGroup
	for i := range spec.Conns {
		recs[i] = newRecorder(from, to)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conn{rn: rn, client: client, rec: recs[i], id: i, step: spec.Name}
			switch {
			case spec.Client != "":
				c.forwardedFor = spec.Client
			case spec.Workload == Flood || spec.Workload == Busy || spec.OwnClients:
				c.forwardedFor = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
			}
			for n := 0; !stop.Load() && ctx.Err() == nil; n++ {
				switch spec.Workload {
				case FullFlow:
					c.flow(ctx, n)
				case Unauthenticated:
					c.unauthenticated(ctx)
				case MeBasic, MeBearer:
					if !c.me(ctx, spec.Workload == MeBearer) {
						stop.Store(true) // the account could not be set up: a bug, reported as errors
					}
				case Reset, Busy:
					if !c.busy(ctx, n, spec.Workload == Busy) {
						stop.Store(true) // the account could not be set up: a bug, reported as errors
					}
				default:
					c.register(ctx, n)
				}
			}
		}()
	}

	// Sample at the window's edges.
	sleepUntil(ctx, from)
	p0, err0 := ReadProc(rn.PID)
	pg0 := rn.Backends.CPU(ctx)
	m0, err1 := ReadMachineCPU()
	b0, err4 := rusage()
	sleepUntil(ctx, to)
	p1, err2 := ReadProc(rn.PID)
	pg1 := rn.Backends.CPU(ctx)
	m1, err3 := ReadMachineCPU()
	b1, err5 := rusage()
	load := LoadAverage()
	stop.Store(true)
	wg.Wait()
	if ctx.Err() != nil {
		return StepResult{}, ctx.Err()
	}
	for _, err := range []error{err0, err1, err2, err3, err4, err5} {
		if err != nil {
			return StepResult{}, err
		}
	}
	peak, err := ReadProc(rn.PID)
	if err != nil {
		return StepResult{}, err
	}

	res := StepResult{
		Spec: spec, Hash: rn.Hash, Window: spec.Duration,
		Requests: map[string]int{}, Latency: map[string]Summary{},
		Status: map[string]map[int]int{}, Unexpected: map[string]map[int]int{},
		Server: ProcDelta{
			User: p1.User - p0.User, System: p1.System - p0.System,
			MinorFaults: p1.MinorFaults - p0.MinorFaults, MajorFaults: p1.MajorFaults - p0.MajorFaults,
			PeakRSSKiB: peak.PeakRSSKiB,
		},
		PGCPU:    BackendCPUDelta(pg0, pg1),
		BenchCPU: cpuOf(b1) - cpuOf(b0),
		Machine:  MachineCPU{Busy: m1.Busy - m0.Busy, Total: m1.Total - m0.Total},
		LoadAvg:  load,
	}
	latency := map[string]Latencies{}
	var addresses []string
	for _, r := range recs {
		res.Units += r.units
		res.TransportErrors += r.transportErrors
		res.MissingRetryAfter += r.missingRetryAfter
		res.EmailTimeouts += r.emailTimeouts
		for route, n := range r.requests {
			res.Requests[route] += n
		}
		for route, l := range r.latency {
			latency[route] = append(latency[route], l...)
		}
		mergeCounts(res.Status, r.status)
		mergeCounts(res.Unexpected, r.unexpected)
		addresses = append(addresses, r.addresses...)
	}
	for route, l := range latency {
		res.Latency[route] = l.Summarize()
	}

	// The step's last emails: wait for them before calling any lost.
	deadline := time.Now().Add(rn.DrainTimeout)
	for rn.Mailbox.Pending(addresses) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	res.Mail = rn.Mailbox.Tally(addresses, from, to)
	res.DeliverySummary = res.Mail.Delivery.Summarize()
	return res, nil
}

func mergeCounts(dst, src map[string]map[int]int) {
	for route, byStatus := range src {
		if dst[route] == nil {
			dst[route] = map[int]int{}
		}
		for status, n := range byStatus {
			dst[route][status] += n
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// conn is one connection's loop of a step.
type conn struct {
	rn     *Runner
	client *http.Client
	rec    *recorder
	id     int
	step   string
	// account and token are the active account of a me step and its session (Bearer).
	account, token string
	// forwardedFor, when set, is the client this connection claims to be (X-Forwarded-For).
	forwardedFor string
}

func (c *conn) address(n int) string {
	return fmt.Sprintf("%s-%s-c%d-%d@example.com", c.rn.Prefix, c.step, c.id, n)
}

// register registers a new address and reports whether it answered 201.
func (c *conn) register(ctx context.Context, n int) (email string, code <-chan string, ok bool) {
	email = c.address(n)
	code = c.rn.Mailbox.Expect(email)
	c.rec.addresses = append(c.rec.addresses, email)
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	status, _, at := c.do(ctx, routeRegister, http.MethodPost, "/v1/users", "", body, http.StatusCreated)
	if status != http.StatusCreated {
		c.rn.Mailbox.Forget(email)
		return email, code, false
	}
	c.rn.Mailbox.Accepted(email, at)
	if c.rec.inWindow(at) {
		c.rec.units++
	}
	return email, code, true
}

// unauthenticated asks for /v1/users/me without credentials; a 401 is a unit.
func (c *conn) unauthenticated(ctx context.Context) {
	status, _, at := c.do(ctx, routeMeNoAuth, http.MethodGet, "/v1/users/me", "", nil, http.StatusUnauthorized)
	if status == http.StatusUnauthorized && c.rec.inWindow(at) {
		c.rec.units++
	}
}

// me asks for the connection's account with its password (Basic) or its session token
// (Bearer), setting the account up first; a 200 is a unit. It reports false when the
// account could not be set up.
func (c *conn) me(ctx context.Context, bearer bool) bool {
	if c.account == "" {
		email, ok := c.activated(ctx, 0)
		if !ok {
			return false
		}
		if bearer {
			status, resp, _ := c.do(ctx, routeSignIn, http.MethodPost, "/v1/sessions", email, nil, http.StatusCreated)
			var session struct{ Token string }
			if status != http.StatusCreated || json.Unmarshal(resp, &session) != nil || session.Token == "" {
				return false
			}
			c.token = session.Token
		}
		c.account = email
	}
	route, user := routeMe, c.account
	if bearer {
		route, user = routeMeBearer, ""
	}
	status, _, at := c.do(ctx, route, http.MethodGet, "/v1/users/me", user, nil, http.StatusOK)
	if status == http.StatusOK && c.rec.inWindow(at) {
		c.rec.units++
	}
	return true
}

// busy sets the connection's active account up (once), then, with register, registers a
// new address (a 201 is the unit) and signs in to its account, and asks for a password
// reset of its account (without register, a 202 is the unit). It reports false when the
// account could not be set up.
func (c *conn) busy(ctx context.Context, n int, register bool) bool {
	if c.account == "" {
		email, ok := c.activated(ctx, 0)
		if !ok {
			return false
		}
		c.account = email
	}
	if register {
		c.register(ctx, n+1)
		c.do(ctx, routeSignIn, http.MethodPost, "/v1/sessions", c.account, nil, http.StatusCreated)
	}
	body, _ := json.Marshal(map[string]string{"email": c.account})
	status, _, at := c.do(ctx, routeReset, http.MethodPost, "/v1/password-reset", "", body, http.StatusAccepted)
	if !register && status == http.StatusAccepted && c.rec.inWindow(at) {
		c.rec.units++
	}
	return true
}

// activated registers a new address, waits for its email and activates it with the code:
// the first steps of a flow, and the set-up of a me step. The registration is no unit of
// its own (register counts a 201 as one).
func (c *conn) activated(ctx context.Context, n int) (email string, ok bool) {
	units := c.rec.units
	email, code, ok := c.register(ctx, n)
	c.rec.units = units
	if !ok {
		return "", false
	}
	var value string
	timer := time.NewTimer(c.rn.EmailTimeout)
	defer timer.Stop()
	select {
	case value = <-code:
	case <-timer.C:
		c.rec.emailTimeouts++
		return "", false
	case <-ctx.Done():
		return "", false
	}
	body, _ := json.Marshal(map[string]string{"code": value})
	if status, _, _ := c.do(ctx, routeActivate, http.MethodPost, "/v1/users/me/activation", email, body, http.StatusOK); status != http.StatusOK {
		return "", false
	}
	return email, true
}

// flow runs register → email → activate → /me.
func (c *conn) flow(ctx context.Context, n int) {
	started := time.Now()
	email, ok := c.activated(ctx, n)
	if !ok {
		return
	}
	status, resp, at := c.do(ctx, routeMe, http.MethodGet, "/v1/users/me", email, nil, http.StatusOK)
	if status != http.StatusOK || !bytes.Contains(resp, []byte(`"status":"active"`)) {
		return
	}
	if c.rec.inWindow(at) {
		c.rec.units++
		c.rec.requests[routeFlow]++
		c.rec.latency[routeFlow] = append(c.rec.latency[routeFlow], at.Sub(started))
	}
}

// do sends one request and records it; it returns the status (0 without a response), the
// body and when the response was read.
func (c *conn) do(ctx context.Context, route, method, path, user string, body []byte, want int) (int, []byte, time.Time) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.rn.BaseURL+path, rd)
	if err != nil {
		panic(err) // a bug of this tool: the URL is built here
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", c.forwardedFor)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	} else if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.rec.transportErrors++
		}
		return 0, nil, time.Now()
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	at := time.Now()
	if err != nil {
		c.rec.transportErrors++
		return 0, nil, at
	}
	status := resp.StatusCode
	count(c.rec.status, route, status)
	if status != want {
		count(c.rec.unexpected, route, status)
	}
	if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && !validRetryAfter(resp.Header.Get("Retry-After")) {
		c.rec.missingRetryAfter++
	}
	if c.rec.inWindow(at) {
		c.rec.requests[route]++
		c.rec.latency[route] = append(c.rec.latency[route], at.Sub(start))
	}
	return status, data, at
}

func count(m map[string]map[int]int, route string, status int) {
	if m[route] == nil {
		m[route] = map[int]int{}
	}
	m[route][status]++
}

func validRetryAfter(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n >= 1
}

// newClient returns a client that keeps up to conns connections to the server.
func newClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		},
		Timeout: 60 * time.Second,
	}
}
