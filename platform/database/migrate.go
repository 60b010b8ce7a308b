package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
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
func Migrate(ctx context.Context, databaseURL string, files fs.FS, dir string, log io.Writer) error {
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return errors.New("migrate needs DATABASE_URL in URL form, postgres://… (dbmate reads no key=value settings)")
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		// url.Error quotes the URL, password included.
		return errors.New("parse DATABASE_URL: not a URL (details withheld: they could hold the password)")
	}
	mate := dbmate.New(u)
	mate.AutoDumpSchema = false
	mate.FS = files
	mate.MigrationsDir = []string{dir}
	mate.Log = log

	conn, err := connectCreating(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", Classify(err))
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey)
	}()

	if err := mate.Migrate(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// connectCreating connects to the target database, creating it first when it does not
// exist. Two replicas may both try to create it: the loser's duplicate_database is fine.
func connectCreating(ctx context.Context, databaseURL string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	var pgErr *pgconn.PgError
	if err == nil {
		return conn, nil
	}
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return nil, fmt.Errorf("connect: %w", Classify(err))
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
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
	conn, err = pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", Classify(err))
	}
	return conn, nil
}
