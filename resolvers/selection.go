package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// selects reports whether the operation asks, below the field being
// resolved, for the field at path (by field name, not alias; fragments
// included), so that a list can leave out what costs a look-up per row
// when no one reads it. The path's fields must be of object types.
func selects(ctx context.Context, path ...string) bool {
	opCtx := graphql.GetOperationContext(ctx)
	fields := graphql.CollectFieldsCtx(ctx, nil)
	for i, name := range path {
		var next []graphql.CollectedField
		found := false
		for _, f := range fields {
			if f.Name != name {
				continue
			}
			if i == len(path)-1 {
				return true
			}
			found = true
			next = append(next, graphql.CollectFields(opCtx, f.Selections, []string{f.Definition.Type.Name()})...)
		}
		if !found {
			return false
		}
		fields = next
	}
	return false
}
