package outbox

import (
	"context"
	"fmt"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/mail"
	"github.com/acme/identity/platform/mail/smtptest"
	"github.com/acme/identity/platform/poll"
)

// These tests run the outbox with the production SMTP transport against the real
// PostgreSQL and a real SMTP server in the test process: what the server received is
// compared with what the outbox recorded.

// smtpSender returns the SMTP transport to srv over at most maxConns connections, from
// no-reply@example.com, closed at the end of the test.
func smtpSender(t *testing.T, srv *smtptest.Server, maxConns int) *mail.SMTPTransport {
	t.Helper()
	tr, err := mail.NewSMTPTransport(config.SMTP{Host: srv.Host, Port: srv.Port, TLS: "none", MaxConnections: maxConns},
		"Identity <no-reply@example.com>", testLogger(t))
	if err != nil {
		t.Fatalf("SMTP transport: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// enqueueMany queues emails to r0000@example.com … in one transaction.
func enqueueMany(t *testing.T, pool *pgxpool.Pool, ob *Outbox, n int) {
	t.Helper()
	ctx := context.Background()
	emails := make([]Email, n)
	for i := range emails {
		to := fmt.Sprintf("r%04d@example.com", i)
		emails[i] = Email{Message: mail.Message{To: to, Subject: "code", Text: "code 1234 for " + to, HTML: "<p>1234</p>"}}
	}
	if err := database.InTx(ctx, pool, func(tx pgx.Tx) error { return ob.Queue(ctx, tx, emails...) }); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

// outboxState counts the outbox rows by outcome, and the finished rows that kept a body.
type outboxState struct{ Sent, Failed, Dropped, Unfinished, FinishedWithBody int }

func stateOf(t *testing.T, pool *pgxpool.Pool) outboxState {
	t.Helper()
	var s outboxState
	err := pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE sent_at IS NOT NULL),
		       count(*) FILTER (WHERE failed_at IS NOT NULL),
		       count(*) FILTER (WHERE dropped_at IS NOT NULL),
		       count(*) FILTER (WHERE num_nonnulls(sent_at, dropped_at, failed_at) = 0),
		       count(*) FILTER (WHERE num_nonnulls(sent_at, dropped_at, failed_at) = 1 AND (text_body <> '' OR html_body <> ''))
		FROM platform.outbox_emails`).Scan(&s.Sent, &s.Failed, &s.Dropped, &s.Unfinished, &s.FinishedWithBody)
	if err != nil {
		t.Fatalf("outbox state: %v", err)
	}
	return s
}

func messageIDOf(t *testing.T, r smtptest.Received) string {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(string(r.Data)))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	return msg.Header.Get("Message-ID")
}

func TestDeliveryOfHundredsOfEmailsOverPooledConnections(t *testing.T) {
	const emails, maxConns = 300, 4
	tests := []struct {
		name  string
		setup func(srv *smtptest.Server)
		// wantConnsAtMost bounds the connections the server saw in all.
		wantConnsAtMost int
	}{
		{name: "steady", setup: func(*smtptest.Server) {}, wantConnsAtMost: maxConns},
		{
			name: "server closes connections mid-batch",
			setup: func(srv *smtptest.Server) {
				// Every connection dies at its 31st MAIL without an answer (a provider's
				// limit per connection, or a network cut), and every 40th email is
				// accepted, then its connection dropped at the next command.
				srv.OnMail(func(s smtptest.SessionInfo) error {
					if s.Accepted == 30 {
						return smtptest.ErrDrop
					}
					return nil
				})
				var (
					mu sync.Mutex
					n  int
				)
				srv.OnData(func([]string) error {
					mu.Lock()
					defer mu.Unlock()
					if n++; n%40 == 0 {
						return smtptest.ErrAcceptThenDrop
					}
					return nil
				})
			},
			wantConnsAtMost: emails,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.NewPool(t)
			srv := smtptest.Start(t, smtptest.Options{ReplyDelay: time.Millisecond})
			tt.setup(srv)
			sender := smtpSender(t, srv, maxConns)
			opts := fastOptions
			opts.Concurrency = 0 // one send per pooled connection
			r := newReplica(t, pool, sender, opts, fastJobs, testLogger(t))
			enqueueMany(t, pool, r.ob, emails)
			run(t, r)
			poll.Until(t, 60*time.Second, "every email is recorded sent", func() bool { return stateOf(t, pool).Sent == emails })

			ids := map[string]string{} // recipient -> <message_id@example.com>
			rows, err := pool.Query(context.Background(), `SELECT recipient, message_id::text FROM platform.outbox_emails`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var to, id string
				if err := rows.Scan(&to, &id); err != nil {
					t.Fatal(err)
				}
				ids[to] = "<" + id + "@example.com>"
			}
			rows.Close()
			for to, want := range ids {
				got := srv.To(to)
				if len(got) != 1 {
					t.Errorf("%s received %d times, want exactly once", to, len(got))
					continue
				}
				if id := messageIDOf(t, got[0]); id != want {
					t.Errorf("%s: Message-ID %s, want %s", to, id, want)
				}
			}
			if n := len(srv.Received()); n != emails {
				t.Errorf("the server received %d emails, want %d", n, emails)
			}
			// The pool's own count is exact. The server's lags when a connection closes: it
			// learns of a close only as it reads the end of the stream, and the client may
			// have opened the next connection by then; so it is held to the bound only
			// where no connection closes mid-run.
			_, most := srv.OpenConnections()
			if ps := sender.Stats(); ps.MostOpen > maxConns || srv.Connections() > tt.wantConnsAtMost ||
				(tt.wantConnsAtMost == maxConns && most > maxConns) {
				t.Errorf("%d connections in all, %d at once (the pool counted %d); want at most %d at once and %d in all",
					srv.Connections(), most, ps.MostOpen, maxConns, tt.wantConnsAtMost)
			}
			if s := stateOf(t, pool); s.FinishedWithBody != 0 || s.Unfinished != 0 {
				t.Errorf("outbox %+v: want every email finished, no body kept", s)
			}
			ps, ds := sender.Stats(), r.ob.Stats()
			t.Logf("%d connections (%d at once); pool %+v, %.1f emails per connection; outbox %+v",
				srv.Connections(), most, ps, ps.MessagesPerConnection(), ds)
			if ds.Sent != emails || ds.Failed != 0 {
				t.Errorf("outbox stats %+v, want %d sent and no failed attempt (broken pooled connections are replaced on the spot)", ds, emails)
			}
		})
	}
}

func TestDeliveryPermanentRefusalFailsForGoodTemporaryIsRetried(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	srv := smtptest.Start(t, smtptest.Options{})
	var (
		mu    sync.Mutex
		tries = map[string]int{}
	)
	srv.OnRcpt(func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		tries[to]++
		switch {
		case to == "gone@example.com":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
		case to == "busy@example.com" && tries[to] == 1:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	})
	r := newReplica(t, pool, smtpSender(t, srv, 2), fastOptions, fastJobs, testLogger(t))
	run(t, r)
	enqueue(t, pool, r.ob, "gone@example.com", nil)
	enqueue(t, pool, r.ob, "busy@example.com", nil)
	poll.Until(t, 10*time.Second, "the 550 is recorded failed and the 451 sent at its retry", func() bool {
		return rowOf(t, pool, "gone@example.com").Failed && rowOf(t, pool, "busy@example.com").Sent
	})
	gone := rowOf(t, pool, "gone@example.com")
	if gone.Attempts != 1 || !gone.Erased || gone.LastError == nil || !strings.Contains(*gone.LastError, "550") {
		t.Errorf("rejected row %+v (last_error %s), want 1 attempt, the 550 recorded, bodies erased", gone, deref(gone.LastError))
	}
	if busy := rowOf(t, pool, "busy@example.com"); busy.Attempts != 2 || !busy.Erased || busy.LastError != nil {
		t.Errorf("retried row %+v, want sent at attempt 2, bodies erased", busy)
	}
	mu.Lock()
	defer mu.Unlock()
	if tries["gone@example.com"] != 1 || len(srv.To("gone@example.com")) != 0 || len(srv.To("busy@example.com")) != 1 {
		t.Errorf("RCPT tries %v, want the 550 tried once", tries)
	}
	if s := r.ob.Stats(); s.Rejected != 1 || s.Failed != 1 || s.Sent != 1 {
		t.Errorf("stats %+v, want 1 rejected, 1 failed attempt, 1 sent", s)
	}
}

// A reply to the data that never arrives is the one case where the email may be sent
// twice (at least once, RFC 1047): the copies carry one Message-ID.
func TestDeliveryLostReplyToDataResendsWithTheSameMessageID(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	srv := smtptest.Start(t, smtptest.Options{})
	var once sync.Once
	srv.OnData(func([]string) error {
		err := error(nil)
		once.Do(func() { err = smtptest.ErrKeepThenDrop })
		return err
	})
	r := newReplica(t, pool, smtpSender(t, srv, 2), fastOptions, fastJobs, testLogger(t))
	run(t, r)
	enqueue(t, pool, r.ob, "lost@example.com", nil)
	poll.Until(t, 10*time.Second, "the email is recorded sent", func() bool { return rowOf(t, pool, "lost@example.com").Sent })
	got := srv.To("lost@example.com")
	if len(got) != 2 {
		t.Fatalf("the server holds %d copies, want 2 (the lost reply, then the retry)", len(got))
	}
	row := rowOf(t, pool, "lost@example.com")
	want := "<" + row.MessageID + "@example.com>"
	for _, c := range got {
		if id := messageIDOf(t, c); id != want {
			t.Errorf("copy with Message-ID %s, want %s on both", id, want)
		}
	}
	if row.Attempts != 2 {
		t.Errorf("row %+v, want sent at attempt 2", row)
	}
}

// idRecorder passes emails on to next, keeping the Message-ID (mail.Message.ID) of every
// attempt by recipient; then (when set) runs after.
type idRecorder struct {
	next  Sender
	after func(ctx context.Context, err error) error

	mu  sync.Mutex
	ids map[string][]string
}

func (r *idRecorder) MaxConcurrent() int { return SenderConcurrency(r.next) }

func (r *idRecorder) Send(ctx context.Context, m mail.Message) error {
	r.mu.Lock()
	if r.ids == nil {
		r.ids = map[string][]string{}
	}
	r.ids[m.To] = append(r.ids[m.To], m.ID)
	r.mu.Unlock()
	err := r.next.Send(ctx, m)
	if r.after != nil {
		err = r.after(ctx, err)
	}
	return err
}

func (r *idRecorder) attempts(to string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids[to]...)
}

// TestDeliveryCutMidSend: a replica stopped in the middle of a send (its jobs' contexts
// cancelled, as at the end of ShutdownGrace) resends the email, with the same Message-ID,
// only when the server had not accepted the data: cut while the server holds its reply
// to the data (it then keeps nothing), the email goes back to the queue, its attempt not
// counted, and the next replica sends it once; cut just after the server accepted it, the
// email is recorded sent, and nobody sends it again.
func TestDeliveryCutMidSend(t *testing.T) {
	for _, accepted := range []bool{false, true} {
		name := "before the data was accepted"
		if accepted {
			name = "after the data was accepted"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.NewPool(t)
			srv := smtptest.Start(t, smtptest.Options{})
			inData := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			srv.OnData(func([]string) error {
				if accepted {
					return nil
				}
				cut := false
				once.Do(func() { cut = true })
				if !cut {
					return nil // the next replica's attempt
				}
				close(inData) // the data is in; the reply waits
				<-release
				return smtptest.ErrDrop // the server keeps nothing
			})
			jopts := fastJobs
			jopts.ShutdownGrace, jopts.AbandonAfter = 100*time.Millisecond, 2*time.Second
			runCtx, stopRun := context.WithCancel(context.Background())
			t.Cleanup(stopRun)
			first := &idRecorder{next: smtpSender(t, srv, 1)}
			if accepted {
				// The cut lands the moment the server has accepted the data.
				first.after = func(ctx context.Context, err error) error {
					stopRun()
					<-ctx.Done()
					return err
				}
			}
			a := newReplica(t, pool, first, fastOptions, jopts, testLogger(t))
			enqueue(t, pool, a.ob, "cut@example.com", nil)
			done := make(chan error, 1)
			go func() { done <- a.jobs.Run(runCtx) }()
			if !accepted {
				select {
				case <-inData:
				case <-time.After(5 * time.Second):
					t.Fatal("the send never reached the data")
				}
				stopRun()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the replica did not stop within 5 s")
			}
			close(release)

			row := rowOf(t, pool, "cut@example.com")
			if accepted && (!row.Sent || row.JobState != "completed") || !accepted && (row.Sent || row.JobState != "available" || row.JobAttempt != 0) {
				t.Fatalf("row after the cut: %+v; want it %s", row, map[bool]string{
					true: "recorded sent, its job completed", false: "unsent, its job available again, the attempt not counted",
				}[accepted])
			}
			// The next replica sends what is left to send, once.
			second := &idRecorder{next: smtpSender(t, srv, 1)}
			run(t, newReplica(t, pool, second, fastOptions, fastJobs, testLogger(t)))
			poll.Until(t, 5*time.Second, "the email is recorded sent", func() bool { return rowOf(t, pool, "cut@example.com").Sent })
			time.Sleep(3 * fastJobs.PollInterval) // a second send would show now

			got := srv.To("cut@example.com")
			want := "<" + row.MessageID + "@example.com>"
			if len(got) != 1 || messageIDOf(t, got[0]) != want {
				t.Fatalf("the server holds %d copies, want 1 with Message-ID %s", len(got), want)
			}
			ids := append(first.attempts("cut@example.com"), second.attempts("cut@example.com")...)
			if wantAttempts := map[bool]int{true: 1, false: 2}[accepted]; len(ids) != wantAttempts {
				t.Errorf("%d attempts %v, want %d", len(ids), ids, wantAttempts)
			}
			for _, id := range ids {
				if id != row.MessageID {
					t.Errorf("attempts carried Message-IDs %v, want %s on each", ids, row.MessageID)
				}
			}
		})
	}
}
