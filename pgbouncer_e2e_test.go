package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/acme/identity/db"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail/smtptest"
	"github.com/acme/identity/platform/metrics"
	"github.com/acme/identity/platform/outbox"
	"github.com/acme/identity/platform/poll"
)

// pgBouncerPoolSize is the server connections PgBouncer opens to PostgreSQL: far fewer
// than the three replicas' pools (DATABASE_MAX_CONNS, 10 each) and their LISTEN and
// migration connections.
const pgBouncerPoolSize = 5

// TestThreeReplicasThroughPgBouncer runs the service the way a team scales it out: several
// replicas, one PostgreSQL, PgBouncer in transaction pooling mode between them (Debian's
// 1.18: no prepared statements in that mode). Two replicas migrate an empty database at
// once through the pooler; then three replicas serve through it (one LISTENs on a direct
// connection, DATABASE_DIRECT_URL; two have only the pooler, where polling carries
// delivery) while registrations, concurrent duplicates, activations and emails go through
// all three at once: every 201 is persisted, every email reaches the SMTP server exactly
// once, and nothing answers 5xx. It logs PgBouncer's own counts of transactions and round
// trips per registration (docs/scaling.md).
//
// It is skipped only when pgbouncer is not installed on a developer's machine; in CI
// (CI set, as .ci/run runs, which installs pgbouncer) a missing pgbouncer fails it.
func TestThreeReplicasThroughPgBouncer(t *testing.T) {
	bin, err := exec.LookPath("pgbouncer")
	if _, serr := os.Stat("/usr/sbin/pgbouncer"); err != nil && serr == nil {
		bin, err = "/usr/sbin/pgbouncer", nil // Debian's place, off a non-root PATH
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pgbouncer is not installed, and CI runs this test (.ci/run installs it: apt-get install -y pgbouncer): %v", err)
		}
		t.Skip("pgbouncer is not installed (apt-get install -y pgbouncer); CI never skips this test")
	}
	t.Parallel()
	ctx := context.Background()
	bouncer := startPgBouncer(t, bin)
	dbName := emptyDatabase(t)
	direct := withDatabase(t, dbtest.ServerURL(), dbName)
	// Through PgBouncer, with no named prepared statement (database.PoolerQueryExecMode):
	// replica 0 has DATABASE_DIRECT_URL, which tells it that DATABASE_URL goes through a
	// pooler; the others have only the pooler and name the exec mode in the URL, as
	// docs/scaling.md says (without it they would prepare statements and fail).
	pooled := withDatabase(t, bouncer.url, dbName)

	// Two replicas migrate the empty database at once, through the pooler only.
	env := func(k string) string {
		return map[string]string{"DATABASE_URL": pooled, "LOG_FORMAT": "text"}[k]
	}
	var (
		wg       sync.WaitGroup
		outs     [2]syncBuffer
		migrated [2]error
	)
	for i := range migrated {
		wg.Add(1)
		go func() {
			defer wg.Done()
			migrated[i] = run(ctx, []string{"migrate"}, env, &outs[i])
		}()
	}
	wg.Wait()
	for i, err := range migrated {
		if err != nil {
			t.Fatalf("replica %d: migrate through PgBouncer: %v\n%s", i, err, outs[i].String())
		}
	}
	files, _ := db.Migrations.ReadDir(db.MigrationsDir)
	var applied, distinct int
	queryDirect(t, direct, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`, &applied, &distinct)
	if applied != len(files) || distinct != len(files) {
		t.Fatalf("schema_migrations: %d rows, %d versions; want each of the %d migrations once", applied, distinct, len(files))
	}
	if a, b := strings.Count(outs[0].String(), "Applying:"), strings.Count(outs[1].String(), "Applying:"); a+b != len(files) {
		t.Fatalf("the two replicas applied %d + %d migrations, want %d in all (each once)", a, b, len(files))
	}

	// Once more with DATABASE_DIRECT_URL, DATABASE_URL unreachable: migrate goes past the
	// pooler, and finds nothing to do.
	var again syncBuffer
	err = run(ctx, []string{"migrate"}, func(k string) string {
		return map[string]string{
			"DATABASE_URL":        "postgres://postgres@127.0.0.1:1/" + dbName + "?sslmode=disable&connect_timeout=1",
			"DATABASE_DIRECT_URL": direct, "LOG_FORMAT": "text",
		}[k]
	}, &again)
	if err != nil || strings.Contains(again.String(), "Applying:") {
		t.Fatalf("migrate with DATABASE_DIRECT_URL: %v, want a no-op\n%s", err, again.String())
	}

	smtpServer := smtptest.Start(t, smtptest.Options{})
	dispatch := mailDispatch
	dispatch.PollInterval = outbox.DefaultOptions.PollInterval // the production default: what polling costs
	// Replica 0 records its spans: one per SQL round trip of a traced request.
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	t.Cleanup(func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) })
	replicas := make([]*testServer, 3)
	for i := range replicas {
		e := map[string]string{
			"SMTP_HOST": "127.0.0.1", "SMTP_PORT": strconv.Itoa(smtpServer.Port), "SMTP_TLS": "none",
			"MAIL_FROM": "Identity <no-reply@identity.test>",
		}
		if i == 0 {
			// The job system LISTENs here; the others only have the pooler, and poll.
			e["DATABASE_DIRECT_URL"] = direct + "&application_name=identity-direct"
		}
		// Through PgBouncer, at the production poll and refresh intervals: what polling costs.
		sc := serverConfig{env: e, databaseURL: pooled + "&default_query_exec_mode=cache_describe", realMail: true, dispatch: dispatch,
			jobs: jobs.Options{ShutdownGrace: time.Second, AbandonAfter: time.Second}, backlogEvery: metrics.DefaultBacklogRefresh}
		if i == 0 {
			sc.databaseURL = pooled // the exec mode follows from DATABASE_DIRECT_URL
			sc.tracer = tp
		}
		replicas[i] = startServer(t, sc)
	}

	poll.Until(t, 10*time.Second, "replica 0 listens on its direct connection", func() bool {
		var n int
		queryDirect(t, direct, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'identity-direct' AND query LIKE 'LISTEN "river.%'`, &n)
		return n == 1
	})

	const users = 60
	emailOf := func(i int) string { return fmt.Sprintf("bouncer%03d@example.com", i) }
	var (
		mu       sync.Mutex
		statuses = map[answer]int{}
	)
	count := func(route string, status int) {
		mu.Lock()
		statuses[answer{route, status}]++
		mu.Unlock()
	}
	// concurrently runs f(i) for every user, 20 at a time.
	concurrently := func(f func(i int)) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 20)
		for i := range users {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				f(i)
			}()
		}
		wg.Wait()
	}

	// Registrations: every user at one replica; every fifth at all three at once, the
	// database deciding which one wins (one 201, two 429: the code was just issued).
	before := bouncer.stats(t)
	began := time.Now()
	concurrently(func(i int) {
		body := map[string]string{"email": emailOf(i), "password": mailPassword}
		if i%5 != 0 {
			res := replicas[i%3].request(t, http.MethodPost, "/v1/users", body, "", "")
			count("register", res.Status)
			if res.Status != http.StatusCreated {
				t.Errorf("register %s: %d %s", emailOf(i), res.Status, res.Body)
			}
			return
		}
		var (
			wg     sync.WaitGroup
			got    [3]int
			bodies [3][]byte
		)
		for r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := replicas[r].request(t, http.MethodPost, "/v1/users", map[string]string{"email": emailOf(i), "password": mailPassword}, "", "")
				got[r], bodies[r] = res.Status, res.Body
				count("register (same email at 3 replicas)", res.Status)
			}()
		}
		wg.Wait()
		created, limited := 0, 0
		for _, s := range got {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusTooManyRequests:
				limited++
			}
		}
		if created != 1 || limited != 2 {
			t.Errorf("%s registered at three replicas at once: %v (%q), want one 201 and two 429", emailOf(i), got, bodies)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	poll.Until(t, 20*time.Second, "every email reaches the SMTP server", func() bool { return len(smtpServer.Received()) >= users })
	took := time.Since(began)
	after := bouncer.stats(t)
	codes := make([]string, users)
	for i := range users {
		got := smtpServer.To(emailOf(i))
		if len(got) != 1 {
			t.Fatalf("%s received %d emails, want exactly 1", emailOf(i), len(got))
		}
		codes[i] = parseReceived(t, got[0], emailOf(i))
	}
	attempts := users + 2*(users/5) // the duplicates are requests too
	t.Logf("PgBouncer (pool of %d) saw, for %d registrations (%d requests) with their emails sent, in %v: "+
		"%.1f transactions and %.1f queries (round trips) per registration, %v waiting for a server connection in all",
		pgBouncerPoolSize, users, attempts, took.Round(time.Millisecond),
		float64(after.xacts-before.xacts)/users, float64(after.queries-before.queries)/users,
		time.Duration(after.waitMicros-before.waitMicros)*time.Microsecond)

	// Activations, each at another replica than the registration, and who-am-I at the third.
	concurrently(func(i int) {
		res := replicas[(i+1)%3].request(t, http.MethodPost, "/v1/users/me/activation", map[string]string{"code": codes[i]}, emailOf(i), mailPassword)
		count("activate", res.Status)
		if res.Status != http.StatusOK {
			t.Errorf("activate %s: %d %s", emailOf(i), res.Status, res.Body)
			return
		}
		res = replicas[(i+2)%3].request(t, http.MethodGet, "/v1/users/me", nil, emailOf(i), mailPassword)
		count("me", res.Status)
		if res.Status != http.StatusOK || !bytes.Contains(res.Body, []byte(`"status":"active"`)) {
			t.Errorf("%s after activation: %d %s, want 200 and active", emailOf(i), res.Status, res.Body)
		}
	})

	// No email is sent twice, even late: wait past a poll of every replica. Meanwhile, what
	// three idle replicas cost PgBouncer (their job systems' polls and reports).
	idleFrom := bouncer.stats(t)
	time.Sleep(2 * time.Second)
	idleTo := bouncer.stats(t)
	idleFor := 2*time.Second + 1100*time.Millisecond // stats waits for PgBouncer's next period
	t.Logf("three idle replicas: %.1f transactions and %.1f queries a second through PgBouncer",
		float64(idleTo.xacts-idleFrom.xacts)/idleFor.Seconds(), float64(idleTo.queries-idleFrom.queries)/idleFor.Seconds())
	if n := len(smtpServer.Received()); n != users {
		t.Errorf("the SMTP server received %d emails, want %d (one per registration)", n, users)
	}
	for a, n := range statuses {
		if a.status >= 500 {
			t.Errorf("%d answers %d to %s: a 5xx through PgBouncer", n, a.status, a.route)
		}
	}
	t.Logf("answers: %v", statuses)

	// Round trips of one registration and one activation, once replica 0's connections
	// have described their statements (cache_describe): its traced SQL spans.
	exporter.Reset()
	const measured = "measured@example.com"
	wantStatus(t, replicas[0].request(t, http.MethodPost, "/v1/users", map[string]string{"email": measured, "password": mailPassword}, "", ""), http.StatusCreated)
	smtpServer.WaitFor(t, measured, 5*time.Second)
	code := parseReceived(t, smtpServer.To(measured)[0], measured)
	wantStatus(t, replicas[0].request(t, http.MethodPost, "/v1/users/me/activation", map[string]string{"code": code}, measured, mailPassword), http.StatusOK)
	spans := exporter.GetSpans()
	for _, route := range []string{"POST /v1/users", "POST /v1/users/me/activation"} {
		server := find(spans, route)
		if server == nil {
			t.Fatalf("no server span %s among %v", route, names(spans))
		}
		var sql []string
		describes := 0
		for _, s := range spans {
			if s.SpanContext.TraceID() != server.SpanContext.TraceID() {
				continue
			}
			switch {
			case strings.HasPrefix(s.Name, "query "):
				sql = append(sql, strings.TrimPrefix(s.Name, "query "))
			case strings.HasPrefix(s.Name, "prepare "):
				describes++ // the connection's first use of the statement (cache_describe)
			}
		}
		t.Logf("%s: %d SQL round trips %v, and %d first-use describes", route, len(sql), sql, describes)
	}
}

// answer is a route and a status it answered.
type answer struct {
	route  string
	status int
}

// pgBouncer is a PgBouncer process of the test's own.
type pgBouncer struct {
	url   string // postgres://user@127.0.0.1:port/?sslmode=disable; set the database
	admin string // the admin console
	log   *syncBuffer
}

// startPgBouncer starts PgBouncer on a free port in transaction pooling mode, in front of
// the test PostgreSQL (dbtest.ServerURL), with pgBouncerPoolSize server connections per
// database, and stops it when the test ends.
func startPgBouncer(t *testing.T, bin string) *pgBouncer {
	t.Helper()
	server, err := url.Parse(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	user := server.User.Username()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()

	// Not t.TempDir (0700): run as root, PgBouncer drops to the postgres user, which must
	// still read its files.
	dir, err := os.MkdirTemp("", "pgbouncer-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
admin_users = %s
stats_period = 1
ignore_startup_parameters = extra_float_digits
`, server.Hostname(), server.Port(), port, filepath.Join(dir, "users.txt"), pgBouncerPoolSize, user)
	for name, content := range map[string]string{
		"pgbouncer.ini": ini,
		"users.txt":     fmt.Sprintf("%q \"\"\n", user),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postgres"}, args...) // PgBouncer refuses to run as root
	}
	cmd := exec.Command(bin, args...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b := &pgBouncer{
		url:   fmt.Sprintf("postgres://%s@127.0.0.1:%d/?sslmode=disable", user, port),
		admin: fmt.Sprintf("postgres://%s@127.0.0.1:%d/pgbouncer?sslmode=disable&default_query_exec_mode=simple_protocol", user, port),
		log:   logs,
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // safe shutdown: waits for clients to go
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("pgbouncer log:\n%s", logs.String())
		}
	})
	poll.Until(t, 10*time.Second, "pgbouncer accepts connections", func() bool {
		select {
		case <-exited:
			t.Fatalf("pgbouncer exited:\n%s", logs.String())
		default:
		}
		conn, err := pgx.Connect(context.Background(), b.admin)
		if err != nil {
			return false
		}
		_ = conn.Close(context.Background())
		return true
	})
	return b
}

// bouncerStats are PgBouncer's counters summed over its databases.
type bouncerStats struct {
	xacts, queries, waitMicros int64
}

// stats reads SHOW STATS from the admin console, once PgBouncer has folded in the last
// second (stats_period = 1).
func (b *pgBouncer) stats(t *testing.T) bouncerStats {
	t.Helper()
	time.Sleep(1100 * time.Millisecond)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.admin)
	if err != nil {
		t.Fatalf("pgbouncer admin console: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SHOW STATS")
	if err != nil {
		t.Fatalf("SHOW STATS: %v", err)
	}
	defer rows.Close()
	var s bouncerStats
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range rows.FieldDescriptions() {
			var n int64
			if num, ok := vals[i].(pgtype.Numeric); ok { // PgBouncer's counters are numeric
				v, err := num.Int64Value()
				if err != nil {
					t.Fatalf("SHOW STATS %s: %v", f.Name, err)
				}
				n = v.Int64
			}
			switch f.Name {
			case "total_xact_count":
				s.xacts += n
			case "total_query_count":
				s.queries += n
			case "total_wait_time":
				s.waitMicros += n
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("SHOW STATS: %v", err)
	}
	return s
}

// emptyDatabase creates a database with nothing in it (dbtest's come migrated) on the
// test server, dropped when the test ends, and returns its name.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	name := "identity_test_" + hex.EncodeToString(suffix[:])
	admin, err := pgx.Connect(ctx, dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, dbtest.ServerURL())
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

// withDatabase returns the connection URL raw with its database set to name.
func withDatabase(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// queryDirect runs one query straight on PostgreSQL and scans its row into dest.
func queryDirect(t *testing.T, databaseURL, sql string, dest ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
