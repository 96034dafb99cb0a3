package resolvers

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/graph"
	"switchboard/graph/model"
)

// respondInUnits is the innermost operation middleware. Each response of an
// operation (a query's, a mutation's, each event of a subscription) reads
// through one unit of work: one transaction, one verification of the
// session and of each account, begun only when something reads. It loads
// records through loaders of its own, and a query's or mutation's has the
// operation timeout. A subscription that delivers a final event holds its
// stream from before its resolver runs (holdFinalEvents).
//
// It wraps the operation's response handler rather than being a response
// middleware, and the closure it returns keeps a small frame: an idle
// subscription waits for its next event inside that handler, so whatever
// wraps it stays on the goroutine's stack for the subscription's life. As a
// response middleware, with gqlgen's chain for one, it took 528 of the 1,656
// bytes an idle sessionEvents subscription's goroutine used, and the runtime
// gives a goroutine that uses more than 1,248 an 8 KB stack instead of 4 KB.
// It uses 1,192 now: the margin is a few words, so add nothing to the
// closure's frame; the IdleSubscriptions benchmark's stack-KB/sub (about
// 16, against 29.7 before) is what shows a regression.
func respondInUnits(opts ServerOptions) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		u := &responder{auth: opts.Auth, inAccount: !readsOnlyUsersOwn(ctx)}
		if isQueryOrMutation(ctx) {
			u.timeout = opts.Limits.OperationTimeout
		}
		u.release = holdFinalEvents(ctx)
		handler := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			ctx, scope := u.begin(ctx)
			defer scope.close()
			resp := handler(ctx)
			u.done(resp)
			return resp
		}
	}
}

// responder is what respondInUnits knows of one operation.
type responder struct {
	auth      *Resolver
	inAccount bool          // the operation may read in an account (BeginOperation)
	timeout   time.Duration // 0 for a subscription
	release   func()        // lets go of the stream's hold, if it has one
}

// responseScope is what one response holds until it is written.
type responseScope struct {
	end    func()             // ends the unit of work, if there is one
	cancel context.CancelFunc // ends the timeout, if there is one
}

func (s responseScope) close() {
	if s.end != nil {
		s.end()
	}
	if s.cancel != nil {
		s.cancel()
	}
}

// begin gives one response its timeout, unit of work and loaders. It is
// not inlined, so its locals stay off the frame that an idle subscription
// keeps (respondInUnits).
//
//go:noinline
func (u *responder) begin(ctx context.Context) (context.Context, responseScope) {
	var s responseScope
	if u.timeout > 0 {
		ctx, s.cancel = context.WithTimeoutCause(ctx, u.timeout, errOperationTimeout)
	}
	if u.auth != nil && u.auth.Operations != nil {
		a, _ := u.auth.actor(ctx, uuid.Nil)
		ctx, s.end = u.auth.Operations.BeginOperation(ctx, a, u.inAccount)
		ctx = withLoaders(ctx, u.auth)
	}
	return ctx, s
}

// done lets go of a stream's hold at its end (nil). Not inlined, as
// begin.
//
//go:noinline
func (u *responder) done(resp *graphql.Response) {
	if resp == nil && u.release != nil {
		u.release()
	}
}

// observedRoot keeps the count of live subscriptions. One counts once its
// resolver has returned its events' channel, that is, once it listens (it
// has subscribed to the bus, joined its feed, read its state); the
// transport cancels a subscription's context when it ends, however it ends
// (complete, client gone, shutdown).
//
// It wraps the subscription resolvers rather than being a field
// middleware: with one, gqlgen runs a middleware chain, and allocates for
// it, for every field of every response.
type observedRoot struct {
	graph.ResolverRoot
	observer Observer
}

func (r observedRoot) Subscription() graph.SubscriptionResolver {
	return observedSubscriptions{r.ResolverRoot.Subscription(), r.observer}
}

// observedSubscriptions implements every subscription, without embedding,
// so that a new one does not compile until it is counted.
type observedSubscriptions struct {
	next     graph.SubscriptionResolver
	observer Observer
}

var _ graph.SubscriptionResolver = observedSubscriptions{}

// listening counts a subscription whose resolver succeeded, until its
// context ends.
func (s observedSubscriptions) listening(ctx context.Context, err error) error {
	if err == nil {
		s.observer.SubscriptionStarted()
		context.AfterFunc(ctx, s.observer.SubscriptionEnded)
	}
	return err
}

func (s observedSubscriptions) Heartbeat(ctx context.Context, seconds int) (<-chan *model.Heartbeat, error) {
	ch, err := s.next.Heartbeat(ctx, seconds)
	return ch, s.listening(ctx, err)
}

func (s observedSubscriptions) AccountEvents(ctx context.Context) (<-chan model.AccountEvent, error) {
	ch, err := s.next.AccountEvents(ctx)
	return ch, s.listening(ctx, err)
}

func (s observedSubscriptions) SessionEvents(ctx context.Context) (<-chan model.SessionEvent, error) {
	ch, err := s.next.SessionEvents(ctx)
	return ch, s.listening(ctx, err)
}

func (s observedSubscriptions) Notifications(ctx context.Context, after *string) (<-chan *crm.Notification, error) {
	ch, err := s.next.Notifications(ctx, after)
	return ch, s.listening(ctx, err)
}

func (s observedSubscriptions) Activity(ctx context.Context, after *string, filter *model.ActivityFilter) (<-chan *crm.ActivityEntry, error) {
	ch, err := s.next.Activity(ctx, after, filter)
	return ch, s.listening(ctx, err)
}
