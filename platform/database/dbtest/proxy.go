package dbtest

import (
	"context"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Proxy is a TCP proxy between the code under test and the test PostgreSQL that injects
// the faults of a real network: added latency, a black hole (nothing goes through, as
// when a link or a host is gone: TCP keeps the data and delivers it if the link comes
// back), resets of the open connections, refused connections, and severed connections
// (the peer vanished without a word: nothing ever comes back on them). It runs in the
// test process; Heal ends every fault but severed connections, which stay dead.
type Proxy struct {
	backend string
	ln      net.Listener

	mu     sync.Mutex
	delay  time.Duration
	gate   chan struct{} // nil: data flows; else closed when the black hole ends
	refuse bool
	conns  map[*proxied]struct{}

	// held counts the chunks of data the black hole has stopped; heldSignal is
	// signalled on each.
	held       atomic.Int64
	heldSignal chan struct{}
}

type proxied struct {
	client, server net.Conn
	closed         chan struct{}
	once           sync.Once
	// severed: what the client sends is dropped, and nothing comes back.
	severed   atomic.Bool
	sever     chan struct{}
	severOnce sync.Once
}

// NewProxy starts a proxy to the server of databaseURL and returns it with databaseURL
// rewritten to go through it. The proxy stops when t ends.
func NewProxy(t testing.TB, databaseURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("proxy: parse %s: %v", databaseURL, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: listen: %v", err)
	}
	p := &Proxy{backend: u.Host, ln: ln, conns: map[*proxied]struct{}{}, heldSignal: make(chan struct{}, 1)}
	go p.accept()
	t.Cleanup(p.close)
	u.Host = ln.Addr().String()
	return p, u.String()
}

// Delay adds d before each chunk sent to the database is forwarded: each round trip
// takes d longer.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Blackhole stops all traffic, both ways, on open and new connections, until Heal.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate == nil {
		p.gate = make(chan struct{})
	}
	p.held.Store(0)
}

// Reset resets (TCP RST) every open connection, both sides.
func (p *Proxy) Reset() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[*proxied]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.reset()
	}
}

// Sever cuts every open connection silently: the database end is closed, the client end
// stays open, and from then on what the client sends is dropped and nothing comes back,
// as when a host dies or a NAT forgets the connection. Only a timeout gets the client
// out. New connections are not affected.
func (p *Proxy) Sever() {
	p.mu.Lock()
	conns := make([]*proxied, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.severOnce.Do(func() {
			c.severed.Store(true)
			close(c.sever)
			_ = c.server.Close()
		})
	}
}

// Refuse resets every open connection and every new one until Heal: the database is
// down.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	p.refuse = true
	p.mu.Unlock()
	p.Reset()
}

// Heal ends every fault: no delay, the black hole lets what it held through, new
// connections are accepted.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay, p.refuse = 0, false
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// WaitHeld waits until the black hole holds at least n chunks since it began (so that
// much database work is under way), failing t after timeout.
func (p *Proxy) WaitHeld(t testing.TB, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for p.held.Load() < n {
		select {
		case <-p.heldSignal:
		case <-deadline.C:
			t.Fatalf("proxy: %d chunks held after %v, want %d", p.held.Load(), timeout, n)
		}
	}
}

func (p *Proxy) close() {
	_ = p.ln.Close()
	p.Heal()
	p.Reset()
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			resetConn(client)
			continue
		}
		server, err := net.Dial("tcp", p.backend)
		if err != nil {
			resetConn(client)
			continue
		}
		c := &proxied{client: client, server: server, closed: make(chan struct{}), sever: make(chan struct{})}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.pump(c, client, server, true)
		go p.pump(c, server, client, false)
	}
}

// pump copies src to dst, chunk by chunk, through the faults in force.
func (p *Proxy) pump(c *proxied, src, dst net.Conn, toDatabase bool) {
	defer func() {
		if c.severed.Load() && !toDatabase {
			return // the database end is gone; the client end stays open and silent
		}
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass(c, toDatabase) {
				return
			}
			if c.severed.Load() {
				continue // dropped
			}
			if _, err := dst.Write(buf[:n]); err != nil && !c.severed.Load() {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pass waits as the faults require before a chunk goes on; false: the connection closed
// meanwhile.
func (p *Proxy) pass(c *proxied, toDatabase bool) bool {
	p.mu.Lock()
	gate, delay := p.gate, p.delay
	p.mu.Unlock()
	if gate != nil {
		p.held.Add(1)
		select {
		case p.heldSignal <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-c.sever:
		case <-c.closed:
			return false
		}
	}
	if delay > 0 && toDatabase {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.closed:
			return false
		}
	}
	return true
}

func (c *proxied) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.client.Close()
		_ = c.server.Close()
	})
}

func (c *proxied) reset() {
	c.once.Do(func() {
		close(c.closed)
		resetConn(c.client)
		resetConn(c.server)
	})
}

// resetConn closes conn with a TCP RST instead of a FIN.
func resetConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// TerminateBackends ends, with pg_terminate_backend, every session on the database of
// databaseURL but the caller's, the way an operator or a failover does; it returns how
// many it ended. It connects to the server directly, not through a Proxy.
func TerminateBackends(t testing.TB, databaseURL string) int {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("terminate backends: parse %s: %v", databaseURL, err)
	}
	name := u.Path[1:]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("terminate backends: connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()) AS ended`, name).Scan(&n); err != nil {
		t.Fatalf("terminate backends of %s: %v", name, err)
	}
	return n
}
