package resolvers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"switchboard/crm"
)

// Each response has its own loaders (dataloadgen): a record, member or link
// list asked for by many fields of the response is read once, by one
// statement for all of them, in the response's unit of work. A list primes
// them (prefetch) with what its page points to and the operation selects,
// so that a page of deals with their owners, companies and contacts costs
// one statement per kind of thing, however many deals there are. Keys carry
// the account: one response may read several (aliases, search hits), and
// each account's reads are verified as that account's.

// recordKey names a record (or a member) of an account.
type recordKey struct {
	account uuid.UUID
	id      uuid.UUID
}

// linkKey names a link list field of a record.
type linkKey struct {
	entity crm.Entity
	field  string
	recordKey
}

// loaderWait is how long a loader gathers keys before it reads: long enough
// for the concurrent fields of one list to ask, short next to a read.
const loaderWait = 500 * time.Microsecond

type loaders struct {
	records      map[crm.Entity]recordLoader
	members      *dataloadgen.Loader[recordKey, *crm.Member]
	links        *dataloadgen.Loader[linkKey, []uuid.UUID]
	mailContacts *dataloadgen.Loader[recordKey, []uuid.UUID]
}

type loadersKey struct{}

// recordLoader loads records of one type, whatever their Go type.
type recordLoader interface {
	load(ctx context.Context, key recordKey) (crm.AnyRecord, error)
	// prime reads the records with ids in one statement and keeps them for
	// the response's later loads.
	prime(ctx context.Context, account uuid.UUID, ids []uuid.UUID) error
	// linked reads link lists of records of the type.
	linked(ctx context.Context, a crm.Actor, field string, ids []uuid.UUID) ([][]uuid.UUID, error)
}

// typedLoader is the recordLoader of records of type T.
type typedLoader[T any, P interface {
	*T
	crm.AnyRecord
}] struct {
	store  crm.RecordStore[T]
	loader *dataloadgen.Loader[recordKey, *T]
	actor  func(ctx context.Context, account uuid.UUID) (crm.Actor, error)
}

func newTypedLoader[T any, P interface {
	*T
	crm.AnyRecord
}](r *Resolver, store crm.RecordStore[T]) *typedLoader[T, P] {
	l := &typedLoader[T, P]{store: store, actor: r.actor}
	l.loader = dataloadgen.NewLoader(func(ctx context.Context, keys []recordKey) ([]*T, []error) {
		return byAccount(ctx, r, keys, func(ctx context.Context, a crm.Actor, ids []uuid.UUID) ([]*T, error) {
			return store.Load(ctx, a, ids)
		})
	}, dataloadgen.WithWait(loaderWait))
	return l
}

func (l *typedLoader[T, P]) load(ctx context.Context, key recordKey) (crm.AnyRecord, error) {
	rec, err := l.loader.Load(ctx, key)
	if err != nil || rec == nil {
		return nil, err
	}
	return P(rec), nil
}

func (l *typedLoader[T, P]) linked(ctx context.Context, a crm.Actor, field string, ids []uuid.UUID) ([][]uuid.UUID, error) {
	return l.store.Linked(ctx, a, field, ids)
}

func (l *typedLoader[T, P]) prime(ctx context.Context, account uuid.UUID, ids []uuid.UUID) error {
	return primeLoader(ctx, l.actor, account, ids, l.store.Load, l.loader)
}

// primeLoader reads ids of account in one batch, as the operation's actor
// there, and primes loader with them in key order; a batch the actor may
// not see primes nothing (each key then answers on its own).
func primeLoader[V any](ctx context.Context, actor func(context.Context, uuid.UUID) (crm.Actor, error), account uuid.UUID, ids []uuid.UUID,
	load func(context.Context, crm.Actor, []uuid.UUID) ([]V, error), loader *dataloadgen.Loader[recordKey, V]) error {
	ids = distinct(ids)
	if len(ids) == 0 {
		return nil
	}
	a, err := actor(ctx, account)
	if err != nil {
		return err
	}
	values, err := load(ctx, a, ids)
	if err != nil {
		if unseen(err) {
			return nil
		}
		return err
	}
	for i, id := range ids {
		loader.Prime(recordKey{account, id}, values[i])
	}
	return nil
}

// byAccount runs fetch once per account among keys and returns its values
// in the order of keys. A role that may not see the type at all makes them
// nil, as an unseen record is.
func byAccount[V any](ctx context.Context, r *Resolver, keys []recordKey, fetch func(ctx context.Context, a crm.Actor, ids []uuid.UUID) ([]V, error)) ([]V, []error) {
	out := make([]V, len(keys))
	errs := make([]error, len(keys))
	groups := map[uuid.UUID][]int{}
	var order []uuid.UUID
	for i, k := range keys {
		if _, seen := groups[k.account]; !seen {
			order = append(order, k.account)
		}
		groups[k.account] = append(groups[k.account], i)
	}
	for _, account := range order {
		idx := groups[account]
		ids := make([]uuid.UUID, len(idx))
		for j, i := range idx {
			ids[j] = keys[i].id
		}
		a, err := r.actor(ctx, account)
		var vals []V
		if err == nil {
			vals, err = fetch(ctx, a, ids)
		}
		for j, i := range idx {
			switch {
			case err == nil:
				out[i] = vals[j]
			case !unseen(err):
				errs[i] = err
			}
		}
	}
	return out, errs
}

// unseen reports a refusal that means "nothing to show here" for a field
// that points elsewhere: the role may not view that type.
func unseen(err error) bool {
	var e *crm.Error
	return errors.As(err, &e) && (e.Code == crm.CodeForbidden || e.Code == crm.CodeNotFound)
}

func distinct(ids []uuid.UUID) []uuid.UUID {
	seen := make(map[uuid.UUID]bool, len(ids))
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if id != uuid.Nil && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// newLoaders makes one response's loaders.
func (r *Resolver) newLoaders() *loaders {
	rec := r.Records
	l := &loaders{records: map[crm.Entity]recordLoader{
		crm.Contacts:  newTypedLoader[crm.Contact](r, rec.Contacts),
		crm.Companies: newTypedLoader[crm.Company](r, rec.Companies),
		crm.Deals:     newTypedLoader[crm.Deal](r, rec.Deals),
		crm.Tasks:     newTypedLoader[crm.Task](r, rec.Tasks),
		crm.Notes:     newTypedLoader[crm.Note](r, rec.Notes),
		crm.Groups:    newTypedLoader[crm.Group](r, rec.Groups),
		crm.Templates: newTypedLoader[crm.Template](r, rec.Templates),
		crm.Campaigns: newTypedLoader[crm.Campaign](r, rec.Campaigns),
		crm.Mail:      newTypedLoader[crm.MailMessage](r, rec.Mail),
	}}
	l.members = dataloadgen.NewLoader(func(ctx context.Context, keys []recordKey) ([]*crm.Member, []error) {
		return byAccount(ctx, r, keys, r.Members.LoadMembers)
	}, dataloadgen.WithWait(loaderWait))
	l.mailContacts = dataloadgen.NewLoader(func(ctx context.Context, keys []recordKey) ([][]uuid.UUID, []error) {
		return byAccount(ctx, r, keys, rec.Relations.MailContacts)
	}, dataloadgen.WithWait(loaderWait))
	l.links = dataloadgen.NewLoader(func(ctx context.Context, keys []linkKey) ([][]uuid.UUID, []error) {
		out := make([][]uuid.UUID, len(keys))
		errs := make([]error, len(keys))
		// One read per record type and field (a response rarely asks for
		// more than one).
		groups := map[[2]string][]int{}
		for i, k := range keys {
			g := [2]string{string(k.entity), k.field}
			groups[g] = append(groups[g], i)
		}
		for g, idx := range groups {
			sub := make([]recordKey, len(idx))
			for j, i := range idx {
				sub[j] = keys[i].recordKey
			}
			vals, subErrs := byAccount(ctx, r, sub, func(ctx context.Context, a crm.Actor, ids []uuid.UUID) ([][]uuid.UUID, error) {
				return l.records[crm.Entity(g[0])].linked(ctx, a, g[1], ids)
			})
			for j, i := range idx {
				out[i], errs[i] = vals[j], subErrs[j]
			}
		}
		return out, errs
	}, dataloadgen.WithWait(loaderWait))
	return l
}

// loaderSlot holds a response's loaders, made when a field first needs
// them: most responses (each event of a subscription) load nothing.
type loaderSlot struct {
	once sync.Once
	l    *loaders
}

func withLoaders(ctx context.Context, _ *Resolver) context.Context {
	return context.WithValue(ctx, loadersKey{}, &loaderSlot{})
}

// loadersFrom returns the response's loaders (a context without them gets
// loaders of its own).
func (r *Resolver) loadersFrom(ctx context.Context) *loaders {
	if s, ok := ctx.Value(loadersKey{}).(*loaderSlot); ok {
		s.once.Do(func() { s.l = r.newLoaders() })
		return s.l
	}
	return r.newLoaders()
}
