package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/modules/identity/adapter/email"
	"github.com/acme/identity/modules/identity/adapter/postgres"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/outbox/outboxtest"
)

// rowsRead records, per sqlc query name, the rows each statement returned and how long
// it took.
type rowsRead struct {
	mu    sync.Mutex
	start map[*pgx.Conn]startedQuery
	rows  map[string][]int64
	took  map[string][]time.Duration
}

type startedQuery struct {
	name string
	at   time.Time
}

func (r *rowsRead) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := strings.TrimSpace(d.SQL)
	if strings.HasPrefix(name, "-- name: ") {
		name = strings.Fields(name)[2]
	}
	r.start[c] = startedQuery{name: name, at: time.Now()}
	return ctx
}

func (r *rowsRead) TraceQueryEnd(_ context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.start[c]
	r.rows[q.name] = append(r.rows[q.name], d.CommandTag.RowsAffected())
	r.took[q.name] = append(r.took[q.name], time.Since(q.at))
}

// TestClientBudgetReadIsBounded: a client that spent 100,000 codes in the last 24 h (a
// backend registering its users from one address, its budget raised) is checked by
// reading at most one row per span of the window, however many units the spans hold, and
// spans that left the window and wait for their pruning are not read; its budget decides
// exactly by the units, with a Retry-After until the span holding the limit-th newest
// unit leaves the window.
func TestClientBudgetReadIsBounded(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	trace := &rowsRead{start: map[*pgx.Conn]startedQuery{}, rows: map[string][]int64{}, took: map[string][]time.Duration{}}
	cfg.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	notifier, err := email.NewNotifier(outboxtest.New(t, pool))
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewStore(pool, notifier)

	const client = "192.0.2.77"
	// 100,000 codes, one every 864 ms over the last 24 h, and a day before that
	// (spans left the window, not pruned yet) 1,000 per span.
	for _, fill := range []string{`
		INSERT INTO identity.client_budgets (client, kind, span, spent)
		SELECT $1, 'code_issued', date_bin($2::bigint * interval '1 millisecond', at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), count(*)
		FROM generate_series(now() - interval '23 hours 59 minutes', now(), interval '864 milliseconds') AS at
		GROUP BY 3`, `
		INSERT INTO identity.client_budgets (client, kind, span, spent)
		SELECT $1, 'code_issued', date_bin($2::bigint * interval '1 millisecond', at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), 1000
		FROM generate_series(now() - interval '48 hours', now() - interval '25 hours', $2::bigint * interval '1 millisecond') AS at`,
	} {
		if _, err := pool.Exec(ctx, fill, client, postgres.ClientBudgetSpan.Milliseconds()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE identity.client_budgets"); err != nil {
		t.Fatal(err)
	}
	var spent int
	if err := pool.QueryRow(ctx, `SELECT sum(spent) FROM identity.client_budgets WHERE client = $1 AND span > now() - interval '24 hours 15 minutes'`, client).Scan(&spent); err != nil {
		t.Fatal(err)
	}
	maxRows := int64(domain.BudgetWindow/postgres.ClientBudgetSpan) + 1

	cctx := app.WithClient(ctx, client)
	register := func(email domain.Email, limit int) error {
		p := policy
		p.ClientCodesPerDay, p.CodesPerDay = limit, 10
		_, err := store.Change(cctx, app.Key{Email: email, Budgets: app.Budgets{Mailbox: true, ClientKind: app.ClientCodes, ClientLimit: limit}},
			func(a *domain.Account, now time.Time) error { return a.Register("hash", now, p, rand.Reader) })
		return err
	}
	// Raised far past what the client spent: every registration passes, and reads a
	// bounded number of rows.
	const n = 20
	started := time.Now()
	for i := range n {
		if err := register(domain.Email(fmt.Sprintf("busy%d@example.com", i)), 10_000_000); err != nil {
			t.Fatalf("registration %d of a client with %d codes spent, budget 10,000,000: %v", i, spent, err)
		}
	}
	perChange := time.Since(started) / n
	read := trace.rows["ClientBudgetSpans"]
	if len(read) != n {
		t.Fatalf("%d reads of the client's budget for %d registrations", len(read), n)
	}
	if m := slices.Max(read); m > maxRows {
		t.Errorf("a check of the budget read %d rows (the client spent %d units), want at most %d", m, spent, maxRows)
	}
	took := slices.Clone(trace.took["ClientBudgetSpans"])
	slices.Sort(took)
	t.Logf("a client with %d units spent: %d rows read per check (at most %d), the read took %v median, %v max; a registration %v",
		spent, slices.Max(read), maxRows, took[len(took)/2], took[len(took)-1], perChange)

	// A budget at what it spent: refused until the span holding its oldest counted unit
	// leaves the window, about 24 h from its start.
	err = register("refused@example.com", spent+n)
	var retry *domain.RetryLaterError
	if !errors.As(err, &retry) || retry.Reason != domain.ReasonClientCodeBudget {
		t.Fatalf("a registration with the budget spent: %v, want the client's code budget", err)
	}
	if retry.RetryAfter <= 0 || retry.RetryAfter > postgres.ClientBudgetSpan+time.Minute {
		t.Errorf("Retry-After %v with the budget spent since a day ago, want at most a span", retry.RetryAfter)
	}
	// One unit to spare: it passes.
	if err := register("spare@example.com", spent+n+1); err != nil {
		t.Errorf("a registration with one unit to spare: %v", err)
	}
}
