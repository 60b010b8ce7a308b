// Package db holds the SQL of the service: the dbmate migrations, embedded here so the
// binary migrates without the source tree, and the sqlc queries (read at generate time).
package db

import "embed"

// Migrations holds migrations/*.sql, in dbmate format.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// MigrationsDir is the directory of Migrations that holds the files.
const MigrationsDir = "migrations"
