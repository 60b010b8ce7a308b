package http

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/admin"
	"github.com/acme/identity/platform/httpserver"
)

// AdminService is what the administration routes need of the use cases (app.Service
// satisfies it): one method a use case.
type AdminService interface {
	ListAccounts(ctx context.Context, f app.AccountFilter, limit int) ([]domain.Account, string, error)
	Details(ctx context.Context, id string) (app.AccountDetails, error)
	DisableAccount(ctx context.Context, id string, reason domain.DisableReason) error
	EnableAccount(ctx context.Context, id string) error
	RevokeSessions(ctx context.Context, id string) error
	StartPasswordReset(ctx context.Context, id string) error
	DeleteAccountByID(ctx context.Context, id string) error
	EventsOfAccount(ctx context.Context, id, before string, limit int) ([]domain.AccountEvent, string, error)
	Trail(ctx context.Context, f app.EventFilter, limit int) ([]domain.AccountEvent, string, error)
}

// RegisterAdmin mounts identity's routes of the administration API on admin, a group at
// /admin/v1 behind the platform's admin-key check (platform/admin), which names the
// request's actor (admin.Actor). Every error they return goes through adminProblemFor.
func (h *Handlers) RegisterAdmin(g *echo.Group) {
	mapErrors := httpserver.MapErrors(adminProblemFor)
	g.GET("/accounts", h.adminListAccounts, mapErrors)
	g.GET("/accounts/:id", h.adminAccount, mapErrors)
	g.POST("/accounts/:id/disable", h.adminDisable, mapErrors)
	g.POST("/accounts/:id/enable", h.adminEnable, mapErrors)
	g.DELETE("/accounts/:id/sessions", h.adminRevokeSessions, mapErrors)
	g.POST("/accounts/:id/password-reset", h.adminPasswordReset, mapErrors)
	g.DELETE("/accounts/:id", h.adminDelete, mapErrors)
	g.GET("/accounts/:id/events", h.adminAccountEvents, mapErrors)
	g.GET("/events", h.adminEvents, mapErrors)
	h.registerWebhooks(g)
}

// adminContext is the request's context with its origin for the use cases: its id, and
// the admin key's name as the actor, which the store writes as data.actor of every
// account event the request causes. An administrator is no client: the per-client
// budgets (an anonymous client's) do not apply to it, and no client is recorded.
func adminContext(c echo.Context) context.Context {
	ctx := c.Request().Context()
	o := app.OriginFrom(ctx)
	o.Client, o.RequestID, o.UserAgent, o.Actor = "", httpserver.RequestID(c), "", admin.Actor(c)
	return app.WithOrigin(ctx, o)
}

// adminUser is a user as the administration API renders it: the v1 user and when it was
// disabled.
type adminUser struct {
	userResponse
	DisabledAt *time.Time `json:"disabled_at"`
}

func toAdminUser(a domain.Account) adminUser {
	u := adminUser{userResponse: toUserResponse(a)}
	if a.DisabledAt != nil {
		at := a.DisabledAt.UTC()
		u.DisabledAt = &at
	}
	return u
}

type accountsResponse struct {
	Accounts  []adminUser `json:"accounts"`
	NextAfter *string     `json:"next_after"`
}

// adminListAccounts is a page of accounts ordered by id:
// ?email=<prefix>&status=pending|active&disabled=true|false&after=<id>&limit= (1 to 100,
// 50 by default).
func (h *Handlers) adminListAccounts(c echo.Context) error {
	var (
		f   app.AccountFilter
		bad []field
	)
	prefix := c.QueryParam("email")
	switch {
	case utf8.RuneCountInString(prefix) > 254:
		bad = append(bad, field{"email", "must be at most 254 characters"})
	case !utf8.ValidString(prefix) || strings.ContainsFunc(prefix, unicode.IsControl):
		bad = append(bad, field{"email", "must be text without control characters"})
	default:
		f.EmailPrefix = strings.ToLower(strings.TrimSpace(prefix))
	}
	switch st := c.QueryParam("status"); st {
	case "":
	case string(domain.StatusPending), string(domain.StatusActive):
		f.Status = domain.Status(st)
	default:
		bad = append(bad, field{"status", "must be pending or active"})
	}
	if raw := c.QueryParam("disabled"); raw != "" {
		d, err := strconv.ParseBool(raw)
		if err != nil || (raw != "true" && raw != "false") {
			bad = append(bad, field{"disabled", "must be true or false"})
		}
		f.Disabled = &d
	}
	if f.After = c.QueryParam("after"); f.After != "" && !isUUID(f.After) {
		bad = append(bad, field{"after", "must be the id of an account (next_after)"})
	}
	limit, msg := pageLimit(c.QueryParam("limit"), app.MaxAccountsPage)
	if msg != "" {
		bad = append(bad, field{"limit", msg})
	}
	if err := invalid(bad...); err != nil {
		return err
	}
	page, next, err := h.svc.ListAccounts(adminContext(c), f, limit)
	if err != nil {
		return err
	}
	out := accountsResponse{Accounts: make([]adminUser, len(page))}
	for i, a := range page {
		out.Accounts[i] = toAdminUser(a)
	}
	if next != "" {
		out.NextAfter = &next
	}
	return c.JSON(http.StatusOK, out)
}

// pageLimit parses a page's limit (0 when absent: the use case's default).
func pageLimit(raw string, most int) (int, string) {
	if raw == "" {
		return 0, ""
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > most {
		return 0, "must be a whole number from 1 to " + strconv.Itoa(most)
	}
	return n, ""
}

// eventPage parses a page of an audit trail: ?before=<event id>&limit= (1 to 100; 0 when
// absent: the use case's default), with an entry in bad for each malformed one.
func eventPage(c echo.Context) (before string, limit int, bad []field) {
	if before = c.QueryParam("before"); before != "" && !isUUID(before) {
		bad = append(bad, field{"before", "must be the id of an event"})
	}
	limit, msg := pageLimit(c.QueryParam("limit"), 100)
	if msg != "" {
		bad = append(bad, field{"limit", msg})
	}
	return before, limit, bad
}

// knownClient is a client known to an account, as an operator sees it.
type knownClient struct {
	Client     string    `json:"client"`
	SignedInAt time.Time `json:"signed_in_at"`
}

type accountDetails struct {
	adminUser
	LastSignInAt *time.Time    `json:"last_sign_in_at"`
	Sessions     int           `json:"sessions"`
	KnownClients []knownClient `json:"known_clients"`
}

// adminAccount renders one account with its live sessions' count and known clients.
func (h *Handlers) adminAccount(c echo.Context) error {
	d, err := h.svc.Details(adminContext(c), c.Param("id"))
	if err != nil {
		return err
	}
	out := accountDetails{adminUser: toAdminUser(d.Account), Sessions: d.Sessions, KnownClients: make([]knownClient, len(d.KnownClients))}
	for i, k := range d.KnownClients {
		out.KnownClients[i] = knownClient{Client: k.Client, SignedInAt: k.SignedInAt.UTC()}
	}
	if d.LastSignInAt != nil {
		at := d.LastSignInAt.UTC()
		out.LastSignInAt = &at
	}
	return c.JSON(http.StatusOK, out)
}

// disableRequest is the body of a disable; the body may be left out (no reason).
type disableRequest struct {
	Reason string `json:"reason"`
}

func (h *Handlers) adminDisable(c echo.Context) error {
	var req disableRequest
	if c.Request().ContentLength != 0 {
		if err := httpserver.BindJSON(c, &req); err != nil {
			return err
		}
	}
	reason, msg := domain.ParseDisableReason(req.Reason)
	if msg != "" {
		return invalid(field{"reason", msg})
	}
	if err := h.svc.DisableAccount(adminContext(c), c.Param("id"), reason); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handlers) adminEnable(c echo.Context) error {
	if err := h.svc.EnableAccount(adminContext(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handlers) adminRevokeSessions(c echo.Context) error {
	if err := h.svc.RevokeSessions(adminContext(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handlers) adminPasswordReset(c echo.Context) error {
	if err := h.svc.StartPasswordReset(adminContext(c), c.Param("id")); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, struct{}{})
}

func (h *Handlers) adminDelete(c echo.Context) error {
	if err := h.svc.DeleteAccountByID(adminContext(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// adminAccountEvents is a page of one account's audit trail, newest first:
// ?before=<event id>&limit= (1 to 100).
func (h *Handlers) adminAccountEvents(c echo.Context) error {
	before, limit, bad := eventPage(c)
	if err := invalid(bad...); err != nil {
		return err
	}
	events, next, err := h.svc.EventsOfAccount(adminContext(c), c.Param("id"), before, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toEventsResponse(events, next))
}

// eventTypes are the types of account events, for the trail's ?type=.
var eventTypes = map[string]bool{
	domain.EventRegistered: true, domain.EventActivated: true, domain.EventSignedIn: true,
	domain.EventPasswordChanged: true, domain.EventPasswordReset: true, domain.EventEmailChanged: true,
	domain.EventDisabled: true, domain.EventEnabled: true, domain.EventSessionsRevoked: true, domain.EventDeleted: true,
}

// adminEvents is a page of every account's audit trail, newest first:
// ?type=<event type>&since=<RFC 3339>&before=<event id>&limit= (1 to 100).
func (h *Handlers) adminEvents(c echo.Context) error {
	var (
		f   app.EventFilter
		bad []field
	)
	if f.Type = c.QueryParam("type"); f.Type != "" && !eventTypes[f.Type] {
		bad = append(bad, field{"type", "must be the type of an account event, such as account.disabled"})
	}
	if raw := c.QueryParam("since"); raw != "" {
		since, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			bad = append(bad, field{"since", "must be an RFC 3339 time"})
		}
		f.Since = since
	}
	before, limit, pageBad := eventPage(c)
	f.Before, bad = before, append(bad, pageBad...)
	if err := invalid(bad...); err != nil {
		return err
	}
	events, next, err := h.svc.Trail(adminContext(c), f, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toEventsResponse(events, next))
}
