#!/usr/bin/env bash
# usage: db/with-scratch-db.sh COMMAND [ARG...]
#
# Runs COMMAND with SCRATCH_DATABASE_URL naming a fresh database, migrated by dbmate from
# db/migrations, and drops that database when COMMAND ends, whatever its outcome. The
# server is TEST_DATABASE_URL's (the URL of any database on it; default: the local
# PostgreSQL, as for the tests). `make schema` and `make sqlc-check` use it.
set -euo pipefail
cd "$(dirname "$0")/.."

server=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
base=${server%%\?*}   # scheme://user@host:port/database
query=${server#"$base"} # ?options, or empty
export SCRATCH_DATABASE_URL="${base%/*}/identity_scratch_$(date +%s)_$$${query}"

dbmate() { go tool dbmate --url "$SCRATCH_DATABASE_URL" --migrations-dir db/migrations --no-dump-schema "$@"; }
trap 'dbmate drop >/dev/null' EXIT
if ! out=$(dbmate up 2>&1); then
  echo "$out" >&2
  exit 1
fi
"$@"
