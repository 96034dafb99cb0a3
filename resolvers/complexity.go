package resolvers

import "switchboard/graph"

// complexity gives list fields a cost proportional to the page they ask for,
// so the budget bounds the rows an operation can touch; every other field
// costs one plus its children (gqlgen's default).
func complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	return c
}
