package smtptest

import (
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests talk raw SMTP to the server, line by line, so that what they check is the
// server's behaviour and not a client's.

type rawClient struct {
	t    *testing.T
	text *textproto.Conn
}

func dial(t *testing.T, s *Server) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &rawClient{t: t, text: textproto.NewConn(conn)}
	c.expect(220)
	c.cmd(250, "EHLO client.test")
	return c
}

// cmd sends line and reads the reply, failing t unless its code is want.
func (c *rawClient) cmd(want int, line string) {
	c.t.Helper()
	if err := c.text.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
	c.expect(want)
}

func (c *rawClient) expect(want int) {
	c.t.Helper()
	if _, msg, err := c.text.ReadResponse(want); err != nil {
		c.t.Fatalf("reply: %v (%s)", err, msg)
	}
}

// send runs one mail transaction to "to" and expects the reply to the data to be want.
func (c *rawClient) send(to string, want int) {
	c.t.Helper()
	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(250, "RCPT TO:<"+to+">")
	c.cmd(354, "DATA")
	if err := c.text.PrintfLine("Subject: hi\r\n\r\nbody\r\n."); err != nil {
		c.t.Fatalf("send data: %v", err)
	}
	c.expect(want)
}

func TestReplyDelayCostsOneDelayPerCommand(t *testing.T) {
	t.Parallel()
	const delay = 30 * time.Millisecond
	s := Start(t, Options{ReplyDelay: delay})
	c := dial(t, s)
	begin := time.Now()
	for range 3 {
		c.cmd(250, "NOOP")
	}
	if took := time.Since(begin); took < 3*delay {
		t.Errorf("3 commands answered in %v, want at least 3 × %v", took, delay)
	}
	if s.Replies() != 5 { // greeting, EHLO, 3 NOOP
		t.Errorf("%d replies counted, want 5", s.Replies())
	}
}

func TestCountsConnectionsAndMessages(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	a, b := dial(t, s), dial(t, s)
	a.send("x@example.com", 250)
	a.send("y@example.com", 250)
	b.send("z@example.com", 250)
	if now, most := s.OpenConnections(); now != 2 || most != 2 || s.Connections() != 2 {
		t.Errorf("open %d, most %d, accepted %d; want 2, 2, 2", now, most, s.Connections())
	}
	a.cmd(221, "QUIT")
	deadline := time.Now().Add(5 * time.Second)
	for now, _ := s.OpenConnections(); now != 1; now, _ = s.OpenConnections() {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after a QUIT, want 1", now)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := s.Received()
	if len(got) != 3 || got[0].Conn != 1 || got[1].Conn != 1 || got[2].Conn != 2 {
		t.Errorf("received %d emails on connections %v, want 3 on 1, 1, 2", len(got), []int{got[0].Conn, got[1].Conn, got[2].Conn})
	}
}

func TestDropsWhereTold(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.OnMail(func(info SessionInfo) error {
		if info.Accepted == 1 {
			return ErrDrop
		}
		return nil
	})
	s.OnData(func(to []string) error {
		switch to[0] {
		case "accept-then-drop@example.com":
			return ErrAcceptThenDrop
		case "keep-then-drop@example.com":
			return ErrKeepThenDrop
		}
		return nil
	})

	// A 250 to the data, then the next command goes unanswered.
	c := dial(t, s)
	c.send("accept-then-drop@example.com", 250)
	mustBeClosed(t, c, "RSET")

	// The data kept, but no reply.
	c = dial(t, s)
	c.cmd(250, "MAIL FROM:<a@example.com>")
	c.cmd(250, "RCPT TO:<keep-then-drop@example.com>")
	c.cmd(354, "DATA")
	if err := c.text.PrintfLine("Subject: hi\r\n\r\nbody\r\n."); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.text.ReadResponse(250); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("reply to the data: %v, want the connection closed", err)
	}

	// OnMail: the second MAIL of a connection is dropped.
	c = dial(t, s)
	c.send("plain@example.com", 250)
	mustBeClosed(t, c, "MAIL FROM:<a@example.com>")

	if len(s.To("accept-then-drop@example.com")) != 1 || len(s.To("keep-then-drop@example.com")) != 1 || len(s.To("plain@example.com")) != 1 {
		t.Errorf("received %d emails, want the three kept", len(s.Received()))
	}
}

func mustBeClosed(t *testing.T, c *rawClient, line string) {
	t.Helper()
	if err := c.text.PrintfLine("%s", line); err != nil {
		return // closed already
	}
	if code, msg, err := c.text.ReadResponse(0); err == nil || !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("%s answered %d %s (%v), want the connection closed", line, code, msg, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
