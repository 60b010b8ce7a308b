package identity_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/database/dbtest"
	"github.com/acme/identity/platform/httpserver"
)

// TestOnAccountDeletion: a function another module registers runs inside the deletion's
// transaction with the account's id, before the account's row goes (it sees the row, and
// what it writes with tx commits with the deletion); when it fails, nothing is deleted
// (the account still signs in) and the request answers 500, or 503 for a lost database,
// whatever the function's error says otherwise.
func TestOnAccountDeletion(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	if _, err := pool.Exec(ctx, `CREATE SCHEMA probe; CREATE TABLE probe.deleted (account_id uuid NOT NULL, account_seen bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	m := newModule(t, pool)
	var (
		mu    sync.Mutex
		fail  error // what the hook returns after its write
		calls []string
	)
	m.API().OnAccountDeletion(func(ctx context.Context, tx pgx.Tx, accountID string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, accountID)
		_, err := tx.Exec(ctx, `INSERT INTO probe.deleted (account_id, account_seen)
			SELECT $1, count(*) FROM identity.accounts WHERE id = $1`, accountID)
		if err != nil {
			return err
		}
		return fail
	})
	srv := httpserver.New(httpserver.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.RegisterRoutes(srv.API())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	const email, password = "hook@example.com", "correct horse"
	res, err := http.Post(ts.URL+"/v1/users", "application/json",
		strings.NewReader(`{"email": "`+email+`", "password": "`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d", res.StatusCode)
	}
	var id string
	if err := pool.QueryRow(ctx, `SELECT id::text FROM identity.accounts WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	send := func(t *testing.T, method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		req.SetBasicAuth(email, password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	count := func(t *testing.T, sql string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"an error", errors.New("the ledger of the probe is locked"), http.StatusInternalServerError},
		{"a lost database", fmt.Errorf("probe: %w", database.ErrUnavailable), http.StatusServiceUnavailable},
		{"a problem of the hook's module", httpserver.NewProblem(http.StatusConflict, "probe_busy", "Busy."), http.StatusInternalServerError},
	} {
		t.Run("a hook that fails with "+tc.name+" deletes nothing", func(t *testing.T) {
			mu.Lock()
			fail, calls = tc.err, nil
			mu.Unlock()
			if got := send(t, http.MethodDelete, "/v1/users/me"); got != tc.want {
				t.Errorf("DELETE /v1/users/me: %d, want %d", got, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != 1 || calls[0] != id {
				t.Errorf("the hook ran for %v, want once for %s", calls, id)
			}
			if got := send(t, http.MethodGet, "/v1/users/me"); got != http.StatusOK {
				t.Errorf("GET /v1/users/me after the failed deletion: %d, want 200: the account stays", got)
			}
			if n := count(t, `SELECT count(*) FROM probe.deleted`); n != 0 {
				t.Errorf("the hook's write outlived the rolled-back deletion: %d rows", n)
			}
		})
	}

	mu.Lock()
	fail, calls = nil, nil
	mu.Unlock()
	if got := send(t, http.MethodDelete, "/v1/users/me"); got != http.StatusNoContent {
		t.Fatalf("DELETE /v1/users/me: %d, want 204", got)
	}
	if len(calls) != 1 || calls[0] != id {
		t.Errorf("the hook ran for %v, want once for %s", calls, id)
	}
	if n := count(t, `SELECT count(*) FROM probe.deleted WHERE account_id = '`+id+`' AND account_seen = 1`); n != 1 {
		t.Errorf("%d rows of the hook for %s seeing the account, want 1: it runs in the deletion's transaction, before the row goes", n, id)
	}
	if n := count(t, `SELECT count(*) FROM identity.accounts`); n != 0 {
		t.Errorf("%d accounts after the deletion", n)
	}
	if got := send(t, http.MethodGet, "/v1/users/me"); got != http.StatusUnauthorized {
		t.Errorf("GET /v1/users/me after the deletion: %d, want 401", got)
	}
}
