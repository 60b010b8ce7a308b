// Package client is the typed Go client of the identity API, generated from
// api/openapi.yaml by oapi-codegen (make generate; client.gen.go is never edited by hand).
// The end-to-end suite drives the whole flow through it, which proves a consumer's code
// generator can use the document.
//
//	c, _ := client.NewClientWithResponses("http://localhost:8080")
//	res, _ := c.RegisterWithResponse(ctx, nil, client.RegisterJSONRequestBody{Email: "alice@example.com", Password: "correct horse battery"})
//	res.JSON201.Status // "pending"
package client
