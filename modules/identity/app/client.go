package app

import "context"

type clientKey struct{}

// WithClient returns ctx carrying the client a request comes from (its IP, IPv6 grouped
// by prefix: httpserver.ClientFrom), for the per-client budgets and the sign-in delay.
// Like the trace, it is the request's metadata, read where it is spent: by the use cases
// and by the store, which keeps each client's ledger.
func WithClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientFrom returns the client of ctx; empty when the change is no client's (a test, a
// maintenance task): then no per-client budget applies.
func ClientFrom(ctx context.Context) string {
	client, _ := ctx.Value(clientKey{}).(string)
	return client
}
