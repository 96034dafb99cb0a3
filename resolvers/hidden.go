package resolvers

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"switchboard/crm"
)

// Hidden fields are enforced here, once, for every response: each schema
// field that can carry a hideable value is marked @hideable(field:
// "entity.field"), and this directive resolves it to null for a viewer
// whose role, in the account the value belongs to, hides that field. The
// database layer separately keeps hidden fields out of filters, sorting
// and search, which only it can do.

// AccountScoped is a value that belongs to one account whatever the query
// that reached it (a search hit, a notification), so hidden fields under it
// are judged by the viewer's role there.
type AccountScoped interface {
	TenantID() uuid.UUID
}

// hideable implements the @hideable directive.
func (r *Resolver) hideable(ctx context.Context, obj any, next graphql.Resolver, field string) (any, error) {
	res, err := next(ctx)
	if err != nil || res == nil {
		return res, err
	}
	entity, name, _ := strings.Cut(field, ".")
	hidden, err := r.hiddenHere(ctx, crm.Entity(strings.ToUpper(entity)), name)
	if err != nil || hidden {
		// Deny by default: if the viewer's role there cannot be read, the
		// value is not shown either.
		return nil, nil
	}
	return res, nil
}

// hiddenHere reports whether the viewer's role hides entity.field where the
// current field is.
func (r *Resolver) hiddenHere(ctx context.Context, entity crm.Entity, field string) (bool, error) {
	grant, own, err := r.grantHere(ctx)
	if err != nil {
		return true, err
	}
	return !own && grant.Hidden(entity, field), nil
}

// grantHere is the viewer's grant in the account the current field belongs
// to: the nearest enclosing Account (or account-scoped value), else the
// account the operation acts in (a mutation's result, a subscription's
// events). own is true when the value is the viewer's own (under me), which
// no role hides from them.
func (r *Resolver) grantHere(ctx context.Context) (grant crm.Grant, own bool, err error) {
	account := uuid.Nil
walk:
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		switch v := fc.Result.(type) {
		case *crm.Account:
			account = v.ID
			break walk
		case AccountScoped:
			account = v.TenantID()
			break walk
		case *crm.User:
			return crm.Grant{}, true, nil
		}
	}
	a, err := r.actor(ctx, account)
	if err != nil {
		return crm.Grant{}, false, err
	}
	_, grant, err = r.enter(ctx, a)
	return grant, false, err
}
