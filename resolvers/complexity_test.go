package resolvers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"switchboard/graph"
)

// TestEveryListFieldHasACost walks the schema: every field that returns a
// list of objects is paged (an argument `first`, costed by its page), has a
// declared bound, is computed in memory, or is the nodes of a connection
// (costed by the connection's page). Each costed field has its function.
func TestEveryListFieldHasACost(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	root := complexity()
	rv := reflect.ValueOf(root)
	for _, def := range schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") || !listOfObjects(schema, f.Type) {
				continue
			}
			key := def.Name + "." + f.Name
			paged := f.Arguments.ForName("first") != nil
			_, bounded := listBounds[key]
			switch {
			case computedLists[key]:
				continue
			case f.Name == "nodes" && strings.HasSuffix(def.Name, "Connection"):
				continue
			case !paged && !bounded:
				t.Errorf("%s returns a list of objects with no cost: page it with `first`, or add its bound to listBounds", key)
				continue
			}
			fn := rv.FieldByName(def.Name)
			if !fn.IsValid() {
				t.Errorf("%s: no complexity functions for type %s", key, def.Name)
				continue
			}
			found := false
			for i := range fn.NumField() {
				if strings.EqualFold(fn.Type().Field(i).Name, f.Name) {
					found = !fn.Field(i).IsNil()
				}
			}
			if !found {
				t.Errorf("%s has no cost function", key)
			}
		}
	}
	for key := range listBounds {
		typ, field, _ := strings.Cut(key, ".")
		if def := schema.Types[typ]; def == nil || def.Fields.ForName(field) == nil {
			t.Errorf("listBounds names %s, which the schema does not have", key)
		}
	}
}

func listOfObjects(schema *ast.Schema, t *ast.Type) bool {
	if t.Elem == nil {
		return false
	}
	for t.Elem != nil {
		t = t.Elem
	}
	def := schema.Types[t.NamedType]
	return def != nil && def.Kind != ast.Scalar && def.Kind != ast.Enum
}

func TestPagedCostFollowsFirst(t *testing.T) {
	root := complexity()
	first := 100
	if got := root.Account.Activity(3, &first, nil, nil); got != 301 {
		t.Fatalf("activity(first: 100) with children of 3 costs %d, want 301", got)
	}
	if got := root.Account.Members(2, nil, nil, nil, nil); got != 41 {
		t.Fatalf("members with the default page costs %d, want 41", got)
	}
}
