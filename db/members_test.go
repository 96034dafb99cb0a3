package db_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
)

// team is an account with a member of every kind the role policy tells
// apart, all invited by its owner.
type team struct {
	owner, admin, manager, rep member
	// billing holds "Billing admin": an admin who may also edit billing,
	// which the Admin role may not.
	billing     member
	billingRole uuid.UUID
	// discreet holds "Discreet admin": an admin who does not see members'
	// emails, which makes the role weaker than Admin.
	discreet     member
	discreetRole uuid.UUID
	// viewerRole is a weak custom role nobody holds.
	viewerRole uuid.UUID
}

func newTeam(f *fixture) *team {
	f.t.Helper()
	tm := &team{owner: f.signUp()}
	tm.admin = f.join(tm.owner, roleID(crm.RoleAdmin))
	tm.manager = f.join(tm.owner, roleID(crm.RoleManager))
	tm.rep = f.join(tm.owner, roleID(crm.RoleSalesRep))
	tm.billingRole = f.customRole(tm.owner, "Billing admin", cells(crm.RoleAdmin, crm.Permission{Entity: crm.Billing, Action: crm.Edit, Scope: crm.ScopeAll}))
	tm.billing = f.join(tm.owner, tm.billingRole)
	tm.discreetRole = f.customRole(tm.owner, "Discreet admin", cells(crm.RoleAdmin), "members.email")
	tm.discreet = f.join(tm.owner, tm.discreetRole)
	tm.viewerRole = f.customRole(tm.owner, "Viewer", []crm.Permission{{Entity: crm.Members, Action: crm.View, Scope: crm.ScopeAll}})
	return tm
}

// What a member may do to members, as the services answer. Each returns
// the service's error.

func (f *fixture) setRole(by member, userID, role uuid.UUID) error {
	_, err := f.Members.UpdateMember(f.ctx, by.Actor, userID, crm.MemberUpdate{RoleID: &role})
	return err
}

func (f *fixture) rename(by member, userID uuid.UUID, name string) error {
	_, err := f.Members.UpdateMember(f.ctx, by.Actor, userID, crm.MemberUpdate{Name: &name})
	return err
}

func (f *fixture) deactivate(by member, userID uuid.UUID) error {
	_, err := f.Members.DeactivateMember(f.ctx, by.Actor, userID)
	return err
}

func (f *fixture) reactivate(by member, userID uuid.UUID) error {
	_, err := f.Members.ReactivateMember(f.ctx, by.Actor, userID)
	return err
}

func (f *fixture) invite(by member, role uuid.UUID) error {
	_, err := f.Invitations.InviteMember(f.ctx, by.Actor, newEmail("invitee"), role)
	return err
}

func (f *fixture) createRole(by member, perms []crm.Permission, hidden ...string) error {
	_, err := f.Roles.CreateRole(f.ctx, by.Actor, crm.RoleInput{Name: "Role " + uuid.NewString()[:8], Permissions: perms, HiddenFields: hidden})
	return err
}

func (f *fixture) reshape(by member, role uuid.UUID, perms []crm.Permission, hidden ...string) error {
	_, err := f.Roles.UpdateRole(f.ctx, by.Actor, role, crm.RoleInput{Name: "Reshaped " + uuid.NewString()[:8], Permissions: perms, HiddenFields: hidden})
	return err
}

// TestRolePolicyRefusals: every guard against escalation, through the
// services. Refusals change nothing, so the cases share one team.
func TestRolePolicyRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tm := newTeam(f)
	billingEdit := crm.Permission{Entity: crm.Billing, Action: crm.Edit, Scope: crm.ScopeAll}
	for _, c := range []struct {
		name string
		err  error
	}{
		// No one changes their own role or the role they hold.
		{"an admin changes their own role", f.setRole(tm.admin, tm.admin.ID, roleID(crm.RoleManager))},
		{"the owner changes their own role", f.setRole(tm.owner, tm.owner.ID, roleID(crm.RoleAdmin))},
		{"a member reshapes the role they hold", f.reshape(tm.discreet, tm.discreetRole, cells(crm.RoleManager), "members.email")},
		{"a member deletes the role they hold", f.Roles.DeleteRole(f.ctx, tm.discreet.Actor, tm.discreetRole)},

		// Only owners act on owners or grant Owner.
		{"an admin makes someone owner", f.setRole(tm.admin, tm.rep.ID, roleID(crm.RoleOwner))},
		{"an admin invites an owner", f.invite(tm.admin, roleID(crm.RoleOwner))},
		{"an admin demotes the owner", f.setRole(tm.admin, tm.owner.ID, roleID(crm.RoleManager))},
		{"an admin renames the owner", f.rename(tm.admin, tm.owner.ID, "Boss")},
		{"an admin deactivates the owner", f.deactivate(tm.admin, tm.owner.ID)},
		{"an admin removes the owner", f.Members.RemoveMember(f.ctx, tm.admin.Actor, tm.owner.ID, tm.admin.ID)},

		// No one grants, creates or reshapes a role that may do more.
		{"an admin gives a billing role", f.setRole(tm.admin, tm.rep.ID, tm.billingRole)},
		{"an admin invites with a billing role", f.invite(tm.admin, tm.billingRole)},
		{"an admin creates a billing role", f.createRole(tm.admin, cells(crm.RoleManager, billingEdit))},
		{"an admin reshapes a weak role into a billing role", f.reshape(tm.admin, tm.viewerRole, []crm.Permission{billingEdit})},
		{"an admin reshapes a billing role, even into a weak one", f.reshape(tm.admin, tm.billingRole, cells(crm.RoleReadOnly))},
		{"an admin deletes a billing role", f.Roles.DeleteRole(f.ctx, tm.admin.Actor, tm.billingRole)},

		// ...or that may see more: hiding fewer fields is stronger.
		{"a discreet admin invites an admin", f.invite(tm.discreet, roleID(crm.RoleAdmin))},
		{"a discreet admin creates a role that sees emails", f.createRole(tm.discreet, cells(crm.RoleReadOnly))},
		{"a discreet admin reshapes a role that sees emails", f.reshape(tm.discreet, tm.viewerRole, cells(crm.RoleReadOnly), "members.email")},

		// No one acts on a member whose role theirs does not cover.
		{"an admin demotes a billing admin", f.setRole(tm.admin, tm.billing.ID, roleID(crm.RoleManager))},
		{"an admin renames a billing admin", f.rename(tm.admin, tm.billing.ID, "Moneybags")},
		{"an admin deactivates a billing admin", f.deactivate(tm.admin, tm.billing.ID)},
		{"an admin removes a billing admin", f.Members.RemoveMember(f.ctx, tm.admin.Actor, tm.billing.ID, tm.admin.ID)},
		{"a discreet admin deactivates an admin", f.deactivate(tm.discreet, tm.admin.ID)},
		// Every built-in role sees every field, so a role hiding one acts
		// on no member holding a built-in role, not even a sales rep.
		{"a discreet admin renames a sales rep", f.rename(tm.discreet, tm.rep.ID, "Rep")},

		// The permission itself.
		{"a manager renames a member", f.rename(tm.manager, tm.rep.ID, "Rep")},
		{"a manager creates a role", f.createRole(tm.manager, nil)},
		{"a sales rep invites", f.invite(tm.rep, roleID(crm.RoleReadOnly))},
		{"a sales rep renames themselves", f.rename(tm.rep, tm.rep.ID, "Me")},

		// The last active owner stays: they cannot leave by themselves, and
		// only owners could make them.
		{"the last owner deactivates themselves", f.deactivate(tm.owner, tm.owner.ID)},
		{"the last owner removes themselves", f.Members.RemoveMember(f.ctx, tm.owner.Actor, tm.owner.ID, tm.admin.ID)},
	} {
		t.Run(c.name, func(t *testing.T) { wantCode(t, c.err, crm.CodeForbidden) })
	}
	// Nothing changed.
	page, err := f.Members.Members(f.ctx, tm.owner.Actor, crm.MemberFilter{}, crm.PageArgs{})
	noErr(t, err)
	for _, m := range page.Nodes {
		if m.Status != crm.MemberActive || (m.UserID == tm.owner.ID) != (m.Role.BuiltIn == crm.RoleOwner) {
			t.Errorf("after refusals: %s is %s %s", m.Name, m.Status, m.Role.Name)
		}
	}
}

// TestRolePolicyAllows is the other side of each guard: what stays
// possible, so the refusals above are the rules and not a locked door.
func TestRolePolicyAllows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tm := newTeam(f)
	for _, c := range []struct {
		name string
		err  func() error
	}{
		{"an admin renames themselves", func() error { return f.rename(tm.admin, tm.admin.ID, "Ada") }},
		{"an admin gives Manager", func() error { return f.setRole(tm.admin, tm.rep.ID, roleID(crm.RoleManager)) }},
		{"an admin gives a role theirs covers", func() error { return f.setRole(tm.admin, tm.rep.ID, tm.discreetRole) }},
		{"a discreet admin creates a role hiding as much", func() error {
			return f.createRole(tm.discreet, cells(crm.RoleManager), "members.email", "deals.amount")
		}},
		{"an admin acts on a member whose role theirs covers", func() error { return f.setRole(tm.admin, tm.discreet.ID, tm.viewerRole) }},
		{"an owner gives a billing role", func() error { return f.setRole(tm.owner, tm.manager.ID, tm.billingRole) }},
		{"an owner reshapes a billing role", func() error {
			return f.reshape(tm.owner, tm.billingRole, cells(crm.RoleAdmin, crm.Permission{Entity: crm.Billing, Action: crm.Create, Scope: crm.ScopeAll}))
		}},
		{"an owner makes someone owner", func() error { return f.setRole(tm.owner, tm.admin.ID, roleID(crm.RoleOwner)) }},
		{"an owner steps down once another owner exists", func() error { return f.setRole(tm.admin, tm.owner.ID, roleID(crm.RoleAdmin)) }},
	} {
		// In order: each case builds on the ones before.
		if err := c.err(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	// The former owner is an admin now, and the new owner is as protected.
	wantCode(t, f.setRole(tm.owner, tm.admin.ID, roleID(crm.RoleAdmin)), crm.CodeForbidden)
	wantCode(t, f.deactivate(tm.owner, tm.admin.ID), crm.CodeForbidden)
}

// TestAnAccountKeepsAnActiveOwner: with a second owner deactivated, the
// one active owner is the last and cannot leave; once the other is back,
// either may step down.
func TestAnAccountKeepsAnActiveOwner(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.signUp()
	second := f.join(first, roleID(crm.RoleOwner))
	admin := f.join(first, roleID(crm.RoleAdmin))
	noErr(t, f.deactivate(first, second.ID))

	wantCode(t, f.setRole(first, first.ID, roleID(crm.RoleAdmin)), crm.CodeForbidden)
	wantCode(t, f.deactivate(first, first.ID), crm.CodeForbidden)
	wantCode(t, f.Members.RemoveMember(f.ctx, first.Actor, first.ID, admin.ID), crm.CodeForbidden)
	_, _, err := f.Accounts.Enter(f.ctx, second.Actor)
	wantCode(t, err, crm.CodeAccountDeactivated)

	noErr(t, f.reactivate(first, second.ID))
	noErr(t, f.setRole(second, first.ID, roleID(crm.RoleAdmin)))
	// Now second is the last owner, and first, an admin, cannot touch them.
	wantCode(t, f.setRole(first, second.ID, roleID(crm.RoleAdmin)), crm.CodeForbidden)
	wantCode(t, f.deactivate(second, second.ID), crm.CodeForbidden)
}

// TestAnOwnerWhosePauseEndedCounts: an admin paused by an activity limit
// and made owner while paused is an active owner once the pause ends (they
// can enter and act as owner), so demoting the other owner leaves the
// account an active owner and must be allowed.
//
// It failed with CONFLICT ("an account must keep an active owner") before
// keepAnOwner counted memberships whose pause has ended: it looked at the
// stored status only, which stays DEACTIVATED until someone changes it.
func TestAnOwnerWhosePauseEndedCounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.clock.Set(time.Date(2026, 3, 4, 23, 50, 0, 0, time.UTC))
	first := f.signUp()
	second := f.join(first, roleID(crm.RoleAdmin))
	rep := f.join(first, roleID(crm.RoleSalesRep))
	_, err := f.Protections.SetActivityLimit(f.ctx, first.Actor, crm.ActivityLimit{Entity: crm.Members, Action: crm.Edit, Limit: 1, Period: crm.PerDay})
	noErr(t, err)
	noErr(t, f.rename(second, rep.ID, "Paused by this")) // reaches the limit: paused until midnight
	noErr(t, f.setRole(first, second.ID, roleID(crm.RoleOwner)))

	f.clock.Set(time.Date(2026, 3, 5, 0, 0, 1, 0, time.UTC))
	_, grant, err := f.Accounts.Enter(f.ctx, second.Actor)
	noErr(t, err)
	if !grant.IsOwner() {
		t.Fatalf("second acts as %s", grant.Role.Name)
	}
	noErr(t, f.setRole(second, first.ID, roleID(crm.RoleAdmin)))
}
