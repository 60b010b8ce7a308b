// Package identity is the public face of the identity bounded context: registration of
// accounts by email and password, activation by an emailed 4-digit code. main builds it
// with New and wires it as a module.Module; other modules may import this package, never
// its domain, app or adapter packages.
package identity

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/acme/identity/modules/identity/adapter/argon2id"
	"github.com/acme/identity/modules/identity/adapter/email"
	identityhttp "github.com/acme/identity/modules/identity/adapter/http"
	"github.com/acme/identity/modules/identity/adapter/postgres"
	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/module"
)

// Config is the identity context's part of the configuration.
type Config struct {
	Codes        domain.CodePolicy
	PasswordHash argon2id.Params
}

// Deps are the platform services the module uses.
type Deps struct {
	Pool   *pgxpool.Pool
	Outbox postgres.Outbox
}

// Module is the identity context, ready to be wired.
type Module struct {
	handlers *identityhttp.Handlers
	pool     *pgxpool.Pool
}

var _ module.Module = (*Module)(nil)

// New builds the module.
func New(cfg Config, deps Deps) (*Module, error) {
	composer, err := email.NewComposer()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	store := postgres.NewStore(deps.Pool, deps.Outbox, composer, cfg.Codes.TTL)
	svc, err := app.NewService(store, argon2id.New(cfg.PasswordHash), cfg.Codes, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return &Module{handlers: identityhttp.NewHandlers(svc), pool: deps.Pool}, nil
}

// Name implements module.Module.
func (m *Module) Name() string { return "identity" }

// RegisterRoutes implements module.Module: the /v1/users routes.
func (m *Module) RegisterRoutes(api *echo.Group) { m.handlers.Register(api) }

// Workers implements module.Module: identity has none (its emails go through the
// platform's outbox dispatcher).
func (m *Module) Workers() []module.Worker { return nil }

// Ready implements module.Module: identity is ready when its database answers.
func (m *Module) Ready(ctx context.Context) error { return m.pool.Ping(ctx) }
