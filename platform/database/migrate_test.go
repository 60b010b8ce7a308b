package database_test

import (
	"context"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/db"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
)

// TestMigrateCreatesTheDatabaseOnceUnderConcurrency starts five migrations of a database
// that does not exist yet at the same moment, as replicas starting together would: the
// database is created once, every migration applied once, and all five succeed. Some
// carry parameters only pgx reads (a pooler's exec mode, the pool size), which must not
// reach dbmate's driver or the server.
func TestMigrateCreatesTheDatabaseOnceUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	target := dbtest.NewURL(t) // created, migrated and dropped by dbtest; drop it now to start empty
	u, _ := url.Parse(target)
	name := strings.TrimPrefix(u.Path, "/")
	admin, err := pgx.Connect(ctx, dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := target
			if i%2 == 1 {
				u += "&default_query_exec_mode=cache_describe&pool_max_conns=3"
			}
			errs[i] = database.Migrate(ctx, u, db.Migrations, db.MigrationsDir, io.Discard)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migration %d: %v", i, err)
		}
	}

	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	files, _ := db.Migrations.ReadDir(db.MigrationsDir)
	var applied int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Fatalf("schema_migrations has %d rows, want %d", applied, len(files))
	}

	// Once more: a no-op.
	if err := database.Migrate(ctx, target, db.Migrations, db.MigrationsDir, io.Discard); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func TestEveryMigrationHasADownSection(t *testing.T) {
	files, err := db.Migrations.ReadDir(db.MigrationsDir)
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	for _, f := range files {
		raw, err := db.Migrations.ReadFile(db.MigrationsDir + "/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		up, down := strings.Index(s, "-- migrate:up"), strings.Index(s, "-- migrate:down")
		if up < 0 || down < up || strings.TrimSpace(s[down+len("-- migrate:down"):]) == "" {
			t.Errorf("%s: needs a -- migrate:up section followed by a non-empty -- migrate:down section", f.Name())
		}
	}
}

func TestMigrateUnreachableServerFails(t *testing.T) {
	err := database.Migrate(context.Background(), "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1",
		db.Migrations, db.MigrationsDir, io.Discard)
	if err == nil {
		t.Fatal("migrate against a closed port succeeded")
	}
}
