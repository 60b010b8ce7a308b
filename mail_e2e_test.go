package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/mail/smtptest"
	"github.com/acme/identity/platform/outbox"
	"github.com/acme/identity/platform/poll"
)

// End-to-end tests of the activation email over real SMTP: the service in-process with
// its production transport (go-mail), and an SMTP server (emersion/go-smtp) in the test
// process standing in for the mail provider.

const mailPassword = "correct horse battery"

// mailDispatch shortens the outbox's delays so failures and retries take milliseconds,
// not seconds. Concurrency is left to the SMTP pool (SMTP_MAX_CONNECTIONS).
var mailDispatch = outbox.Options{
	SendTimeout:  2 * time.Second,
	MinBackoff:   100 * time.Millisecond,
	MaxBackoff:   500 * time.Millisecond,
	PollInterval: 200 * time.Millisecond,
}

// startMailServer starts the service sending by SMTP to 127.0.0.1:port.
func startMailServer(t *testing.T, port int, env map[string]string, databaseURL string) *testServer {
	t.Helper()
	e := map[string]string{
		"SMTP_HOST": "127.0.0.1", "SMTP_PORT": strconv.Itoa(port), "SMTP_TLS": "none",
		"MAIL_FROM": "Identity <no-reply@identity.test>", "RATE_LIMIT_PER_IP": "0",
	}
	for k, v := range env {
		e[k] = v
	}
	return startServer(t, serverConfig{env: e, databaseURL: databaseURL, realMail: true, dispatch: mailDispatch})
}

// registerAt registers email and returns when the API answered 201.
func registerAt(t *testing.T, ts *testServer, email string) time.Time {
	t.Helper()
	res := ts.register(t, email, mailPassword)
	answered := time.Now()
	wantStatus(t, res, http.StatusCreated)
	return answered
}

// parseReceived takes a received email apart and checks the contract's shape:
// multipart/alternative with a text/plain and a text/html part. It returns the code.
func parseReceived(t *testing.T, r smtptest.Received, to string) string {
	t.Helper()
	e, err := smtptest.Parse(r.Data)
	if err != nil {
		t.Fatalf("parse email to %s: %v\n%s", to, err, r.Data)
	}
	if e.MediaType != "multipart/alternative" || !slices.Equal(e.PartTypes, []string{"text/plain", "text/html"}) {
		t.Fatalf("email to %s is %s %v, want multipart/alternative [text/plain text/html]", to, e.MediaType, e.PartTypes)
	}
	if !strings.Contains(e.From, "no-reply@identity.test") || !strings.Contains(e.To, to) {
		t.Errorf("From %q To %q, want MAIL_FROM and %s", e.From, e.To, to)
	}
	if len(r.To) != 1 || r.To[0] != to {
		t.Errorf("envelope recipients %v, want [%s]", r.To, to)
	}
	code := codeIn(t, mail.Message{Text: e.Text})
	if !strings.Contains(e.HTML, code) {
		t.Errorf("html part lacks the code %s:\n%s", code, e.HTML)
	}
	return code
}

func activateWith(t *testing.T, ts *testServer, email, code string) {
	t.Helper()
	wantUser(t, ts.activate(t, creds{email, mailPassword}, code), email, "active")
}

// outboxRow is the outbox record of the email to one recipient.
type outboxRow struct {
	Attempts  int
	LastError string
	Sent      bool
	Dropped   bool
	Failed    bool
	// Leased: its job is running (a send is under way).
	Leased bool
	// Row is the whole row as JSON, to look for what it must no longer hold.
	Row string
}

func outboxRowOf(t *testing.T, databaseURL, to string) outboxRow {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var r outboxRow
	err = conn.QueryRow(ctx, `
		SELECT attempts, coalesce(last_error, ''), sent_at IS NOT NULL, dropped_at IS NOT NULL, failed_at IS NOT NULL,
		       EXISTS (SELECT FROM river.river_job AS j WHERE j.kind = 'outbox.email' AND j.state = 'running'
		               AND j.args @> jsonb_build_object('email_id', o.id)),
		       row_to_json(o)::text
		FROM platform.outbox_emails AS o WHERE recipient = $1`, to).Scan(&r.Attempts, &r.LastError, &r.Sent, &r.Dropped, &r.Failed, &r.Leased, &r.Row)
	if err != nil {
		t.Fatalf("outbox row of %s: %v", to, err)
	}
	return r
}

// freePort returns a port on 127.0.0.1 that nothing listens on (an SMTP server "down").
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return port
}

func TestMailActivationEmailOverSMTP(t *testing.T) {
	t.Parallel()
	smtpServer := smtptest.Start(t, smtptest.Options{})
	ts := startMailServer(t, smtpServer.Port, nil, "")

	answered := registerAt(t, ts, "alice@example.com")
	got := smtpServer.WaitFor(t, "alice@example.com", 5*time.Second)
	t.Logf("201 -> SMTP server: %v", got.At.Sub(answered))
	code := parseReceived(t, got, "alice@example.com")
	activateWith(t, ts, "alice@example.com", code)

	// The SMTP server has the message before the dispatcher records the attempt.
	poll.Until(t, 5*time.Second, "the email is recorded sent", func() bool { return outboxRowOf(t, ts.DatabaseURL, "alice@example.com").Sent })
	r := outboxRowOf(t, ts.DatabaseURL, "alice@example.com")
	if !r.Sent || r.Attempts != 1 {
		t.Errorf("outbox row %+v, want sent at the first attempt", r)
	}
	// Once sent, the row keeps its metadata but nothing of the email's bodies.
	if strings.Contains(r.Row, code) || !strings.Contains(r.Row, `"text_body":""`) || !strings.Contains(r.Row, `"html_body":""`) {
		t.Errorf("the sent email's outbox row still holds its bodies or its code %s: %s", code, r.Row)
	}
	// With SMTP configured, nothing of the email (code included) reaches the log.
	logs := ts.logs.String()
	for _, secret := range []string{mailPassword, "Your activation code is", "activation code is:"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}

func TestMailSMTPDownAtRegistration(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	ts := startMailServer(t, port, nil, "")

	begin := time.Now()
	registerAt(t, ts, "bob@example.com")
	t.Logf("registration answered in %v with the SMTP server down", time.Since(begin))

	poll.Until(t, 5*time.Second, "a failed attempt is recorded", func() bool {
		r := outboxRowOf(t, ts.DatabaseURL, "bob@example.com")
		return r.Attempts >= 1 && r.LastError != "" && !r.Sent
	})
	if r := outboxRowOf(t, ts.DatabaseURL, "bob@example.com"); !strings.Contains(r.LastError, "dial") {
		t.Errorf("last_error %q, want the connection failure", r.LastError)
	}

	// The provider comes back: the retry delivers the email, and its code works.
	smtpServer := smtptest.Start(t, smtptest.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	up := time.Now()
	got := smtpServer.WaitFor(t, "bob@example.com", 5*time.Second)
	t.Logf("delivered %v after the SMTP server came up", got.At.Sub(up))
	activateWith(t, ts, "bob@example.com", parseReceived(t, got, "bob@example.com"))
	poll.Until(t, 5*time.Second, "the email is recorded sent", func() bool { return outboxRowOf(t, ts.DatabaseURL, "bob@example.com").Sent })
	if r := outboxRowOf(t, ts.DatabaseURL, "bob@example.com"); !r.Sent || r.Attempts < 2 {
		t.Errorf("outbox row %+v, want sent after at least one retry", r)
	}
}

func TestMailProviderRejectsOrHangs(t *testing.T) {
	t.Parallel()
	smtpServer := smtptest.Start(t, smtptest.Options{})
	var (
		mu         sync.Mutex
		rejected   int
		deferredAt []time.Time
	)
	smtpServer.OnData(func(to []string) error {
		mu.Lock()
		defer mu.Unlock()
		switch to[0] {
		case "reject@example.com":
			rejected++
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
		case "later@example.com":
			if deferredAt = append(deferredAt, time.Now()); len(deferredAt) <= 3 {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
			}
		case "hang@example.com":
			mu.Unlock()
			<-smtpServer.Released() // never answers while the test runs
			mu.Lock()
		}
		return nil
	})
	ts := startMailServer(t, smtpServer.Port, nil, "")

	registerAt(t, ts, "hang@example.com")
	registerAt(t, ts, "reject@example.com")
	registerAt(t, ts, "later@example.com")
	poll.Until(t, 5*time.Second, "the hanging send is under way", func() bool { return outboxRowOf(t, ts.DatabaseURL, "hang@example.com").Leased })
	for i := range 3 {
		to := fmt.Sprintf("ok%d@example.com", i)
		registerAt(t, ts, to)
		parseReceived(t, smtpServer.WaitFor(t, to, 5*time.Second), to)
	}
	// The others went through while the hung send still waited for its timeout.
	if r := outboxRowOf(t, ts.DatabaseURL, "hang@example.com"); !r.Leased || r.Sent || r.LastError != "" {
		t.Errorf("hung email %+v: want still in its first attempt while the others were delivered", r)
	}

	// A permanent refusal (550) is tried once and recorded failed, its bodies erased.
	poll.Until(t, 5*time.Second, "the rejected email is recorded failed", func() bool {
		return outboxRowOf(t, ts.DatabaseURL, "reject@example.com").Failed
	})
	if r := outboxRowOf(t, ts.DatabaseURL, "reject@example.com"); r.Sent || r.Attempts != 1 || !strings.Contains(r.LastError, "550") ||
		!strings.Contains(r.Row, `"text_body":""`) {
		t.Errorf("rejected email %+v, want failed after one attempt with the 550 reply recorded, bodies erased", r)
	}

	// A temporary refusal (451) is retried with growing delays, then delivered.
	got := smtpServer.WaitFor(t, "later@example.com", 10*time.Second)
	parseReceived(t, got, "later@example.com")
	// The SMTP server has the message before the dispatcher records the attempt.
	poll.Until(t, 5*time.Second, "the deferred email is recorded sent", func() bool {
		return outboxRowOf(t, ts.DatabaseURL, "later@example.com").Sent
	})
	if r := outboxRowOf(t, ts.DatabaseURL, "later@example.com"); r.Attempts != 4 {
		t.Errorf("deferred email %+v, want sent at the fourth attempt", r)
	}
	mu.Lock()
	times := append([]time.Time(nil), deferredAt...)
	if rejected != 1 {
		t.Errorf("the rejected email reached DATA %d times, want once", rejected)
	}
	mu.Unlock()
	for i := 1; i < len(times) && i < 3; i++ {
		// Equal jitter: the delay after failed attempt i is at least MinBackoff*2^(i-1)/2.
		if gap, least := times[i].Sub(times[i-1]), mailDispatch.MinBackoff<<(i-1)/2; gap < least {
			t.Errorf("retry %d came %v after the previous attempt, want at least %v", i, gap, least)
		}
	}

	// The hung send times out, is recorded, and is retried.
	poll.Until(t, 10*time.Second, "the hung send times out and is recorded", func() bool {
		return strings.Contains(outboxRowOf(t, ts.DatabaseURL, "hang@example.com").LastError, "deadline exceeded")
	})
	if n := len(smtpServer.To("hang@example.com")) + len(smtpServer.To("reject@example.com")); n != 0 {
		t.Errorf("the server accepted %d emails it rejected or hung on", n)
	}
}

// Issue 8: a server that answers the data with 250 and then drops the connection (at the
// next MAIL, or at QUIT) delivered the email: it is sent once, never again.
func TestMailAcceptedThenDroppedIsSentOnce(t *testing.T) {
	t.Parallel()
	smtpServer := smtptest.Start(t, smtptest.Options{})
	smtpServer.OnData(func([]string) error { return smtptest.ErrAcceptThenDrop })
	ts := startMailServer(t, smtpServer.Port, map[string]string{"SMTP_MAX_CONNECTIONS": "1"}, "")
	users := []string{"drop0@example.com", "drop1@example.com", "drop2@example.com"}
	for _, to := range users {
		registerAt(t, ts, to)
		smtpServer.WaitFor(t, to, 5*time.Second)
	}
	for _, to := range users {
		poll.Until(t, 5*time.Second, to+" is recorded sent", func() bool { return outboxRowOf(t, ts.DatabaseURL, to).Sent })
	}
	ts.stop() // QUIT on the last connection, dropped too
	for _, to := range users {
		if got := len(smtpServer.To(to)); got != 1 {
			t.Errorf("%s received %d emails, want exactly 1", to, got)
		}
		if r := outboxRowOf(t, ts.DatabaseURL, to); !r.Sent || r.Attempts != 1 || r.LastError != "" {
			t.Errorf("%s: outbox row %+v, want sent at the first attempt", to, r)
		}
	}
}

func TestMailLogTransportWhenSMTPHostIsEmpty(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{env: map[string]string{"RATE_LIMIT_PER_IP": "0"}, realMail: true, dispatch: mailDispatch})
	registerAt(t, ts, "logged@example.com")
	poll.Until(t, 5*time.Second, "the email is recorded sent", func() bool { return outboxRowOf(t, ts.DatabaseURL, "logged@example.com").Sent })
	logs := ts.logs.String()
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "log transport") && strings.Contains(l, "logged@example.com") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no log transport line for logged@example.com in:\n%s", logs)
	}
	// The log is the mailbox: the code is there, and so is the email's Message-ID.
	var e struct {
		Text      string `json:"text"`
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("log line %s: %v", line, err)
	}
	codeIn(t, mail.Message{Text: e.Text})
	if len(e.MessageID) != 36 {
		t.Errorf("log line message_id %q, want the outbox row's UUID", e.MessageID)
	}
}

func TestMailExpiredCodeIsDropped(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	ts := startMailServer(t, port, map[string]string{"ACTIVATION_CODE_TTL": "1s", "ACTIVATION_CODE_RESEND_INTERVAL": "1s"}, "")

	registerAt(t, ts, "late@example.com")
	poll.Until(t, 5*time.Second, "the email of the expired code is dropped", func() bool {
		return outboxRowOf(t, ts.DatabaseURL, "late@example.com").Dropped
	})
	if r := outboxRowOf(t, ts.DatabaseURL, "late@example.com"); r.Sent || r.Attempts == 0 {
		t.Errorf("outbox row %+v, want tried while SMTP was down, then dropped unsent", r)
	}

	// SMTP comes up: a fresh email is delivered, the dropped one never.
	smtpServer := smtptest.Start(t, smtptest.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	registerAt(t, ts, "fresh@example.com")
	smtpServer.WaitFor(t, "fresh@example.com", 5*time.Second)
	if got := smtpServer.To("late@example.com"); len(got) != 0 {
		t.Errorf("the expired code's email was sent %d times, want never", len(got))
	}
	if r := outboxRowOf(t, ts.DatabaseURL, "late@example.com"); r.Sent || !r.Dropped {
		t.Errorf("outbox row %+v, want dropped, unsent", r)
	}
}

func TestMailThreeReplicasSendEachEmailOnce(t *testing.T) {
	t.Parallel()
	const users = 100
	smtpServer := smtptest.Start(t, smtptest.Options{})
	dbURL := dbtest.NewURL(t)
	var replicas []*testServer
	for range 3 {
		replicas = append(replicas, startMailServer(t, smtpServer.Port, nil, dbURL))
	}

	answered := make([]time.Time, users)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			to := fmt.Sprintf("user%03d@example.com", i)
			res := replicas[i%3].request(t, http.MethodPost, "/v1/users", map[string]string{"email": to, "password": mailPassword}, "", "")
			answered[i] = time.Now()
			if res.Status != http.StatusCreated {
				t.Errorf("register %s: got %d %s", to, res.Status, res.Body)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	poll.Until(t, 20*time.Second, "every email reaches the SMTP server", func() bool { return len(smtpServer.Received()) >= users })

	var latencies []time.Duration
	for i := range users {
		to := fmt.Sprintf("user%03d@example.com", i)
		got := smtpServer.To(to)
		if len(got) != 1 {
			t.Errorf("%s received %d emails, want exactly 1", to, len(got))
			continue
		}
		latencies = append(latencies, got[0].At.Sub(answered[i]))
	}
	// Outbox state: every email sent once and recorded so; no late duplicate can follow.
	poll.Until(t, 5*time.Second, "every email is recorded as sent", func() bool {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return false
		}
		defer conn.Close(ctx)
		var sent int
		return conn.QueryRow(ctx, `SELECT count(*) FROM platform.outbox_emails WHERE sent_at IS NOT NULL`).Scan(&sent) == nil && sent == users
	})
	if n := len(smtpServer.Received()); n != users {
		t.Errorf("the SMTP server received %d emails, want %d", n, users)
	}
	slices.Sort(latencies)
	if len(latencies) > 0 {
		t.Logf("201 -> SMTP server over %d emails, 3 replicas: min %v, median %v, p95 %v, max %v",
			len(latencies), latencies[0], latencies[len(latencies)/2], latencies[len(latencies)*95/100], latencies[len(latencies)-1])
	}
}

// TestMailConcurrencyFollowsSMTPMaxConnections: the outbox sends as many emails at
// once as SMTP_MAX_CONNECTIONS, through the metrics wrapper that hides the transport
// (it once fell back to 8). A provider 50 ms away and 30 registrations at once make
// every connection busy.
func TestMailConcurrencyFollowsSMTPMaxConnections(t *testing.T) {
	t.Parallel()
	smtpServer := smtptest.Start(t, smtptest.Options{ReplyDelay: 50 * time.Millisecond})
	ts := startMailServer(t, smtpServer.Port, map[string]string{"SMTP_MAX_CONNECTIONS": "12"}, "")
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wantStatus(t, ts.register(t, fmt.Sprintf("user%02d@example.com", i), mailPassword), http.StatusCreated)
		}()
	}
	wg.Wait()
	poll.Until(t, 20*time.Second, "30 emails arrive", func() bool { return len(smtpServer.Received()) == 30 })
	if _, most := smtpServer.OpenConnections(); most <= 8 || most > 12 {
		t.Fatalf("at most %d connections open at once, want more than the old 8 and at most 12", most)
	}
}
