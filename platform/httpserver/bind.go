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
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
)

// BindJSON reads the request body into dst, a pointer to a struct with json tags, and
// answers every way a body can be unusable with the contract's problem: 415 for another
// content type, 413 past the body limit, 400 malformed_json for invalid JSON or JSON that
// is not an object, 422 validation_failed for a field of the wrong JSON type or one that
// breaks dst's `validate` tags (go-playground/validator: the request's shape, such as
// required fields and lengths, for a module whose rules are no domain's; every failing
// field is listed by its JSON name). Unknown fields are ignored.
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
	// RFC 8259 requires UTF-8; encoding/json would replace bad bytes, and the halves of
	// surrogate pairs escaped alone, by U+FFFD: a password would be stored rewritten.
	if !utf8.Valid(body) || hasLoneSurrogate(body) {
		return NewProblem(http.StatusBadRequest, CodeMalformedJSON, "The request body is not valid UTF-8 JSON.")
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
	if fields := shape.check(dst); len(fields) > 0 {
		p := NewProblem(http.StatusUnprocessableEntity, CodeValidationFailed, "The request has invalid fields.")
		p.Errors = fields
		return p
	}
	return nil
}

// hasLoneSurrogate reports whether a JSON string in body has a \uD800–\uDFFF escape that is
// not half of a high-low pair: it encodes no character. body is known to be UTF-8; when it
// is not valid JSON the answer does not matter (json.Unmarshal refuses it).
func hasLoneSurrogate(body []byte) bool {
	inString := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if i+1 < len(body) && body[i+1] == 'u' {
				r, ok := hex4(body, i+2)
				switch {
				case !ok || r < 0xD800 || r > 0xDFFF:
				case r >= 0xDC00: // a low half first
					return true
				default: // a high half: a low half must follow
					low, ok := rune(0), i+7 < len(body) && body[i+6] == '\\' && body[i+7] == 'u'
					if ok {
						low, ok = hex4(body, i+8)
					}
					if !ok || low < 0xDC00 || low > 0xDFFF {
						return true
					}
					i += 6
				}
			}
			i++ // skip the escaped character, whatever it is
		}
	}
	return false
}

// hex4 reads the four hex digits at body[at:].
func hex4(body []byte, at int) (rune, bool) {
	if at+4 > len(body) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(body[at:at+4]), 16, 16)
	return rune(n), err == nil
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

// shape checks every request DTO that BindJSON fills.
var shape = newShapeValidator()

// shapeValidator checks the shape of request DTOs with go-playground/validator tags and
// reports every failing field by its JSON name. A DTO without tags passes as it is.
type shapeValidator struct {
	v *validator.Validate
}

func newShapeValidator() *shapeValidator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	return &shapeValidator{v: v}
}

// check returns the failing fields of dst (nil when it is valid).
func (v *shapeValidator) check(dst any) []FieldError {
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

// message words the failure of the tags the DTOs use (required, min, max); a tag without
// a message of its own is named.
func message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "min":
		return fmt.Sprintf("must be at least %s characters", fe.Param())
	case "max":
		return fmt.Sprintf("must be at most %s characters", fe.Param())
	}
	return fmt.Sprintf("failed the %q rule", fe.Tag())
}

// ValidationProblem returns the 422 validation_failed problem listing fields.
func ValidationProblem(fields []FieldError) *Problem {
	p := NewProblem(http.StatusUnprocessableEntity, CodeValidationFailed, "The request has invalid fields.")
	p.Errors = fields
	return p
}
