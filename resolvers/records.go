package resolvers

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/graph"
)

// Records in the API. Every operation on every record type goes through
// one generic function here (list, one, create, update, remove) and one
// store (crm.RecordStore); the methods gqlgen asks for are one line each.
// Fields every record has are served by recordResolver, which each type's
// resolver embeds.

// recordResolver serves the fields every record has.
type recordResolver[T any, P interface {
	*T
	Meta() *crm.RecordMeta
}] struct{ *Resolver }

// Account is the record's account.
func (r recordResolver[T, P]) Account(ctx context.Context, obj P) (*crm.Account, error) {
	a, err := r.actor(ctx, obj.Meta().AccountID)
	if err != nil {
		return nil, err
	}
	acct, _, err := r.enter(ctx, a)
	return acct, err
}

// Owner is the record's owner, or null when the viewer may not see members.
func (r recordResolver[T, P]) Owner(ctx context.Context, obj P) (*crm.Member, error) {
	return r.member(ctx, obj.Meta().AccountID, &obj.Meta().OwnerID)
}

// member loads a member of an account, nil when there is none or the
// viewer may not see them.
func (r *Resolver) member(ctx context.Context, account uuid.UUID, id *uuid.UUID) (*crm.Member, error) {
	if id == nil {
		return nil, nil
	}
	return r.loadersFrom(ctx).members.Load(ctx, recordKey{account, *id})
}

// ref loads the record of entity an id field points to (nil for none, or
// one the viewer may not see).
func ref[T any](ctx context.Context, r *Resolver, entity crm.Entity, account uuid.UUID, id *uuid.UUID) (*T, error) {
	if id == nil {
		return nil, nil
	}
	rec, err := r.loadersFrom(ctx).records[entity].load(ctx, recordKey{account, *id})
	if err != nil || rec == nil {
		return nil, err
	}
	return any(rec).(*T), nil
}

// refs loads the records of entity a link list holds, leaving out those the
// viewer may not see.
func refs[T any](ctx context.Context, r *Resolver, entity crm.Entity, account uuid.UUID, ids []uuid.UUID) ([]T, error) {
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		rec, err := ref[T](ctx, r, entity, account, &id)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			out = append(out, *rec)
		}
	}
	return out, nil
}

// links loads a link list field of a record.
func (r *Resolver) links(ctx context.Context, entity crm.Entity, field string, m *crm.RecordMeta) ([]uuid.UUID, error) {
	ids, err := r.loadersFrom(ctx).links.Load(ctx, linkKey{entity, field, recordKey{m.AccountID, m.ID}})
	if ids == nil {
		ids = []uuid.UUID{}
	}
	return ids, err
}

// subject loads the record a subject field points to, nil when the viewer
// may not see it.
func (r *Resolver) subject(ctx context.Context, account uuid.UUID, entity *crm.Entity, id *uuid.UUID) (crm.AnyRecord, error) {
	if entity == nil || id == nil {
		return nil, nil
	}
	l, ok := r.loadersFrom(ctx).records[*entity]
	if !ok {
		return nil, nil
	}
	return l.load(ctx, recordKey{account, *id})
}

// list serves a record list of an account, and primes the response's
// loaders with what its page points to and the operation selects.
func list[T any, P interface {
	*T
	Meta() *crm.RecordMeta
}](ctx context.Context, r *Resolver, store crm.RecordStore[T], account *crm.Account, first *int, after *string,
	filter map[string]any, orderBy *crm.Order) (*crm.Page[T], error) {
	a, err := r.actor(ctx, account.ID)
	if err != nil {
		return nil, err
	}
	page, err := store.List(ctx, a, crm.ListQuery{Filter: filter, Order: orderBy, Page: pageArgs(first, after)})
	if err != nil {
		return nil, err
	}
	recs := make([]any, len(page.Nodes))
	for i := range page.Nodes {
		recs[i] = P(&page.Nodes[i])
	}
	if err := r.prefetch(ctx, store.Type(), account.ID, recs); err != nil {
		return nil, err
	}
	return page, nil
}

// one serves a record of an account by id.
func one[T any](ctx context.Context, r *Resolver, store crm.RecordStore[T], account *crm.Account, id uuid.UUID) (*T, error) {
	a, err := r.actor(ctx, account.ID)
	if err != nil {
		return nil, err
	}
	return store.Get(ctx, a, id)
}

// create, update and remove serve a record type's mutations, in the
// request's account.
func create[T any](ctx context.Context, r *Resolver, store crm.RecordStore[T], in map[string]any) (*T, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return store.Create(ctx, a, in)
}

func update[T any](ctx context.Context, r *Resolver, store crm.RecordStore[T], id uuid.UUID, in map[string]any) (*T, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return store.Update(ctx, a, id, in)
}

func remove[T any](ctx context.Context, r *Resolver, store crm.RecordStore[T], id uuid.UUID) (bool, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return false, err
	}
	if err := store.Delete(ctx, a, id); err != nil {
		return false, err
	}
	return true, nil
}

// outputName is the API field that shows what field f points to:
// companyId's company, contactIds' contacts, a subject itself.
func outputName(f *crm.Field) string {
	switch f.Kind {
	case crm.KindRef, crm.KindMember:
		return strings.TrimSuffix(f.Name, "Id")
	case crm.KindRefs:
		return strings.TrimSuffix(f.Name, "Ids") + "s"
	case crm.KindSubject:
		return f.Name
	}
	return ""
}

// prefetch reads, for a page of records of t, what the operation selects
// of what they point to (their owners, the records their fields name, link
// lists and the records in them), one statement per kind, and primes the
// response's loaders with it.
func (r *Resolver) prefetch(ctx context.Context, t *crm.RecordType, account uuid.UUID, recs []any) error {
	if len(recs) == 0 {
		return nil
	}
	l := r.loadersFrom(ctx)
	if selects(ctx, "nodes", "owner") {
		ids := make([]uuid.UUID, len(recs))
		for i, rec := range recs {
			ids[i] = rec.(interface{ Owner() uuid.UUID }).Owner()
		}
		if err := r.primeMembers(ctx, l, account, ids); err != nil {
			return err
		}
	}
	for i := range t.Fields {
		f := &t.Fields[i]
		name := outputName(f)
		if name == "" || !selects(ctx, "nodes", name) {
			continue
		}
		switch f.Kind {
		case crm.KindRef, crm.KindMember:
			var ids []uuid.UUID
			for _, rec := range recs {
				if id, _ := t.Value(rec, f).(*uuid.UUID); id != nil {
					ids = append(ids, *id)
				}
			}
			var err error
			if f.Kind == crm.KindMember {
				err = r.primeMembers(ctx, l, account, ids)
			} else {
				err = l.records[f.Ref].prime(ctx, account, ids)
			}
			if err != nil {
				return err
			}
		case crm.KindRefs:
			ids := make([]uuid.UUID, len(recs))
			for i, rec := range recs {
				ids[i] = rec.(interface{ Meta() *crm.RecordMeta }).Meta().ID
			}
			a, err := r.actor(ctx, account)
			if err != nil {
				return err
			}
			lists, err := l.records[t.Entity].linked(ctx, a, f.Name, ids)
			if err != nil {
				return err
			}
			var all []uuid.UUID
			for i, id := range ids {
				l.links.Prime(linkKey{t.Entity, f.Name, recordKey{account, id}}, lists[i])
				all = append(all, lists[i]...)
			}
			if err := l.records[f.Ref].prime(ctx, account, all); err != nil {
				return err
			}
		case crm.KindSubject:
			byEntity := map[crm.Entity][]uuid.UUID{}
			for _, rec := range recs {
				if ref, _ := t.Value(rec, f).(*crm.RecordRef); ref != nil {
					byEntity[ref.Entity] = append(byEntity[ref.Entity], ref.ID)
				}
			}
			for entity, ids := range byEntity {
				if err := l.records[entity].prime(ctx, account, ids); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (r *Resolver) primeMembers(ctx context.Context, l *loaders, account uuid.UUID, ids []uuid.UUID) error {
	return primeLoader(ctx, r.actor, account, ids, r.Members.LoadMembers, l.members)
}

// The record types' resolvers.

type contactResolver struct {
	recordResolver[crm.Contact, *crm.Contact]
}
type companyResolver struct {
	recordResolver[crm.Company, *crm.Company]
}
type dealResolver struct {
	recordResolver[crm.Deal, *crm.Deal]
}
type taskResolver struct {
	recordResolver[crm.Task, *crm.Task]
}
type noteResolver struct {
	recordResolver[crm.Note, *crm.Note]
}
type groupResolver struct {
	recordResolver[crm.Group, *crm.Group]
}
type templateResolver struct {
	recordResolver[crm.Template, *crm.Template]
}
type campaignResolver struct {
	recordResolver[crm.Campaign, *crm.Campaign]
}
type mailMessageResolver struct {
	recordResolver[crm.MailMessage, *crm.MailMessage]
}
type timelineConnectionResolver struct{ *Resolver }

// Contact returns the Contact field resolvers.
func (r *Resolver) Contact() graph.ContactResolver {
	return &contactResolver{recordResolver[crm.Contact, *crm.Contact]{r}}
}

// Company returns the Company field resolvers.
func (r *Resolver) Company() graph.CompanyResolver {
	return &companyResolver{recordResolver[crm.Company, *crm.Company]{r}}
}

// Deal returns the Deal field resolvers.
func (r *Resolver) Deal() graph.DealResolver {
	return &dealResolver{recordResolver[crm.Deal, *crm.Deal]{r}}
}

// Task returns the Task field resolvers.
func (r *Resolver) Task() graph.TaskResolver {
	return &taskResolver{recordResolver[crm.Task, *crm.Task]{r}}
}

// Note returns the Note field resolvers.
func (r *Resolver) Note() graph.NoteResolver {
	return &noteResolver{recordResolver[crm.Note, *crm.Note]{r}}
}

// Group returns the Group field resolvers.
func (r *Resolver) Group() graph.GroupResolver {
	return &groupResolver{recordResolver[crm.Group, *crm.Group]{r}}
}

// Template returns the Template field resolvers.
func (r *Resolver) Template() graph.TemplateResolver {
	return &templateResolver{recordResolver[crm.Template, *crm.Template]{r}}
}

// Campaign returns the Campaign field resolvers.
func (r *Resolver) Campaign() graph.CampaignResolver {
	return &campaignResolver{recordResolver[crm.Campaign, *crm.Campaign]{r}}
}

// MailMessage returns the MailMessage field resolvers.
func (r *Resolver) MailMessage() graph.MailMessageResolver {
	return &mailMessageResolver{recordResolver[crm.MailMessage, *crm.MailMessage]{r}}
}

// TimelineConnection returns the TimelineConnection field resolvers.
func (r *Resolver) TimelineConnection() graph.TimelineConnectionResolver {
	return &timelineConnectionResolver{r}
}

// Contacts' own fields.

func (r *contactResolver) Name(ctx context.Context, obj *crm.Contact) (string, error) {
	var parts []string
	for _, p := range []*string{obj.FirstName, obj.LastName} {
		if p != nil {
			parts = append(parts, *p)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " "), nil
	}
	email, err := r.PrimaryEmail(ctx, obj)
	if err != nil || email == nil {
		return "", err
	}
	return *email, nil
}

func (r *contactResolver) PrimaryEmail(ctx context.Context, obj *crm.Contact) (*string, error) {
	hidden, err := r.hiddenHere(ctx, crm.Contacts, "email")
	if err != nil || hidden || len(obj.Emails) == 0 {
		return nil, err
	}
	return &obj.Emails[0].Address, nil
}

func (r *contactResolver) Company(ctx context.Context, obj *crm.Contact) (*crm.Company, error) {
	return ref[crm.Company](ctx, r.Resolver, crm.Companies, obj.AccountID, obj.CompanyID)
}

func (r *contactResolver) Timeline(ctx context.Context, obj *crm.Contact, first *int, after *string) (*crm.TimelinePage, error) {
	a, err := r.actor(ctx, obj.AccountID)
	if err != nil {
		return nil, err
	}
	return r.Records.Relations.Timeline(ctx, a, obj.ID, pageArgs(first, after))
}

// Nodes loads a timeline's records, one statement per type, leaving out
// any that went meanwhile.
func (r *timelineConnectionResolver) Nodes(ctx context.Context, obj *crm.TimelinePage) ([]crm.AnyRecord, error) {
	account := uuid.Nil
	if fc := parentRecord(ctx); fc != nil {
		account = fc.AccountID
	}
	l := r.loadersFrom(ctx)
	byEntity := map[crm.Entity][]uuid.UUID{}
	for _, item := range obj.Nodes {
		byEntity[item.Entity] = append(byEntity[item.Entity], item.ID)
	}
	for entity, ids := range byEntity {
		if err := l.records[entity].prime(ctx, account, ids); err != nil {
			return nil, err
		}
	}
	out := make([]crm.AnyRecord, 0, len(obj.Nodes))
	for _, item := range obj.Nodes {
		rec, err := l.records[item.Entity].load(ctx, recordKey{account, item.ID})
		if err != nil {
			return nil, err
		}
		if rec != nil {
			out = append(out, rec)
		}
	}
	return out, nil
}

// Deals' own fields.

func (r *dealResolver) Company(ctx context.Context, obj *crm.Deal) (*crm.Company, error) {
	return ref[crm.Company](ctx, r.Resolver, crm.Companies, obj.AccountID, obj.CompanyID)
}

func (r *dealResolver) ContactIds(ctx context.Context, obj *crm.Deal) ([]uuid.UUID, error) {
	return r.links(ctx, crm.Deals, "contactIds", &obj.RecordMeta)
}

func (r *dealResolver) Contacts(ctx context.Context, obj *crm.Deal) ([]crm.Contact, error) {
	ids, err := r.ContactIds(ctx, obj)
	if err != nil {
		return nil, err
	}
	return refs[crm.Contact](ctx, r.Resolver, crm.Contacts, obj.AccountID, ids)
}

// Tasks' own fields.

func (r *taskResolver) Assignee(ctx context.Context, obj *crm.Task) (*crm.Member, error) {
	return r.member(ctx, obj.AccountID, obj.AssigneeID)
}

func (r *taskResolver) Related(ctx context.Context, obj *crm.Task) (crm.AnyRecord, error) {
	return r.subject(ctx, obj.AccountID, obj.RelatedType, obj.RelatedID)
}

func (r *taskResolver) RelatedEntity(ctx context.Context, obj *crm.Task) (*crm.Entity, error) {
	return obj.RelatedType, nil
}

// Notes' own fields.

func (r *noteResolver) About(ctx context.Context, obj *crm.Note) (crm.AnyRecord, error) {
	return r.subject(ctx, obj.AccountID, &obj.AboutType, &obj.AboutID)
}

func (r *noteResolver) AboutEntity(ctx context.Context, obj *crm.Note) (crm.Entity, error) {
	return obj.AboutType, nil
}

// Groups' own fields.

func (r *groupResolver) ContactCount(ctx context.Context, obj *crm.Group) (int, error) {
	ids, err := r.links(ctx, crm.Groups, "contactIds", &obj.RecordMeta)
	return len(ids), err
}

// Campaigns' own fields.

func (r *campaignResolver) Template(ctx context.Context, obj *crm.Campaign) (*crm.Template, error) {
	return ref[crm.Template](ctx, r.Resolver, crm.Templates, obj.AccountID, obj.TemplateID)
}

func (r *campaignResolver) GroupIds(ctx context.Context, obj *crm.Campaign) ([]uuid.UUID, error) {
	return r.links(ctx, crm.Campaigns, "groupIds", &obj.RecordMeta)
}

func (r *campaignResolver) Groups(ctx context.Context, obj *crm.Campaign) ([]crm.Group, error) {
	ids, err := r.GroupIds(ctx, obj)
	if err != nil {
		return nil, err
	}
	return refs[crm.Group](ctx, r.Resolver, crm.Groups, obj.AccountID, ids)
}

// Mail's own fields.

func (r *mailMessageResolver) Contacts(ctx context.Context, obj *crm.MailMessage) ([]crm.Contact, error) {
	ids, err := r.loadersFrom(ctx).mailContacts.Load(ctx, recordKey{obj.AccountID, obj.ID})
	if err != nil {
		return nil, err
	}
	return refs[crm.Contact](ctx, r.Resolver, crm.Contacts, obj.AccountID, ids)
}

// parentRecord is the record the current field belongs to, if any.
func parentRecord(ctx context.Context) *crm.RecordMeta {
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if m, ok := fc.Result.(interface{ Meta() *crm.RecordMeta }); ok {
			return m.Meta()
		}
	}
	return nil
}

func (r *mailMessageResolver) To(ctx context.Context, obj *crm.MailMessage) ([]crm.Mailbox, error) {
	return nonNil(obj.To), nil
}

func (r *mailMessageResolver) Cc(ctx context.Context, obj *crm.MailMessage) ([]crm.Mailbox, error) {
	return nonNil(obj.Cc), nil
}

func (r *mailMessageResolver) Bcc(ctx context.Context, obj *crm.MailMessage) ([]crm.Mailbox, error) {
	return nonNil(obj.Bcc), nil
}

func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
