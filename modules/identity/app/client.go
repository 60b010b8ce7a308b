package app

import "context"

// Origin is where a change comes from, as the request's metadata: its client (the IP,
// IPv6 grouped by prefix: httpserver.ClientFrom), for the per-client budgets and the
// sign-in delay; the request's id; and, for an administrator's action, the name of the
// key that acted. The store writes them with every account event of the change.
type Origin struct {
	Client    string
	RequestID string
	Actor     string
	// UserAgent is the request's User-Agent, kept with a session it starts.
	UserAgent string
}

type originKey struct{}

// WithOrigin returns ctx carrying o. Like the trace, it is read where it is spent: by the
// use cases and by the store.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin of ctx; empty when the change is nobody's (a test, a
// maintenance task): then no per-client budget applies.
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}

// WithClient returns ctx whose origin's client is client, the rest kept.
func WithClient(ctx context.Context, client string) context.Context {
	o := OriginFrom(ctx)
	o.Client = client
	return WithOrigin(ctx, o)
}

// ClientFrom returns the client of ctx's origin; empty when the change is no client's.
func ClientFrom(ctx context.Context) string { return OriginFrom(ctx).Client }
