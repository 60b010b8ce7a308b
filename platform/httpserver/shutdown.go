package httpserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Shutdown timing. The contract gives the process 10 s from the signal to exit 0; the
// HTTP server takes at most DrainTimeout + CutGrace of them, leaving the rest to the
// workers and the database pool (see main.go).
const (
	// DrainTimeout is how long in-flight requests may finish once shutdown starts.
	DrainTimeout = 6 * time.Second
	// CutGrace is how long the requests cut at the end of the drain have to return.
	CutGrace = time.Second
)

// ErrShutdown is the cause of the context of every request still running when the drain
// ends: its database work is cancelled and it answers 503.
var ErrShutdown = errors.New("server shutting down: request cut after the drain")

// tracker knows what is in flight: the requests being handled, and the connections not
// idle (a client still sending its headers has a connection but no request yet).
type tracker struct {
	mu       sync.Mutex
	requests map[*inflight]struct{}
	conns    map[net.Conn]http.ConnState
	// changed is closed and replaced whenever a request ends.
	changed chan struct{}
}

type inflight struct {
	id, method, path string
	start            time.Time
}

func newTracker() *tracker {
	return &tracker{
		requests: map[*inflight]struct{}{},
		conns:    map[net.Conn]http.ConnState{},
		changed:  make(chan struct{}),
	}
}

// middleware registers each request while its handler runs.
func (t *tracker) middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := &inflight{id: RequestID(c), method: c.Request().Method, path: c.Request().URL.Path, start: time.Now()}
			t.mu.Lock()
			t.requests[r] = struct{}{}
			t.mu.Unlock()
			defer func() {
				t.mu.Lock()
				delete(t.requests, r)
				close(t.changed)
				t.changed = make(chan struct{})
				t.mu.Unlock()
			}()
			return next(c)
		}
	}
}

// connState is the http.Server's ConnState hook.
func (t *tracker) connState(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c)
	default:
		t.conns[c] = s
	}
}

// snapshot returns the requests in flight and the connections not idle.
func (t *tracker) snapshot() ([]inflight, int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	reqs := make([]inflight, 0, len(t.requests))
	for r := range t.requests {
		reqs = append(reqs, *r)
	}
	busy := 0
	for _, s := range t.conns {
		if s != http.StateIdle {
			busy++
		}
	}
	return reqs, busy, t.changed
}

// waitIdle waits until no request is in flight, at most until deadline; it returns the
// requests still running then.
func (t *tracker) waitIdle(deadline time.Time) []inflight {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		reqs, _, changed := t.snapshot()
		if len(reqs) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			reqs, _, _ = t.snapshot()
			return reqs
		}
	}
}

// shutdown stops s after ctx ended: it stops accepting, lets in-flight requests finish
// for DrainTimeout, then cuts what is still open: every request context is cancelled with
// ErrShutdown (running queries stop), every connection is closed (a client still sending
// its body is cut off), and the requests get CutGrace to return. What was cut is logged.
// It never fails: the process must exit 0.
func (s *Server) shutdown(ctx context.Context, cancelRequests context.CancelCauseFunc) {
	ctx = context.WithoutCancel(ctx)
	drainCtx, cancel := context.WithTimeout(ctx, s.drainTimeout)
	defer cancel()
	err := s.echo.Shutdown(drainCtx)
	if err == nil {
		return
	}
	reqs, busy, _ := s.tracker.snapshot()
	s.logger.WarnContext(ctx, "shutdown: drain deadline passed; cutting what is still open",
		slog.Duration("drain_timeout", s.drainTimeout), slog.Int("requests", len(reqs)),
		slog.Int("connections", busy), slog.Any("error", err))
	for _, r := range reqs {
		s.logger.WarnContext(ctx, "shutdown: request cut", slog.String("request_id", r.id),
			slog.String("method", r.method), slog.String("path", r.path), slog.Duration("running_for", time.Since(r.start)))
	}
	cancelRequests(ErrShutdown)
	if err := s.echo.Close(); err != nil {
		s.logger.WarnContext(ctx, "shutdown: close connections", slog.Any("error", err))
	}
	if left := s.tracker.waitIdle(time.Now().Add(s.cutGrace)); len(left) > 0 {
		for _, r := range left {
			s.logger.ErrorContext(ctx, "shutdown: request still running after the cut; abandoned",
				slog.String("request_id", r.id), slog.String("method", r.method), slog.String("path", r.path))
		}
	}
}
