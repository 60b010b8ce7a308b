package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
)

// BindJSON reads the request body into dst, a pointer to a struct with json tags, and
// answers every way a body can be unusable with the contract's problem: 415 for another
// content type, 413 past the body limit, 400 malformed_json for invalid JSON or JSON that
// is not an object, 422 validation_failed for a field of the wrong JSON type. Unknown
// fields are ignored.
func BindJSON(c echo.Context, dst any) error {
	if err := requireJSON(c.Request()); err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) { // the body limit's 413
			return he
		}
		return NewProblem(http.StatusBadRequest, CodeMalformedJSON, "The request body could not be read.")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return NewProblem(http.StatusBadRequest, CodeMalformedJSON, "The request body must be a JSON object.")
	}
	// Unmarshal checks the whole body is one valid JSON value before filling dst, so
	// trailing data is malformed too; a wrong field type is reported after the rest is read.
	err = json.Unmarshal(body, dst)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		p := NewProblem(http.StatusUnprocessableEntity, CodeValidationFailed, "The request has invalid fields.")
		p.Errors = []FieldError{{Field: typeErr.Field, Message: "must be a " + jsonKind(typeErr.Type)}}
		return p
	case err != nil:
		return NewProblem(http.StatusBadRequest, CodeMalformedJSON, "The request body is not valid JSON.")
	}
	return nil
}

func requireJSON(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return NewProblem(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"The request body must be sent as Content-Type: application/json.")
	}
	return nil
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return "number"
	}
}

// Validator checks the shape of request DTOs with go-playground/validator tags and reports
// every failing field by its JSON name.
type Validator struct {
	v *validator.Validate
}

// NewValidator returns a Validator.
func NewValidator() *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	return &Validator{v: v}
}

// Check returns the failing fields of dst (nil when it is valid).
func (v *Validator) Check(dst any) []FieldError {
	err := v.v.Struct(dst)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		if err != nil {
			return []FieldError{{Field: "", Message: err.Error()}}
		}
		return nil
	}
	out := make([]FieldError, 0, len(verrs))
	for _, fe := range verrs {
		out = append(out, FieldError{Field: fe.Field(), Message: message(fe)})
	}
	return out
}

func message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "min":
		return fmt.Sprintf("must be at least %s characters", fe.Param())
	case "max":
		return fmt.Sprintf("must be at most %s characters", fe.Param())
	case "len":
		return fmt.Sprintf("must be exactly %s characters", fe.Param())
	case "numeric", "number":
		return "must contain only digits"
	case "email":
		return "must be a valid email address"
	}
	return fmt.Sprintf("failed the %q rule", fe.Tag())
}

// ValidationProblem returns the 422 validation_failed problem listing fields.
func ValidationProblem(fields []FieldError) *Problem {
	p := NewProblem(http.StatusUnprocessableEntity, CodeValidationFailed, "The request has invalid fields.")
	p.Errors = fields
	return p
}
