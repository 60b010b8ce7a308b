// Package adminclient is the typed Go client of the administration API (ADMIN_ADDR),
// generated from api/admin.yaml by oapi-codegen (make generate; client.gen.go is never
// edited by hand). A key goes in a request editor:
//
//	c, _ := adminclient.NewClientWithResponses("http://127.0.0.1:8081",
//		adminclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
//			req.Header.Set("Authorization", "Bearer "+key)
//			return nil
//		}))
//	res, _ := c.GetAdminOpenAPIWithResponse(ctx)
package adminclient
