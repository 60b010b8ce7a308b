package database_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/database"
)

// TestOpenChoosesAPoolerSafeExecMode: without default_query_exec_mode in the connection
// string the pool uses no named prepared statement (PgBouncer's transaction mode cannot
// carry them); the parameter, when set, wins.
func TestOpenChoosesAPoolerSafeExecMode(t *testing.T) {
	for url, want := range map[string]pgx.QueryExecMode{
		"postgres://app@db:5432/identity?sslmode=disable":                                         database.DefaultQueryExecMode,
		"host=db user=app dbname=identity":                                                        database.DefaultQueryExecMode,
		"postgres://app@db:5432/identity?sslmode=disable&default_query_exec_mode=exec":            pgx.QueryExecModeExec,
		"postgres://app@db:5432/identity?sslmode=disable&default_query_exec_mode=cache_statement": pgx.QueryExecModeCacheStatement,
		"host=db dbname=identity default_query_exec_mode=simple_protocol":                         pgx.QueryExecModeSimpleProtocol,
	} {
		pool, err := database.Open(context.Background(), url, database.Options{})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if got := pool.Config().ConnConfig.DefaultQueryExecMode; got != want {
			t.Errorf("%s: exec mode %v, want %v", url, got, want)
		}
		pool.Close()
	}
	if database.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement || database.DefaultQueryExecMode == pgx.QueryExecModeDescribeExec {
		t.Errorf("default exec mode %v does not work through PgBouncer's transaction mode", database.DefaultQueryExecMode)
	}
}
