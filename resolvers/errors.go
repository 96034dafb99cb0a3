package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/crm"
)

// errorPresenter is the one place where errors become what clients see.
// Domain errors keep their code and user-safe message; errors gqlgen and the
// shape limits already coded pass through; anything else is internal: logged
// with the request id, and shown only as INTERNAL with that id.
func errorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := &gqlerror.Error{}
		if !errors.As(err, &gqlErr) {
			gqlErr = &gqlerror.Error{Err: err}
		}
		out := &gqlerror.Error{Path: gqlErr.Path, Locations: gqlErr.Locations, Rule: gqlErr.Rule}
		if gqlErr.Path == nil {
			out.Path = graphql.GetPath(ctx)
		}
		if ce, ok := errors.AsType[*crm.Error](err); ok {
			out.Message = ce.Message
			out.Extensions = map[string]any{"code": string(ce.Code)}
			if ce.Field != "" {
				out.Extensions["field"] = ce.Field
			}
			if ce.RetryAfter > 0 {
				out.Extensions["retryAfter"] = int(math.Ceil(ce.RetryAfter.Seconds()))
			}
			return out
		}
		if errors.Is(err, context.DeadlineExceeded) {
			out.Message = "the operation took too long and was stopped"
			out.Extensions = map[string]any{"code": CodeTimeout}
			return out
		}
		if code, ok := gqlErr.Extensions["code"].(string); ok && code != "" && gqlErr.Err == nil {
			// Parse, validation and shape refusals: written for the client.
			return gqlErr
		}
		id := RequestID(ctx)
		logger.ErrorContext(ctx, "internal error", "request_id", id, "path", out.Path.String(), "err", err)
		out.Message = "internal error"
		out.Extensions = map[string]any{"code": string(crm.CodeInternal), "requestId": id}
		return out
	}
}

// panicError is what a recovered panic becomes before the presenter masks it.
type panicError struct {
	value any
	stack []byte
}

func (p panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.value, p.stack) }

// recoverFunc turns a panic in a resolver into an internal error; the
// process and the other fields of the response carry on.
func recoverFunc(ctx context.Context, v any) error {
	return panicError{value: v, stack: debug.Stack()}
}
