// Package http is the identity context's REST adapter: the /v1/users routes, their DTOs,
// HTTP Basic authentication, and the table from domain errors to problem codes.
package http

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/httpserver"
)

// Service is what the handlers need of the use cases (app.Service satisfies it): one
// method a use case, returning what its handler renders.
type Service interface {
	Register(ctx context.Context, email, password string) (domain.Account, error)
	Authenticate(ctx context.Context, email, password string) (domain.Account, error)
	Activate(ctx context.Context, who domain.Account, code string) (domain.Account, error)
	Resend(ctx context.Context, who domain.Account) (app.CodeSent, error)
}

// Handlers serves the identity routes.
type Handlers struct {
	svc Service
}

// NewHandlers returns the handlers over svc.
func NewHandlers(svc Service) *Handlers {
	return &Handlers{svc: svc}
}

// Register mounts the routes on api (/v1). Every error they return goes through problemFor.
// Middleware is attached per route, not per group: an echo group with middleware answers
// every method of its paths, which would turn a 405 into a 404.
func (h *Handlers) Register(api *echo.Group) {
	mapErrors := httpserver.MapErrors(problemFor)
	api.POST("/users", h.register, mapErrors)
	api.GET("/users/me", h.me, mapErrors, h.Authenticate)
	api.POST("/users/me/activation", h.activate, mapErrors, h.Authenticate)
	api.POST("/users/me/activation-code", h.resend, mapErrors, h.Authenticate)
}

// userResponse is a user as the API renders it.
type userResponse struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatedAt *time.Time `json:"activated_at"`
}

func toUserResponse(a domain.Account) userResponse {
	u := userResponse{ID: a.ID, Email: string(a.Email), Status: string(a.Status), CreatedAt: a.CreatedAt.UTC()}
	if a.ActivatedAt != nil {
		at := a.ActivatedAt.UTC()
		u.ActivatedAt = &at
	}
	return u
}

// The requests have no validator tags: their one validation path is the domain's
// (domain.ParseRegistration, domain.ValidCodeFormat, through the use case), where the
// limits and their messages are written once; the use case's *domain.ValidationError is a
// 422 listing every field.
type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (h *Handlers) register(c echo.Context) error {
	var req registerRequest
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	acc, err := h.svc.Register(clientContext(c), req.Email, req.Password)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/users/me")
	return c.JSON(http.StatusCreated, toUserResponse(acc))
}

type activateRequest struct {
	Code string `json:"code"`
}

func (h *Handlers) activate(c echo.Context) error {
	var req activateRequest
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	acc, err := h.svc.Activate(clientContext(c), principal(c), req.Code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUserResponse(acc))
}

type resendResponse struct {
	ExpiresAt   time.Time `json:"expires_at"`
	ResendAfter time.Time `json:"resend_after"`
}

func (h *Handlers) resend(c echo.Context) error {
	sent, err := h.svc.Resend(clientContext(c), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, resendResponse{ExpiresAt: sent.ExpiresAt.UTC(), ResendAfter: sent.ResendAfter.UTC()})
}

func (h *Handlers) me(c echo.Context) error {
	return c.JSON(http.StatusOK, toUserResponse(principal(c)))
}

// Authenticate is the middleware that checks HTTP Basic credentials before anything else
// about the request and makes the account the request's principal: it is kept in the
// request's context (PrincipalFrom), the one place identity's handlers and other modules'
// read it. A missing or malformed header answers 401 at once, without a hash: nothing
// about any account depends on it (the use case does the same for a user that is not an
// email). Its own errors leave it as problems (401 with WWW-Authenticate, 429, 503), so it
// serves the routes of other modules too, whose error tables know nothing of identity's
// errors.
func (h *Handlers) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return h.authenticate(next, true)
}

// AuthenticateActive is Authenticate for an active account only: a pending one answers
// 403 account_pending (its owner has not proved the address yet).
func (h *Handlers) AuthenticateActive(next echo.HandlerFunc) echo.HandlerFunc {
	return h.authenticate(next, false)
}

func (h *Handlers) authenticate(next echo.HandlerFunc, pendingToo bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		email, password, ok := c.Request().BasicAuth()
		if !ok {
			return problemFor(domain.ErrUnauthorized)
		}
		acc, err := h.svc.Authenticate(clientContext(c), email, password)
		if err == nil && !pendingToo && acc.Status != domain.StatusActive {
			err = domain.ErrAccountPending
		}
		if err != nil {
			if p := problemFor(err); p != nil {
				p.Cause = err
				return p
			}
			return err
		}
		c.SetRequest(c.Request().WithContext(WithPrincipal(c.Request().Context(), acc)))
		return next(c)
	}
}

// clientContext is the request's context with its client (httpserver.ClientFrom) as the
// use cases read it (app.WithClient), for the per-client budgets and the sign-in delay.
func clientContext(c echo.Context) context.Context {
	ctx := c.Request().Context()
	return app.WithClient(ctx, httpserver.ClientFrom(ctx))
}

type principalKey struct{}

// WithPrincipal returns ctx carrying acc as the request's principal.
func WithPrincipal(ctx context.Context, acc domain.Account) context.Context {
	return context.WithValue(ctx, principalKey{}, acc)
}

// PrincipalFrom returns the account Authenticate let in, and false outside it.
func PrincipalFrom(ctx context.Context) (domain.Account, bool) {
	acc, ok := ctx.Value(principalKey{}).(domain.Account)
	return acc, ok
}

func principal(c echo.Context) domain.Account {
	acc, _ := PrincipalFrom(c.Request().Context())
	return acc
}
