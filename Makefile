# identity — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       := bin/identity
# The local PostgreSQL of README.md; override DATABASE_URL to use another.
DATABASE_URL ?= postgres://postgres@localhost:5432/identity?sslmode=disable
export DATABASE_URL

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  make %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build the static binary bin/identity
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) .

.PHONY: migrate
migrate: build ## create the database if needed and apply pending migrations
	$(BIN) migrate

.PHONY: run
run: migrate ## migrate, then serve on :8080 against the local PostgreSQL; emails go to the log
	LOG_FORMAT=$${LOG_FORMAT:-text} $(BIN) serve

.PHONY: test
test: test/webhooks/node_modules test/browser/node_modules ## run every test (needs the local PostgreSQL; each package makes its own database)
	$(GO) test -race -count=1 ./...

# The Standard Webhooks reference library (npm, pinned in test/webhooks/package-lock.json)
# that webhooks_e2e_test.go verifies every delivery's signature with.
test/webhooks/node_modules: test/webhooks/package-lock.json
	cd test/webhooks && npm ci --no-audit --no-fund

# playwright-core (npm, pinned in test/browser/package-lock.json), which drives Debian's
# Chromium in browser_e2e_test.go (the jobs dashboard); it never downloads a browser.
test/browser/node_modules: test/browser/package-lock.json
	cd test/browser && npm ci --no-audit --no-fund --loglevel=error

# The benchmark of docs/benchmarks.md (issue 13): builds the binary, runs it on a fresh
# database of the local PostgreSQL with an SMTP server in the load generator, prints the
# figures and writes report.md, results.json, chart.svg and the server logs to BENCH_OUT.
# About 15 minutes; never part of `make test`. BENCH_STEP=3s BENCH_FLOOD=3s for a smoke run.
BENCH_STEP  ?= 20s
BENCH_FLOOD ?= 15s
BENCH_OUT   ?= bench/out

.PHONY: bench
bench: ## measure throughput, latency and cost against the hash-bound limit (BENCH_STEP, BENCH_FLOOD, BENCH_OUT)
	$(GO) run ./bench -step $(BENCH_STEP) -flood $(BENCH_FLOOD) -out $(BENCH_OUT) $(BENCH_FLAGS)

# The fuzz targets: package and target. Their seed corpora are committed under each
# package's testdata/fuzz, and plain `go test` replays them; `make fuzz` explores further.
FUZZ_TARGETS := ./platform/httpserver:FuzzBindJSON ./modules/identity/domain:FuzzParseEmail \
                ./modules/identity/adapter/http:FuzzBasicAuth
FUZZTIME ?= 10s

.PHONY: fuzz
# Go 1.26's fuzz coordinator can end a run that found nothing with "context deadline
# exceeded" when -fuzztime expires while a worker is busy (golang/go#75804, fixed in Go
# 1.27): a finding always writes its input ("Failing input written to"), so a failure
# without one and with that message is reported as the toolchain's and not as ours.
fuzz: ## run each fuzz target for FUZZTIME (default 10s; CI runs this)
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t##*:} in $${t%%:*} for $(FUZZTIME)"; \
	  out=$$($(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}" 2>&1); rc=$$?; \
	  echo "$$out" | grep -v '^fuzz: elapsed'; \
	  if [ $$rc -ne 0 ]; then \
	    if echo "$$out" | grep -q 'Failing input written to' || ! echo "$$out" | grep -q 'context deadline exceeded'; then exit 1; fi; \
	    echo "fuzz $${t##*:}: ended by the -fuzztime race of golang/go#75804 with no failing input; not a finding"; \
	  fi; \
	done

.PHONY: generate
generate: api/typescript/node_modules ## regenerate the sqlc code from db/, the Go API clients (api/openapi.yaml, api/admin.yaml) and the TypeScript types
	$(GO) tool sqlc generate
	$(GO) tool oapi-codegen -config api/client/oapi-codegen.yaml api/openapi.yaml
	$(GO) tool oapi-codegen -config api/adminclient/oapi-codegen.yaml api/admin.yaml
	cd api/typescript && npx --no-install openapi-typescript ../openapi.yaml -o identity.d.ts && npx --no-install tsc --noEmit --strict identity.d.ts

# The TypeScript generator (openapi-typescript, pinned in api/typescript/package-lock.json).
api/typescript/node_modules: api/typescript/package-lock.json
	cd api/typescript && npm ci --no-audit --no-fund
	@touch $@

# What make generate writes: the sqlc packages, the typed Go API clients and the TypeScript types.
GENERATED := '*/sqlcgen/*' 'api/client/*.gen.go' 'api/adminclient/*.gen.go' 'api/typescript/*.d.ts'

.PHONY: check-generate
check-generate: generate ## fail when the committed generated code differs from `make generate`
	@git diff --exit-code -- $(GENERATED) || { echo "generated code is stale: run make generate and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- $(GENERATED))" || { echo "untracked generated files: run make generate and commit" >&2; exit 1; }

# golangci-lint runs from its own module at a pinned version (`go run` caches the build), so
# its ~190 dependencies stay out of go.mod. Bump the version here and in the docs together.
GOLANGCI_LINT := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

.PHONY: lint
lint: ## run golangci-lint v2.15.0 as configured in .golangci.yml
	$(GOLANGCI_LINT) run

.PHONY: check-arch
check-arch: ## check the import rules of docs/architecture.md (also part of make test)
	$(GO) test -count=1 ./platform/architecture/

.PHONY: sqlc-check
sqlc-check: ## check the queries against the migrations: sqlc compile, sqlc diff, sqlc vet on a scratch database
	$(GO) tool sqlc compile
	$(GO) tool sqlc diff
	db/with-scratch-db.sh sh -c 'SQLC_DATABASE_URL="$$SCRATCH_DATABASE_URL" $(GO) tool sqlc vet'

# db/schema.sql is dbmate's dump (pg_dump) of a scratch database migrated from db/migrations,
# without what varies from one machine to another: the server and pg_dump versions, and the
# \restrict lines that only recent pg_dump releases write.
SCHEMA_OUT ?= db/schema.sql

.PHONY: schema
schema: ## regenerate db/schema.sql: migrate a scratch database, dump it with dbmate, drop it
	@raw=$$(mktemp) && trap 'rm -f "$$raw"' EXIT && \
	db/with-scratch-db.sh sh -c '$(GO) tool dbmate --url "$$SCRATCH_DATABASE_URL" --schema-file "$$0" dump >/dev/null' "$$raw" && \
	sed -e '/^\\restrict /d' -e '/^\\unrestrict /d' \
	    -e '/^-- Dumped from database version /d' -e '/^-- Dumped by pg_dump version /d' "$$raw" | \
	cat -s | sed '1{/^$$/d;}' > $(SCHEMA_OUT)
	@echo "wrote $(SCHEMA_OUT)"

.PHONY: check-schema
check-schema: ## fail when db/schema.sql differs from what the migrations produce
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) --no-print-directory schema SCHEMA_OUT="$$tmp/schema.sql" >/dev/null && \
	{ diff -u db/schema.sql "$$tmp/schema.sql" || { echo "db/schema.sql is stale: run make schema and commit" >&2; exit 1; }; }

# River's tables (schema river) are made by dbmate like ours, from files db/rivergen writes
# out of River's own migrations for the version in go.mod: after bumping River, run
# `make river-migrations schema` and commit. CI fails while they differ (check-river-migrations).
.PHONY: river-migrations
river-migrations: ## write River's migrations (go.mod's version) as dbmate files in db/migrations
	$(GO) run ./db/rivergen -dir db/migrations

.PHONY: check-river-migrations
check-river-migrations: ## fail when db/migrations' River files differ from the migrations of go.mod's River
	$(GO) run ./db/rivergen -dir db/migrations -check

.PHONY: module
module: ## scaffold a new module: make module NAME=payment (then make generate schema are run for it)
	@test -n "$(NAME)" || { echo "usage: make module NAME=payment" >&2; exit 1; }
	$(GO) run ./scaffold -name $(NAME)
	@$(MAKE) --no-print-directory generate schema

# check-scaffold proves the scaffold: it copies the repository (its tracked and new files)
# to a scratch directory, scaffolds SCAFFOLD_NAME there, and runs what CI runs on a new
# module: build, vet, the architecture test, the schema guardrail and the migrations'
# tests, the new module's own tests, the OpenAPI document's tests (its route is
# documented), the README's configuration table, and sqlc compile and vet.
SCAFFOLD_NAME ?= payment

.PHONY: check-scaffold
check-scaffold: ## scaffold a module into a scratch copy of the repository and check it there
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$$scratch" && \
	cd "$$scratch" && \
	$(MAKE) --no-print-directory module NAME=$(SCAFFOLD_NAME) && \
	$(GO) build ./... && $(GO) vet ./... && \
	$(GO) test -count=1 ./platform/architecture/ ./db/ ./modules/$(SCAFFOLD_NAME)/... && \
	$(GO) test -count=1 -run 'OpenAPI|Routes|README' . && \
	$(MAKE) --no-print-directory sqlc-check && \
	echo "check-scaffold: modules/$(SCAFFOLD_NAME) builds and passes the guardrails"
