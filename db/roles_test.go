package db_test

import (
	"testing"

	"github.com/google/uuid"

	"switchboard/crm"
)

// TestCustomRoleInput: each malformed role is refused, naming the field,
// whether it is created or replaces an existing role.
func TestCustomRoleInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	existing := f.customRole(owner, "Existing", nil)
	cell := func(e crm.Entity, a crm.Action, s crm.Scope) crm.Permission {
		return crm.Permission{Entity: e, Action: a, Scope: s}
	}
	tooMany := cells(crm.RoleOwner, cell(crm.Deals, crm.View, crm.ScopeAll))
	for _, c := range []struct {
		name  string
		in    crm.RoleInput
		field string
	}{
		{"no name", crm.RoleInput{Name: "  "}, "name"},
		{"a built-in role's name", crm.RoleInput{Name: "admin"}, "name"},
		{"an unknown entity", crm.RoleInput{Name: "R", Permissions: []crm.Permission{cell("SPACESHIPS", crm.View, crm.ScopeAll)}}, "permissions"},
		{"an unknown action", crm.RoleInput{Name: "R", Permissions: []crm.Permission{cell(crm.Deals, "FLY", crm.ScopeAll)}}, "permissions"},
		{"an unknown scope", crm.RoleInput{Name: "R", Permissions: []crm.Permission{cell(crm.Deals, crm.View, "SOME")}}, "permissions"},
		{"OWN settings", crm.RoleInput{Name: "R", Permissions: []crm.Permission{cell(crm.Settings, crm.Edit, crm.ScopeOwn)}}, "permissions"},
		{"OWN billing", crm.RoleInput{Name: "R", Permissions: []crm.Permission{cell(crm.Billing, crm.View, crm.ScopeOwn)}}, "permissions"},
		{"a cell twice", crm.RoleInput{Name: "R", Permissions: []crm.Permission{
			cell(crm.Deals, crm.View, crm.ScopeOwn), cell(crm.Deals, crm.View, crm.ScopeOwn)}}, "permissions"},
		{"more cells than the matrix has", crm.RoleInput{Name: "R", Permissions: tooMany}, "permissions"},
		{"an unknown hidden field", crm.RoleInput{Name: "R", HiddenFields: []string{"deals.secretSauce"}}, "hiddenFields"},
		{"a hidden field of an entity without any", crm.RoleInput{Name: "R", HiddenFields: []string{"settings.name"}}, "hiddenFields"},
		{"a hidden field without its entity", crm.RoleInput{Name: "R", HiddenFields: []string{"amount"}}, "hiddenFields"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.Roles.CreateRole(f.ctx, owner.Actor, c.in)
			wantInput(t, err, c.field)
			_, err = f.Roles.UpdateRole(f.ctx, owner.Actor, existing, c.in)
			wantInput(t, err, c.field)
		})
	}
	// A good role is stored as given, hidden fields normalised.
	r, err := f.Roles.CreateRole(f.ctx, owner.Actor, crm.RoleInput{Name: "Auditor",
		Permissions: []crm.Permission{cell(crm.Deals, crm.View, crm.ScopeOwn)}, HiddenFields: []string{"DEALS.amount", "members.email", "deals.amount"}})
	noErr(t, err)
	got, err := f.Roles.Role(f.ctx, owner.Actor, r.ID)
	noErr(t, err)
	if got.Matrix.Scope(crm.Deals, crm.View) != crm.ScopeOwn || got.Matrix.Scope(crm.Deals, crm.Edit) != crm.ScopeNone ||
		len(got.HiddenFields) != 2 || got.HiddenFields[0] != "deals.amount" || got.HiddenFields[1] != "members.email" {
		t.Fatalf("stored %+v", got)
	}
}

// TestCustomRoleNames: names are unique per account, whatever their case.
func TestCustomRoleNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner, other := f.signUp(), f.signUp()
	f.customRole(owner, "Auditor", nil)
	viewer := f.customRole(owner, "Viewer", nil)

	_, err := f.Roles.CreateRole(f.ctx, owner.Actor, crm.RoleInput{Name: "AUDITOR"})
	wantCode(t, err, crm.CodeConflict)
	_, err = f.Roles.UpdateRole(f.ctx, owner.Actor, viewer, crm.RoleInput{Name: "auditor"})
	wantCode(t, err, crm.CodeConflict)
	_, err = f.Roles.UpdateRole(f.ctx, owner.Actor, viewer, crm.RoleInput{Name: "Viewer"})
	noErr(t, err)
	f.customRole(other, "Auditor", nil) // another account's names are its own
}

// TestCustomRoleLimit: an account holds at most crm.MaxCustomRoles custom
// roles; deleting one makes room.
func TestCustomRoleLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	f.raw.MustExec(`
		INSERT INTO roles (account_id, id, name, permissions, created_at, updated_at)
		SELECT $1, gen_random_uuid(), 'Filler ' || n, '[]', $2, $2 FROM generate_series(1, $3) n`,
		owner.AccountID, testStart, crm.MaxCustomRoles-1)
	last := f.customRole(owner, "The last one", nil)
	_, err := f.Roles.CreateRole(f.ctx, owner.Actor, crm.RoleInput{Name: "One too many"})
	wantCode(t, err, crm.CodeConflict)
	noErr(t, f.Roles.DeleteRole(f.ctx, owner.Actor, last))
	f.customRole(owner, "One too many", nil)
}

// TestRoleLifecycle: built-in roles are fixed; a custom role is deleted
// only when nobody holds it or is offered it, and stays for the history
// that names it; another account's roles do not exist here.
func TestRoleLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner, stranger := f.signUp(), f.signUp()
	_, err := f.Roles.UpdateRole(f.ctx, owner.Actor, roleID(crm.RoleAdmin), crm.RoleInput{Name: "Admin plus"})
	wantCode(t, err, crm.CodeForbidden)
	wantCode(t, f.Roles.DeleteRole(f.ctx, owner.Actor, roleID(crm.RoleReadOnly)), crm.CodeForbidden)

	held := f.customRole(owner, "Held", nil)
	holder := f.join(owner, held)
	wantCode(t, f.Roles.DeleteRole(f.ctx, owner.Actor, held), crm.CodeConflict)
	offered := f.customRole(owner, "Offered", nil)
	noErr(t, f.invite(owner, offered))
	wantCode(t, f.Roles.DeleteRole(f.ctx, owner.Actor, offered), crm.CodeConflict)

	// Once nobody holds it and nothing offers it, it goes, though history
	// still names it: the removed member's role, the revoked invitation's.
	noErr(t, f.Members.RemoveMember(f.ctx, owner.Actor, holder.ID, owner.ID))
	invitations, err := f.Invitations.Invitations(f.ctx, owner.Actor)
	noErr(t, err)
	for _, inv := range invitations {
		if inv.Role.ID == offered {
			noErr(t, f.Invitations.RevokeInvitation(f.ctx, owner.Actor, inv.ID))
		}
	}
	noErr(t, f.Roles.DeleteRole(f.ctx, owner.Actor, held))
	noErr(t, f.Roles.DeleteRole(f.ctx, owner.Actor, offered))
	roles, err := f.Roles.Roles(f.ctx, owner.Actor)
	noErr(t, err)
	for _, r := range roles {
		if r.ID == held || r.ID == offered {
			t.Fatalf("a deleted role is listed: %s", r.Name)
		}
	}
	for name, err := range map[string]error{
		"read":         func() error { _, err := f.Roles.Role(f.ctx, owner.Actor, held); return err }(),
		"update":       f.reshape(owner, held, nil),
		"delete again": f.Roles.DeleteRole(f.ctx, owner.Actor, held),
		"give":         f.invite(owner, held),
	} {
		t.Run("deleted/"+name, func(t *testing.T) { wantCode(t, err, crm.CodeNotFound) })
	}
	removed, err := f.Members.Members(f.ctx, owner.Actor, crm.MemberFilter{Status: crm.MemberRemoved}, crm.PageArgs{})
	noErr(t, err)
	if len(removed.Nodes) != 1 || removed.Nodes[0].UserID != holder.ID || removed.Nodes[0].Role.Name != "Held" {
		t.Fatalf("the removed member: %+v", removed.Nodes)
	}
	f.customRole(owner, "Held", nil) // the name is free again

	unused := f.customRole(owner, "Unused", nil)
	noErr(t, f.Roles.DeleteRole(f.ctx, owner.Actor, unused))
	_, err = f.Roles.Role(f.ctx, owner.Actor, unused)
	wantCode(t, err, crm.CodeNotFound)

	theirs := f.customRole(stranger, "Theirs", nil)
	for name, err := range map[string]error{
		"read":   func() error { _, err := f.Roles.Role(f.ctx, owner.Actor, theirs); return err }(),
		"update": f.reshape(owner, theirs, nil),
		"delete": f.Roles.DeleteRole(f.ctx, owner.Actor, theirs),
		"grant":  f.invite(owner, theirs),
		"random": f.invite(owner, uuid.New()),
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, err, crm.CodeNotFound) })
	}
}
