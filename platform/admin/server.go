package admin

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/acme/identity/platform/httpserver"
)

// DashboardPrefix is where the jobs dashboard is served: its page at DashboardPrefix+"/".
const DashboardPrefix = "/admin/jobs"

// The challenges of a 401: a key goes as a Bearer token (scripts) or as the Basic
// password (a browser, for the dashboard), so both are offered.
const (
	BearerChallenge = `Bearer realm="identity-admin"` //nolint:gosec // a challenge's text, not a credential
	BasicChallenge  = `Basic realm="identity-admin", charset="UTF-8"`
)

// Options configure the administration listener.
type Options struct {
	// Keys checks the key of every request but the document's.
	Keys *Keys
	// Dashboard, when set, is served under DashboardPrefix behind the key
	// (jobs.Dashboard).
	Dashboard http.Handler
	// Server is the HTTP server's configuration (its OpenAPI is served at
	// httpserver.AdminOpenAPIPath, without a key: it holds no secret).
	Server httpserver.Options
}

// NewServer returns the administration listener's server (httpserver.NewAdmin): every
// request but GET /admin/openapi.yaml (the routes of its API() group, /admin/v1, where
// each module.AdminRouter mounts its routes, the dashboard, unknown paths) answers 401
// without a live admin key, and sees the key's name as the request's Actor.
func NewServer(opts Options, logger *slog.Logger) *httpserver.Server {
	srv := httpserver.NewAdmin(opts.Server, logger)
	// On the whole server, not on a group: a group's middleware would make echo answer a
	// wrong method with 404 (its catch-all routes) instead of 405. Only the document is
	// open; an unknown path needs a key too, so nothing tells a caller without one what
	// exists.
	check := opts.Keys.Middleware()
	srv.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		guarded := check(next)
		return func(c echo.Context) error {
			if c.Path() == httpserver.AdminOpenAPIPath {
				return next(c)
			}
			return guarded(c)
		}
	})
	if opts.Dashboard != nil {
		dash := echo.WrapHandler(opts.Dashboard)
		g := srv.Group(DashboardPrefix)
		g.Any("", dash) // River UI redirects to the page, DashboardPrefix+"/"
		g.Any("/*", dash)
	}
	return srv
}

// Middleware is the key check: a live key as `Authorization: Bearer <key>` or as the
// Basic password (any user name) lets the request through with the key's name as its
// Actor; anything else answers 401 with both challenges. The key is looked up in the
// database on every request, so a revocation holds at once on every replica.
func (k *Keys) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := presentedKey(c.Request().Header.Get(echo.HeaderAuthorization))
			if key == "" {
				return unauthorized()
			}
			name, err := k.authenticate(c.Request().Context(), key)
			if err != nil {
				return err // the database is lost: 503
			}
			if name == "" {
				return unauthorized()
			}
			SetActor(c, name)
			return next(c)
		}
	}
}

// presentedKey is the key an Authorization header carries (the Bearer token, or the
// Basic password), or "".
func presentedKey(authorization string) string {
	scheme, rest, ok := strings.Cut(authorization, " ")
	if !ok {
		return ""
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return ""
		}
		_, password, ok := strings.Cut(string(raw), ":")
		if !ok {
			return ""
		}
		return password
	}
	return ""
}

func unauthorized() *httpserver.Problem {
	p := httpserver.NewProblem(http.StatusUnauthorized, httpserver.CodeUnauthorized,
		"An administration request needs a live admin key, as a Bearer token or as the Basic password.")
	p.Header = http.Header{}
	p.Header.Add("WWW-Authenticate", BearerChallenge)
	p.Header.Add("WWW-Authenticate", BasicChallenge)
	return p
}
