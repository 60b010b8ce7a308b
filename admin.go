package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/acme/identity/api"
	"github.com/acme/identity/platform/admin"
	"github.com/acme/identity/platform/config"
	"github.com/acme/identity/platform/database"
	"github.com/acme/identity/platform/httpserver"
	"github.com/acme/identity/platform/jobs"
	"github.com/acme/identity/platform/module"
)

// newAdminServer builds the administration listener (ADMIN_ADDR): the key check, the
// jobs dashboard (started here, stopped with ctx), and the admin routes of every module
// that has some (module.AdminRouter) on /admin/v1.
func newAdminServer(ctx context.Context, cfg config.Config, js *jobs.Jobs, pool *pgxpool.Pool, modules []module.Module,
	observers []echo.MiddlewareFunc, logger *slog.Logger) (*httpserver.Server, error) {
	dash, err := js.Dashboard(admin.DashboardPrefix)
	if err != nil {
		return nil, err
	}
	if err := dash.Start(ctx); err != nil {
		return nil, err
	}
	srv := admin.NewServer(admin.Options{
		Keys:      admin.NewKeys(pool),
		Dashboard: dash,
		Server: httpserver.Options{
			Observers:        observers,
			OpenAPI:          api.AdminOpenAPI,
			TrustedProxies:   cfg.TrustedProxies,
			ClientIPv6Prefix: cfg.ClientIPv6Prefix,
			DatabaseTimeout:  cfg.DatabaseTimeout,
		},
	}, logger.With(slog.String("listener", "admin")))
	for _, m := range modules {
		if r, ok := m.(module.AdminRouter); ok {
			r.RegisterAdminRoutes(srv.API())
		}
	}
	return srv, nil
}

const adminKeyUsage = `usage: identity admin-key create --name NAME | list | revoke NAME`

// adminKey runs the admin-key commands against the database of DATABASE_URL: create
// prints the new key (alone on its line, so a script can take it) and nothing else ever
// shows it; list prints the keys' names and times; revoke ends a key at once.
func adminKey(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(adminKeyUsage)
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: 2, Timeout: cfg.DatabaseTimeout})
	if err != nil {
		return err
	}
	defer database.Close(pool, time.Second)
	ctx, cancel := context.WithTimeout(ctx, cfg.DatabaseTimeout)
	defer cancel()
	keys := admin.NewKeys(pool)
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("admin-key create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		name := fs.String("name", "", "the key's name")
		if err := fs.Parse(args[1:]); err != nil || *name == "" || fs.NArg() != 0 {
			return errors.New("usage: identity admin-key create --name NAME")
		}
		key, err := keys.Create(ctx, *name)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, key)
		return err
	case "list":
		if len(args) != 1 {
			return errors.New("usage: identity admin-key list")
		}
		list, err := keys.List(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		// The tabwriter keeps what it is given until Flush, which reports any write error.
		_, _ = fmt.Fprintln(w, "NAME\tCREATED_AT\tREVOKED_AT\tLAST_USED_AT")
		for _, k := range list {
			_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Name, k.CreatedAt.UTC().Format(time.RFC3339), orDash(k.RevokedAt), orDash(k.LastUsedAt))
		}
		return w.Flush()
	case "revoke":
		if len(args) != 2 {
			return errors.New("usage: identity admin-key revoke NAME")
		}
		at, err := keys.Revoke(ctx, args[1])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "admin key %s revoked at %s\n", args[1], at.UTC().Format(time.RFC3339))
		return err
	}
	return fmt.Errorf("unknown admin-key command %q\n%s", args[0], adminKeyUsage)
}

func orDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
