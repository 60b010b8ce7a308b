package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"regexp"
	"strings"
	"sync"
)

// PGProxy sits between the service and PostgreSQL and counts the service's round trips:
// every Sync (the end of an extended-protocol exchange, which the client waits for) and
// every simple Query, and which statement each Bind executes.
type PGProxy struct {
	ln       net.Listener
	upstream string

	mu sync.Mutex
	// roundTrips counts Sync and Query messages.
	roundTrips int
	// statements counts executions by statement name (sqlc's "-- name:" or the SQL).
	statements map[string]int
	conns      map[net.Conn]struct{}
	closed     bool
}

// StartPGProxy listens on a free port of 127.0.0.1 and forwards to upstream (host:port).
func StartPGProxy(upstream string) (*PGProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &PGProxy{ln: ln, upstream: upstream, statements: map[string]int{}, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

// Addr is where the proxy listens.
func (p *PGProxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and cuts its connections.
func (p *PGProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
}

// Counts returns the round trips and the executions by statement so far.
func (p *PGProxy) Counts() (int, map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.roundTrips, maps.Clone(p.statements)
}

func (p *PGProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *PGProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(client)
	}
}

func (p *PGProxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(client) || !p.track(server) {
		return
	}
	go func() {
		_, _ = io.Copy(client, server)
		_ = client.Close()
	}()
	_ = p.forward(bufio.NewReader(client), server)
}

// forward copies the client's messages to the server, counting them.
func (p *PGProxy) forward(r *bufio.Reader, w io.Writer) error {
	names := map[string]string{} // prepared statement name → statement label
	// Startup-phase messages have no type byte: a length, then a protocol code.
	for {
		head := make([]byte, 8)
		if _, err := io.ReadFull(r, head); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(head[:4])
		code := binary.BigEndian.Uint32(head[4:])
		if n < 8 {
			return errors.New("bad startup length")
		}
		rest := make([]byte, n-8)
		if _, err := io.ReadFull(r, rest); err != nil {
			return err
		}
		if _, err := w.Write(append(head, rest...)); err != nil {
			return err
		}
		if code == 196608 { // protocol 3.0: the startup message; typed messages follow
			break
		}
	}
	for {
		head := make([]byte, 5)
		if _, err := io.ReadFull(r, head); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(head[1:])
		if n < 4 {
			return errors.New("bad message length")
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		p.observe(head[0], body, names)
		if _, err := w.Write(append(head, body...)); err != nil {
			return err
		}
	}
}

func (p *PGProxy) observe(kind byte, body []byte, names map[string]string) {
	cstrings := func() []string { return strings.Split(string(body), "\x00") }
	p.mu.Lock()
	defer p.mu.Unlock()
	switch kind {
	case 'S': // Sync
		p.roundTrips++
	case 'Q': // simple Query
		p.roundTrips++
		p.statements[statementLabel(strings.TrimRight(string(body), "\x00"))]++
	case 'P': // Parse: name, query
		if f := cstrings(); len(f) >= 2 {
			names[f[0]] = statementLabel(f[1])
		}
	case 'B': // Bind: portal, statement
		if f := cstrings(); len(f) >= 2 {
			label, ok := names[f[1]]
			if !ok {
				label = "(unknown statement)"
			}
			p.statements[label]++
		}
	}
}

var sqlcName = regexp.MustCompile(`--\s*name:\s*(\w+)`)

// statementLabel names a statement by sqlc's query name, else by its first words.
func statementLabel(sql string) string {
	if m := sqlcName.FindStringSubmatch(sql); m != nil {
		return m[1]
	}
	words := strings.Fields(string(bytes.ToLower([]byte(sql))))
	if len(words) > 6 {
		words = words[:6]
	}
	return strings.Join(words, " ")
}
