package httpserver

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acme/identity/platform/admission"
	"github.com/acme/identity/platform/database"
)

// ErrorMapper turns a module's errors into problems; it returns nil for an error it does
// not know. Each module has one, its table from domain errors to problem codes.
type ErrorMapper func(error) *Problem

// MapErrors is the middleware that applies a module's mapper to what its handlers return,
// so handlers just return their errors.
func MapErrors(mapper ErrorMapper) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			if err == nil {
				return nil
			}
			var p *Problem
			if errors.As(err, &p) {
				return err
			}
			if p := mapper(err); p != nil {
				if p.Cause == nil {
					p.Cause = err
				}
				return p
			}
			return err
		}
	}
}

// StatusClientClosedRequest is the status the access log shows for a request whose
// client hung up before the answer (nginx's convention): not a server error.
const StatusClientClosedRequest = 499

// errorHandler renders every error as a problem document. It is the one place where an
// error becomes an HTTP response: problems as they are, echo's own errors (404, 405, 413…)
// by status, an unreachable database and a saturated server as 503, a client that hung
// up as 499 (logged, never an error), anything else as a logged 500 whose cause is never
// sent.
func errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		ctx := c.Request().Context()
		cut := errors.Is(context.Cause(ctx), ErrShutdown)
		if !cut && errors.Is(ctx.Err(), context.Canceled) {
			// The client is gone: whatever failed failed because of that. Nobody reads
			// this answer; the status is for the access log.
			c.Response().WriteHeader(StatusClientClosedRequest)
			return
		}
		p := toProblem(err)
		if cut {
			// Cut at shutdown (see Server.shutdown, which logged it): whatever the handler
			// returned, its connection is closing and another replica can serve it.
			p = NewProblem(http.StatusServiceUnavailable, CodeUnavailable, "The server is shutting down; try again.")
			p.RetryAfter, p.Cause = time.Second, err
		}
		// A saturation refusal is not logged here: its access log line says 503, and under
		// a flood a second line per refusal only doubled the log (the metrics count them).
		if p.Status >= 500 && !cut && !errors.Is(err, admission.ErrBusy) {
			logger.Log(ctx, levelFor(p.Status), "request failed",
				slog.String("request_id", RequestID(c)), slog.Int("status", p.Status), slog.Any("error", err))
		}
		h := c.Response().Header()
		for k, vs := range p.Header {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		if p.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(p.RetryAfter.Seconds())))))
		}
		h.Set(echo.HeaderContentType, "application/problem+json")
		if c.Request().Method == http.MethodHead {
			err = c.NoContent(p.Status)
		} else {
			err = c.JSON(p.Status, p)
		}
		if err != nil {
			logger.ErrorContext(ctx, "write problem", slog.Any("error", err))
		}
	}
}

func toProblem(err error) *Problem {
	var (
		p  *Problem
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, database.ErrUnavailable),
		// The one place errors map to HTTP is the net under every path: a driver error a
		// module passed up unclassified (a timeout, a dropped connection) is still the
		// database being lost, never a 500.
		errors.Is(database.Classify(err), database.ErrUnavailable):
		p = NewProblem(http.StatusServiceUnavailable, CodeUnavailable, "The service cannot reach its database; try again shortly.")
		p.RetryAfter = 5 * time.Second
	case errors.Is(err, admission.ErrBusy):
		p = NewProblem(http.StatusServiceUnavailable, CodeUnavailable, "The service is saturated; try again in a second.")
		p.RetryAfter = time.Second
	case errors.As(err, &he):
		p = fromHTTPError(he)
	default:
		p = NewProblem(http.StatusInternalServerError, CodeInternal, "An unexpected error occurred; it has been logged.")
	}
	p.Cause = err
	return p
}

// fromHTTPError words the errors echo itself raises: no route (404), a wrong method (405),
// a body over the limit (413); the others get a code named by their status.
func fromHTTPError(he *echo.HTTPError) *Problem {
	switch he.Code {
	case http.StatusNotFound:
		return NewProblem(he.Code, CodeNotFound, "No such route.")
	case http.StatusMethodNotAllowed:
		return NewProblem(he.Code, CodeMethodNotAllowed, "This route does not accept that method.")
	case http.StatusRequestEntityTooLarge:
		return NewProblem(he.Code, CodePayloadTooLarge, "The request body is larger than 64 KiB.")
	case http.StatusUnsupportedMediaType:
		return NewProblem(he.Code, CodeUnsupportedMediaType, "The request body must be application/json.")
	case http.StatusBadRequest:
		return NewProblem(he.Code, CodeMalformedJSON, "The request could not be read.")
	}
	if he.Code >= 500 {
		return NewProblem(http.StatusInternalServerError, CodeInternal, "An unexpected error occurred; it has been logged.")
	}
	return NewProblem(he.Code, "http_"+strconv.Itoa(he.Code), http.StatusText(he.Code))
}
