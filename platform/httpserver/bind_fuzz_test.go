package httpserver

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// FuzzBindJSON: whatever body and content type a client sends, BindJSON either fills the
// DTO or answers a 4xx problem of the contract; it never panics and never fails with
// anything a handler would turn into a 5xx.
func FuzzBindJSON(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"email":"a@example.com","password":"long enough"}`},
		{"application/json; charset=utf-8", `{"email":5}`},
		{"application/json", `[]`},
		{"application/json", `{"email":"a"} trailing`},
		{"application/json", "{\"email\":\"\xff\xfe\"}"},
		{"application/json", `{"email":"\ud800"}`},
		{"application/json", strings.Repeat("[", 1000)},
		{"text/plain", `{}`},
		{"", ``},
		{"application/json", "\ufeff{}"},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", contentType)
		c := e.NewContext(req, httptest.NewRecorder())
		var dst struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		}
		err := BindJSON(c, &dst)
		if err == nil {
			if !json.Valid(body) || !strings.HasPrefix(strings.TrimLeft(string(body), " \t\r\n"), "{") {
				t.Fatalf("bound %q, which is not one JSON object", body)
			}
			return
		}
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("BindJSON(%q, %q) = %v: not a problem", contentType, body, err)
		}
		if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == "application/json" && !utf8.Valid(body) && p.Status != http.StatusBadRequest {
			t.Fatalf("BindJSON of invalid UTF-8 %q: status %d, want 400 malformed_json", body, p.Status)
		}
		switch p.Status {
		case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("BindJSON(%q, %q): status %d", contentType, body, p.Status)
		}
	})
}
