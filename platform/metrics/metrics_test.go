package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/outbox"
)

// TestLabelsAreBounded: whatever method and path a client sends, the labels come from a
// fixed set.
func TestLabelsAreBounded(t *testing.T) {
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/users/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	for _, r := range []struct{ method, path string }{
		{"GET", "/users/1"}, {"GET", "/users/2"}, {"BREW", "/users/3"}, {"GET", "/random/a"}, {"GET", "/random/b"},
	} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.method, r.path, nil))
	}
	want := `
# HELP identity_http_requests_total HTTP requests answered, by method, route template and status.
# TYPE identity_http_requests_total counter
identity_http_requests_total{method="GET",route="(none)",status="404"} 2
identity_http_requests_total{method="GET",route="/users/:id",status="204"} 2
identity_http_requests_total{method="other",route="/users/:id",status="405"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "identity_http_requests_total"); err != nil {
		t.Fatal(err)
	}
}

// TestScrapesRunNoBacklogQuery: a scrape serves the refresh loop's last backlog; however
// often /metrics is scraped, the backlog is read once per interval, and its series leave
// while the reads fail.
func TestScrapesRunNoBacklogQuery(t *testing.T) {
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var (
		reads atomic.Int64
		fail  atomic.Bool
	)
	refresh := m.Outbox(OutboxSource{
		Queued: func() int64 { return 0 },
		Stats:  func() outbox.Stats { return outbox.Stats{} },
		Backlog: func(context.Context) (outbox.Backlog, error) {
			reads.Add(1)
			if fail.Load() {
				return outbox.Backlog{}, errors.New("database down")
			}
			return outbox.Backlog{Emails: 7, OldestAge: 3 * time.Second}, nil
		},
		RefreshEvery: time.Hour, // one read at the start, then none during the test
	})
	scrapeBacklog := func() (float64, bool) {
		t.Helper()
		families, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "identity_outbox_backlog_emails" {
				return f.GetMetric()[0].GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	if _, ok := scrapeBacklog(); ok {
		t.Fatal("a backlog was served before any read")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- refresh(ctx) }()
	for reads.Load() == 0 {
		runtime.Gosched()
	}
	for range 100 {
		v, ok := scrapeBacklog()
		if ok && v != 7 {
			t.Fatalf("backlog %v, want 7", v)
		}
	}
	if v, ok := scrapeBacklog(); !ok || v != 7 {
		t.Fatalf("backlog %v (served %v), want 7", v, ok)
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("101 scrapes made %d backlog reads, want the loop's 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Reads that fail for long leave the series out rather than serve an old value.
	stale := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	fail.Store(true)
	refresh = stale.Outbox(OutboxSource{
		Queued: func() int64 { return 0 }, Stats: func() outbox.Stats { return outbox.Stats{} },
		Backlog: func(context.Context) (outbox.Backlog, error) { return outbox.Backlog{}, errors.New("down") },
	})
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(stale.Registry(), "identity_outbox_backlog_emails"); err != nil || n != 0 {
		t.Fatalf("%d backlog series after failed reads (err %v), want none", n, err)
	}
}

type boundedSender struct{ n int }

func (b boundedSender) MaxConcurrent() int                     { return b.n }
func (boundedSender) Send(context.Context, mail.Message) error { return nil }

// TestSenderKeepsItsConcurrency: the outbox sends as many at once as the wrapped
// sender can (one per SMTP connection), through the metrics wrapper.
func TestSenderKeepsItsConcurrency(t *testing.T) {
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if n := outbox.SenderConcurrency(m.Sender(boundedSender{n: 7})); n != 7 {
		t.Fatalf("SenderConcurrency through the wrapper = %d, want 7", n)
	}
}

// TestJobCountsComeFromTheLoop: a scrape serves the job counts of the refresh loop's last
// read (never a query of its own), every unfinished state of a kind seen, at 0 when it has
// no job; and the attempts this replica worked, by kind and result.
func TestJobCountsComeFromTheLoop(t *testing.T) {
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var reads atomic.Int64
	refresh := m.Jobs(JobsSource{
		Counts: func(context.Context) ([]jobs.Count, error) {
			reads.Add(1)
			return []jobs.Count{{Kind: "outbox.email", State: "available", Jobs: 4}, {Kind: "outbox.email", State: "running", Jobs: 2}}, nil
		},
		Worked: func() map[jobs.Outcome]int64 {
			return map[jobs.Outcome]int64{{Kind: "maintenance.task", Result: "completed"}: 3}
		},
		RefreshEvery: time.Hour,
	})
	if n, err := testutil.GatherAndCount(m.Registry(), "identity_jobs"); err != nil || n != 0 {
		t.Fatalf("%d job count series before any read (err %v), want none", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := refresh(ctx); err != nil { // one read, then it stops
		t.Fatal(err)
	}
	want := `
# HELP identity_jobs Jobs not finished yet, by kind and River state (available, pending, retryable, running, scheduled), across every replica.
# TYPE identity_jobs gauge
identity_jobs{kind="maintenance.task",state="available"} 0
identity_jobs{kind="maintenance.task",state="pending"} 0
identity_jobs{kind="maintenance.task",state="retryable"} 0
identity_jobs{kind="maintenance.task",state="running"} 0
identity_jobs{kind="maintenance.task",state="scheduled"} 0
identity_jobs{kind="outbox.email",state="available"} 4
identity_jobs{kind="outbox.email",state="pending"} 0
identity_jobs{kind="outbox.email",state="retryable"} 0
identity_jobs{kind="outbox.email",state="running"} 2
identity_jobs{kind="outbox.email",state="scheduled"} 0
# HELP identity_jobs_worked_total Job attempts this replica worked, by kind and result (completed, cancelled, retried, discarded, snoozed).
# TYPE identity_jobs_worked_total counter
identity_jobs_worked_total{kind="maintenance.task",result="completed"} 3
`
	for range 10 {
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "identity_jobs", "identity_jobs_worked_total"); err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("10 scrapes made %d reads, want the loop's 1", n)
	}
}
