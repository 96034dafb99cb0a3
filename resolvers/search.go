package resolvers

import (
	"context"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/graph"
)

type searchHitResolver struct{ *Resolver }

// SearchHit returns the SearchHit field resolvers.
func (r *Resolver) SearchHit() graph.SearchHitResolver { return &searchHitResolver{r} }

func (r *queryResolver) Search(ctx context.Context, query string, accounts []uuid.UUID, types []crm.SearchType, first *int, after *string) (*crm.SearchResult, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	res, err := r.Resolver.Search.Search(ctx, a, crm.SearchQuery{Text: query, Accounts: accounts, Types: types, Page: pageArgs(first, after)})
	if err != nil {
		return nil, err
	}
	// The hits' records, one read per account and type.
	if selects(ctx, "nodes", "record") {
		type group struct {
			account uuid.UUID
			entity  crm.Entity
		}
		l := r.loadersFrom(ctx)
		groups := map[group][]uuid.UUID{}
		for _, h := range res.Nodes {
			g := group{h.Account.ID, crm.RecordTypeOf(h.Type).Entity}
			groups[g] = append(groups[g], h.RecordID)
		}
		for g, ids := range groups {
			if err := l.records[g.entity].prime(ctx, g.account, ids); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// Record loads the record a hit found (a hit whose record went since, or
// that the viewer's role no longer shows, has none: an error on that hit
// alone).
func (r *searchHitResolver) Record(ctx context.Context, obj *crm.SearchHit) (crm.AnyRecord, error) {
	rt := crm.RecordTypeOf(obj.Type)
	rec, err := r.loadersFrom(ctx).records[rt.Entity].load(ctx, recordKey{obj.Account.ID, obj.RecordID})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, crm.NotFound(rt.Noun)
	}
	return rec, nil
}
