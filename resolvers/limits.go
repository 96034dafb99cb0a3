package resolvers

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Codes of requests rejected for their shape, before any resolver runs. They
// extend DESIGN.md's vocabulary for protocol-level refusals; each limit has
// its own code so a client can tell which one it hit.
const (
	CodeDepthLimit      = "DEPTH_LIMIT_EXCEEDED"
	CodeAliasLimit      = "ALIAS_LIMIT_EXCEEDED"
	CodeRootFieldLimit  = "ROOT_FIELD_LIMIT_EXCEEDED"
	CodeComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED" // set by gqlgen's extension
	CodeTokenLimit      = "TOKEN_LIMIT_EXCEEDED"
	CodeRequestTooLarge = "REQUEST_TOO_LARGE"
	CodeTimeout         = "TIMEOUT"
)

// registerShapeCodes makes shape refusals protocol errors, like a
// validation failure: a WebSocket "error" message rather than a result.
// (Over HTTP, the gateway's transport gives every request error the status
// its media type calls for.) gqlgen keeps this in
// a process-wide map without a lock, so it is written exactly once, before
// any server built here can read it.
func registerShapeCodes() {
	registerOnce.Do(func() {
		for _, c := range []string{CodeDepthLimit, CodeAliasLimit, CodeRootFieldLimit, CodeComplexityLimit, CodeTokenLimit} {
			errcode.RegisterErrorType(c, errcode.KindProtocol)
		}
	})
}

// registerOnce guards gqlgen's global error-kind table (see
// registerShapeCodes); it is the package's only global state.
var registerOnce sync.Once

// shapeLimits rejects operations that nest too deeply, use too many aliases
// or ask for too many root fields. It runs after validation and before the
// complexity calculation, and measures fragments once each (memoized), so a
// fragment "bomb" costs linear time to refuse.
type shapeLimits struct {
	maxDepth, maxAliases, maxRootFields int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimits{}

func (shapeLimits) ExtensionName() string                          { return "ShapeLimits" }
func (shapeLimits) Validate(schema graphql.ExecutableSchema) error { return nil }

func (l shapeLimits) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	op := opCtx.Operation
	if op == nil {
		return nil
	}
	m := measurer{doc: opCtx.Doc, memo: map[string]shape{}, rootMemo: map[string]int{}}
	s := m.selectionSet(op.SelectionSet)
	if s.depth > l.maxDepth {
		return shapeError(CodeDepthLimit, "operation is nested %d levels deep; the limit is %d", s.depth, l.maxDepth)
	}
	if s.aliases > l.maxAliases {
		return shapeError(CodeAliasLimit, "operation uses %d aliases; the limit is %d", s.aliases, l.maxAliases)
	}
	if roots := m.rootFields(op.SelectionSet); roots > l.maxRootFields {
		return shapeError(CodeRootFieldLimit, "operation asks for %d root fields; the limit is %d", roots, l.maxRootFields)
	}
	return nil
}

func shapeError(code, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, code)
	return err
}

// shape is what the limits measure of a selection set.
type shape struct {
	depth   int // deepest field nesting, introspection excluded
	aliases int // saturating count of aliased fields, fragments expanded
}

type measurer struct {
	doc      *ast.QueryDocument
	memo     map[string]shape
	rootMemo map[string]int
}

// saturate keeps counts of expanded fragments from overflowing.
func saturate(n int) int { return min(n, 1<<30) }

func (m *measurer) selectionSet(set ast.SelectionSet) shape {
	var out shape
	for _, sel := range set {
		var s shape
		switch sel := sel.(type) {
		case *ast.Field:
			// Introspection is bounded by its own rule and is off in
			// production; GraphiQL's introspection query must not trip the
			// depth limit meant for the data graph.
			if len(sel.Name) > 1 && sel.Name[:2] == "__" {
				continue
			}
			s = m.selectionSet(sel.SelectionSet)
			s.depth++
			if sel.Alias != "" && sel.Alias != sel.Name {
				s.aliases = saturate(s.aliases + 1)
			}
		case *ast.InlineFragment:
			s = m.selectionSet(sel.SelectionSet)
		case *ast.FragmentSpread:
			s = m.fragment(sel.Name)
		}
		out.depth = max(out.depth, s.depth)
		out.aliases = saturate(out.aliases + s.aliases)
	}
	return out
}

func (m *measurer) fragment(name string) shape {
	if s, ok := m.memo[name]; ok {
		return s
	}
	// Validation has already refused cycles; the placeholder keeps a
	// malformed document from recursing forever all the same.
	m.memo[name] = shape{}
	def := m.doc.Fragments.ForName(name)
	if def == nil {
		return shape{}
	}
	s := m.selectionSet(def.SelectionSet)
	m.memo[name] = s
	return s
}

// rootFields counts the fields the operation asks of the root type,
// including those inside fragments at the root (each fragment measured once).
func (m *measurer) rootFields(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name != "__typename" {
				n++
			}
		case *ast.InlineFragment:
			n += m.rootFields(sel.SelectionSet)
		case *ast.FragmentSpread:
			n += m.rootFragment(sel.Name)
		}
		n = saturate(n)
	}
	return n
}

func (m *measurer) rootFragment(name string) int {
	if n, ok := m.rootMemo[name]; ok {
		return n
	}
	m.rootMemo[name] = 0
	def := m.doc.Fragments.ForName(name)
	if def == nil {
		return 0
	}
	n := m.rootFields(def.SelectionSet)
	m.rootMemo[name] = n
	return n
}

// noIntrospection refuses __schema and __type when introspection is off
// (production), with a validation error a client can read. Without it
// gqlgen lets such an operation run and fails the fields with an uncoded
// error, which would be INTERNAL.
type noIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noIntrospection{}

func (noIntrospection) ExtensionName() string                          { return "NoIntrospection" }
func (noIntrospection) Validate(schema graphql.ExecutableSchema) error { return nil }

func (noIntrospection) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil || !opCtx.DisableIntrospection {
		return nil
	}
	if introspects(opCtx.Doc, opCtx.Operation.SelectionSet, map[string]bool{}) {
		return shapeError(errcode.ValidationFailed, "introspection is disabled on this server")
	}
	return nil
}

// introspects reports a __schema or __type field among the root
// selections, fragments included (each visited once).
func introspects(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == "__schema" || sel.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(doc, sel.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if seen[sel.Name] {
				continue
			}
			seen[sel.Name] = true
			if def := doc.Fragments.ForName(sel.Name); def != nil && introspects(doc, def.SelectionSet, seen) {
				return true
			}
		}
	}
	return false
}
