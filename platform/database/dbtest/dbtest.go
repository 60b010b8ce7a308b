// Package dbtest gives each test package a PostgreSQL database of its own, migrated by the
// same embedded migrations as the binary, and drops it when the tests are done. It never
// skips: with no server reachable the tests fail, so CI cannot pass without running them.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/identity/db"
	"github.com/acme/identity/platform/database"
)

// DefaultServerURL is used when TEST_DATABASE_URL is not set: the local PostgreSQL.
const DefaultServerURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the URL of a database on the test server, from TEST_DATABASE_URL.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultServerURL
}

// NewURL creates and migrates a fresh database and returns its URL; the database is
// dropped (with its connections) when t's tests end.
func NewURL(t testing.TB) string {
	t.Helper()
	return NewURLMigratedBy(t, db.Migrations, db.MigrationsDir)
}

// NewURLMigratedBy is NewURL with the migrations in dir of files: an earlier set, to test
// that a new migration keeps the data of a database migrated by the previous release.
func NewURLMigratedBy(t testing.TB, files fs.FS, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "identity_test_" + hex.EncodeToString(suffix)

	u, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	target := u.String()

	if err := database.Migrate(ctx, target, files, dir, io.Discard); err != nil {
		t.Fatalf("create test database %s on %s (is PostgreSQL running? see README): %v",
			name, ServerURL(), err)
	}
	t.Cleanup(func() { drop(t, name) })
	return target
}

// NewPool is NewURL with a pool on the database, closed before the drop.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	target := NewURL(t)
	pool, err := pgxpool.New(context.Background(), target)
	if err != nil {
		t.Fatalf("pool on test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func drop(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Errorf("connect to drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)",
		pgx.Identifier{name}.Sanitize())); err != nil {
		t.Errorf("drop test database %s: %v", name, err)
	}
}
