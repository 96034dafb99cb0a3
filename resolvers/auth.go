package resolvers

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"switchboard/crm"
)

// CloseUnauthorized is the WebSocket close code for a connection whose
// session ended or was never valid (the graphql-transport-ws convention).
const CloseUnauthorized = 4401

type credentialsKey struct{}

// WithToken stores the session token a request presented (Authorization
// header, cookie, or the WebSocket init payload).
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, credentialsKey{}, token)
}

func tokenFrom(ctx context.Context) string {
	t, _ := ctx.Value(credentialsKey{}).(string)
	return t
}

// BearerToken extracts the token from an Authorization value.
func BearerToken(authorization string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Stream is the long-lived connection (WebSocket or SSE) carrying an
// operation, as the gateway tracks it, so that a session's end can close
// every connection of that session.
type Stream interface {
	// Bind records which session, user and account the stream acts for,
	// and from which address.
	Bind(sessionID, userID, accountID uuid.UUID, ip netip.Addr)
	// Hold keeps the stream open when its session ends until release is
	// called, so the final SessionEvicted frame goes out before the close.
	Hold() (release func())
	// End closes the stream for reason (crm.CodeSlowConsumer: it fell
	// behind what it was sent).
	End(reason crm.Code)
}

type streamKey struct{}

// WithStream stores the stream carrying a request.
func WithStream(ctx context.Context, s Stream) context.Context {
	return context.WithValue(ctx, streamKey{}, s)
}

func streamFrom(ctx context.Context) Stream {
	s, _ := ctx.Value(streamKey{}).(Stream)
	return s
}

// SessionCookie sets and clears the session cookie of an HTTP response; it
// is absent on WebSocket and SSE, where headers are already sent.
type SessionCookie interface {
	Set(token string, expires time.Time)
	Clear()
}

type cookieKey struct{}

// WithSessionCookie stores the cookie writer of an HTTP request.
func WithSessionCookie(ctx context.Context, c SessionCookie) context.Context {
	return context.WithValue(ctx, cookieKey{}, c)
}

func setCookie(ctx context.Context, token string, expires time.Time) {
	if c, ok := ctx.Value(cookieKey{}).(SessionCookie); ok {
		c.Set(token, expires)
	}
}

func clearCookie(ctx context.Context) {
	if c, ok := ctx.Value(cookieKey{}).(SessionCookie); ok {
		c.Clear()
	}
}

// opMemo is per operation: a stream is bound to its session once.
type opMemo struct{ bind sync.Once }

type opMemoKey struct{}

func withOpMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, opMemoKey{}, &opMemo{})
}

// principal returns the authenticated caller of this operation, or the
// error a request without a valid session gets. Within an operation the
// database's unit of work verifies the session once, in the operation's
// transaction; every operation (each HTTP request, each operation on a
// WebSocket) asks the database again (invariant 2).
func (r *Resolver) principal(ctx context.Context) (*crm.Principal, error) {
	token := tokenFrom(ctx)
	if token == "" {
		return nil, crm.Errorf(crm.CodeUnauthenticated, "sign in first")
	}
	p, err := r.Identity.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	if memo, _ := ctx.Value(opMemoKey{}).(*opMemo); memo != nil {
		memo.bind.Do(func() { r.bindStream(ctx, p) })
	} else {
		r.bindStream(ctx, p)
	}
	return p, nil
}

// client describes the caller for the domain.
func client(ctx context.Context) crm.Client {
	req := RequestFrom(ctx)
	return crm.NewClient(req.IP, req.UserAgent)
}

// WebsocketInit authenticates a WebSocket at connection_init: a token in
// the payload (or the upgrade request's cookie) must be valid, or the
// socket closes with 4401 and the error code as reason. A connection
// without a token may run public operations only.
func (r *Resolver) WebsocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	if auth := payload.Authorization(); auth != "" {
		ctx = WithToken(ctx, BearerToken(auth))
	}
	if account := payload.GetString("accountId"); account != "" {
		ctx = WithAccountScope(ctx, account)
	}
	if tokenFrom(ctx) == "" {
		return ctx, nil, nil
	}
	p, err := r.Identity.Authenticate(ctx, tokenFrom(ctx))
	if err != nil {
		code := crm.ErrorCode(err)
		if code == crm.CodeInternal {
			r.Logger.ErrorContext(ctx, "websocket authentication", "request_id", RequestID(ctx), "err", err)
			ctx = transport.WithWebsocketCloseCode(ctx, 1011)
		} else {
			ctx = transport.WithWebsocketCloseCode(ctx, CloseUnauthorized)
		}
		return transport.AppendCloseReason(ctx, string(code)), nil, err
	}
	r.bindStream(ctx, p)
	return ctx, nil, nil
}

// bindStream ties the request's stream, if any, to the principal's session
// and to the account the stream acts in (fixed when it first
// authenticates: the requested account, else the session's current one).
func (r *Resolver) bindStream(ctx context.Context, p *crm.Principal) {
	s := streamFrom(ctx)
	if s == nil {
		return
	}
	account, err := requestedAccount(ctx)
	if err != nil || account == uuid.Nil {
		account = p.Session.AccountID
	}
	s.Bind(p.Session.ID, p.User.ID, account, client(ctx).IP)
}

// holdFinalEvents keeps a stream open until a sessionEvents or
// accountEvents subscription has written its last frame, and returns what
// lets go (nil for any other operation). The transport asks for the next
// response only after writing the previous one, so the handler's
// end-of-stream nil means the final event is on the wire: respondInUnits
// lets go then, and at the latest the operation's end does. The hold is
// taken before the resolver runs, and so before the subscription counts
// as live: whatever waits for the count (tests, dashboards) sees a
// subscription that listens already and will get its last frame out.
func holdFinalEvents(ctx context.Context) (release func()) {
	opCtx := graphql.GetOperationContext(ctx)
	s := streamFrom(ctx)
	if s == nil || opCtx.Operation.Operation != ast.Subscription ||
		!(selectsField(opCtx.Operation.SelectionSet, "sessionEvents") || selectsField(opCtx.Operation.SelectionSet, "accountEvents")) {
		return nil
	}
	release = s.Hold()
	context.AfterFunc(ctx, release)
	return release
}

func selectsField(set ast.SelectionSet, name string) bool {
	for _, sel := range set {
		if f, ok := sel.(*ast.Field); ok && f.Name == name {
			return true
		}
	}
	return false
}
