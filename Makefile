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
test: ## run every test (needs the local PostgreSQL; each package makes its own database)
	$(GO) test -race -count=1 ./...

.PHONY: generate
generate: ## regenerate the sqlc code from db/
	$(GO) tool sqlc generate

.PHONY: check-generate
check-generate: generate ## fail when the committed generated code differs from `make generate`
	@git diff --exit-code -- '*.go' || { echo "generated code is stale: run make generate and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- '*/sqlcgen/*')" || { echo "untracked generated files: run make generate and commit" >&2; exit 1; }
