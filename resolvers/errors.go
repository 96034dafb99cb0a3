package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/crm"
)

// errorPresenter is the one place where errors become what clients see.
// Domain errors keep their code and user-safe message; errors gqlgen and the
// shape limits already coded pass through; anything else is internal: logged
// with the request id, and shown only as INTERNAL with that id.
//
// suggest says whether validation messages may keep their "Did you mean"
// hints: they name fields, arguments and enum values, which is schema that
// production does not reveal.
func errorPresenter(logger *slog.Logger, suggest bool) graphql.ErrorPresenterFunc {
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
			field := ce.Field
			if field == "" && ce.Code == crm.CodeBadUserInput {
				// A scalar refused an argument or input field: the path
				// ends with its name (and list indexes).
				field = lastName(out.Path)
			}
			if field != "" {
				out.Extensions["field"] = field
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
			if !suggest {
				gqlErr.Message = withoutSuggestion(gqlErr.Message)
			}
			return gqlErr
		}
		id := RequestID(ctx)
		// Errors below the domain say what failed, not with which values:
		// the database layer strips values from its errors, and nothing
		// here logs a request body or variables.
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

// lastName is the last field or argument name on a path.
func lastName(p ast.Path) string {
	for i := len(p) - 1; i >= 0; i-- {
		if name, ok := p[i].(ast.PathName); ok {
			return string(name)
		}
	}
	return ""
}

// withoutSuggestion cuts gqlparser's " Did you mean ...?" hint off a
// validation message.
func withoutSuggestion(msg string) string {
	if i := strings.Index(msg, " Did you mean "); i >= 0 {
		return msg[:i]
	}
	return msg
}
