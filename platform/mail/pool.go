package mail

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errTransportClosed: Send after Close.
var errTransportClosed = errors.New("SMTP transport closed")

// pool counts the transport's connections and keeps the idle ones. A slot is one open
// connection, whatever it does (opening, sending, idle, closing): at most max exist, so
// the server never sees more. Idle connections are reused last-in first-out, so a light
// load keeps one connection busy and lets the others time out.
type pool struct {
	max int

	mu     sync.Mutex
	open   int         // slots taken
	most   int         // the most slots ever taken at once
	idle   []*smtpConn // the most recently used last
	isShut bool
	change chan struct{} // closed and replaced when a slot or an idle connection frees up
}

func newPool(maxConns int) pool {
	return pool{max: maxConns, change: make(chan struct{})}
}

// get returns an idle connection, or nil and a slot in which the caller must open one
// (and call closed if it fails). It waits while every slot is taken, until ctx ends.
func (p *pool) get(ctx context.Context) (*smtpConn, error) {
	for {
		p.mu.Lock()
		if p.isShut {
			p.mu.Unlock()
			return nil, errTransportClosed
		}
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			c.stopIdleTimer()
			return c, nil
		}
		if p.open < p.max {
			p.open++
			p.most = max(p.most, p.open)
			p.mu.Unlock()
			return nil, nil
		}
		wait := p.change
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait:
		}
	}
}

// put makes c idle; onIdle runs if it is still idle after idleTimeout. It returns false
// when the pool is shut: the caller closes c.
func (p *pool) put(c *smtpConn, idleTimeout time.Duration, onIdle func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isShut {
		return false
	}
	if idleTimeout > 0 {
		c.idleTimer = time.AfterFunc(idleTimeout, onIdle)
	}
	p.idle = append(p.idle, c)
	p.signal()
	return true
}

// remove takes c out of the idle connections, and runs removed before it unlocks; false
// if c is not there (in use again, or taken by shut). Its slot stays taken until closed.
func (p *pool) remove(c *smtpConn, removed func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, ic := range p.idle {
		if ic == c {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			removed()
			return true
		}
	}
	return false
}

// closed frees the slot of a connection that is closed (or failed to open).
func (p *pool) closed() {
	p.mu.Lock()
	p.open--
	p.signal()
	p.mu.Unlock()
}

// shut refuses every later get and returns the idle connections, for the caller to close.
func (p *pool) shut() []*smtpConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isShut = true
	idle := p.idle
	p.idle = nil
	p.signal()
	return idle
}

// counts returns the slots taken, the idle connections and the most slots taken at once.
func (p *pool) counts() (open, idle, most int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, len(p.idle), p.most
}

// signal wakes the waiters of get; p.mu is held.
func (p *pool) signal() {
	close(p.change)
	p.change = make(chan struct{})
}

// PoolStats counts what an SMTPTransport's connections did since it was made.
type PoolStats struct {
	// Open is the connections open now (opening, sending, idle or closing); Idle those
	// waiting for an email; MostOpen the most ever open at once.
	Open, Idle, MostOpen int
	// Opened counts the connections opened; OpenFailures the attempts that failed
	// (connection, greeting, STARTTLS, AUTH).
	Opened, OpenFailures int64
	// Reconnects counts the reused connections found closed by the server before an
	// email's data was complete, replaced on the spot (the email sent once, on the new one).
	Reconnects int64
	// ClosedIdle, ClosedAtLimit and ClosedOnError count the connections closed for being
	// idle past IdleTimeout, after MaxMessagesPerConnection emails, and after an error.
	ClosedIdle, ClosedAtLimit, ClosedOnError int64
	// Sent counts the emails the server accepted, Rejected those it refused for good,
	// Failed the sends that failed otherwise (to be tried again).
	Sent, Rejected, Failed int64
}

// MessagesPerConnection is the emails accepted per connection opened, on average.
func (s PoolStats) MessagesPerConnection() float64 {
	if s.Opened == 0 {
		return 0
	}
	return float64(s.Sent) / float64(s.Opened)
}

type counters struct {
	opened, openFailures, reconnects         atomic.Int64
	closedIdle, closedAtLimit, closedOnError atomic.Int64
	sent, rejected, failed                   atomic.Int64
}

// Stats returns the pool's counters, for logs and metrics.
func (t *SMTPTransport) Stats() PoolStats {
	open, idle, most := t.pool.counts()
	return PoolStats{
		Open: open, Idle: idle, MostOpen: most,
		Opened: t.stats.opened.Load(), OpenFailures: t.stats.openFailures.Load(), Reconnects: t.stats.reconnects.Load(),
		ClosedIdle: t.stats.closedIdle.Load(), ClosedAtLimit: t.stats.closedAtLimit.Load(), ClosedOnError: t.stats.closedOnError.Load(),
		Sent: t.stats.sent.Load(), Rejected: t.stats.rejected.Load(), Failed: t.stats.failed.Load(),
	}
}
