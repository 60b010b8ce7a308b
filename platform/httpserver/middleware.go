package httpserver

import (
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/platform/database"
)

const requestIDKey = "request_id"

// saneRequestID is what a caller's X-Request-ID must look like to be kept: short, and
// nothing that could forge a log line or a header.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)

// requestID keeps the caller's X-Request-ID when it is sane, makes one otherwise, and
// echoes it on the response.
func requestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !saneRequestID.MatchString(id) {
				id = uuid.NewString()
			}
			c.Set(requestIDKey, id)
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			return next(c)
		}
	}
}

// RequestID returns the id of the request being served.
func RequestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// accessLog writes one line per request, after the error handler has set the status.
// It logs no body and no header that could hold a secret.
func accessLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // render now, so the line below sees the real status
			}
			req, res := c.Request(), c.Response()
			level := levelFor(res.Status)
			route := c.Path()
			if route == "" {
				route = "(none)"
			}
			attrs := []slog.Attr{
				slog.String("request_id", RequestID(c)),
				slog.String("method", req.Method),
				slog.String("route", route),
				slog.String("path", req.URL.Path),
				slog.Int("status", res.Status),
				slog.Int64("bytes", res.Size),
				slog.Duration("duration", time.Since(start)),
				slog.String("ip", c.RealIP()),
			}
			if sc := trace.SpanContextFromContext(req.Context()); sc.IsValid() {
				attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
			}
			logger.LogAttrs(req.Context(), level, "request", attrs...)
			return nil
		}
	}
}

// levelFor is the log level of a request that ended with status: a 500 is a bug (error);
// a 503 is the service protecting itself, saturated or without its database (warn: under
// a flood there is one per refused request, and none is a bug); the rest, 499 included,
// is the client's business (info).
func levelFor(status int) slog.Level {
	switch {
	case status == http.StatusServiceUnavailable:
		return slog.LevelWarn
	case status >= 500:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// databaseBudget gives each request a budget of timeout for its database work, counted
// from its first database call (database.WithBudget); past it the call fails with an
// error the error handler answers with 503. The request is restored afterwards, so the
// error handler sees the request's own context, not the spent budget.
func databaseBudget(timeout time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if timeout <= 0 {
			return next
		}
		return func(c echo.Context) error {
			req := c.Request()
			ctx, cancel := database.WithBudget(req.Context(), timeout)
			c.SetRequest(req.WithContext(ctx))
			defer func() {
				cancel()
				c.SetRequest(req)
			}()
			return next(c)
		}
	}
}
