package crm

import (
	"slices"
	"strings"

	"github.com/google/uuid"
)

// The rules for changing who may do what in an account. They are pure: the
// database layer loads the roles involved and asks these functions.

// Covers reports whether r may do at least everything other may do and
// sees at least everything other sees. A role that hides fewer fields is
// stronger, like one with more permissions: no one may create, give or act
// on a role their own does not cover. A field r hides counts only where
// other may view its entity: hiding deals' amounts takes nothing from a
// role that sees no deals.
func (r Role) Covers(other Role) bool {
	if !r.Matrix.Covers(other.Matrix) {
		return false
	}
	for _, f := range r.HiddenFields {
		entity, _, _ := strings.Cut(f, ".")
		if !slices.Contains(other.HiddenFields, f) && other.Matrix.Scope(Entity(strings.ToUpper(entity)), View) != ScopeNone {
			return false
		}
	}
	return true
}

// MayGrant says whether the member may hand out role: give it to someone,
// invite with it, or create or reshape a custom role into it. Only owners
// make owners, and no one gives a role their own does not cover.
func (g Grant) MayGrant(role Role) error {
	if role.BuiltIn == RoleOwner && !g.IsOwner() {
		return Forbidden("only an owner can make someone owner")
	}
	if !g.Role.Covers(role) {
		return Forbidden("you cannot give a role that may do or see more than yours (%s)", g.Role.Name)
	}
	return nil
}

// MayActOn says whether the member may do act (EDIT or DELETE on members)
// to the member target holding role: the permission itself; not to oneself
// when selfVerb names what cannot be done to oneself ("remove", "change
// the role of"); only owners act on owners; and others only act on members
// whose role theirs covers, so an admin cannot demote someone who may do
// more than they may.
func (g Grant) MayActOn(target uuid.UUID, role Role, act Action, selfVerb string) error {
	if err := g.Require(Members, act, target); err != nil {
		return err
	}
	if selfVerb != "" && target == g.UserID {
		return Forbidden("you cannot %s yourself", selfVerb)
	}
	if g.IsOwner() {
		return nil
	}
	if role.BuiltIn == RoleOwner {
		return Forbidden("only an owner can change an owner")
	}
	if !g.Role.Covers(role) {
		return Forbidden("their role (%s) may do or see more than yours (%s): ask an owner", role.Name, g.Role.Name)
	}
	return nil
}

// MayReshape says whether the member may change or delete the custom role
// role: not the one they hold (that would change their own rights), and not
// one theirs does not cover (that would change stronger members' rights).
func (g Grant) MayReshape(role Role) error {
	if g.Role.ID == role.ID {
		return Forbidden("you cannot change the role you hold")
	}
	if !g.IsOwner() && !g.Role.Covers(role) {
		return Forbidden("the role %s may do or see more than yours (%s): ask an owner", role.Name, g.Role.Name)
	}
	return nil
}

// ErrLastOwner refuses a change that would leave an account without an
// active owner.
var ErrLastOwner = Errorf(CodeConflict, "an account must keep an active owner: make someone else owner first")
