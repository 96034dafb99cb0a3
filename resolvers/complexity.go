package resolvers

import (
	"reflect"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"switchboard/crm"
	"switchboard/graph"
)

// The complexity budget bounds what one operation can make the server
// read. Every list of objects costs as many times its children as it can
// hold: a paged list (an argument `first`) its page size, any other list
// its declared bound. Costs are derived from the schema, so a new paged
// field is costed without a line here; a new unpaged list must be declared
// below (TestEveryListFieldHasACost fails otherwise).

// listBounds are the unpaged lists of objects, with the most items each
// returns.
var listBounds = map[string]int{
	"Account.roles":                crm.MaxCustomRoles + len(crm.BuiltInRoles),
	"Account.invitations":          crm.MaxListedInvitations,
	"Account.activityLimits":       len(crm.Entities) * len(crm.Actions),
	"User.accounts":                50, // an estimate: a login in more accounts pays no more
	"Deal.contacts":                crm.Deals.Info().Record.Field("contactIds").Max,
	"Campaign.groups":              crm.MaxListFilter,
	"MailMessage.contacts":         crm.MaxMailContacts,
	"User.notificationPreferences": len(crm.NotificationKinds),
}

// computedLists are lists built in memory from what their parent already
// holds, with no reads of their own: they cost what a single child costs.
var computedLists = map[string]bool{
	"Account.myPermissions": true,
	"Role.permissions":      true,
	"Contact.emails":        true,
	"Contact.phones":        true,
	"MailMessage.to":        true,
	"MailMessage.cc":        true,
	"MailMessage.bcc":       true,
	"SearchFacets.accounts": true,
	"SearchFacets.types":    true,
}

// complexity returns gqlgen's per-field cost functions for the schema.
func complexity() graph.ComplexityRoot {
	var root graph.ComplexityRoot
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	rv := reflect.ValueOf(&root).Elem()
	for i := range rv.NumField() {
		def := schema.Types[rv.Type().Field(i).Name]
		if def == nil {
			continue
		}
		funcs := rv.Field(i)
		for j := range funcs.NumField() {
			f := fieldNamed(def, funcs.Type().Field(j).Name)
			if f == nil {
				continue
			}
			if cost := costOf(def.Name, f); cost != nil {
				funcs.Field(j).Set(reflect.MakeFunc(funcs.Field(j).Type(), cost))
			}
		}
	}
	return root
}

// costOf returns the cost function of a field (its arguments as gqlgen
// passes them: child complexity, then the field's arguments in order), or
// nil for gqlgen's default of one plus the children.
func costOf(typeName string, f *ast.FieldDefinition) func([]reflect.Value) []reflect.Value {
	result := func(n int) []reflect.Value { return []reflect.Value{reflect.ValueOf(n)} }
	for i, arg := range f.Arguments {
		if arg.Name == "first" {
			return func(args []reflect.Value) []reflect.Value {
				first, _ := args[i+1].Interface().(*int)
				return result(paged(int(args[0].Int()), first))
			}
		}
	}
	if bound, ok := listBounds[typeName+"."+f.Name]; ok {
		return func(args []reflect.Value) []reflect.Value { return result(1 + bound*int(args[0].Int())) }
	}
	return nil
}

// fieldNamed finds the schema field gqlgen named goName (the same name with
// Go initialisms: ipAllowlist is IPAllowlist).
func fieldNamed(def *ast.Definition, goName string) *ast.FieldDefinition {
	for _, f := range def.Fields {
		if strings.EqualFold(f.Name, goName) {
			return f
		}
	}
	return nil
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
