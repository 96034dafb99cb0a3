package resolvers

import (
	"context"

	"github.com/google/uuid"

	"switchboard/crm"
)

// The entry points gqlgen asks for, per record type: each one line, to the
// generic functions of records.go.

func (r *accountResolver) Contacts(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.ContactPage, error) {
	return list(ctx, r.Resolver, r.Records.Contacts, obj, first, after, filter, orderBy)
}

func (r *accountResolver) Contact(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Contact, error) {
	return one(ctx, r.Resolver, r.Records.Contacts, obj, id)
}

func (r *mutationResolver) CreateContact(ctx context.Context, input map[string]any) (*crm.Contact, error) {
	return create(ctx, r.Resolver, r.Records.Contacts, input)
}

func (r *mutationResolver) UpdateContact(ctx context.Context, id uuid.UUID, input map[string]any) (*crm.Contact, error) {
	return update(ctx, r.Resolver, r.Records.Contacts, id, input)
}

func (r *mutationResolver) DeleteContact(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Contacts, id)
}

func (r *accountResolver) Companies(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.CompanyPage, error) {
	return list(ctx, r.Resolver, r.Records.Companies, obj, first, after, filter, orderBy)
}

func (r *accountResolver) Company(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Company, error) {
	return one(ctx, r.Resolver, r.Records.Companies, obj, id)
}

func (r *mutationResolver) CreateCompany(ctx context.Context, input map[string]any) (*crm.Company, error) {
	return create(ctx, r.Resolver, r.Records.Companies, input)
}

func (r *mutationResolver) UpdateCompany(ctx context.Context, id uuid.UUID, input map[string]any) (*crm.Company, error) {
	return update(ctx, r.Resolver, r.Records.Companies, id, input)
}

func (r *mutationResolver) DeleteCompany(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Companies, id)
}

func (r *accountResolver) Deals(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.DealPage, error) {
	return list(ctx, r.Resolver, r.Records.Deals, obj, first, after, filter, orderBy)
}

func (r *accountResolver) Deal(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Deal, error) {
	return one(ctx, r.Resolver, r.Records.Deals, obj, id)
}

func (r *mutationResolver) CreateDeal(ctx context.Context, input map[string]any) (*crm.Deal, error) {
	return create(ctx, r.Resolver, r.Records.Deals, input)
}

func (r *mutationResolver) UpdateDeal(ctx context.Context, id uuid.UUID, input map[string]any) (*crm.Deal, error) {
	return update(ctx, r.Resolver, r.Records.Deals, id, input)
}

func (r *mutationResolver) DeleteDeal(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Deals, id)
}

func (r *accountResolver) Tasks(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.TaskPage, error) {
	return list(ctx, r.Resolver, r.Records.Tasks, obj, first, after, filter, orderBy)
}

func (r *accountResolver) Task(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Task, error) {
	return one(ctx, r.Resolver, r.Records.Tasks, obj, id)
}

func (r *mutationResolver) CreateTask(ctx context.Context, input map[string]any) (*crm.Task, error) {
	return create(ctx, r.Resolver, r.Records.Tasks, input)
}

func (r *mutationResolver) UpdateTask(ctx context.Context, id uuid.UUID, input map[string]any) (*crm.Task, error) {
	return update(ctx, r.Resolver, r.Records.Tasks, id, input)
}

func (r *mutationResolver) DeleteTask(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Tasks, id)
}

func (r *accountResolver) Notes(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.NotePage, error) {
	return list(ctx, r.Resolver, r.Records.Notes, obj, first, after, filter, orderBy)
}

func (r *accountResolver) Note(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Note, error) {
	return one(ctx, r.Resolver, r.Records.Notes, obj, id)
}

func (r *mutationResolver) CreateNote(ctx context.Context, input map[string]any) (*crm.Note, error) {
	return create(ctx, r.Resolver, r.Records.Notes, input)
}

func (r *mutationResolver) UpdateNote(ctx context.Context, id uuid.UUID, input map[string]any) (*crm.Note, error) {
	return update(ctx, r.Resolver, r.Records.Notes, id, input)
}

func (r *mutationResolver) DeleteNote(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Notes, id)
}

func (r *accountResolver) Groups(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.GroupPage, error) {
	return list(ctx, r.Resolver, r.Records.Groups, obj, first, after, filter, orderBy)
}

func (r *accountResolver) Group(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Group, error) {
	return one(ctx, r.Resolver, r.Records.Groups, obj, id)
}

func (r *mutationResolver) CreateGroup(ctx context.Context, input map[string]any) (*crm.Group, error) {
	return create(ctx, r.Resolver, r.Records.Groups, input)
}

func (r *mutationResolver) UpdateGroup(ctx context.Context, id uuid.UUID, input map[string]any) (*crm.Group, error) {
	return update(ctx, r.Resolver, r.Records.Groups, id, input)
}

func (r *mutationResolver) DeleteGroup(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Groups, id)
}

func (r *accountResolver) Templates(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.TemplatePage, error) {
	return list(ctx, r.Resolver, r.Records.Templates, obj, first, after, filter, orderBy)
}

func (r *accountResolver) Template(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Template, error) {
	return one(ctx, r.Resolver, r.Records.Templates, obj, id)
}

func (r *mutationResolver) CreateTemplate(ctx context.Context, input map[string]any) (*crm.Template, error) {
	return create(ctx, r.Resolver, r.Records.Templates, input)
}

func (r *mutationResolver) UpdateTemplate(ctx context.Context, id uuid.UUID, input map[string]any) (*crm.Template, error) {
	return update(ctx, r.Resolver, r.Records.Templates, id, input)
}

func (r *mutationResolver) DeleteTemplate(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Templates, id)
}

func (r *accountResolver) Campaigns(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.CampaignPage, error) {
	return list(ctx, r.Resolver, r.Records.Campaigns, obj, first, after, filter, orderBy)
}

func (r *accountResolver) Campaign(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Campaign, error) {
	return one(ctx, r.Resolver, r.Records.Campaigns, obj, id)
}

func (r *mutationResolver) CreateCampaign(ctx context.Context, input map[string]any) (*crm.Campaign, error) {
	return create(ctx, r.Resolver, r.Records.Campaigns, input)
}

func (r *mutationResolver) UpdateCampaign(ctx context.Context, id uuid.UUID, input map[string]any) (*crm.Campaign, error) {
	return update(ctx, r.Resolver, r.Records.Campaigns, id, input)
}

func (r *mutationResolver) DeleteCampaign(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Campaigns, id)
}

func (r *accountResolver) MailMessages(ctx context.Context, obj *crm.Account, first *int, after *string, filter map[string]any, orderBy *crm.Order) (*crm.MailMessagePage, error) {
	return list(ctx, r.Resolver, r.Records.Mail, obj, first, after, filter, orderBy)
}

func (r *accountResolver) MailMessage(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.MailMessage, error) {
	return one(ctx, r.Resolver, r.Records.Mail, obj, id)
}

func (r *mutationResolver) LogMail(ctx context.Context, input map[string]any) (*crm.MailMessage, error) {
	return create(ctx, r.Resolver, r.Records.Mail, input)
}

func (r *mutationResolver) DeleteMailMessage(ctx context.Context, id uuid.UUID) (bool, error) {
	return remove(ctx, r.Resolver, r.Records.Mail, id)
}

func (r *mutationResolver) AddToGroup(ctx context.Context, groupID uuid.UUID, contactIDs []uuid.UUID) (*crm.Group, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Records.Groups.ChangeLinks(ctx, a, groupID, "contactIds", contactIDs, nil)
}

func (r *mutationResolver) RemoveFromGroup(ctx context.Context, groupID uuid.UUID, contactIDs []uuid.UUID) (*crm.Group, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Records.Groups.ChangeLinks(ctx, a, groupID, "contactIds", nil, contactIDs)
}
