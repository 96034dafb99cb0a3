package db_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/secrets"
)

// call is one service method, called as an actor with arguments that would
// be accepted from an active member: whatever it answers comes from who
// the actor is.
type call struct {
	name string
	do   func(a crm.Actor) error
}

// accountCalls are every service method that acts in the actor's account:
// on target, an active member (inactive, a deactivated one, to reactivate),
// whose records go to heir; on a custom role nobody holds, and on a
// pending invitation.
func (f *fixture) accountCalls(target, inactive, heir, role, invitation uuid.UUID) []call {
	ctx := f.ctx
	name, manager := "Renamed", roleID(crm.RoleManager)
	limit := crm.ActivityLimit{Entity: crm.Members, Action: crm.Edit, Limit: 5, Period: crm.PerDay}
	return []call{
		{"Enter", func(a crm.Actor) error { _, _, err := f.Accounts.Enter(ctx, a); return err }},
		{"SwitchAccount", func(a crm.Actor) error { _, err := f.Accounts.SwitchAccount(ctx, a); return err }},
		{"RenameAccount", func(a crm.Actor) error { _, err := f.Accounts.RenameAccount(ctx, a, name); return err }},
		{"Members", func(a crm.Actor) error {
			_, err := f.Members.Members(ctx, a, crm.MemberFilter{}, crm.PageArgs{})
			return err
		}},
		{"Member", func(a crm.Actor) error { _, err := f.Members.Member(ctx, a, target); return err }},
		{"UpdateMember", func(a crm.Actor) error {
			_, err := f.Members.UpdateMember(ctx, a, target, crm.MemberUpdate{RoleID: &manager, Name: &name})
			return err
		}},
		{"DeactivateMember", func(a crm.Actor) error { _, err := f.Members.DeactivateMember(ctx, a, target); return err }},
		{"ReactivateMember", func(a crm.Actor) error { _, err := f.Members.ReactivateMember(ctx, a, inactive); return err }},
		{"RemoveMember", func(a crm.Actor) error { return f.Members.RemoveMember(ctx, a, target, heir) }},
		{"Roles", func(a crm.Actor) error { _, err := f.Roles.Roles(ctx, a); return err }},
		{"Role", func(a crm.Actor) error { _, err := f.Roles.Role(ctx, a, role); return err }},
		{"CreateRole", func(a crm.Actor) error {
			_, err := f.Roles.CreateRole(ctx, a, crm.RoleInput{Name: "New role"})
			return err
		}},
		{"UpdateRole", func(a crm.Actor) error {
			_, err := f.Roles.UpdateRole(ctx, a, role, crm.RoleInput{Name: "Reshaped"})
			return err
		}},
		{"DeleteRole", func(a crm.Actor) error { return f.Roles.DeleteRole(ctx, a, role) }},
		{"InviteMember", func(a crm.Actor) error {
			_, err := f.Invitations.InviteMember(ctx, a, newEmail("invitee"), roleID(crm.RoleReadOnly))
			return err
		}},
		{"ResendInvitation", func(a crm.Actor) error { _, err := f.Invitations.ResendInvitation(ctx, a, invitation); return err }},
		{"RevokeInvitation", func(a crm.Actor) error { return f.Invitations.RevokeInvitation(ctx, a, invitation) }},
		{"Invitations", func(a crm.Actor) error { _, err := f.Invitations.Invitations(ctx, a); return err }},
		{"SetIPAllowlist", func(a crm.Actor) error {
			_, err := f.Protections.SetIPAllowlist(ctx, a, []string{"0.0.0.0/0", "::/0"})
			return err
		}},
		{"ActivityLimits", func(a crm.Actor) error { _, err := f.Protections.ActivityLimits(ctx, a); return err }},
		{"SetActivityLimit", func(a crm.Actor) error { _, err := f.Protections.SetActivityLimit(ctx, a, limit); return err }},
		{"RemoveActivityLimit", func(a crm.Actor) error {
			return f.Protections.RemoveActivityLimit(ctx, a, crm.Settings, crm.Edit)
		}},
		{"LoginEvents", func(a crm.Actor) error { _, err := f.Audit.LoginEvents(ctx, a, crm.PageArgs{}); return err }},
		{"Activity", func(a crm.Actor) error {
			_, err := f.Audit.Activity(ctx, a, crm.ActivityFilter{}, crm.PageArgs{})
			return err
		}},
		{"Notifications", func(a crm.Actor) error { _, err := f.Audit.Notifications(ctx, a, crm.PageArgs{}); return err }},
	}
}

// sessionCalls are the methods that need a live session but no account.
func (f *fixture) sessionCalls() []call {
	ctx := f.ctx
	return []call{
		{"Authenticate", func(a crm.Actor) error { _, err := f.ident.Authenticate(ctx, a.Token); return err }},
		{"Accounts", func(a crm.Actor) error { _, err := f.Accounts.Accounts(ctx, a); return err }},
		{"CreateAccount", func(a crm.Actor) error { _, err := f.Accounts.CreateAccount(ctx, a, "Elsewhere"); return err }},
	}
}

// TestEveryServiceVerifiesTheActor: every service method answers an actor
// who may no longer act in the account (deactivated, removed, outside the
// allowlist, never a member) or whose session has ended, with that reason,
// before doing anything. Each situation is an owner of the account until
// it happened, so each call, had it been let through, would succeed.
func TestEveryServiceVerifiesTheActor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	inactive := f.join(owner, roleID(crm.RoleSalesRep))
	noErr(t, f.deactivate(owner, inactive.ID))
	role := f.customRole(owner, "Unused", nil)
	inv, err := f.Invitations.InviteMember(f.ctx, owner.Actor, newEmail("pending"), roleID(crm.RoleReadOnly))
	noErr(t, err)
	f.limit(owner, crm.Settings, crm.Edit, 100)
	_, err = f.allow(owner, "198.51.100.0/24", "2001:db8::/32")
	noErr(t, err)
	accountCalls := f.accountCalls(rep.ID, inactive.ID, owner.ID, role, inv.ID)

	// Each situation is a second owner of the account, then something
	// that ends their access (but the stranger's, who never had any).
	second := func() member { return f.join(owner, roleID(crm.RoleOwner)) }
	deactivated, removed := second(), second()
	noErr(t, f.deactivate(owner, deactivated.ID))
	noErr(t, f.Members.RemoveMember(f.ctx, owner.Actor, removed.ID, owner.ID))
	outside := second().from("203.0.113.5")
	stranger := f.signUp().in(owner.AccountID)
	evicted := second()
	again := evicted
	f.signIn(&again) // evicted keeps the token of the session this ended
	loggedOut := second()
	p, err := f.ident.Authenticate(f.ctx, loggedOut.Token)
	noErr(t, err)
	noErr(t, f.ident.Logout(f.ctx, p, loggedOut.Client))
	expired := second()
	f.raw.MustExec(`UPDATE sessions SET last_seen_at = $2 WHERE user_id = $1`, expired.ID, f.clock.Now().Add(-31*time.Minute))
	unknown := owner
	unknown.Token = secrets.NewToken(secrets.PrefixSession)
	active := second()

	for _, c := range []struct {
		situation string
		who       member
		code      crm.Code
		// session: the session itself is refused, so the calls in no
		// account are too.
		session bool
	}{
		{"deactivated", deactivated, crm.CodeAccountDeactivated, false},
		{"removed", removed, crm.CodeNotFound, false},
		{"outside the allowlist", outside, crm.CodeIPNotAllowed, false},
		{"never a member", stranger, crm.CodeNotFound, false},
		{"signed in elsewhere since", evicted, crm.CodeSessionEvicted, true},
		{"signed out", loggedOut, crm.CodeUnauthenticated, true},
		{"idle past the timeout", expired, crm.CodeSessionExpired, true},
		{"an unknown token", unknown, crm.CodeUnauthenticated, true},
		// Last, since its calls change things: each succeeds, so the
		// refusals above came from who asked, and changed nothing.
		{"still an owner", active, "", false},
	} {
		for _, call := range accountCalls {
			t.Run(c.situation+"/"+call.name, func(t *testing.T) {
				if err := call.do(c.who.Actor); c.code != "" {
					wantCode(t, err, c.code)
				} else {
					noErr(t, err)
				}
			})
		}
		// A session refused is refused everywhere; a session that is
		// fine still signs its user in, to their other accounts.
		for _, call := range f.sessionCalls() {
			t.Run(c.situation+"/"+call.name, func(t *testing.T) {
				if err := call.do(c.who.Actor); c.session {
					wantCode(t, err, c.code)
				} else {
					noErr(t, err)
				}
			})
		}
	}
}
