// Package http is the identity context's REST adapter: the /v1/users and /v1/sessions
// routes, their DTOs, authentication (HTTP Basic and Bearer session tokens), and the table
// from domain errors to problem codes.
package http

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/acme/identity/modules/identity/app"
	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/httpserver"
)

// Service is what the handlers need of the use cases (app.Service satisfies it): one
// method a use case, returning what its handler renders.
type Service interface {
	Register(ctx context.Context, email domain.Email, password domain.Password) (domain.Account, error)
	Authenticate(ctx context.Context, email domain.Email, password string) (domain.Account, error)
	Activate(ctx context.Context, who domain.Account, code domain.ActivationCode) (domain.Account, error)
	Resend(ctx context.Context, who domain.Account) (app.CodeSent, error)
	AuthenticateToken(ctx context.Context, token string) (domain.Session, domain.Account, error)
	SignIn(ctx context.Context, who domain.Account) (app.SessionStarted, error)
	SignOut(ctx context.Context, sess domain.Session) error
	SignOutEverywhere(ctx context.Context, who domain.Account) error
	Sessions(ctx context.Context, who domain.Account) ([]domain.Session, error)
	EndSession(ctx context.Context, who domain.Account, id string) error
	ChangePassword(ctx context.Context, who domain.Account, password domain.Password) error
	RequestReset(ctx context.Context, email domain.Email) error
	ConfirmReset(ctx context.Context, email domain.Email, code domain.ResetCode, password domain.Password) error
	RequestEmailChange(ctx context.Context, who domain.Account, to domain.Email) error
	ConfirmEmailChange(ctx context.Context, who domain.Account, current domain.Session, code domain.EmailChangeCode) (domain.Account, error)
	DeleteAccount(ctx context.Context, who domain.Account) error
	Events(ctx context.Context, who domain.Account, before string, limit int) ([]domain.AccountEvent, string, error)
	AdminService
	WebhookService
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
	api.POST("/users/me/email", h.requestEmailChange, mapErrors, basic)
	api.POST("/users/me/email/confirm", h.confirmEmailChange, mapErrors, either)
	api.POST("/password-reset", h.requestReset, mapErrors)
	api.POST("/password-reset/confirm", h.confirmReset, mapErrors)
	api.DELETE("/users/me", h.deleteAccount, mapErrors, basic)
	api.GET("/users/me/events", h.events, mapErrors, either)
	api.POST("/sessions", h.signIn, mapErrors, basic)
	api.DELETE("/sessions/current", h.signOut, mapErrors, h.middleware(bearerScheme, true))
	api.DELETE("/sessions", h.signOutEverywhere, mapErrors, either)
	api.GET("/sessions", h.sessions, mapErrors, either)
	api.DELETE("/sessions/:id", h.endSession, mapErrors, either)
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

// The requests have no validator tags: each handler parses its request at the edge into
// the domain's values (domain.ParseRegistration, ParseActivationCode, ParsePassword,
// ParseResetCode, ParseEmailChangeCode), where the limits and their messages are written once, and hands the
// use case those values, never raw strings; a *domain.ValidationError is a 422 listing
// every bad field.
type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (h *Handlers) register(c echo.Context) error {
	var req registerRequest
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	email, password, err := domain.ParseRegistration(req.Email, req.Password)
	if err != nil {
		return err
	}
	acc, err := h.svc.Register(clientContext(c), email, password)
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
	code, msg := domain.ParseActivationCode(req.Code)
	if msg != "" {
		return invalid(field{"code", msg})
	}
	acc, err := h.svc.Activate(clientContext(c), principal(c), code)
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
	who := principal(c)
	password, msg := domain.ParsePassword(req.Password, who.Email)
	if msg != "" {
		return invalid(field{"password", msg})
	}
	if err := h.svc.ChangePassword(clientContext(c), who, password); err != nil {
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
	email, msg := domain.ParseEmail(req.Email)
	if msg != "" {
		return invalid(field{"email", msg})
	}
	if err := h.svc.RequestReset(clientContext(c), email); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, struct{}{})
}

func (h *Handlers) confirmReset(c echo.Context) error {
	var req resetConfirmation
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	email, emailMsg := domain.ParseEmail(req.Email)
	code, codeMsg := domain.ParseResetCode(req.Code)
	password, passwordMsg := domain.ParsePassword(req.Password, email)
	if err := invalid(field{"email", emailMsg}, field{"code", codeMsg}, field{"password", passwordMsg}); err != nil {
		return err // a malformed request is not a guess
	}
	if err := h.svc.ConfirmReset(clientContext(c), email, code, password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// The email-change requests carry no validator tags: their rules are the domain's.
type emailChangeRequest struct {
	Email string `json:"email"`
}

type emailChangeConfirmation struct {
	Code string `json:"code"`
}

// requestEmailChange asks for a code to the new address (Basic only: the password proves
// the caller, as for a password change). The answer is the same 202 {} whatever the new
// address is; its own address is a 422 (the domain's).
func (h *Handlers) requestEmailChange(c echo.Context) error {
	var req emailChangeRequest
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	to, msg := domain.ParseEmail(req.Email)
	if msg != "" {
		return invalid(field{"email", msg})
	}
	if err := h.svc.RequestEmailChange(clientContext(c), principal(c), to); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, struct{}{})
}

// confirmEmailChange confirms the new address with its code and renders the account with
// it; the session of the request's token, if any, is the one that stays.
func (h *Handlers) confirmEmailChange(c echo.Context) error {
	var req emailChangeConfirmation
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	code, msg := domain.ParseEmailChangeCode(req.Code)
	if msg != "" {
		return invalid(field{"code", msg}) // a malformed code is not a guess
	}
	current, _ := SessionFrom(c.Request().Context())
	acc, err := h.svc.ConfirmEmailChange(clientContext(c), principal(c), current, code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUserResponse(acc))
}

// eventResponse is an account event as the API renders it (the contract's "Account
// events"); the webhooks and the administration API render the same shape.
type eventResponse struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	AccountID  string         `json:"account_id"`
	Data       map[string]any `json:"data"`
}

type eventsResponse struct {
	Events     []eventResponse `json:"events"`
	NextBefore *string         `json:"next_before"`
}

// events is a page of the authenticated account's own audit trail, newest first:
// ?before=<event id>&limit= (1 to 100).
func (h *Handlers) events(c echo.Context) error {
	before, limit, bad := eventPage(c)
	if err := invalid(bad...); err != nil {
		return err
	}
	events, next, err := h.svc.Events(clientContext(c), principal(c), before, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toEventsResponse(events, next))
}

// toEventsResponse renders a page of the audit trail and the cursor of the next ("":
// none).
func toEventsResponse(events []domain.AccountEvent, next string) eventsResponse {
	out := eventsResponse{Events: make([]eventResponse, len(events))}
	for i, e := range events {
		out.Events[i] = eventResponse{ID: e.ID, Type: e.Type, OccurredAt: e.OccurredAt.UTC(), AccountID: e.AccountID, Data: e.Data}
		if out.Events[i].Data == nil {
			out.Events[i].Data = map[string]any{}
		}
	}
	if next != "" {
		out.NextBefore = &next
	}
	return out
}

// isUUID reports whether s is a UUID in its canonical form.
func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// field is one field of a request and what is wrong with it ("" when nothing is).
type field struct{ name, msg string }

// invalid is the *domain.ValidationError (a 422) listing every field that has a message,
// or nil when none has.
func invalid(fields ...field) error {
	var verr domain.ValidationError
	for _, f := range fields {
		if f.msg != "" {
			verr.Add(f.name, f.msg)
		}
	}
	return verr.Err()
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

// sessionInfo is a live session as its owner sees it: never its token.
type sessionInfo struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	Client     string    `json:"client"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

type sessionsResponse struct {
	Sessions []sessionInfo `json:"sessions"`
}

// sessions lists the account's live sessions, newest first; current marks the session of
// the request's own token.
func (h *Handlers) sessions(c echo.Context) error {
	list, err := h.svc.Sessions(clientContext(c), principal(c))
	if err != nil {
		return err
	}
	current, _ := SessionFrom(c.Request().Context())
	out := sessionsResponse{Sessions: make([]sessionInfo, len(list))}
	for i, s := range list {
		out.Sessions[i] = sessionInfo{ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(),
			Client: s.Client, UserAgent: s.UserAgent, Current: current.ID != "" && s.ID == current.ID}
	}
	return c.JSON(http.StatusOK, out)
}

// endSession ends one session of the account by its id: 404 for an id that is not one of
// its live sessions, another account's included.
func (h *Handlers) endSession(c echo.Context) error {
	if err := h.svc.EndSession(clientContext(c), principal(c), c.Param("id")); err != nil {
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
				user, password, ok := c.Request().BasicAuth()
				if !ok {
					return unauthorized(allowed)
				}
				// A user that is not an email is refused at once, without a hash:
				// nothing about any account depends on it.
				email, msg := domain.ParseEmail(user)
				if msg != "" {
					err = domain.ErrUnauthorized
					break
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

// clientContext is the request's context with its origin as the use cases read it
// (app.WithOrigin): its client (httpserver.ClientFrom), for the per-client budgets and the
// sign-in delay, and its id, both written with every account event it causes.
func clientContext(c echo.Context) context.Context {
	ctx := c.Request().Context()
	o := app.OriginFrom(ctx)
	o.Client, o.RequestID, o.UserAgent = httpserver.ClientFrom(ctx), httpserver.RequestID(c), c.Request().UserAgent()
	return app.WithOrigin(ctx, o)
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
