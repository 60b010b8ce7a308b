// Package http is the identity context's REST adapter: the /v1/users and /v1/sessions
// routes, their DTOs, authentication (HTTP Basic and Bearer session tokens), and the table
// from domain errors to problem codes.
package http

import (
	"context"
	"net/http"
	"strings"
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
	AuthenticateToken(ctx context.Context, token string) (domain.Session, domain.Account, error)
	SignIn(ctx context.Context, who domain.Account) (app.SessionStarted, error)
	SignOut(ctx context.Context, sess domain.Session) error
	SignOutEverywhere(ctx context.Context, who domain.Account) error
	ChangePassword(ctx context.Context, who domain.Account, password string) error
	RequestReset(ctx context.Context, email string) error
	ConfirmReset(ctx context.Context, email, code, password string) error
	DeleteAccount(ctx context.Context, who domain.Account) error
}

// Handlers serves the identity routes.
type Handlers struct {
	svc    Service
	screen func(context.Context) error
}

// NewHandlers returns the handlers over svc. screen (nil: none) is the hashing gate's
// admission.Gate.Screen: a request that will cost a password hash (a registration, Basic
// credentials) calls it first, and is refused with 503 and Retry-After, after a short
// hold, without its body being read or its password judged, while the gate is full.
func NewHandlers(svc Service, screen func(context.Context) error) *Handlers {
	if screen == nil {
		screen = func(context.Context) error { return nil }
	}
	return &Handlers{svc: svc, screen: screen}
}

// screened refuses the request at the door while the hashing gate is full (see
// NewHandlers): under a flood that resends at once, a refusal then costs no JSON, no
// strength judgement (a quarter of a millisecond of CPU and 65 KB of garbage each) and no
// database query, which the admitted hashes need (docs/decisions.md).
func (h *Handlers) screened(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := h.screen(c.Request().Context()); err != nil {
			return err
		}
		return next(c)
	}
}

// Register mounts the routes on api (/v1). Every error they return goes through problemFor.
// Middleware is attached per route, not per group: an echo group with middleware answers
// every method of its paths, which would turn a 405 into a 404.
func (h *Handlers) Register(api *echo.Group) {
	mapErrors := httpserver.MapErrors(problemFor)
	either := h.middleware(basicScheme|bearerScheme, true)
	basic := h.middleware(basicScheme, true)
	api.POST("/users", h.register, mapErrors, h.screened)
	api.GET("/users/me", h.me, mapErrors, either)
	api.POST("/users/me/activation", h.activate, mapErrors, basic)
	api.POST("/users/me/activation-code", h.resend, mapErrors, either)
	api.PUT("/users/me/password", h.changePassword, mapErrors, basic)
	api.POST("/password-reset", h.requestReset, mapErrors)
	api.POST("/password-reset/confirm", h.confirmReset, mapErrors)
	api.DELETE("/users/me", h.deleteAccount, mapErrors, basic)
	api.POST("/sessions", h.signIn, mapErrors, basic)
	api.DELETE("/sessions/current", h.signOut, mapErrors, h.middleware(bearerScheme, true))
	api.DELETE("/sessions", h.signOutEverywhere, mapErrors, either)
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

// changePasswordRequest carries no validator tags: the rules are the domain's.
type changePasswordRequest struct {
	Password string `json:"password"`
}

func (h *Handlers) changePassword(c echo.Context) error {
	var req changePasswordRequest
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.ChangePassword(clientContext(c), principal(c), req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// The reset requests carry no validator tags: their rules are the domain's.
type resetRequest struct {
	Email string `json:"email"`
}

type resetConfirmation struct {
	Email    string `json:"email"`
	Code     string `json:"code"`
	Password string `json:"password"`
}

func (h *Handlers) requestReset(c echo.Context) error {
	var req resetRequest
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.RequestReset(clientContext(c), req.Email); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, struct{}{})
}

func (h *Handlers) confirmReset(c echo.Context) error {
	var req resetConfirmation
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	if err := h.svc.ConfirmReset(clientContext(c), req.Email, req.Code, req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// deleteAccount deletes the account of the Basic credentials (a token is not enough: the
// password is asked again, as for a password change).
func (h *Handlers) deleteAccount(c echo.Context) error {
	if err := h.svc.DeleteAccount(clientContext(c), principal(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type sessionResponse struct {
	Token     string       `json:"token"`
	TokenType string       `json:"token_type"`
	ExpiresAt time.Time    `json:"expires_at"`
	User      userResponse `json:"user"`
}

func (h *Handlers) signIn(c echo.Context) error {
	started, err := h.svc.SignIn(clientContext(c), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, sessionResponse{
		Token: started.Token, TokenType: "Bearer", ExpiresAt: started.ExpiresAt.UTC(), User: toUserResponse(started.Account),
	})
}

func (h *Handlers) signOut(c echo.Context) error {
	sess, _ := SessionFrom(c.Request().Context())
	if err := h.svc.SignOut(clientContext(c), sess); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handlers) signOutEverywhere(c echo.Context) error {
	if err := h.svc.SignOutEverywhere(clientContext(c), principal(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// schemes are the authentication schemes a route accepts.
type schemes uint8

const (
	basicScheme schemes = 1 << iota
	bearerScheme
)

// The challenges of the 401s (RFC 7617, RFC 6750).
const (
	basicChallenge        = `Basic realm="identity", charset="UTF-8"`
	bearerChallenge       = `Bearer realm="identity"`                        //nolint:gosec // a challenge, no credential
	invalidTokenChallenge = `Bearer realm="identity", error="invalid_token"` //nolint:gosec // a challenge, no credential
)

// Authenticate is the middleware of a route that takes HTTP Basic credentials or a Bearer
// session token, and lets pending accounts in (identity's own /users/me routes).
func (h *Handlers) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return h.middleware(basicScheme|bearerScheme, true)(next)
}

// AuthenticateActive is Authenticate for an active account only: a pending one answers
// 403 account_pending (its owner has not proved the address yet).
func (h *Handlers) AuthenticateActive(next echo.HandlerFunc) echo.HandlerFunc {
	return h.middleware(basicScheme|bearerScheme, false)(next)
}

// middleware checks the request's credentials before anything else about it and makes
// the account the request's principal: it is kept in the request's context
// (PrincipalFrom), the one place identity's handlers and other modules' read it, with
// the session of a Bearer token (SessionFrom). A missing or malformed header, or a scheme
// the route does not take, answers 401 at once with the challenges of the schemes it
// takes, without a hash or a query: nothing about any account depends on it (the use
// case does the same for a Basic user that is not an email). A Bearer token costs one
// query and no hash; a bad one answers 401 with error="invalid_token", the same for an
// unknown, expired or revoked token. Its own errors leave it as problems (401 with
// WWW-Authenticate, 403, 429, 503), so it serves the routes of other modules too, whose
// error tables know nothing of identity's errors.
func (h *Handlers) middleware(allowed schemes, pendingToo bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx := c.Request().Context()
			scheme, token, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
			var (
				acc  domain.Account
				sess domain.Session
				err  error
			)
			switch {
			case allowed&basicScheme != 0 && strings.EqualFold(scheme, "Basic"):
				email, password, ok := c.Request().BasicAuth()
				if !ok {
					return unauthorized(allowed)
				}
				if err := h.screen(ctx); err != nil {
					return err // saturated: refused before the account is looked up
				}
				acc, err = h.svc.Authenticate(clientContext(c), email, password)
			case allowed&bearerScheme != 0 && strings.EqualFold(scheme, "Bearer"):
				sess, acc, err = h.svc.AuthenticateToken(ctx, strings.TrimSpace(token))
				ctx = WithSession(ctx, sess)
			default:
				return unauthorized(allowed)
			}
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
			c.SetRequest(c.Request().WithContext(WithPrincipal(ctx, acc)))
			return next(c)
		}
	}
}

// unauthorized is the 401 of a request without credentials the route takes: one
// challenge per scheme it takes.
func unauthorized(allowed schemes) *httpserver.Problem {
	p := problemFor(domain.ErrUnauthorized)
	p.Header = http.Header{}
	if allowed&basicScheme != 0 {
		p.Header.Add("WWW-Authenticate", basicChallenge)
	}
	if allowed&bearerScheme != 0 {
		p.Header.Add("WWW-Authenticate", bearerChallenge)
	}
	return p
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

type sessionKey struct{}

// WithSession returns ctx carrying the session of the request's Bearer token.
func WithSession(ctx context.Context, sess domain.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, sess)
}

// SessionFrom returns the session of the request's Bearer token, and false for a request
// authenticated otherwise.
func SessionFrom(ctx context.Context) (domain.Session, bool) {
	sess, ok := ctx.Value(sessionKey{}).(domain.Session)
	return sess, ok
}

func principal(c echo.Context) domain.Account {
	acc, _ := PrincipalFrom(c.Request().Context())
	return acc
}
