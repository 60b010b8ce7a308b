// Package database owns the connection to PostgreSQL: the pgx pool, the transaction
// helper every store uses, the recognition of an unreachable database, and the migrations
// run by dbmate from the files embedded in the binary.
package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

// ErrUnavailable marks an error caused by the database being unreachable or refusing
// connections; the HTTP layer answers it with 503.
var ErrUnavailable = errors.New("database unavailable")

// Options bound the pool. Zero fields take the defaults below.
type Options struct {
	// MaxConns is the pool size (DATABASE_MAX_CONNS).
	MaxConns int
	// Timeout is DATABASE_TIMEOUT: the budget of a request's database work (see
	// WithBudget), and the longest wait for a connection of a caller without a budget.
	Timeout time.Duration
	// QueryTracer, when set, also sees every query (OpenTelemetry spans); it runs beside
	// the tracer that enforces the budget.
	QueryTracer pgx.QueryTracer
	// BehindPooler says that url goes through a transaction-mode pooler (PgBouncer), where
	// a named prepared statement does not survive its transaction: main sets it when
	// DATABASE_DIRECT_URL is set. It chooses the exec mode when url does not
	// (PoolerQueryExecMode, else DirectQueryExecMode).
	BehindPooler bool
}

// Defaults of Options; docs/decisions.md justifies the pool size.
const (
	DefaultMaxConns = 10
	DefaultTimeout  = 5 * time.Second
)

// The exec modes of the pool when the connection string sets no default_query_exec_mode
// (when it does, it wins).
const (
	// DirectQueryExecMode, for a pool straight to PostgreSQL, prepares each statement once
	// per connection (a named prepared statement, cached by pgx) and then only binds and
	// executes it: PostgreSQL parses it once and may reuse its plan. A Bearer request
	// costs PostgreSQL about a third of the CPU it costs with PoolerQueryExecMode
	// (docs/decisions.md).
	DirectQueryExecMode = pgx.QueryExecModeCacheStatement
	// PoolerQueryExecMode, for a pool through a transaction-mode pooler (Options.BehindPooler),
	// keeps no state on the server (no named prepared statement) and sends each statement
	// complete in one round trip once its description is cached for the connection, so it
	// works through PgBouncer 1.18, where the next transaction may run on a server
	// connection that never saw a prepared statement. It costs PostgreSQL a parse and plan
	// of each statement on every execution.
	PoolerQueryExecMode = pgx.QueryExecModeCacheDescribe
)

// Open returns a pool for url. It does not connect: the service starts while the database
// is down and the pool connects when it comes back. Every wait for one of its connections
// is bounded: by the caller's budget (WithBudget), else by opts.Timeout.
func Open(ctx context.Context, url string, opts Options) (*pgxpool.Pool, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's message quotes the connection string, password masked on a best-effort
		// basis only: say nothing of it.
		return nil, errors.New("parse DATABASE_URL: not a PostgreSQL connection string (details withheld: they could hold the password)")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opts.Timeout {
		// A black-holed database must not hold a connection attempt for the OS's TCP
		// timeout (nor pool.Close, which waits for connections being made).
		cfg.ConnConfig.ConnectTimeout = opts.Timeout
	}
	if !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = DirectQueryExecMode
		if opts.BehindPooler {
			cfg.ConnConfig.DefaultQueryExecMode = PoolerQueryExecMode
		}
	}
	cfg.MaxConns = int32(min(opts.MaxConns, math.MaxInt32)) //nolint:gosec // bounded just before
	cfg.HealthCheckPeriod = 15 * time.Second
	// The health check of a connection idle for a while, run as it is acquired, is bounded
	// too: the caller stops waiting for it at its own deadline, but the ping would hold its
	// connection (a slot of the pool) for up to a minute.
	cfg.PingTimeout = opts.Timeout
	var tracer pgx.QueryTracer = boundTracer{acquireTimeout: opts.Timeout}
	if opts.QueryTracer != nil {
		// multitracer passes each event to both, pool acquisitions included.
		tracer = multitracer.New(tracer, opts.QueryTracer)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	return pool, nil
}

// Close closes pool, waiting at most timeout for the connections still in use (pgxpool
// waits for every one to come back). It reports whether the pool closed in time; if not,
// the pool finishes closing in the background as its connections come back.
func Close(pool *pgxpool.Pool, timeout time.Duration) bool {
	closed := make(chan struct{})
	go func() {
		pool.Close()
		close(closed)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-closed:
		return true
	case <-t.C:
		return false
	}
}

// Beginner begins transactions: a pool (each on a connection of its own) or one
// connection taken from it (several transactions in a row on the same connection).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

var (
	_ Beginner = (*pgxpool.Pool)(nil)
	_ Beginner = (*pgxpool.Conn)(nil)
)

// InTx runs fn in a transaction of db and commits when fn returns nil. The transaction is
// rolled back in every other case, even when ctx is cancelled, so the pool gets the
// connection back.
func InTx(ctx context.Context, db Beginner, fn func(pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", Classify(err))
	}
	defer func() {
		rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rbErr := tx.Rollback(rbCtx); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) && err == nil {
			err = fmt.Errorf("rollback: %w", rbErr)
		}
	}()
	htx := &hookedTx{Tx: tx}
	if err := fn(htx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", Classify(err))
	}
	for _, f := range htx.afterCommit {
		f()
	}
	return nil
}

// AfterCommit has f called once tx, a transaction of InTx, has committed (never when it
// rolls back). It reports false for a transaction InTx did not begin: then nothing will
// call f.
func AfterCommit(tx pgx.Tx, f func()) bool {
	h, ok := tx.(*hookedTx)
	if ok {
		h.afterCommit = append(h.afterCommit, f)
	}
	return ok
}

// hookedTx is the transaction InTx hands its function: a pgx.Tx that remembers what to do
// after the commit.
type hookedTx struct {
	pgx.Tx
	afterCommit []func()
}

// Classify wraps err with ErrUnavailable when it says the database cannot be reached or
// did not answer in time, and returns it unchanged otherwise.
func Classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// unreachable reports whether err is one of the ways of losing the database: a failed
// connection attempt, a network error (reset, refused, broken pipe, timeout), a connection
// the driver had already closed, a connection the server ended or refused, a closed pool,
// or a deadline (the request's budget, an acquire timeout) that ran out while waiting on
// it. A client that went away (context.Canceled) is not one.
func unreachable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
		pgErr      *pgconn.PgError
	)
	switch {
	case errors.Is(err, context.Canceled):
		// Also when pgconn reports it as a timeout (a statement on a live connection
		// whose context was already cancelled).
		return false
	case errors.As(err, &pgErr):
		return unavailableCode(pgErr.Code)
	case errors.As(err, &connectErr), errors.As(err, &netErr), // syscall.Errno (resets, refusals, broken pipes) is a net.Error
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, puddle.ErrClosedPool),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return true
	}
	return false
}

// unavailableCode reports whether a PostgreSQL error code means the server cannot serve
// now rather than that the statement is wrong: class 08 (connection exception), class 53
// (insufficient resources: too many connections, out of memory, disk full), class 57
// (operator intervention: query cancelled or timed out, backend terminated, server
// shutting down or starting, database dropped, idle session timeout), class 58 (system
// error: I/O error) and 25P03 (idle-in-transaction timeout, which ends the session).
func unavailableCode(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "08", "53", "57", "58":
		return true
	}
	return code == "25P03"
}
