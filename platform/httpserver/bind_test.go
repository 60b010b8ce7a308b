package httpserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestBindJSONChecksTheShapeTags: a DTO's validate tags are the one shape check of the
// bind; every failing field is listed by its JSON name, and a DTO without tags passes.
func TestBindJSONChecksTheShapeTags(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	s.API().POST("/tagged", func(c echo.Context) error {
		var dst struct {
			Name  string `json:"name" validate:"required,max=5"`
			Label string `json:"label" validate:"min=2"`
		}
		if err := BindJSON(c, &dst); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	s.API().POST("/untagged", func(c echo.Context) error {
		var dst struct {
			Name string `json:"name"`
		}
		if err := BindJSON(c, &dst); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	rec := post("/tagged", `{"name":"","label":"x"}`)
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusUnprocessableEntity || p.Code != CodeValidationFailed || len(p.Errors) != 2 ||
		p.Errors[0] != (FieldError{Field: "name", Message: "is required"}) ||
		p.Errors[1] != (FieldError{Field: "label", Message: "must be at least 2 characters"}) {
		t.Fatalf("%d %s; want 422 naming name and label", rec.Code, rec.Body)
	}
	if rec := post("/tagged", `{"name":"alice","label":"ok"}`); rec.Code != http.StatusNoContent {
		t.Fatalf("a valid body: %d %s", rec.Code, rec.Body)
	}
	if rec := post("/untagged", `{}`); rec.Code != http.StatusNoContent {
		t.Fatalf("a DTO without tags: %d %s", rec.Code, rec.Body)
	}
}
