// Package api holds the service's OpenAPI 3.0 document (openapi.yaml), embedded in the
// binary and served at GET /openapi.yaml. The typed client in api/client is generated
// from it (make generate); the root package's tests keep it true to the server.
package api //nolint:revive // the folder of the OpenAPI document, as Go projects name it; the package only embeds it

import _ "embed" // the document is embedded

// OpenAPI is the OpenAPI document, as YAML.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Admin is the administration API's OpenAPI document (admin.yaml), as YAML.
//
//go:embed admin.yaml
var Admin []byte
