package db_test

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/db"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
)

// schemasMigration moves every table to its owner's schema.
const schemasMigration = "20261126070000_"

// riverMigration makes the emails River jobs.
const riverMigration = "20261207130000_"

// migrationsBefore are the migrations before the one whose name starts with prefix: the
// previous release's.
func migrationsBefore(t *testing.T, prefix string) fstest.MapFS {
	t.Helper()
	previous := fstest.MapFS{}
	entries, err := fs.ReadDir(db.Migrations, db.MigrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			return previous
		}
		data, err := fs.ReadFile(db.Migrations, db.MigrationsDir+"/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		previous[db.MigrationsDir+"/"+e.Name()] = &fstest.MapFile{Data: data}
	}
	t.Fatalf("no migration %s*", prefix)
	return nil
}

// TestRiverMigrationKeepsTheUnsentEmails migrates a database holding unsent, sent and
// failed emails with the previous release's migrations (River's tables already made),
// then applies the move of the emails to River: each unsent email, and only those, has
// its job, ready to run, carrying its id alone; the rows keep their attempts and errors.
func TestRiverMigrationKeepsTheUnsentEmails(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewURLMigratedBy(t, migrationsBefore(t, riverMigration), db.MigrationsDir)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, `
		INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body, attempts, last_error, available_at)
		     VALUES ('retrying@example.com', 's', 'code 1234', '<p>1234</p>', 3, 'dial tcp: refused', now() + interval '10 seconds'),
		            ('new@example.com', 's', 'code 5678', '<p>5678</p>', 0, NULL, now());
		INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body, attempts, sent_at)
		     VALUES ('sent@example.com', 's', '', '', 1, now());
		INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body, attempts, failed_at, last_error)
		     VALUES ('failed@example.com', 's', '', '', 1, now(), '550 no');`); err != nil {
		t.Fatal(err)
	}
	if err := database.Migrate(ctx, url, db.Migrations, db.MigrationsDir, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	rows, err := conn.Query(ctx, `
		SELECT o.recipient, o.attempts, j.state::text, j.queue, j.args::text, j.metadata::text
		FROM river.river_job AS j JOIN platform.outbox_emails AS o ON j.args @> jsonb_build_object('email_id', o.id)
		WHERE j.kind = 'outbox.email' ORDER BY o.recipient`)
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		To, State, Queue, Args, Metadata string
		Attempts                         int
	}
	var got []job
	for rows.Next() {
		var j job
		if err := rows.Scan(&j.To, &j.Attempts, &j.State, &j.Queue, &j.Args, &j.Metadata); err != nil {
			t.Fatal(err)
		}
		got = append(got, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].To != "new@example.com" || got[1].To != "retrying@example.com" || got[1].Attempts != 3 {
		t.Fatalf("jobs %+v, want one for each unsent email, the rows' attempts kept", got)
	}
	for _, j := range got {
		if j.State != "available" || j.Queue != "outbox" || strings.Contains(j.Args+j.Metadata, "@") || strings.Contains(j.Args, "code") {
			t.Errorf("job %+v: want available in the outbox queue, its args the email's id alone", j)
		}
	}
}

// TestSchemasMigrationKeepsTheData migrates a database holding accounts, codes, budgets
// and pending emails with the previous release's migrations, then applies the move to
// module schemas: every row is where its owner's queries look, with its constraints and
// identity sequences.
func TestSchemasMigrationKeepsTheData(t *testing.T) {
	ctx := context.Background()
	// The move and every migration after it run below.
	url := dbtest.NewURLMigratedBy(t, migrationsBefore(t, schemasMigration), db.MigrationsDir)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`
		INSERT INTO public.accounts (id, email, password_hash) VALUES ('11111111-1111-1111-1111-111111111111', 'pending@example.com', 'h1');
		INSERT INTO public.accounts (id, email, password_hash, status, activated_at) VALUES ('22222222-2222-2222-2222-222222222222', 'active@example.com', 'h2', 'active', now());
		INSERT INTO public.activation_codes (account_id, code, issued_at, expires_at, failed_attempts)
		     VALUES ('11111111-1111-1111-1111-111111111111', '1234', now(), now() + interval '1 minute', 2);
		INSERT INTO public.activation_ledger (email, kind, occurred_at) VALUES ('pending@example.com', 'code_issued', now());
		INSERT INTO public.outbox_emails (recipient, subject, text_body, html_body, expires_at)
		     VALUES ('pending@example.com', 'Your code', 'code 1234', '<p>1234</p>', now() + interval '1 minute');
		INSERT INTO public.outbox_emails (recipient, subject, text_body, html_body, sent_at)
		     VALUES ('active@example.com', 'Your code', '', '', now());`)

	if err := database.Migrate(ctx, url, db.Migrations, db.MigrationsDir, io.Discard); err != nil {
		t.Fatalf("migrate to the module schemas: %v", err)
	}

	count := func(sql string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	for sql, want := range map[string]int{
		`SELECT count(*) FROM identity.accounts WHERE id = '11111111-1111-1111-1111-111111111111' AND email = 'pending@example.com' AND status = 'pending'`: 1,
		`SELECT count(*) FROM identity.accounts WHERE email = 'active@example.com' AND status = 'active'`:                                                   1,
		`SELECT count(*) FROM identity.activation_codes WHERE code = '1234' AND failed_attempts = 2`:                                                        1,
		`SELECT count(*) FROM identity.activation_ledger WHERE mailbox = 'pending@example.com'`:                                                             1,
		`SELECT count(*) FROM platform.outbox_emails WHERE sent_at IS NULL AND text_body = 'code 1234' AND expires_at IS NOT NULL`:                          1,
		`SELECT count(*) FROM platform.outbox_emails WHERE sent_at IS NOT NULL`:                                                                             1,
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`:                                                   0,
	} {
		if got := count(sql); got != want {
			t.Errorf("%s: %d, want %d", sql, got, want)
		}
	}
	// The constraints and identity sequences moved with their tables.
	if _, err := conn.Exec(ctx, `INSERT INTO identity.accounts (email, password_hash) VALUES ('active@example.com', 'h3')`); err == nil ||
		!strings.Contains(err.Error(), "accounts_email_key") {
		t.Errorf("a second active@example.com: %v, want a violation of accounts_email_key", err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM identity.accounts WHERE email = 'pending@example.com'`); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM identity.activation_codes`); n != 0 {
		t.Errorf("the code of a deleted account survived (%d): the foreign key did not move", n)
	}
	exec(`INSERT INTO platform.outbox_emails (recipient, subject, text_body, html_body) VALUES ('new@example.com', 's', 't', 'h')`)
	if n := count(`SELECT count(DISTINCT id) FROM platform.outbox_emails`); n != 3 {
		t.Errorf("%d distinct outbox ids, want 3: the identity sequence did not follow", n)
	}
}
