package resolvers

import (
	"switchboard/crm"
	"switchboard/graph"
)

// complexity gives list fields a cost proportional to the page they ask for,
// so the budget bounds the rows an operation can touch; every other field
// costs one plus its children (gqlgen's default).
func complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	c.User.LoginEvents = func(child int, first *int, _ *string) int { return paged(child, first) }
	return c
}

// paged costs a list by the page it asks for (the default page when first
// is absent; out-of-range sizes are refused by the service anyway).
func paged(child int, first *int) int {
	n := crm.DefaultPageSize
	if first != nil && *first > 0 {
		n = min(*first, crm.MaxPageSize)
	}
	return 1 + n*child
}
