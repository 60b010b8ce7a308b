// Package api holds the service's OpenAPI 3.0 documents, embedded in the binary: the
// public API's (openapi.yaml, served at GET /openapi.yaml) and the administration API's
// (admin.yaml, served at GET /admin/openapi.yaml on ADMIN_ADDR). The typed clients in
// api/client and api/adminclient are generated from them (make generate); the root
// package's tests keep them true to the servers.
package api //nolint:revive // the folder of the OpenAPI document, as Go projects name it; the package only embeds it

import _ "embed" // the document is embedded

// OpenAPI is the OpenAPI document, as YAML.
//
//go:embed openapi.yaml
var OpenAPI []byte

// AdminOpenAPI is the administration API's OpenAPI document, as YAML.
//
//go:embed admin.yaml
var AdminOpenAPI []byte
