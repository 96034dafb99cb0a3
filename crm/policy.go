package crm

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Entity is what a permission is about.
type Entity string

// Entities of the permission matrix.
const (
	Contacts  Entity = "CONTACTS"
	Companies Entity = "COMPANIES"
	Deals     Entity = "DEALS"
	Tasks     Entity = "TASKS"
	Notes     Entity = "NOTES"
	Groups    Entity = "GROUPS"
	Campaigns Entity = "CAMPAIGNS"
	Templates Entity = "TEMPLATES"
	Mail      Entity = "MAIL"
	Members   Entity = "MEMBERS"
	Settings  Entity = "SETTINGS"
	Billing   Entity = "BILLING"
)

// The entities are declared in one place, the registry (entities.go).

// Action is what one does to an entity.
type Action string

// Actions of the permission matrix.
const (
	View   Action = "VIEW"
	Create Action = "CREATE"
	Edit   Action = "EDIT"
	Delete Action = "DELETE"
)

// Actions lists every action.
var Actions = []Action{View, Create, Edit, Delete}

// Scope says over which records a permission holds.
type Scope string

// Scopes, from least to most.
const (
	ScopeNone Scope = "NONE"
	ScopeOwn  Scope = "OWN"
	ScopeAll  Scope = "ALL"
)

func (s Scope) rank() int {
	switch s {
	case ScopeOwn:
		return 1
	case ScopeAll:
		return 2
	}
	return 0
}

// Permission is one cell of the matrix.
type Permission struct {
	Entity Entity
	Action Action
	Scope  Scope
}

// Matrix maps entity and action to a scope. A missing cell is NONE: deny
// by default.
type Matrix map[Entity]map[Action]Scope

// Scope returns the scope of one cell.
func (m Matrix) Scope(e Entity, a Action) Scope {
	if s, ok := m[e][a]; ok {
		return s
	}
	return ScopeNone
}

// Permissions lists the matrix cell by cell, in matrix order.
func (m Matrix) Permissions() []Permission {
	out := make([]Permission, 0, len(Entities)*len(Actions))
	for _, e := range Entities {
		for _, a := range Actions {
			out = append(out, Permission{Entity: e, Action: a, Scope: m.Scope(e, a)})
		}
	}
	return out
}

// Covers reports whether m allows at least everything other allows: no one
// may grant or create a role stronger than their own.
func (m Matrix) Covers(other Matrix) bool {
	for _, e := range Entities {
		for _, a := range Actions {
			if other.Scope(e, a).rank() > m.Scope(e, a).rank() {
				return false
			}
		}
	}
	return true
}

// NewMatrix checks a list of permissions: known entities, actions and
// scopes, OWN only where records have owners, each cell once. Errors name
// the field "permissions".
func NewMatrix(perms []Permission) (Matrix, error) {
	m := Matrix{}
	for _, p := range perms {
		if !slices.Contains(Entities, p.Entity) || !slices.Contains(Actions, p.Action) {
			return nil, InvalidInput("permissions", "unknown entity or action %s %s", p.Entity, p.Action)
		}
		switch p.Scope {
		case ScopeNone, ScopeAll:
		case ScopeOwn:
			if !p.Entity.HasOwner() {
				return nil, InvalidInput("permissions", "%s belong to the account: use NONE or ALL", strings.ToLower(string(p.Entity)))
			}
		default:
			return nil, InvalidInput("permissions", "unknown scope %q", p.Scope)
		}
		if _, dup := m[p.Entity][p.Action]; dup {
			return nil, InvalidInput("permissions", "%s %s is given twice", p.Entity, p.Action)
		}
		if m[p.Entity] == nil {
			m[p.Entity] = map[Action]Scope{}
		}
		m[p.Entity][p.Action] = p.Scope
	}
	return m, nil
}

// FieldName is "entity.field" in lower case, as roles store it.
func FieldName(e Entity, field string) string { return strings.ToLower(string(e)) + "." + field }

// CheckHiddenFields validates and normalises a role's hidden fields.
func CheckHiddenFields(fields []string) ([]string, error) {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		entity, name, ok := strings.Cut(f, ".")
		if !ok || !slices.Contains(HideableFields[Entity(strings.ToUpper(entity))], name) {
			return nil, InvalidInput("hiddenFields", "%q is not a field that can be hidden", f)
		}
		f = FieldName(Entity(strings.ToUpper(entity)), name)
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, nil
}

// BuiltInRole names one of the roles every account has.
type BuiltInRole string

// Built-in roles.
const (
	RoleOwner    BuiltInRole = "OWNER"
	RoleAdmin    BuiltInRole = "ADMIN"
	RoleManager  BuiltInRole = "MANAGER"
	RoleSalesRep BuiltInRole = "SALES_REP"
	RoleReadOnly BuiltInRole = "READ_ONLY"
)

// BuiltInRoles lists them from most to least powerful.
var BuiltInRoles = []BuiltInRole{RoleOwner, RoleAdmin, RoleManager, RoleSalesRep, RoleReadOnly}

// Role is a named permission matrix with hidden fields: built-in (the same
// in every account, defined here) or custom (per account).
type Role struct {
	ID           uuid.UUID
	Name         string
	BuiltIn      BuiltInRole // empty for a custom role
	Matrix       Matrix
	HiddenFields []string // "entity.field", sorted
}

// builtInIDs are fixed, so clients can refer to built-in roles in every
// account with the same id.
var builtInIDs = map[BuiltInRole]uuid.UUID{
	RoleOwner:    uuid.MustParse("00000000-0000-7000-8000-000000000001"),
	RoleAdmin:    uuid.MustParse("00000000-0000-7000-8000-000000000002"),
	RoleManager:  uuid.MustParse("00000000-0000-7000-8000-000000000003"),
	RoleSalesRep: uuid.MustParse("00000000-0000-7000-8000-000000000004"),
	RoleReadOnly: uuid.MustParse("00000000-0000-7000-8000-000000000005"),
}

// BuiltInRoleByID returns the built-in role with id, if it is one.
func BuiltInRoleByID(id uuid.UUID) (BuiltInRole, bool) {
	for r, rid := range builtInIDs {
		if rid == id {
			return r, true
		}
	}
	return "", false
}

func fill(m Matrix, entities []Entity, actions []Action, s Scope) {
	for _, e := range entities {
		if m[e] == nil {
			m[e] = map[Action]Scope{}
		}
		for _, a := range actions {
			m[e][a] = s
		}
	}
}

// Role returns the definition of a built-in role. It is built once: the
// matrix it returns is shared and must not be changed.
func (r BuiltInRole) Role() Role {
	role, ok := builtInDefinitions()[r]
	if !ok {
		panic(fmt.Sprintf("crm: unknown built-in role %q", r))
	}
	return role
}

// builtInDefinitions builds every built-in role once, on first use.
var builtInDefinitions = sync.OnceValue(func() map[BuiltInRole]Role {
	out := make(map[BuiltInRole]Role, len(BuiltInRoles))
	for _, r := range BuiltInRoles {
		out[r] = r.define()
	}
	return out
})

// define builds a built-in role's definition.
func (r BuiltInRole) define() Role {
	m := Matrix{}
	name := ""
	switch r {
	case RoleOwner:
		name = "Owner"
		fill(m, Entities, Actions, ScopeAll)
	case RoleAdmin:
		// Everything but billing, which stays the owners' business; an
		// admin may see it.
		name = "Admin"
		fill(m, Entities, Actions, ScopeAll)
		fill(m, []Entity{Billing}, []Action{Create, Edit, Delete}, ScopeNone)
	case RoleManager:
		// All records; sees the team; no settings or billing.
		name = "Manager"
		fill(m, recordEntities(), Actions, ScopeAll)
		fill(m, []Entity{Members}, []Action{View}, ScopeAll)
	case RoleSalesRep:
		// Own deals, tasks, notes and mail; all contacts and companies,
		// deleting only their own; shared groups, campaigns and templates
		// to read.
		name = "Sales Rep"
		fill(m, []Entity{Contacts, Companies}, []Action{View, Create, Edit}, ScopeAll)
		fill(m, []Entity{Contacts, Companies}, []Action{Delete}, ScopeOwn)
		fill(m, []Entity{Deals, Tasks, Notes, Mail}, Actions, ScopeOwn)
		fill(m, []Entity{Groups, Campaigns, Templates, Members}, []Action{View}, ScopeAll)
	case RoleReadOnly:
		name = "Read-only"
		fill(m, []Entity{Contacts, Companies, Deals, Tasks, Notes, Groups, Campaigns, Templates, Members}, []Action{View}, ScopeAll)
	default:
		panic(fmt.Sprintf("crm: unknown built-in role %q", r))
	}
	return Role{ID: builtInIDs[r], Name: name, BuiltIn: r, Matrix: m, HiddenFields: []string{}}
}

// Grant is what one member may do in one account: their role, applied to
// them.
type Grant struct {
	UserID uuid.UUID
	Role   Role
}

// Can reports whether the member may do action to an entity's record owned
// by owner (uuid.Nil for account-wide things and for creating records for
// oneself).
func (g Grant) Can(e Entity, a Action, owner uuid.UUID) bool {
	switch g.Role.Matrix.Scope(e, a) {
	case ScopeAll:
		return true
	case ScopeOwn:
		return owner == uuid.Nil || owner == g.UserID
	default:
		return false
	}
}

// Viewable lists the entities whose every record the grant may view, and
// those it may view only its own of: the same rule as Can, for a query.
func (g Grant) Viewable() (all, own []Entity) {
	for _, e := range Entities {
		switch g.Role.Matrix.Scope(e, View) {
		case ScopeAll:
			all = append(all, e)
		case ScopeOwn:
			own = append(own, e)
		}
	}
	return all, own
}

// Require returns FORBIDDEN unless Can.
func (g Grant) Require(e Entity, a Action, owner uuid.UUID) error {
	if g.Can(e, a, owner) {
		return nil
	}
	return Forbidden("your role (%s) may not %s %s", g.Role.Name, strings.ToLower(string(a)), describeEntity(e, owner, g.UserID))
}

// RequireTake refuses the grant's user taking a record of e that owner
// owns: the record would come with every right the role gives over one's
// own records, and one the role does not give over owner's (delete own,
// with edit all) would be the user's by a change of owner alone.
func (g Grant) RequireTake(e Entity, owner uuid.UUID) error {
	if owner == g.UserID {
		return nil
	}
	for _, a := range Actions {
		if a != Create && g.Can(e, a, g.UserID) && !g.Can(e, a, owner) {
			return Forbidden("your role (%s) may %s only your own %s, so it may not take %s for you",
				g.Role.Name, strings.ToLower(string(a)), strings.ToLower(string(e)), describeEntity(e, owner, g.UserID))
		}
	}
	return nil
}

func describeEntity(e Entity, owner, self uuid.UUID) string {
	name := strings.ToLower(string(e))
	switch {
	case owner == uuid.Nil || owner == self || !e.HasOwner():
		return name
	case e == Members:
		return "other members"
	}
	return name + " of other members"
}

// Hidden reports whether the role hides field of e.
func (g Grant) Hidden(e Entity, field string) bool {
	return slices.Contains(g.Role.HiddenFields, FieldName(e, field))
}

// VisibleChanges is changes (of a record of e, or of a member) without the
// fields the role hides.
func (g Grant) VisibleChanges(e Entity, changes map[string]Change) map[string]Change {
	out := make(map[string]Change, len(changes))
	t := e.Info()
	for field, c := range changes {
		hidden := g.Hidden(e, field)
		if t != nil && t.Record != nil {
			// A record's changes are keyed by its fields' names, which
			// the fields' Hide declares hidden (a mail's addresses by
			// contacts.email).
			hidden = t.Record.Hides(g, field)
		}
		if !hidden {
			out[field] = c
		}
	}
	return out
}

// HiddenFieldsOf lists the fields of e the role hides, by field name, so an
// object can say which of its fields are locked.
func (g Grant) HiddenFieldsOf(e Entity) []string {
	out := []string{}
	for _, f := range HideableFields[e] {
		if g.Hidden(e, f) {
			out = append(out, f)
		}
	}
	return out
}

// IsOwner reports whether the grant is the Owner role.
func (g Grant) IsOwner() bool { return g.Role.BuiltIn == RoleOwner }
