package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/acme/identity/api"
	"github.com/acme/identity/modules/identity"
	"github.com/acme/identity/platform/httpserver"
)

// The OpenAPI document (api/openapi.yaml) is kept true by three tests: the document and its
// examples validate; every request and response of the end-to-end suite is validated
// against it (checkContract, called by the harness's do for every exchange); and the
// routes echo serves are exactly its paths and methods.

// emailFormat is the `format: email` of the document: after trimming surrounding white
// space, a plain address (no display name, no comment) with a domain.
var emailFormat = openapi3.NewCallbackValidator(func(v string) error {
	s := strings.TrimSpace(v)
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return fmt.Errorf("%q is not a plain email address", v)
	}
	return nil
})

// theContract is the document, loaded and validated once, and its router.
type theContract struct {
	doc    *openapi3.T
	router routers.Router
}

var loadContract = sync.OnceValues(func() (theContract, error) {
	return loadDocument("api/openapi.yaml", api.OpenAPI)
})

// defineFormats registers the string formats the documents use, once.
var defineFormats = sync.OnceFunc(func() { openapi3.DefineStringFormatValidator("email", emailFormat) })

// loadDocument loads and validates one OpenAPI document (name is its file, for messages)
// and builds its router.
func loadDocument(name string, data []byte) (theContract, error) {
	defineFormats()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return theContract{}, fmt.Errorf("load %s: %w", name, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return theContract{}, fmt.Errorf("%s is not valid: %w", name, err)
	}
	doc.Servers = nil // match the test server, whatever its address
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return theContract{}, fmt.Errorf("route %s: %w", name, err)
	}
	return theContract{doc: doc, router: router}, nil
}

// contract returns the document and its router, failing t when the document is broken.
func contract(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	return c.doc, c.router
}

// contractOptions validate as strictly as the document allows: a status the document does
// not list for an operation is an error.
var contractOptions = &openapi3filter.Options{
	IncludeResponseStatus: true,
	MultiError:            true,
	AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
		if in.SecurityScheme.Type == "http" && strings.EqualFold(in.SecurityScheme.Scheme, "basic") {
			if _, _, ok := in.RequestValidationInput.Request.BasicAuth(); !ok {
				return errors.New("no HTTP Basic credentials")
			}
		}
		return nil
	},
}

// requestBody reads what req will send, leaving req able to send it.
func requestBody(t *testing.T, req *http.Request) []byte {
	t.Helper()
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if req.GetBody == nil {
		t.Fatalf("%s %s: the body cannot be read twice; build the request with a bytes or strings reader", req.Method, req.URL.Path)
	}
	body, err := req.GetBody()
	if err != nil {
		t.Fatalf("request body: %v", err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("request body: %v", err)
	}
	return b
}

// checkContract validates one exchange of the end-to-end suite against the document:
//   - a request to a path or method the document lacks must be answered 404 or 405 with a
//     problem document;
//   - a request the document refuses must not succeed (the server may refuse more: a weak
//     password is valid JSON Schema);
//   - the response must be one the document lists for the operation: status, headers,
//     content type and body.
func checkContract(t *testing.T, sent *http.Request, body []byte, res response) {
	t.Helper()
	doc, router := contract(t)
	checkExchange(t, doc, router, sent, body, res)
}

// checkExchange is checkContract against the document doc and its router.
func checkExchange(t *testing.T, doc *openapi3.T, router routers.Router, sent *http.Request, body []byte, res response) {
	t.Helper()
	ctx := context.Background()
	req := sent.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	what := fmt.Sprintf("%s %s -> %d", req.Method, req.URL.Path, res.Status)

	route, params, err := router.FindRoute(req)
	if err != nil {
		wantStatus := map[bool]int{true: http.StatusNotFound, false: http.StatusMethodNotAllowed}[errors.Is(err, routers.ErrPathNotFound)]
		if res.Status != wantStatus {
			t.Errorf("contract: %s: the document has no such operation (%v), so the server must answer %d", what, err, wantStatus)
			return
		}
		if req.Method != http.MethodHead {
			checkProblem(t, doc, what, res)
		}
		return
	}
	reqInput := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: contractOptions}
	if err := openapi3filter.ValidateRequest(ctx, reqInput); err != nil && res.Status < 400 {
		t.Errorf("contract: %s: the document refuses this request, yet the server accepted it:\n%v", what, err)
	}
	if req.Method == http.MethodHead {
		// ValidateResponse skips HEAD: check the status and the headers' presence here.
		ref := route.Operation.Responses.Status(res.Status)
		if ref == nil {
			t.Errorf("contract: %s: status %d is not documented for HEAD %s", what, res.Status, route.Path)
			return
		}
		for name, h := range ref.Value.Headers {
			if h.Value.Required && res.Header.Get(name) == "" {
				t.Errorf("contract: %s: required header %s is missing", what, name)
			}
		}
		return
	}
	resInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 res.Status,
		Header:                 combinedHeader(res.Header),
		Body:                   io.NopCloser(bytes.NewReader(res.Body)),
		Options:                contractOptions,
	}
	if err := openapi3filter.ValidateResponse(ctx, resInput); err != nil {
		t.Errorf("contract: %s: the response is not what the document says:\n%v\nbody: %.300s", what, err, res.Body)
	}
}

// combinedHeader is h with the lines of each field combined into one line, their values
// separated by commas, as RFC 9110 (section 5.3) lets any recipient combine them: the field
// value the document describes, as a proxy or a validator of traffic (Stoplight Prism) sees
// it. kin-openapi validates only the first line of a field otherwise, so a 401 with two
// WWW-Authenticate lines would pass for its first challenge alone.
func combinedHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for name, lines := range h {
		if name == "Set-Cookie" { // the one field that cannot be combined
			out[name] = lines
			continue
		}
		out[name] = []string{strings.Join(lines, ", ")}
	}
	return out
}

// checkProblem checks a response the document has no operation for is a problem document.
func checkProblem(t *testing.T, doc *openapi3.T, what string, res response) {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("contract: %s: Content-Type %q, want application/problem+json", what, ct)
		return
	}
	value, err := decodeJSON(res.Body)
	if err == nil {
		err = doc.Components.Schemas["Problem"].Value.VisitJSON(value, openapi3.VisitAsResponse())
	}
	if err != nil {
		t.Errorf("contract: %s: not a Problem: %v\n%s", what, err, res.Body)
	}
}

func decodeJSON(b []byte) (any, error) {
	var v any
	err := json.Unmarshal(b, &v)
	return v, err
}

func TestOpenAPIDocumentAndExamplesValidate(t *testing.T) {
	doc, _ := contract(t) // loads and validates the document, examples included
	if operations := checkDocument(t, doc); operations < 10 {
		t.Fatalf("the document has %d operations; the walk above checked almost nothing", operations)
	}
}

// checkDocument validates doc with every check on, and checks that every operation,
// request and response is described and every body has an example that validates
// against its schema. It returns how many operations it walked.
func checkDocument(t *testing.T, doc *openapi3.T) int {
	t.Helper()
	ctx := context.Background()
	// Validate again with every check on, naming what fails.
	if err := doc.Validate(ctx, openapi3.EnableExamplesValidation(), openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableSchemaPatternValidation()); err != nil {
		t.Fatalf("document: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3 (3.1 is not what code generators read best)", doc.OpenAPI)
	}

	// Every request and every response has a description and, with a body, an example
	// that validates against its schema.
	checkMedia := func(where string, content openapi3.Content, asResponse bool) {
		for mt, media := range content {
			examples := map[string]any{}
			if media.Example != nil {
				examples["example"] = media.Example
			}
			for name, ex := range media.Examples {
				examples[name] = ex.Value.Value
			}
			if len(examples) == 0 {
				t.Errorf("%s %s: no example", where, mt)
			}
			opt := openapi3.VisitAsRequest()
			if asResponse {
				opt = openapi3.VisitAsResponse()
			}
			for name, ex := range examples {
				if err := media.Schema.Value.VisitJSON(ex, opt, openapi3.MultiErrors()); err != nil {
					t.Errorf("%s %s: example %s does not match its schema: %v", where, mt, name, err)
				}
			}
		}
	}
	operations := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			operations++
			where := method + " " + path
			if op.Description == "" || op.Summary == "" || op.OperationID == "" {
				t.Errorf("%s: no summary, description or operationId", where)
			}
			if op.RequestBody != nil {
				if op.RequestBody.Value.Description == "" {
					t.Errorf("%s: the request body has no description", where)
				}
				checkMedia(where+" request", op.RequestBody.Value.Content, false)
			}
			if op.Responses.Len() == 0 {
				t.Errorf("%s: no response", where)
			}
			for status, ref := range op.Responses.Map() {
				if ref.Value.Description == nil || *ref.Value.Description == "" {
					t.Errorf("%s %s: no description", where, status)
				}
				checkMedia(where+" "+status, ref.Value.Content, true)
				for name, h := range ref.Value.Headers {
					if h.Value.Description == "" {
						t.Errorf("%s %s: header %s has no description", where, status, name)
					}
				}
			}
		}
	}
	return operations
}

// TestOpenAPIDocumentMatchesTheCode checks what the document states against the code it
// describes, where the code holds the values: the password strength and the problem codes.
func TestOpenAPIDocumentMatchesTheCode(t *testing.T) {
	doc, _ := contract(t)
	password := doc.Components.Schemas["RegisterRequest"].Value.Properties["password"].Value.Description
	for _, rule := range []string{"zxcvbn", fmt.Sprintf("score is below %d", identity.PasswordMinScore)} {
		if !strings.Contains(password, rule) {
			t.Errorf("the password description does not say %q", rule)
		}
	}
	// A takeover is a new account with a new id (TestTakeoverIsANewAccount): the User schema
	// must say so, not that the id is kept.
	id := doc.Components.Schemas["User"].Value.Properties["id"].Value.Description
	if strings.Contains(id, "kept") || !strings.Contains(id, "a new id") {
		t.Errorf("the User id description %q must say a takeover gives a new id", id)
	}
	codes := doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Description
	for _, code := range []string{
		httpserver.CodeMalformedJSON, httpserver.CodeValidationFailed, httpserver.CodeUnauthorized,
		httpserver.CodeRateLimited, httpserver.CodeUnavailable, httpserver.CodeNotFound, httpserver.CodeMethodNotAllowed,
		httpserver.CodePayloadTooLarge, httpserver.CodeUnsupportedMediaType, httpserver.CodeInternal,
		"email_taken", "already_active", "invalid_code", "too_many_attempts", "code_expired",
	} {
		if !strings.Contains(codes, "`"+code+"`") {
			t.Errorf("the Problem schema does not list the code %q", code)
		}
	}
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	res := ts.request(t, http.MethodGet, "/openapi.yaml", nil, "", "")
	wantStatus(t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", ct)
	}
	if !bytes.Equal(res.Body, api.OpenAPI) {
		t.Error("GET /openapi.yaml is not the embedded api/openapi.yaml")
	}
	if _, err := openapi3.NewLoader().LoadFromData(res.Body); err != nil {
		t.Errorf("the served document does not load: %v", err)
	}
}

// TestRoutesAreTheDocumentsOperations compares the routes echo serves with the paths and
// methods of the document, both ways.
func TestRoutesAreTheDocumentsOperations(t *testing.T) {
	t.Parallel()
	var served []string
	startServer(t, serverConfig{server: func(s *httpserver.Server) {
		param := regexp.MustCompile(`:(\w+)`)
		for _, r := range s.Routes() {
			// Group middleware makes echo add catch-all routes to its own 404 handler;
			// they serve nothing.
			if strings.HasPrefix(r.Name, "github.com/labstack/echo/") {
				continue
			}
			served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
		}
	}})
	doc, _ := contract(t)
	served = sameRoutes(t, doc, served, "the server", "the document")
	if len(served) < 10 {
		t.Errorf("served routes %v: the hook saw almost nothing", served)
	}
}

// sameRoutes fails t for every route in served ("METHOD /path/{param}") that doc lacks and
// every operation of doc that is not served (server and document name them in the
// messages); it returns served sorted, without repeats.
func sameRoutes(t *testing.T, doc *openapi3.T, served []string, server, document string) []string {
	t.Helper()
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(served)
	served = slices.Compact(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s serves %s, which %s lacks", server, r, document)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s has %s, which %s does not serve", document, r, server)
		}
	}
	return served
}

// TestOpenAPIEveryDocumented401 sends every operation that documents a 401 each request
// that earns one: no credentials, a malformed Authorization header, a scheme the route does
// not take, a bad Basic (an unknown email) and a bad Bearer token where the route takes
// Basic or Bearer. Each real response goes through checkContract (do), which validates it
// with kin-openapi's openapi3filter.ValidateResponse against the document, its
// WWW-Authenticate lines combined as a proxy or Prism sees them.
func TestOpenAPIEveryDocumented401(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverConfig{})
	doc, _ := contract(t)
	operations := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses.Status(http.StatusUnauthorized) == nil {
				continue
			}
			operations++
			takes := map[string]bool{}
			if op.Security != nil {
				for _, requirement := range *op.Security {
					for name := range requirement {
						takes[strings.ToLower(doc.Components.SecuritySchemes[name].Value.Scheme)] = true
					}
				}
			}
			if len(takes) == 0 {
				t.Errorf("%s %s documents a 401 but no security scheme", method, path)
				continue
			}
			var body any
			if op.RequestBody != nil {
				body = op.RequestBody.Value.Content.Get("application/json").Example
			}
			cases := map[string]string{"no credentials": "", "a malformed header": "Basic !!!"}
			if takes["basic"] {
				// An unknown email of its own per operation: the wrong passwords of one
				// email would reach the sign-in delay (a 429) as routes are added.
				nobody := fmt.Sprintf("nobody%d@example.com", operations)
				cases["a bad Basic"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(nobody+":not the password"))
			} else {
				cases["Basic, which the route does not take"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("nobody@example.com:pw"))
			}
			if takes["bearer"] {
				cases["a bad Bearer"] = "Bearer not-a-session-token"
			} else {
				cases["Bearer, which the route does not take"] = "Bearer not-a-session-token"
			}
			for name, authorization := range cases {
				req := ts.newRequest(t, method, path, body, "", "")
				if authorization != "" {
					req.Header.Set("Authorization", authorization)
				}
				res := ts.do(t, req) // validated against the document
				if res.Status != http.StatusUnauthorized {
					t.Errorf("%s %s with %s: %d, want 401\n%s", method, path, name, res.Status, res.Body)
				}
				if len(res.Header.Values("WWW-Authenticate")) == 0 {
					t.Errorf("%s %s with %s: no WWW-Authenticate", method, path, name)
				}
			}
		}
	}
	if operations < 8 {
		t.Errorf("only %d operations document a 401; the walk checked almost nothing", operations)
	}
}
