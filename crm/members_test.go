package crm

import (
	"testing"

	"github.com/google/uuid"
)

// Roles for the policy tables: the built-in ones, and custom ones that
// differ from Admin by one cell or by one hidden field.
var (
	owner, admin, manager, rep, reader = RoleOwner.Role(), RoleAdmin.Role(), RoleManager.Role(), RoleSalesRep.Role(), RoleReadOnly.Role()

	// billingAdmin may do everything Admin may, and edit billing.
	billingAdmin = customRole("Billing admin", with(admin.Matrix, Billing, Edit, ScopeAll))
	// discreetAdmin is Admin without members' emails.
	discreetAdmin = customRole("Discreet admin", admin.Matrix, "members.email")
	// quietReader is Read-only hiding two fields.
	quietReader = customRole("Quiet reader", reader.Matrix, "deals.amount", "members.email")
	// ownDeals may delete only their own deals.
	ownDeals = customRole("Own deals", Matrix{Deals: {Delete: ScopeOwn}})
	allDeals = customRole("All deals", Matrix{Deals: {Delete: ScopeAll}})
	nothing  = customRole("Nothing", Matrix{})
)

func customRole(name string, m Matrix, hidden ...string) Role {
	if hidden == nil {
		hidden = []string{}
	}
	return Role{ID: uuid.New(), Name: name, Matrix: m, HiddenFields: hidden}
}

// with is a copy of m with one cell changed.
func with(m Matrix, e Entity, a Action, s Scope) Matrix {
	out := Matrix{}
	for _, p := range m.Permissions() {
		if p.Scope != ScopeNone {
			fill(out, []Entity{p.Entity}, []Action{p.Action}, p.Scope)
		}
	}
	fill(out, []Entity{e}, []Action{a}, s)
	return out
}

func TestRoleCovers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		role, other  Role
		covers, back bool // role.Covers(other), other.Covers(role)
	}{
		{"a role covers itself", admin, admin, true, true},
		{"owner and admin: billing", owner, admin, true, false},
		{"admin and manager", admin, manager, true, false},
		{"manager and sales rep", manager, rep, true, false},
		{"sales rep and read-only: neither covers the other", rep, reader, false, false},
		{"one cell more", billingAdmin, admin, true, false},
		{"all records and own records", allDeals, ownDeals, true, false},
		{"anything and nothing", reader, nothing, true, false},
		{"hiding a field is weaker", admin, discreetAdmin, true, false},
		{"hiding more fields is weaker still", discreetAdmin, customRole("", admin.Matrix, "members.email", "deals.amount"), true, false},
		{"a hidden field of an entity the other may not view does not count", nothing, customRole("", Matrix{}, "deals.amount"), true, true},
		{"a hidden field of an entity the other may view counts", customRole("", admin.Matrix, "deals.amount"), customRole("", with(Matrix{}, Deals, View, ScopeAll)), false, false},
		{"more rights but hiding a field", discreetAdmin, reader, false, false},
		{"the same fields, another order", quietReader, customRole("", reader.Matrix, "members.email", "deals.amount"), true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := c.role.Covers(c.other); got != c.covers {
				t.Errorf("%s covers %s: %v, want %v", c.role.Name, c.other.Name, got, c.covers)
			}
			if got := c.other.Covers(c.role); got != c.back {
				t.Errorf("%s covers %s: %v, want %v", c.other.Name, c.role.Name, got, c.back)
			}
		})
	}
}

// allowed is the outcome of a policy check: nil, or FORBIDDEN.
func allowed(t *testing.T, err error, want bool) {
	t.Helper()
	switch {
	case want && err != nil:
		t.Fatalf("refused: %v", err)
	case !want && ErrorCode(err) != CodeForbidden:
		t.Fatalf("got %v, want FORBIDDEN", err)
	}
}

func TestMayGrant(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		by      Role
		grant   Role
		allowed bool
	}{
		{"an owner makes owners", owner, owner, true},
		{"an admin does not", admin, owner, false},
		{"not even a role covering Owner", customRole("Co-owner", owner.Matrix), owner, false},
		{"an owner gives a custom role with billing", owner, billingAdmin, true},
		{"an admin does not", admin, billingAdmin, false},
		{"an admin gives Admin", admin, admin, true},
		{"an admin gives a weaker role", admin, rep, true},
		{"an admin gives a role hiding more", admin, discreetAdmin, true},
		{"a discreet admin does not give Admin, which sees emails", discreetAdmin, admin, false},
		{"a discreet admin gives a role hiding as much", discreetAdmin, quietReader, true},
		{"a sales rep does not give Read-only, which reads all notes", rep, reader, false},
		{"own records do not give all", ownDeals, allDeals, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			allowed(t, Grant{UserID: uuid.New(), Role: c.by}.MayGrant(c.grant), c.allowed)
		})
	}
}

func TestMayActOn(t *testing.T) {
	t.Parallel()
	me, them := uuid.New(), uuid.New()
	ownMembers := customRole("Own profile", Matrix{Members: {View: ScopeOwn, Edit: ScopeOwn, Delete: ScopeOwn}})
	for _, c := range []struct {
		name     string
		by       Role
		target   uuid.UUID
		role     Role // the target's
		act      Action
		selfVerb string
		allowed  bool
	}{
		{"an admin edits a member", admin, them, rep, Edit, "", true},
		{"an admin edits another admin", admin, them, admin, Edit, "change the role of", true},
		{"an admin removes a member", admin, them, manager, Delete, "remove", true},
		{"a manager may not edit members", manager, them, rep, Edit, "", false},
		{"nor a sales rep remove them", rep, them, reader, Delete, "remove", false},
		{"no one changes their own role", admin, me, admin, Edit, "change the role of", false},
		{"not even an owner", owner, me, owner, Edit, "change the role of", false},
		{"or removes themselves", owner, me, owner, Delete, "remove", false},
		{"but renaming oneself is fine", admin, me, admin, Edit, "", true},
		{"an owner acts on an owner", owner, them, owner, Edit, "change the role of", true},
		{"an admin does not", admin, them, owner, Edit, "change the role of", false},
		{"nor renames one", admin, them, owner, Edit, "", false},
		{"an owner acts on a billing admin", owner, them, billingAdmin, Delete, "remove", true},
		{"an admin does not: it may do more", admin, them, billingAdmin, Edit, "deactivate", false},
		{"a discreet admin does not act on an admin: it sees more", discreetAdmin, them, admin, Edit, "", false},
		{"an admin acts on a discreet admin", admin, them, discreetAdmin, Edit, "deactivate", true},
		{"OWN members: oneself", ownMembers, me, ownMembers, Edit, "", true},
		{"OWN members: not others", ownMembers, them, nothing, Edit, "", false},
		{"OWN members: not removing oneself", ownMembers, me, ownMembers, Delete, "remove", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			allowed(t, Grant{UserID: me, Role: c.by}.MayActOn(c.target, c.role, c.act, c.selfVerb), c.allowed)
		})
	}
}

func TestMayReshape(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		by      Role
		reshape Role
		allowed bool
	}{
		{"an admin reshapes a weaker role", admin, quietReader, true},
		{"an admin reshapes a role like its own", admin, customRole("Admin too", admin.Matrix), true},
		{"not one that may do more", admin, billingAdmin, false},
		{"an owner reshapes any", owner, billingAdmin, true},
		{"no one the role they hold", billingAdmin, billingAdmin, false},
		{"a discreet admin not a role that sees emails", discreetAdmin, customRole("Viewer", Matrix{Members: {View: ScopeAll}}), false},
		{"but one that hides them", discreetAdmin, quietReader, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			allowed(t, Grant{UserID: uuid.New(), Role: c.by}.MayReshape(c.reshape), c.allowed)
		})
	}
}
