package smtptest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// listener wraps every accepted connection in a conn, beneath TLS: it counts connections
// and lets the server delay its replies and drop connections.
type listener struct {
	net.Listener
	server *Server
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.server
	s.mu.Lock()
	s.accepted++
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	c := &conn{Conn: nc, server: s, id: s.accepted, delay: s.replyDelay}
	s.conns[nc.RemoteAddr().String()] = c
	s.mu.Unlock()
	if c.delay > 0 {
		c.writes = make(chan delayedWrite, 256)
		c.writerDone = make(chan struct{})
		go c.writeLoop()
	}
	return c, nil
}

// connOf returns the connection from addr (nil if unknown).
func (s *Server) connOf(addr net.Addr) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[addr.String()]
}

// conn is one client connection as the server sees it. With a delay, each Write is queued
// and written delay after it was made, by one goroutine, in order: the latency of a
// network, not a server that is slow to think.
type conn struct {
	net.Conn
	server *Server
	id     int
	delay  time.Duration

	accepted atomic.Int64
	// dropOnNextCommand: the next bytes the client sends close the connection, unanswered.
	dropOnNextCommand atomic.Bool

	writeMu    sync.Mutex // guards closing and sending on writes
	writes     chan delayedWrite
	writerDone chan struct{}
	closing    bool

	closeOnce sync.Once
}

type delayedWrite struct {
	data []byte
	due  time.Time
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.dropOnNextCommand.Load() {
		c.abort()
		return 0, io.EOF
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	// go-smtp writes each line of a reply on its own; the last one reads "250 ...", the
	// others "250-...". Beneath TLS the bytes are records, not lines: not counted.
	if len(p) >= 4 && p[3] == ' ' && isDigit(p[0]) && isDigit(p[1]) && isDigit(p[2]) {
		c.server.replies.Add(1)
	}
	if c.delay <= 0 {
		return c.Conn.Write(p)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closing {
		return 0, net.ErrClosed
	}
	c.writes <- delayedWrite{data: append([]byte(nil), p...), due: time.Now().Add(c.delay)}
	return len(p), nil
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for w := range c.writes {
		if wait := time.Until(w.due); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := c.Conn.Write(w.data); err != nil {
			c.abort()
		}
	}
}

// Close delivers the replies still on their way (the server's "221 Bye"), then closes.
func (c *conn) Close() error {
	if c.delay > 0 {
		c.writeMu.Lock()
		if !c.closing {
			c.closing = true
			close(c.writes)
		}
		c.writeMu.Unlock()
		<-c.writerDone
	}
	return c.close()
}

// abort closes the connection at once; replies on their way are lost.
func (c *conn) abort() {
	_ = c.close()
}

func (c *conn) close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		// Counted closed before the client can see it closed, so that a reconnection
		// the close provokes is never counted beside it.
		s := c.server
		s.mu.Lock()
		s.open--
		delete(s.conns, c.Conn.RemoteAddr().String())
		s.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
