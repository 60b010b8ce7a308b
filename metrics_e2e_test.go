package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/acme/identity/platform/poll"
)

// scrape reads /metrics and parses the Prometheus text format.
func (ts *testServer) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	res := ts.request(t, http.MethodGet, "/metrics", nil, "", "")
	wantStatus(t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type %q, want the Prometheus text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, res.Body)
	}
	return families
}

// value returns the value of the series of family name whose labels include labels
// (name=value pairs); -1 when there is no such series.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	total, found := 0.0, false
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return total
}

// TestMetricsFollowTheTraffic drives known traffic and checks the series move as it says:
// N registrations are N requests to the route template, N emails queued and N sent, N
// password hashes; a bad request and an unknown path are counted by status, the unknown
// path under no route of its own.
func TestMetricsFollowTheTraffic(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	const n = 3
	for i := range n {
		email := fmt.Sprintf("user%d@example.com", i)
		wantStatus(t, ts.register(t, email, pw), http.StatusCreated)
		ts.Mail.waitFor(t, email, 1)
	}
	wantStatus(t, ts.register(t, "not an email", pw), http.StatusUnprocessableEntity)
	for _, p := range []string{"/v1/secret-1", "/v1/secret-2"} {
		wantStatus(t, ts.request(t, http.MethodGet, p, nil, "", ""), http.StatusNotFound)
	}
	c := creds{"user0@example.com", pw}
	wantStatus(t, ts.me(t, c), http.StatusOK)

	var m map[string]*dto.MetricFamily
	// The outbox counts a send as the provider accepts it and records it in its row just
	// after: wait for both before reading the backlog.
	poll.Until(t, 5*time.Second, "the outbox's counters reach the sends, and the sends are recorded", func() bool {
		m = ts.scrape(t)
		return value(m, "identity_outbox_emails_sent_total") == n && value(m, "identity_outbox_backlog_emails") == 0 &&
			// River counts a job's end as its completer records it, in batches, a moment later.
			value(m, "identity_jobs_worked_total", "kind", "outbox.email", "result", "completed") == n
	})
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"identity_http_requests_total", []string{"method", "POST", "route", "/v1/users", "status", "201"}, n},
		{"identity_http_requests_total", []string{"method", "POST", "route", "/v1/users", "status", "422"}, 1},
		{"identity_http_requests_total", []string{"method", "GET", "route", "/v1/users/me", "status", "200"}, 1},
		{"identity_http_requests_total", []string{"method", "GET", "status", "404"}, 2},
		{"identity_http_request_duration_seconds", []string{"method", "POST", "route", "/v1/users"}, n + 1},
		{"identity_http_request_duration_seconds", []string{"method", "POST", "route", "/v1/users", "status", "201"}, n},
		{"identity_http_request_duration_seconds", []string{"method", "POST", "route", "/v1/users", "status", "422"}, 1},
		{"identity_outbox_emails_queued_total", nil, n},
		{"identity_outbox_emails_sent_total", nil, n},
		{"identity_outbox_emails_dropped_total", nil, 0},
		{"identity_outbox_emails_failed_total", nil, 0},
		{"identity_outbox_send_duration_seconds", nil, n},
		{"identity_outbox_backlog_emails", nil, 0},
		// Every email's job completed on this replica (the only one), and none waits.
		{"identity_jobs_worked_total", []string{"kind", "outbox.email", "result", "completed"}, n},
		{"identity_jobs", []string{"kind", "outbox.email"}, 0},
		{"identity_outbox_oldest_unsent_age_seconds", nil, 0},
		// One hash per registration; one verification for me (plus none for the decoy,
		// which is made at start: one hash).
		{"identity_password_hash_duration_seconds", []string{"op", "hash"}, n + 1},
		{"identity_password_hash_duration_seconds", []string{"op", "verify"}, 1},
	} {
		if got := value(m, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// No raw path becomes a label value.
	for _, s := range m["identity_http_requests_total"].GetMetric() {
		for _, l := range s.GetLabel() {
			if strings.Contains(l.GetValue(), "secret") {
				t.Errorf("a raw path is a label value: %v", s.GetLabel())
			}
		}
	}
	for _, name := range []string{
		"identity_db_pool_max_connections", "identity_db_pool_acquires_total", "identity_db_pool_acquired_connections",
		"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes",
		"identity_password_hash_queue_wait_seconds",
	} {
		if m[name] == nil {
			t.Errorf("no series %s", name)
		}
	}
	if got := value(m, "identity_db_pool_acquires_total"); got < n {
		t.Errorf("pool acquisitions %v, want at least %d", got, n)
	}
}

// TestMetricsShowAnUnsentEmail: with the mail provider failing, the backlog holds the
// email, its age grows, and the failures are counted by class.
func TestMetricsShowAnUnsentEmail(t *testing.T) {
	t.Parallel()
	ts := startMailServer(t, freePort(t), nil, "") // nothing listens: every send fails to connect
	wantStatus(t, ts.register(t, "stuck@example.com", pw), http.StatusCreated)
	var m map[string]*dto.MetricFamily
	// The backlog is read every 20 ms in tests (2 s in production): wait for a read.
	poll.Until(t, 5*time.Second, "a failed send is counted and the backlog read", func() bool {
		m = ts.scrape(t)
		return value(m, "identity_outbox_emails_failed_total", "class", "connection") >= 1 &&
			value(m, "identity_outbox_oldest_unsent_age_seconds") > 0
	})
	if got := value(m, "identity_outbox_backlog_emails"); got != 1 {
		t.Errorf("backlog %v, want 1", got)
	}
	if got := value(m, "identity_outbox_oldest_unsent_age_seconds"); got <= 0 {
		t.Errorf("oldest unsent age %v, want above 0", got)
	}
	if got := value(m, "identity_outbox_emails_sent_total"); got != 0 {
		t.Errorf("sent %v, want 0", got)
	}
}

// TestMetricsAddrServesMetricsAlone: with METRICS_ADDR set, /metrics answers there and
// nowhere else, and it counts what an operator alerts on during an attack: wrong codes,
// wrong passwords, delayed sign-ins.
func TestMetricsAddrServesMetricsAlone(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{
		"METRICS_ADDR": "127.0.0.1:0", "PASSWORD_FAILURES_BEFORE_DELAY": "2",
	}})
	wantStatus(t, ts.request(t, http.MethodGet, "/metrics", nil, "", ""), http.StatusNotFound)

	c, code := ts.registered(t, "ops@example.com")
	wrongCode := "0000"
	if code == wrongCode {
		wrongCode = "1111"
	}
	wantStatus(t, ts.activate(t, c, wrongCode), http.StatusBadRequest)
	wrong := creds{c.email, "a wrong password of ops"}
	for range 2 {
		wantStatus(t, ts.me(t, wrong), http.StatusUnauthorized)
	}
	wantStatus(t, ts.me(t, wrong), http.StatusTooManyRequests)

	url, _ := ts.metricsURL.Load().(string)
	if url == "" {
		t.Fatal("no METRICS_ADDR listener was reported")
	}
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("METRICS_ADDR /metrics: %d", res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	m, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"identity_activation_wrong_codes_total", nil, 1},
		{"identity_sign_in_failures_total", nil, 2},
		{"identity_requests_limited_total", []string{"reason", "sign_in_delay"}, 1},
		{"identity_requests_limited_total", []string{"reason", "guess_budget"}, 0},
		{"identity_http_requests_total", []string{"route", "/v1/users/me", "status", "429"}, 1},
	} {
		if got := value(m, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
