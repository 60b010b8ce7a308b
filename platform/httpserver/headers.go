package httpserver

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Request header limits. The contract wants headers over a bounded size (between 8 and
// 64 KiB) to answer 431. Two limits make that answer a problem document in all but the
// abusive cases:
//
//   - HeaderLimit (16 KiB) is checked by the headerLimit middleware, which answers a 431
//     problem document. 16 KiB is twice the 8 KiB the contract promises to accept, more
//     than any client of this API sends (Basic credentials, a request id, a few standard
//     headers), the common limit of proxies and CDNs (nginx's large buffers are 8 KiB a
//     line, 32 KiB in all), and it bounds what a request can make the handlers copy.
//   - MaxHeaderBytes (60 KiB, so net/http reads at most 64 KiB with its 4 KiB of slack)
//     bounds the memory a connection can hold before a handler ever runs. Past it net/http
//     answers 431 itself, before routing, with a text/plain body and none of our headers:
//     Go's http.Server offers no hook to change that response.
const (
	HeaderLimit    = 16 << 10
	MaxHeaderBytes = 60 << 10
)

// CodeHeadersTooLarge is the problem code of a 431.
const CodeHeadersTooLarge = "headers_too_large"

// headerLimit answers 431 when the request line and headers are larger than HeaderLimit,
// counted as they came on the wire.
func headerLimit() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if headerSize(c.Request()) > HeaderLimit {
				return NewProblem(http.StatusRequestHeaderFieldsTooLarge, CodeHeadersTooLarge,
					"The request headers are larger than 16 KiB.")
			}
			return next(c)
		}
	}
}

// headerSize is the size of r's request line and header block on the wire (HTTP/1.1),
// Host included.
func headerSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// APIPrefix is the path of the versioned API group every module mounts its routes on.
const APIPrefix = "/v1"

// onAPI reports whether the request is for the API group (APIPrefix and below).
func onAPI(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == APIPrefix || strings.HasPrefix(p, APIPrefix+"/")
}

// securityHeaders sets what every response carries: X-Content-Type-Options: nosniff, so a
// browser never reads a JSON body as something else, and, where noStore says (the API;
// everything on the administration listener), Cache-Control: no-store, so no cache keeps
// a user (or a problem) meant for one caller. They are set before the handler runs, so
// errors, 404s and 405s carry them too.
func securityHeaders(noStore func(echo.Context) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set(echo.HeaderXContentTypeOptions, "nosniff")
			if noStore(c) {
				h.Set(echo.HeaderCacheControl, "no-store")
			}
			return next(c)
		}
	}
}
