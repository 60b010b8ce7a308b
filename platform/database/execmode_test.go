package database_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database"
)

// TestOpenChoosesTheExecModeByWhereTheURLGoes: a pool straight to PostgreSQL prepares its
// statements (cache_statement: parsed once per connection); a pool through a
// transaction-mode pooler (BehindPooler: main sets it when DATABASE_DIRECT_URL is set)
// uses no named prepared statement (PgBouncer 1.18's transaction mode cannot carry them).
// default_query_exec_mode in the connection string wins either way.
func TestOpenChoosesTheExecModeByWhereTheURLGoes(t *testing.T) {
	tests := []struct {
		url          string
		behindPooler bool
		want         pgx.QueryExecMode
	}{
		{"postgres://app@db:5432/identity?sslmode=disable", false, pgx.QueryExecModeCacheStatement},
		{"host=db user=app dbname=identity", false, pgx.QueryExecModeCacheStatement},
		{"postgres://app@pgbouncer:6432/identity?sslmode=disable", true, pgx.QueryExecModeCacheDescribe},
		{"host=pgbouncer port=6432 user=app dbname=identity", true, pgx.QueryExecModeCacheDescribe},
		{"postgres://app@db:5432/identity?sslmode=disable&default_query_exec_mode=exec", false, pgx.QueryExecModeExec},
		{"postgres://app@db:5432/identity?sslmode=disable&default_query_exec_mode=cache_describe", false, pgx.QueryExecModeCacheDescribe},
		{"postgres://app@pgbouncer:6432/identity?sslmode=disable&default_query_exec_mode=cache_statement", true, pgx.QueryExecModeCacheStatement},
		{"host=db dbname=identity default_query_exec_mode=simple_protocol", true, pgx.QueryExecModeSimpleProtocol},
	}
	for _, tt := range tests {
		pool, err := database.Open(context.Background(), tt.url, database.Options{BehindPooler: tt.behindPooler})
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if got := pool.Config().ConnConfig.DefaultQueryExecMode; got != tt.want {
			t.Errorf("%s (behind a pooler: %v): exec mode %v, want %v", tt.url, tt.behindPooler, got, tt.want)
		}
		pool.Close()
	}
	if database.PoolerQueryExecMode == pgx.QueryExecModeCacheStatement || database.PoolerQueryExecMode == pgx.QueryExecModeDescribeExec {
		t.Errorf("the pooler's exec mode %v does not work through PgBouncer's transaction mode", database.PoolerQueryExecMode)
	}
}
