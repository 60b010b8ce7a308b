package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"slices"
	"strings"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"
	// Registers dbmate's postgres driver.
	_ "github.com/amacneil/dbmate/v2/pkg/driver/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// migrationLockKey is the PostgreSQL advisory lock held while migrating: dbmate takes no
// lock of its own, and replicas starting together would otherwise apply a migration twice.
const migrationLockKey int64 = 0x1d_e9_71_7e // "identity"

// Migrate creates the database of databaseURL when it is missing and applies every
// pending migration of files (a directory dir of dbmate files), under an advisory lock.
// Running it again is a no-op. dbmate's progress lines go to log.
//
// The lock is transaction-scoped (pg_advisory_xact_lock), held by a transaction left open
// on a connection of its own while dbmate migrates on others: it works straight against
// PostgreSQL and through a transaction-mode pooler such as PgBouncer alike, which keeps a
// server connection for a client only while its transaction is open, so a session-level
// lock would be taken on one server connection and leak there. Through a pooler, migrating
// needs two server connections (the lock's and dbmate's), and creating a missing database
// needs the pooler to reach the postgres database: use DATABASE_DIRECT_URL when it cannot.
func Migrate(ctx context.Context, databaseURL string, files fs.FS, dir string, log io.Writer) error {
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return errors.New("migrate needs DATABASE_URL in URL form, postgres://… (dbmate reads no key=value settings)")
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		// url.Error quotes the URL, password included.
		return errors.New("parse DATABASE_URL: not a URL (details withheld: they could hold the password)")
	}
	u = withoutPgxSettings(u)
	mate := dbmate.New(forLibPQ(u))
	mate.AutoDumpSchema = false
	mate.FS = files
	mate.MigrationsDir = []string{dir}
	mate.Log = log

	connCfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return errors.New("parse DATABASE_URL: not a PostgreSQL connection string (details withheld: they could hold the password)")
	}
	// No prepared statement on this connection: a pooler may hand every statement outside
	// the transaction to another server connection.
	connCfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := connectCreating(ctx, connCfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	lock, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("take migration lock: %w", Classify(err))
	}
	// Rolling back ends the transaction, and so releases the lock, whatever happened.
	defer func() { _ = lock.Rollback(context.WithoutCancel(ctx)) }()
	// The lock's transaction sits idle while dbmate works: a server-wide
	// idle_in_transaction_session_timeout must not end it (and the lock) midway.
	if _, err := lock.Exec(ctx, "SET LOCAL idle_in_transaction_session_timeout = 0"); err != nil {
		return fmt.Errorf("take migration lock: %w", Classify(err))
	}
	if _, err := lock.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", Classify(err))
	}

	if err := mate.Migrate(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// Ending the transaction releases the lock; failing to means the lock was lost
	// midway (the connection cut), so another replica may have migrated at once.
	if err := lock.Commit(ctx); err != nil {
		return fmt.Errorf("migration lock lost while migrating: %w", Classify(err))
	}
	return nil
}

// pgxSettings are the connection string parameters pgx and pgxpool read themselves; any
// other driver (dbmate's lib/pq) would send them to the server as run-time parameters,
// which PostgreSQL and PgBouncer refuse.
var pgxSettings = []string{"default_query_exec_mode", "statement_cache_capacity", "description_cache_capacity"}

// forLibPQ returns u for dbmate's driver, lib/pq, in its single round-trip mode: by
// default lib/pq runs a query with arguments outside a transaction in two round trips on
// the unnamed statement, and a transaction-mode pooler may pass the second to another
// server connection ("unnamed prepared statement does not exist").
func forLibPQ(u *url.URL) *url.URL {
	out := *u
	q := out.Query()
	q.Set("binary_parameters", "yes")
	out.RawQuery = q.Encode()
	return &out
}

// withoutPgxSettings returns u without the parameters only pgx understands.
func withoutPgxSettings(u *url.URL) *url.URL {
	out := *u
	q := out.Query()
	for k := range q {
		if slices.Contains(pgxSettings, k) || strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	out.RawQuery = q.Encode()
	return &out
}

// connectCreating connects to the target database, creating it first when it does not
// exist. Two replicas may both try to create it: the loser's duplicate_database is fine.
func connectCreating(ctx context.Context, target *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, target.Copy())
	var pgErr *pgconn.PgError
	if err == nil {
		return conn, nil
	}
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return nil, fmt.Errorf("connect: %w", Classify(err))
	}
	cfg := target.Copy()
	name := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to create database %s: %w", name, Classify(err))
	}
	defer admin.Close(context.WithoutCancel(ctx))
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	// A concurrent creation makes ours fail with duplicate_database, or, when both ran at
	// once, with a unique violation on the catalog: either way the database now exists.
	if err != nil && (!errors.As(err, &pgErr) || (pgErr.Code != "42P04" && pgErr.Code != "23505")) {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	conn, err = pgx.ConnectConfig(ctx, target.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", Classify(err))
	}
	return conn, nil
}
