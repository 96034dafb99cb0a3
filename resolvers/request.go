package resolvers

import (
	"context"
	"net/netip"
)

// Request is what the HTTP layer learned about the request carrying an
// operation: its id for logs, the client's address and user agent, and the
// credentials it presented.
type Request struct {
	ID        string
	IP        netip.Addr
	UserAgent string
}

type requestKey struct{}

// WithRequest stores r in ctx; the gateway's middleware calls it once per
// HTTP request or WebSocket connection.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns what WithRequest stored, or the zero Request.
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// RequestID returns the id of the request carrying ctx, for logs and for the
// INTERNAL errors that quote it.
func RequestID(ctx context.Context) string { return RequestFrom(ctx).ID }
