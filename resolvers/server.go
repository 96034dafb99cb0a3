package resolvers

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/config"
	"switchboard/graph"
)

// Observer receives what the executor measures; the gateway turns it into
// Prometheus metrics.
type Observer interface {
	// OperationDone is called once per query or mutation, and once when a
	// subscription is set up.
	OperationDone(name string, kind ast.Operation, d time.Duration)
	// ErrorReturned is called for each error in a response, by code.
	ErrorReturned(code string)
	// SubscriptionStarted and SubscriptionEnded keep the count of live
	// subscriptions.
	SubscriptionStarted()
	SubscriptionEnded()
}

// ServerOptions configure the executor.
type ServerOptions struct {
	Limits        config.Limits
	Introspection bool
	Logger        *slog.Logger
	Observer      Observer
	// Auth authenticates operations; it is the real resolver even when
	// tests serve another resolver tree.
	Auth *Resolver
}

// errOperationTimeout is the cause of a context ended by the operation
// timeout, so the presenter can tell it from a client that went away.
var errOperationTimeout = errors.New("operation timeout")

// NewServer assembles the GraphQL executor for root: parsing and validation
// limits, the complexity budget, error presentation, panic recovery and
// metrics. Transports are the gateway's to add.
func NewServer(root graph.ResolverRoot, opts ServerOptions) *handler.Server {
	registerShapeCodes()
	srv := handler.New(graph.NewExecutableSchema(graph.Config{
		Resolvers:  observedRoot{root, opts.Observer},
		Directives: graph.DirectiveRoot{Hideable: opts.Auth.hideable},
		Complexity: complexity(),
	}))
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(opts.Limits.MaxTokens)
	present := countErrors(mendParserErrors(errorPresenter(opts.Logger, opts.Introspection)), opts.Observer)
	srv.SetErrorPresenter(present)
	srv.SetRecoverFunc(recoverFunc)
	srv.SetDisableSuggestion(!opts.Introspection)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{})
	}
	// Order matters: the shape limits refuse fragment bombs in linear time
	// before the complexity calculation walks the document.
	srv.Use(shapeLimits{
		maxDepth:      opts.Limits.MaxDepth,
		maxAliases:    opts.Limits.MaxAliases,
		maxRootFields: opts.Limits.MaxRootFields,
	})
	srv.Use(extension.FixedComplexityLimit(opts.Limits.MaxComplexity))
	srv.AroundOperations(observeOperations(opts.Observer))
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		ctx = withOpMemo(ctx)
		// A stream that presents a token belongs to that session from its
		// first operation (so its end closes the stream, whatever the
		// stream subscribes to), and a dead token is refused at once.
		if opts.Auth != nil && streamFrom(ctx) != nil && tokenFrom(ctx) != "" {
			if _, err := opts.Auth.principal(ctx); err != nil {
				return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{present(ctx, err)}})
			}
		}
		return next(ctx)
	})
	// Innermost, so that it sees the operation's context as the other
	// middleware left it.
	srv.AroundOperations(respondInUnits(opts))
	return srv
}

// readsOnlyUsersOwn reports a query whose root fields are all me (or
// __typename): it reads the user's own, in no account, so its session is
// verified without a membership. Anything else, fragments at the root
// included, counts as reading in an account.
func readsOnlyUsersOwn(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx).Operation
	if op == nil || op.Operation != ast.Query {
		return false
	}
	for _, sel := range op.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok || (f.Name != "me" && f.Name != "__typename") {
			return false
		}
	}
	return true
}

func isQueryOrMutation(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx).Operation
	return op != nil && op.Operation != ast.Subscription
}

func observeOperations(o Observer) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		opCtx := graphql.GetOperationContext(ctx)
		start := opCtx.Stats.OperationStart
		kind, name := opCtx.Operation.Operation, opCtx.Operation.Name
		if kind == ast.Subscription {
			handler := next(ctx)
			o.OperationDone(name, kind, time.Since(start))
			return handler
		}
		handler := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := handler(ctx)
			o.OperationDone(name, kind, time.Since(start))
			return resp
		}
	}
}

// countErrors counts the errors of responses by code as they are
// presented: each error is presented once, whichever way it takes (parse
// and validation, resolvers, a refused stream).
func countErrors(next graphql.ErrorPresenterFunc, o Observer) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := next(ctx, err)
		code, _ := gqlErr.Extensions["code"].(string)
		o.ErrorReturned(code)
		return gqlErr
	}
}

// mendParserErrors mends two of the parser's refusals: the token
// limit's gets its own code (gqlgen reports it as an ordinary parse
// failure), and a variable that is not a whole number for an Int says so
// (gqlparser says "cannot use value 0 as Int", printing the failed
// conversion's zero rather than the value). It also marks the errors of an
// operation that ran out of time as deadline errors, for the presenter.
func mendParserErrors(next graphql.ErrorPresenterFunc) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		if gqlErr, ok := errors.AsType[*gqlerror.Error](err); ok {
			code, _ := gqlErr.Extensions["code"].(string)
			switch {
			case code == errcode.ParseFailed && strings.HasPrefix(gqlErr.Message, "exceeded token limit"):
				errcode.Set(gqlErr, CodeTokenLimit)
			case code == errcode.ValidationFailed && len(gqlErr.Path) == 2 && gqlErr.Path[0] == ast.PathName("variable") &&
				strings.HasPrefix(gqlErr.Message, "cannot use value ") && strings.HasSuffix(gqlErr.Message, " as Int"):
				gqlErr.Message = "must be a whole number"
			}
		}
		if errors.Is(context.Cause(ctx), errOperationTimeout) {
			err = errors.Join(err, context.DeadlineExceeded)
		}
		return next(ctx, err)
	}
}
