package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLabelsAreBounded: whatever method and path a client sends, the labels come from a
// fixed set.
func TestLabelsAreBounded(t *testing.T) {
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/users/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	for _, r := range []struct{ method, path string }{
		{"GET", "/users/1"}, {"GET", "/users/2"}, {"BREW", "/users/3"}, {"GET", "/random/a"}, {"GET", "/random/b"},
	} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.method, r.path, nil))
	}
	want := `
# HELP identity_http_requests_total HTTP requests answered, by method, route template and status.
# TYPE identity_http_requests_total counter
identity_http_requests_total{method="GET",route="(none)",status="404"} 2
identity_http_requests_total{method="GET",route="/users/:id",status="204"} 2
identity_http_requests_total{method="other",route="/users/:id",status="405"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "identity_http_requests_total"); err != nil {
		t.Fatal(err)
	}
}
