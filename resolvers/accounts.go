package resolvers

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/graph"
	"switchboard/graph/model"
	"switchboard/realtime"
)

type accountScopeKey struct{}

// WithAccountScope stores the account a request asks to act in: the
// X-Account-ID header, or accountId in a WebSocket's connection_init.
func WithAccountScope(ctx context.Context, raw string) context.Context {
	return context.WithValue(ctx, accountScopeKey{}, strings.TrimSpace(raw))
}

// requestedAccount returns the account the request asked for, uuid.Nil
// when it asked for none.
func requestedAccount(ctx context.Context) (uuid.UUID, error) {
	raw, _ := ctx.Value(accountScopeKey{}).(string)
	if raw == "" {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(raw)
	// The nil id would read as no header at all: the current account.
	if err != nil || len(raw) != 36 || id == uuid.Nil {
		return uuid.Nil, crm.InvalidInput("X-Account-ID", "is not an account id")
	}
	return id, nil
}

// actor is the caller acting in an account: explicit (an argument), else
// the request's scope, else (uuid.Nil) the session's current account. The
// service verifies the token and the account on every call, inside the
// transaction that does the work.
func (r *Resolver) actor(ctx context.Context, explicit uuid.UUID) (crm.Actor, error) {
	id := explicit
	if id == uuid.Nil {
		var err error
		if id, err = requestedAccount(ctx); err != nil {
			return crm.Actor{}, err
		}
	}
	return crm.Actor{Token: tokenFrom(ctx), AccountID: id, Client: client(ctx)}, nil
}

type accountResolver struct{ *Resolver }
type roleResolver struct{ *Resolver }
type memberResolver struct{ *Resolver }
type activityEntryResolver struct{ *Resolver }

// notificationResolver resolves a notification's fields from the row
// itself (it needs no dependency).
type notificationResolver struct{}

// Account returns the Account field resolvers.
func (r *Resolver) Account() graph.AccountResolver { return &accountResolver{r} }

// Role returns the Role field resolvers.
func (r *Resolver) Role() graph.RoleResolver { return &roleResolver{r} }

// Member returns the Member field resolvers.
func (r *Resolver) Member() graph.MemberResolver { return &memberResolver{r} }

// ActivityEntry returns the ActivityEntry field resolvers.
func (r *Resolver) ActivityEntry() graph.ActivityEntryResolver { return &activityEntryResolver{r} }

// Notification returns the Notification field resolvers.
func (r *Resolver) Notification() graph.NotificationResolver { return notificationResolver{} }

func idOrNil(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

// enter verifies the actor's scope; within an operation the database's
// unit of work answers it once per account.
func (r *Resolver) enter(ctx context.Context, a crm.Actor) (*crm.Account, crm.Grant, error) {
	return r.Accounts.Enter(ctx, a)
}

func (r *queryResolver) Account(ctx context.Context, id *uuid.UUID) (*crm.Account, error) {
	a, err := r.actor(ctx, idOrNil(id))
	if err != nil {
		return nil, err
	}
	acct, _, err := r.enter(ctx, a)
	return acct, err
}

func (r *userResolver) Accounts(ctx context.Context, obj *crm.User) ([]crm.AccountAccess, error) {
	a, err := r.viewerActor(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Accounts.Accounts(ctx, a)
}

// viewerActor is the actor of a field of the viewer's own (under me).
func (r *Resolver) viewerActor(ctx context.Context, obj *crm.User) (crm.Actor, error) {
	if _, err := r.viewer(ctx, obj); err != nil {
		return crm.Actor{}, err
	}
	return r.actor(ctx, uuid.Nil)
}

// in is the actor acting in the account an Account object stands for.
func (r *accountResolver) in(ctx context.Context, obj *crm.Account) (crm.Actor, error) {
	return r.actor(ctx, obj.ID)
}

func (r *accountResolver) grant(ctx context.Context, obj *crm.Account) (crm.Grant, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return crm.Grant{}, err
	}
	_, g, err := r.enter(ctx, a)
	return g, err
}

func (r *accountResolver) MyRole(ctx context.Context, obj *crm.Account) (*crm.Role, error) {
	g, err := r.grant(ctx, obj)
	if err != nil {
		return nil, err
	}
	return &g.Role, nil
}

func (r *accountResolver) MyPermissions(ctx context.Context, obj *crm.Account) ([]crm.Permission, error) {
	g, err := r.grant(ctx, obj)
	if err != nil {
		return nil, err
	}
	return g.Role.Matrix.Permissions(), nil
}

func (r *accountResolver) Members(ctx context.Context, obj *crm.Account, first *int, after *string, search *string, status *crm.MembershipStatus) (*crm.MemberPage, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	f := crm.MemberFilter{Search: strings.TrimSpace(deref(search)), LastSeen: selects(ctx, "nodes", "lastSeenAt")}
	if status != nil {
		f.Status = *status
	}
	return r.Resolver.Members.Members(ctx, a, f, pageArgs(first, after))
}

func (r *accountResolver) Member(ctx context.Context, obj *crm.Account, userID uuid.UUID) (*crm.Member, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Members.Member(ctx, a, userID)
}

func (r *accountResolver) Roles(ctx context.Context, obj *crm.Account) ([]crm.Role, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Roles.Roles(ctx, a)
}

func (r *accountResolver) Role(ctx context.Context, obj *crm.Account, id uuid.UUID) (*crm.Role, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Roles.Role(ctx, a, id)
}

func (r *accountResolver) Invitations(ctx context.Context, obj *crm.Account) ([]crm.Invitation, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Invitations.Invitations(ctx, a)
}

func (r *accountResolver) IPAllowlist(ctx context.Context, obj *crm.Account) ([]string, error) {
	g, err := r.grant(ctx, obj)
	if err != nil {
		return nil, err
	}
	if err := g.Require(crm.Settings, crm.View, uuid.Nil); err != nil {
		return nil, err
	}
	out := make([]string, len(obj.IPAllowlist))
	for i, p := range obj.IPAllowlist {
		out[i] = p.String()
	}
	return out, nil
}

func (r *accountResolver) ActivityLimits(ctx context.Context, obj *crm.Account) ([]crm.ActivityLimit, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Protections.ActivityLimits(ctx, a)
}

func (r *accountResolver) LoginEvents(ctx context.Context, obj *crm.Account, first *int, after *string) (*crm.LoginEventPage, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Audit.LoginEvents(ctx, a, pageArgs(first, after))
}

func (r *accountResolver) Activity(ctx context.Context, obj *crm.Account, first *int, after *string, filter *model.ActivityFilter) (*crm.ActivityPage, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	f, err := activityFilter(filter)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Audit.Activity(ctx, a, f, pageArgs(first, after))
}

func (r *accountResolver) Notifications(ctx context.Context, obj *crm.Account, first *int, after *string) (*crm.NotificationPage, error) {
	a, err := r.in(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Audit.Notifications(ctx, a, pageArgs(first, after))
}

func (r *roleResolver) BuiltIn(ctx context.Context, obj *crm.Role) (bool, error) {
	return obj.BuiltIn != "", nil
}

func (r *roleResolver) Permissions(ctx context.Context, obj *crm.Role) ([]crm.Permission, error) {
	return obj.Matrix.Permissions(), nil
}

func (r *memberResolver) Email(ctx context.Context, obj *crm.Member) (*string, error) {
	if obj.Email == "" {
		return nil, nil
	}
	return &obj.Email, nil
}

func (r *activityEntryResolver) EntityID(ctx context.Context, obj *crm.ActivityEntry) (*uuid.UUID, error) {
	if obj.EntityID == uuid.Nil {
		return nil, nil
	}
	return &obj.EntityID, nil
}

// Changes leaves out the changes of fields the viewer's role hides: an
// entry about a member shows no email to a role that hides members'
// emails, an entry about a deal no amount to one that hides amounts.
func (r *activityEntryResolver) Changes(ctx context.Context, obj *crm.ActivityEntry) (string, error) {
	if obj.ChangesJSON != "" {
		return obj.ChangesJSON, nil // shaped for this viewer already (a live feed's)
	}
	grant, own, err := r.grantHere(ctx)
	if err != nil {
		return "{}", nil
	}
	changes := obj.Changes
	if !own {
		changes = grant.VisibleChanges(obj.EntityType, changes)
	}
	b, err := json.Marshal(changes)
	return string(b), err
}

func (notificationResolver) SubjectID(ctx context.Context, obj *crm.Notification) (*uuid.UUID, error) {
	if obj.SubjectID == uuid.Nil {
		return nil, nil
	}
	return &obj.SubjectID, nil
}

// Mutations.

func (r *mutationResolver) CreateAccount(ctx context.Context, name string) (*crm.Account, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Accounts.CreateAccount(ctx, a, name)
}

func (r *mutationResolver) SwitchAccount(ctx context.Context, accountID uuid.UUID) (*crm.Session, error) {
	a, err := r.actor(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return r.Accounts.SwitchAccount(ctx, a)
}

func (r *mutationResolver) RenameAccount(ctx context.Context, name string) (*crm.Account, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Accounts.RenameAccount(ctx, a, name)
}

func roleInput(in model.RoleInput) crm.RoleInput {
	out := crm.RoleInput{Name: in.Name, HiddenFields: in.HiddenFields}
	for _, p := range in.Permissions {
		out.Permissions = append(out.Permissions, crm.Permission{Entity: p.Entity, Action: p.Action, Scope: p.Scope})
	}
	return out
}

func (r *mutationResolver) CreateRole(ctx context.Context, in model.RoleInput) (*crm.Role, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Roles.CreateRole(ctx, a, roleInput(in))
}

func (r *mutationResolver) UpdateRole(ctx context.Context, id uuid.UUID, in model.RoleInput) (*crm.Role, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Roles.UpdateRole(ctx, a, id, roleInput(in))
}

func (r *mutationResolver) DeleteRole(ctx context.Context, id uuid.UUID) (bool, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return false, err
	}
	if err := r.Resolver.Roles.DeleteRole(ctx, a, id); err != nil {
		return false, err
	}
	return true, nil
}

func (r *mutationResolver) InviteMember(ctx context.Context, email string, roleID uuid.UUID) (*crm.Invitation, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Invitations.InviteMember(ctx, a, email, roleID)
}

func (r *mutationResolver) ResendInvitation(ctx context.Context, id uuid.UUID) (*crm.Invitation, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Invitations.ResendInvitation(ctx, a, id)
}

func (r *mutationResolver) RevokeInvitation(ctx context.Context, id uuid.UUID) (bool, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return false, err
	}
	if err := r.Resolver.Invitations.RevokeInvitation(ctx, a, id); err != nil {
		return false, err
	}
	return true, nil
}

func (r *mutationResolver) AcceptInvitation(ctx context.Context, in model.AcceptInvitationInput) (*model.AcceptInvitationPayload, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	res, err := r.Resolver.Invitations.AcceptInvitation(ctx, in.Token, a, crm.NewLogin{Name: deref(in.Name), Password: deref(in.Password)})
	if err != nil {
		return nil, err
	}
	out := &model.AcceptInvitationPayload{Account: &res.Account}
	if res.Auth != nil {
		out.Auth = authPayload(ctx, res.Auth)
	}
	return out, nil
}

func (r *mutationResolver) UpdateMember(ctx context.Context, userID uuid.UUID, in model.UpdateMemberInput) (*crm.Member, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Members.UpdateMember(ctx, a, userID, crm.MemberUpdate{RoleID: in.RoleID, Name: in.Name})
}

func (r *mutationResolver) DeactivateMember(ctx context.Context, userID uuid.UUID) (*crm.Member, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Members.DeactivateMember(ctx, a, userID)
}

func (r *mutationResolver) ReactivateMember(ctx context.Context, userID uuid.UUID) (*crm.Member, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Members.ReactivateMember(ctx, a, userID)
}

func (r *mutationResolver) RemoveMember(ctx context.Context, userID, transferTo uuid.UUID) (bool, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return false, err
	}
	if err := r.Resolver.Members.RemoveMember(ctx, a, userID, transferTo); err != nil {
		return false, err
	}
	return true, nil
}

func (r *mutationResolver) SetIPAllowlist(ctx context.Context, cidrs []string) (*crm.Account, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Protections.SetIPAllowlist(ctx, a, cidrs)
}

func (r *mutationResolver) SetActivityLimit(ctx context.Context, entity crm.Entity, action crm.Action, limit int, period crm.LimitPeriod) (*crm.ActivityLimit, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	return r.Resolver.Protections.SetActivityLimit(ctx, a, crm.ActivityLimit{Entity: entity, Action: action, Limit: limit, Period: period})
}

func (r *mutationResolver) RemoveActivityLimit(ctx context.Context, entity crm.Entity, action crm.Action) (bool, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return false, err
	}
	if err := r.Resolver.Protections.RemoveActivityLimit(ctx, a, entity, action); err != nil {
		return false, err
	}
	return true, nil
}

// AccountEvents delivers changes to the caller's membership in the
// connection's account: a new role, then, if access ends, AccessEnded as
// the last event. Like sessionEvents it subscribes before it reads, so
// nothing falls in between.
func (r *subscriptionResolver) AccountEvents(ctx context.Context) (<-chan model.AccountEvent, error) {
	a, err := r.actor(ctx, uuid.Nil)
	if err != nil {
		return nil, err
	}
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	account := a.AccountID
	if account == uuid.Nil {
		account = p.Session.AccountID
	}
	sub := r.Bus.Subscribe(realtime.MembershipTopic(account.String(), p.User.ID.String()))
	if _, _, err := r.Accounts.Enter(ctx, a); err != nil {
		sub.Close()
		return nil, err
	}
	ch := make(chan model.AccountEvent, 1)
	go func() {
		defer close(ch)
		defer sub.Close()
		for {
			var e realtime.Envelope
			var ok bool
			select {
			case <-ctx.Done():
				return
			case e, ok = <-sub.C():
				if !ok {
					return
				}
			}
			change, err := realtime.MembershipChanged(e)
			if err != nil {
				r.Logger.ErrorContext(ctx, "membership event", "err", err)
				return
			}
			if change.IP.IsValid() && change.IP != a.Client.IP {
				continue // about the member's streams from another address
			}
			var event model.AccountEvent
			ended := change.Status != crm.MemberActive || change.Reason != ""
			if ended {
				reason := change.Reason
				if reason == "" {
					reason = crm.CodeAccountDeactivated
					if change.Status == crm.MemberRemoved {
						reason = crm.CodeNotFound
					}
				}
				event = &model.AccessEnded{AccountID: change.AccountID, Status: change.Status, Reason: string(reason), Until: change.Until, At: change.At}
			} else {
				role, err := r.Resolver.Roles.Role(ctx, a, change.RoleID)
				if err != nil {
					// The role is not readable any more, or access ended
					// meanwhile: the next event (or the close) says so.
					continue
				}
				event = &model.RoleChanged{AccountID: change.AccountID, Role: role, At: change.At}
			}
			select {
			case ch <- event:
			case <-ctx.Done():
				return
			}
			if ended {
				return
			}
		}
	}()
	return ch, nil
}
