package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/mail/smtptest"
	"github.com/acme/identity/platform/poll"
)

// These tests run the pooled SMTP transport against the real SMTP server of smtptest, in
// the test process, and count what the server saw: connections, replies, messages.

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// pooled returns a plain-text transport to srv over at most maxConns connections, closed
// at the end of the test.
func pooled(t *testing.T, srv *smtptest.Server, maxConns int) *SMTPTransport {
	t.Helper()
	tr, err := NewSMTPTransport(config.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", MaxConnections: maxConns},
		"Identity <no-reply@example.com>", testLogger(t))
	if err != nil {
		t.Fatalf("NewSMTPTransport: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func numbered(i int) Message {
	return Message{
		ID: fmt.Sprintf("m%04d", i), To: fmt.Sprintf("u%04d@example.com", i),
		Subject: "Your activation code", Text: fmt.Sprintf("code %04d\n", i), HTML: "<p>code</p>",
	}
}

// sendAll sends numbered emails 0..n-1 one after the other, failing t on an error.
func sendAll(t *testing.T, tr *SMTPTransport, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := tr.Send(context.Background(), numbered(i)); err != nil {
			t.Fatalf("send #%d: %v", i, err)
		}
	}
}

// receivedOnce checks that srv holds each numbered email 0..n-1 exactly once, and nothing else.
func receivedOnce(t *testing.T, srv *smtptest.Server, n int) {
	t.Helper()
	for i := range n {
		if got := len(srv.To(numbered(i).To)); got != 1 {
			t.Errorf("%s received %d times, want exactly once", numbered(i).To, got)
		}
	}
	if got := len(srv.Received()); got != n {
		t.Errorf("the server received %d emails, want %d", got, n)
	}
}

func TestSMTPTransportReusesOneConnectionAtFourRoundTripsAnEmail(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	tr := pooled(t, srv, 4)
	sendAll(t, tr, 0, 1) // opens the connection: greeting, EHLO, then the email
	before := srv.Replies()
	sendAll(t, tr, 1, 30)
	// MAIL, RCPT, DATA, the data: four replies, four round trips, and no NOOP, RSET or
	// QUIT between emails.
	if got, want := srv.Replies()-before, 29*4; got != want {
		t.Errorf("29 emails on an open connection took %d replies, want %d (4 each)", got, want)
	}
	receivedOnce(t, srv, 30)
	if n := srv.Connections(); n != 1 {
		t.Errorf("30 emails one after the other used %d connections, want 1", n)
	}
	for _, r := range srv.Received() {
		if r.Conn != 1 {
			t.Fatalf("an email came on connection %d, want all on 1", r.Conn)
		}
	}
	s := tr.Stats()
	if s.Opened != 1 || s.Sent != 30 || s.Open != 1 || s.Idle != 1 || s.MessagesPerConnection() != 30 {
		t.Errorf("stats %+v (%.1f per connection), want 1 opened, 30 sent, 1 open and idle", s, s.MessagesPerConnection())
	}
}

func TestSMTPTransportNeverOpensMoreThanMaxConnections(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{ReplyDelay: 2 * time.Millisecond})
	const maxConns, emails, senders = 3, 150, 10
	tr := pooled(t, srv, maxConns)
	if tr.MaxConcurrent() != maxConns {
		t.Fatalf("MaxConcurrent %d, want %d", tr.MaxConcurrent(), maxConns)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range senders { // more senders than connections: some wait for a free one
		wg.Go(func() {
			for i := range next {
				if err := tr.Send(context.Background(), numbered(i)); err != nil {
					t.Errorf("send #%d: %v", i, err)
				}
			}
		})
	}
	for i := range emails {
		next <- i
	}
	close(next)
	wg.Wait()
	receivedOnce(t, srv, emails)
	_, most := srv.OpenConnections()
	if n := srv.Connections(); n > maxConns || most > maxConns {
		t.Errorf("%d connections, %d at once, want at most %d", n, most, maxConns)
	}
	t.Logf("stats %+v", tr.Stats())
}

func TestSMTPTransportClosesConnectionAfterMessageLimit(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	tr := pooled(t, srv, 2)
	tr.MaxMessagesPerConnection = 10
	sendAll(t, tr, 0, 25)
	receivedOnce(t, srv, 25)
	if n := srv.Connections(); n != 3 {
		t.Errorf("25 emails at 10 per connection used %d connections, want 3", n)
	}
	poll.Until(t, 5*time.Second, "the two spent connections are closed", func() bool {
		now, _ := srv.OpenConnections()
		return now == 1 && tr.Stats().Open == 1 // on both sides (see ClosesIdleConnection)
	})
	if s := tr.Stats(); s.ClosedAtLimit != 2 || s.Opened != 3 || s.Open != 1 {
		t.Errorf("stats %+v, want 2 closed at the limit, 3 opened, 1 open", s)
	}
}

func TestSMTPTransportClosesIdleConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	tr := pooled(t, srv, 2)
	tr.IdleTimeout = 100 * time.Millisecond
	sendAll(t, tr, 0, 1)
	// Closed on both sides: the server counts it closed as it ends the session, the pool
	// a moment later, when its QUIT returns.
	poll.Until(t, 5*time.Second, "the idle connection is closed", func() bool {
		now, _ := srv.OpenConnections()
		return now == 0 && tr.Stats().Open == 0
	})
	if s := tr.Stats(); s.ClosedIdle != 1 || s.Open != 0 || s.Idle != 0 {
		t.Errorf("stats %+v, want 1 closed idle, none open", s)
	}
	sendAll(t, tr, 1, 2)
	receivedOnce(t, srv, 2)
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2: a new one after the idle one closed", n)
	}
}

// Issue 8: once the server answered the data with 2xx the email is sent, whatever happens
// to the session afterwards.
func TestSMTPTransportAcceptedDataCountsAsSentWhenQUITFails(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	srv.OnData(func([]string) error { return smtptest.ErrAcceptThenDrop }) // 250, then QUIT unanswered
	tr := pooled(t, srv, 2)
	tr.MaxMessagesPerConnection = 1 // QUIT right after each email
	sendAll(t, tr, 0, 5)
	poll.Until(t, 5*time.Second, "every connection is closed", func() bool {
		now, _ := srv.OpenConnections()
		return now == 0 && tr.Stats().Open == 0
	})
	receivedOnce(t, srv, 5)
}

func TestSMTPTransportReplacesConnectionDroppedAfterAcceptedData(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	var mu sync.Mutex
	first := true
	srv.OnData(func([]string) error {
		mu.Lock()
		defer mu.Unlock()
		if first { // 250 to the first email, then the connection drops at the next MAIL
			first = false
			return smtptest.ErrAcceptThenDrop
		}
		return nil
	})
	tr := pooled(t, srv, 2)
	sendAll(t, tr, 0, 3)
	receivedOnce(t, srv, 3)
	if s := tr.Stats(); s.Reconnects != 1 || s.Opened != 2 || s.Sent != 3 || s.Failed != 0 {
		t.Errorf("stats %+v, want 1 reconnect, 2 opened, 3 sent, none failed", s)
	}
}

func TestSMTPTransportReplacesConnectionClosedMidBatch(t *testing.T) {
	for name, answer := range map[string]error{
		"closed without a reply": smtptest.ErrDrop,
		"421 closing":            &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "too many messages on this connection"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{})
			// The server gives up on a connection at its fourth MAIL, as a provider with a
			// limit per connection does.
			srv.OnMail(func(s smtptest.SessionInfo) error {
				if s.Accepted == 3 {
					return answer
				}
				return nil
			})
			tr := pooled(t, srv, 1)
			sendAll(t, tr, 0, 10)
			receivedOnce(t, srv, 10)
			if n := srv.Connections(); n != 4 {
				t.Errorf("%d connections, want 4 (3 + 3 + 3 + 1 emails)", n)
			}
			if s := tr.Stats(); s.Reconnects != 3 || s.Sent != 10 || s.Failed != 0 {
				t.Errorf("stats %+v, want 3 reconnects, 10 sent, none failed", s)
			}
		})
	}
}

func TestSMTPTransportDoesNotRetryOnTheSpotWhenAFreshConnectionFails(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	srv.OnMail(func(smtptest.SessionInfo) error { return smtptest.ErrDrop })
	tr := pooled(t, srv, 2)
	err := tr.Send(context.Background(), numbered(0))
	if err == nil || IsRejected(err) {
		t.Fatalf("Send on a connection that drops: %v, want a temporary error", err)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1: a fresh connection that fails is the caller's to retry later", n)
	}
	if s := tr.Stats(); s.Failed != 1 || s.Open != 0 {
		t.Errorf("stats %+v, want 1 failed, the connection closed", s)
	}
}

func TestSMTPTransportLostReplyToDataIsNotRetriedOnTheSpot(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	srv.OnData(func(to []string) error {
		if to[0] == numbered(1).To {
			return smtptest.ErrKeepThenDrop // delivered, but the client never hears it
		}
		return nil
	})
	tr := pooled(t, srv, 2)
	sendAll(t, tr, 0, 1)
	err := tr.Send(context.Background(), numbered(1))
	if err == nil || IsRejected(err) {
		t.Fatalf("Send whose reply was lost: %v, want a temporary error", err)
	}
	// The server may have the email: sending it again at once on a new connection could
	// double it. The caller retries later, with the same Message-ID.
	if got := len(srv.To(numbered(1).To)); got != 1 {
		t.Errorf("the server holds %d copies, want 1", got)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1 (no retry on the spot)", n)
	}
}

func TestSMTPTransportClassifiesRefusals(t *testing.T) {
	reply := func(code int, enhanced smtp.EnhancedCode, text string) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
	}
	tests := []struct {
		name         string
		at           string // MAIL, RCPT or data
		answer       error
		wantRejected bool
		wantCode     string
		// wantSameConn: the connection goes on (after RSET) for the next email.
		wantSameConn bool
	}{
		{"mailbox unavailable", "RCPT", reply(550, smtp.EnhancedCode{5, 1, 1}, "mailbox unavailable"), true, "550", true},
		{"sender refused", "MAIL", reply(553, smtp.EnhancedCode{5, 1, 8}, "sender refused"), true, "553", true},
		{"message refused", "data", reply(554, smtp.EnhancedCode{5, 7, 1}, "message refused"), true, "554", true},
		{"try later at RCPT", "RCPT", reply(451, smtp.EnhancedCode{4, 3, 0}, "try again later"), false, "451", true},
		{"try later at data", "data", reply(452, smtp.EnhancedCode{4, 3, 1}, "insufficient storage"), false, "452", true},
		{"closing at MAIL", "MAIL", reply(421, smtp.EnhancedCode{4, 7, 0}, "closing"), false, "421", false},
		{"authentication required", "MAIL", reply(530, smtp.EnhancedCode{5, 7, 0}, "authentication required"), false, "530", false},
		{"bad sequence", "RCPT", reply(503, smtp.EnhancedCode{5, 5, 1}, "bad sequence of commands"), false, "503", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{})
			refuse := func(to string) error {
				if to == numbered(0).To {
					return tt.answer
				}
				return nil
			}
			switch tt.at {
			case "MAIL":
				var once sync.Once
				srv.OnMail(func(smtptest.SessionInfo) error {
					var err error
					once.Do(func() { err = tt.answer })
					return err
				})
			case "RCPT":
				srv.OnRcpt(refuse)
			case "data":
				srv.OnData(func(to []string) error { return refuse(to[0]) })
			}
			tr := pooled(t, srv, 1)
			err := tr.Send(context.Background(), numbered(0))
			if err == nil || !strings.Contains(err.Error(), tt.wantCode) {
				t.Fatalf("Send error %v, want one carrying %s", err, tt.wantCode)
			}
			if IsRejected(err) != tt.wantRejected {
				t.Errorf("IsRejected(%v) = %v, want %v", err, IsRejected(err), tt.wantRejected)
			}
			var rej *RejectedError
			if errors.As(err, &rej) && (rej.Command != tt.at || fmt.Sprint(rej.Code) != tt.wantCode) {
				t.Errorf("rejection %+v, want at %s with %s", rej, tt.at, tt.wantCode)
			}
			// The next email goes through: on the same connection after RSET, or on a new one.
			sendAll(t, tr, 1, 2)
			if got := len(srv.To(numbered(1).To)); got != 1 {
				t.Errorf("the next email was received %d times, want 1", got)
			}
			if wantConns := map[bool]int{true: 1, false: 2}[tt.wantSameConn]; srv.Connections() != wantConns {
				t.Errorf("%d connections, want %d", srv.Connections(), wantConns)
			}
			s := tr.Stats()
			if tt.wantRejected && (s.Rejected != 1 || s.Failed != 0) || !tt.wantRejected && (s.Rejected != 0 || s.Failed != 1) {
				t.Errorf("stats %+v: rejected/failed counted wrong", s)
			}
		})
	}
}

func TestSMTPTransportMessageIDIsTheEmailsOwn(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	tr := pooled(t, srv, 2)
	m := numbered(7)
	m.ID = "0b3d4c1e-6f2a-4c59-9d1e-1a2b3c4d5e6f"
	for range 2 {
		if err := tr.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	anon := numbered(8)
	anon.ID = ""
	for range 2 {
		if err := tr.Send(context.Background(), anon); err != nil {
			t.Fatal(err)
		}
	}
	idOf := func(r smtptest.Received) string {
		msg, err := netmail.ReadMessage(strings.NewReader(string(r.Data)))
		if err != nil {
			t.Fatalf("read message: %v", err)
		}
		return msg.Header.Get("Message-ID")
	}
	for _, r := range srv.To(m.To) {
		if got, want := idOf(r), "<"+m.ID+"@example.com>"; got != want {
			t.Errorf("Message-ID %q, want %q on every send of the email", got, want)
		}
	}
	if got := srv.To(anon.To); len(got) != 2 || idOf(got[0]) == "" || idOf(got[0]) == idOf(got[1]) {
		t.Errorf("emails without an ID must get a fresh Message-ID each; got %d emails", len(got))
	}
	bad := numbered(9)
	bad.ID = "x>\r\nBcc: victim@example.com"
	if err := tr.Send(context.Background(), bad); err == nil || len(srv.To(bad.To)) != 0 {
		t.Errorf("an ID that is not a plain token was sent (error %v)", err)
	}
}

func TestSMTPTransportReusesAuthenticatedTLSConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{TLS: "starttls", Username: "smtp-user", Password: "s3cret", ReplyDelay: time.Millisecond})
	tr := transportTo(t, srv, "starttls", "smtp-user", "s3cret")
	t.Cleanup(func() { _ = tr.Close() })
	sendAll(t, tr, 0, 5)
	receivedOnce(t, srv, 5)
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1: STARTTLS and AUTH are paid once", n)
	}
	for _, r := range srv.Received() {
		if r.Authenticated != "smtp-user" {
			t.Errorf("email on connection %d not authenticated", r.Conn)
		}
	}
}

func TestSMTPTransportCloseSaysQUIT(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	tr := pooled(t, srv, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if err := tr.Send(context.Background(), numbered(i)); err != nil {
				t.Errorf("send: %v", err)
			}
		})
	}
	wg.Wait()
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	poll.Until(t, 5*time.Second, "the server sees every connection closed", func() bool {
		now, _ := srv.OpenConnections()
		return now == 0
	})
	if s := tr.Stats(); s.Open != 0 {
		t.Errorf("stats %+v after Close, want none open", s)
	}
	if err := tr.Send(context.Background(), numbered(9)); err == nil {
		t.Error("Send after Close succeeded")
	}
}

func TestSMTPTransportWaitForAFreeConnectionHonoursContext(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	hung := make(chan struct{})
	srv.OnData(func(to []string) error {
		if to[0] == numbered(0).To {
			close(hung)
			<-srv.Released()
		}
		return nil
	})
	tr := pooled(t, srv, 1)
	holdCtx, release := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() { // holds the only connection until the test ends
		defer close(held)
		_ = tr.Send(holdCtx, numbered(0))
	}()
	t.Cleanup(func() { release(); <-held })
	<-hung
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tr.Send(ctx, numbered(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send with every connection busy: %v, want the context's deadline", err)
	}
}

func TestSMTPTransportReusesTheMostRecentlyUsedConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	// The first three emails meet in DATA, so three connections open.
	var (
		mu      sync.Mutex
		arrived int
	)
	allThere := make(chan struct{})
	srv.OnData(func([]string) error {
		mu.Lock()
		arrived++
		if arrived == 3 {
			close(allThere)
		}
		mu.Unlock()
		select {
		case <-allThere:
		case <-srv.Released():
		}
		return nil
	})
	tr := pooled(t, srv, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if err := tr.Send(context.Background(), numbered(i)); err != nil {
				t.Errorf("send: %v", err)
			}
		})
	}
	wg.Wait()
	if n := srv.Connections(); n != 3 {
		t.Fatalf("%d connections after three emails at once, want 3", n)
	}
	// One email at a time: always the connection used last, so the other two can reach
	// their idle timeout instead of being kept alive in turn.
	sendAll(t, tr, 3, 12)
	conns := map[int]int{}
	for _, r := range srv.Received()[3:] {
		conns[r.Conn]++
	}
	if len(conns) != 1 {
		t.Errorf("nine emails one at a time went over connections %v, want one", conns)
	}
}
