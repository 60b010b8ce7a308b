// Package module is the contract between main and a bounded context (modules/*): what the
// platform hands a module, and what a module must offer to be wired into the binary.
// Adding a module is adding a call to its New in main.go's newModules, which passes it
// the platform and the public API of the modules it needs.
package module

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/maintenance"
	"github.com/acme/identity/platform/outbox"
)

// Module is one bounded context as main sees it.
type Module interface {
	// Name identifies the module in logs.
	Name() string
	// RegisterRoutes mounts the module's routes on the versioned API group (/v1).
	RegisterRoutes(api *echo.Group)
}

// AdminRouter is a Module with routes on the administration API (ADMIN_ADDR, off when
// empty): the platform mounts them on a group at /admin/v1 that has already checked the
// admin key, so a handler only does its work. A module without any does not implement it.
type AdminRouter interface {
	RegisterAdminRoutes(admin *echo.Group)
}

// Worker is a background loop: it runs until ctx ends and then returns (nil on a clean
// stop).
type Worker func(ctx context.Context) error

// Runner is a Module with background loops of its own, which main runs beside the
// platform's (the job system, the metrics' refresh loops) and stops with them. A module
// without any does not implement it. Work that must survive a crash or run on one
// replica is a job (Platform.Jobs), not a loop.
type Runner interface {
	Workers() []Worker
}

// Platform is what the platform gives every module: the environment of its own variables
// (never the platform's: no DATABASE_URL, no SMTP password), the database pool, the job
// system (a module registers its workers and inserts its jobs in its own transactions),
// the email outbox, the housekeeping runner (a module adds its retention tasks: periodic
// jobs), the metrics and the tracer provider.
type Platform struct {
	Env  config.ModuleEnv
	Pool *pgxpool.Pool
	// Jobs is the job system every module shares (River): register workers, queues and
	// periodic jobs while the module is built; insert jobs with the transaction that
	// causes them.
	Jobs        *jobs.Jobs
	Outbox      *outbox.Outbox
	Maintenance *maintenance.Runner
	// Metrics registers the module's own metrics (served at /metrics with the
	// platform's); nil: the module keeps none.
	Metrics prometheus.Registerer
	// Tracer starts the module's spans; nil: no spans (a no-op provider).
	Tracer trace.TracerProvider
	// Logger is the service's logger, for the module's workers; nil: they log nothing.
	Logger *slog.Logger
}
