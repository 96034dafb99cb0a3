package db_test

import (
	"strings"
	"testing"
	"time"

	"switchboard/crm"
)

func (f *fixture) limit(by member, e crm.Entity, a crm.Action, n int) {
	f.t.Helper()
	_, err := f.Protections.SetActivityLimit(f.ctx, by.Actor, crm.ActivityLimit{Entity: e, Action: a, Limit: n, Period: crm.PerDay})
	noErr(f.t, err)
}

func (f *fixture) enter(m member) error {
	_, _, err := f.Accounts.Enter(f.ctx, m.Actor)
	return err
}

// TestActivityLimitPausesUntilThePeriodEnds: the action that reaches the
// limit succeeds and pauses the member until the day ends (UTC); the
// admins hear of it; the next day the member starts afresh.
func TestActivityLimitPausesUntilThePeriodEnds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.clock.Set(time.Date(2026, 3, 4, 23, 40, 0, 0, time.UTC))
	midnight := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	owner := f.signUp()
	admin := f.join(owner, roleID(crm.RoleAdmin))
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	f.limit(owner, crm.Members, crm.Edit, 2)

	noErr(t, f.rename(admin, rep.ID, "Rep one"))
	noErr(t, f.enter(admin))
	noErr(t, f.rename(admin, rep.ID, "Rep two")) // reaches the limit, and succeeds
	err := f.enter(admin)
	wantCode(t, err, crm.CodeAccountDeactivated)
	if !strings.Contains(err.Error(), "until 5 Mar 2026 00:00") {
		t.Fatalf("message %q does not say when access resumes", err)
	}
	wantCode(t, f.rename(admin, rep.ID, "Rep three"), crm.CodeAccountDeactivated)

	m, err := f.Members.Member(f.ctx, owner.Actor, admin.ID)
	noErr(t, err)
	if m.Status != crm.MemberDeactivated || m.DeactivatedUntil == nil || !m.DeactivatedUntil.Equal(midnight) {
		t.Fatalf("the owner sees the admin %s until %v", m.Status, m.DeactivatedUntil)
	}
	notes, err := f.Audit.Notifications(f.ctx, owner.Actor, crm.PageArgs{})
	noErr(t, err)
	if len(notes.Nodes) != 1 || notes.Nodes[0].Kind != "ACTIVITY_LIMIT_REACHED" || notes.Nodes[0].SubjectID != admin.ID {
		t.Fatalf("owner's notifications %+v", notes.Nodes)
	}
	if mail := f.mail.to(owner.Email); len(mail) != 1 || !strings.Contains(mail[0].Subject, "activity limit") {
		t.Fatalf("owner's mail %+v", mail)
	}

	f.clock.Set(midnight.Add(-time.Microsecond))
	wantCode(t, f.enter(admin), crm.CodeAccountDeactivated)
	f.clock.Set(midnight)
	noErr(t, f.enter(admin))
	noErr(t, f.rename(admin, rep.ID, "Rep three"))
	noErr(t, f.enter(admin))
}

// TestOwnersAreNotLimited: an account keeps someone in charge.
func TestOwnersAreNotLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	f.limit(owner, crm.Members, crm.Edit, 1)
	f.limit(owner, crm.Settings, crm.Edit, 1)
	for _, name := range []string{"One", "Two", "Three"} {
		noErr(t, f.rename(owner, rep.ID, name))
		_, err := f.Accounts.RenameAccount(f.ctx, owner.Actor, "Acme "+name)
		noErr(t, err)
	}
	noErr(t, f.enter(owner))
}

// TestReactivationResetsTheActivityCount: an admin who restores a paused
// member gives them a fresh allowance, not the rest of the old one.
func TestReactivationResetsTheActivityCount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	admin := f.join(owner, roleID(crm.RoleAdmin))
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	f.limit(owner, crm.Members, crm.Edit, 2)
	noErr(t, f.rename(admin, rep.ID, "One"))
	noErr(t, f.rename(admin, rep.ID, "Two"))
	wantCode(t, f.enter(admin), crm.CodeAccountDeactivated)

	noErr(t, f.reactivate(owner, admin.ID))
	noErr(t, f.rename(admin, rep.ID, "Three"))
	noErr(t, f.enter(admin)) // one of two: the count started again
	noErr(t, f.rename(admin, rep.ID, "Four"))
	wantCode(t, f.enter(admin), crm.CodeAccountDeactivated)
}

// TestActivityLimitInput: what can be limited, and by whom.
func TestActivityLimitInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	manager := f.join(owner, roleID(crm.RoleManager))
	for field, l := range map[string]crm.ActivityLimit{
		"entity": {Entity: "SPACESHIPS", Action: crm.Edit, Limit: 1, Period: crm.PerDay},
		"action": {Entity: crm.Members, Action: crm.View, Limit: 1, Period: crm.PerDay},
		"limit":  {Entity: crm.Members, Action: crm.Edit, Limit: 0, Period: crm.PerDay},
		"period": {Entity: crm.Members, Action: crm.Edit, Limit: 1, Period: "FORTNIGHT"},
	} {
		_, err := f.Protections.SetActivityLimit(f.ctx, owner.Actor, l)
		wantInput(t, err, field)
	}
	_, err := f.Protections.SetActivityLimit(f.ctx, manager.Actor, crm.ActivityLimit{Entity: crm.Members, Action: crm.Edit, Limit: 1, Period: crm.PerDay})
	wantCode(t, err, crm.CodeForbidden)
	wantCode(t, f.Protections.RemoveActivityLimit(f.ctx, owner.Actor, crm.Members, crm.Edit), crm.CodeNotFound)
	f.limit(owner, crm.Members, crm.Edit, 5)
	f.limit(owner, crm.Members, crm.Edit, 3) // replaces
	limits, err := f.Protections.ActivityLimits(f.ctx, owner.Actor)
	noErr(t, err)
	if len(limits) != 1 || limits[0].Limit != 3 {
		t.Fatalf("limits %+v", limits)
	}
	noErr(t, f.Protections.RemoveActivityLimit(f.ctx, owner.Actor, crm.Members, crm.Edit))
}

func (f *fixture) allow(by member, cidrs ...string) (*crm.Account, error) {
	if cidrs == nil {
		cidrs = []string{}
	}
	return f.Protections.SetIPAllowlist(f.ctx, by.Actor, cidrs)
}

// TestIPAllowlist: a list that would lock the caller out, or that is not
// a list of ranges, is refused; members outside it are refused (and
// logged once); changing it needs a sign-in within 15 minutes.
func TestIPAllowlist(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp() // from homeIP, 198.51.100.10
	admin := f.join(owner, roleID(crm.RoleAdmin))
	rep := f.join(owner, roleID(crm.RoleSalesRep))

	_, err := f.allow(owner, "203.0.113.0/24")
	wantInput(t, err, "cidrs")
	if !strings.Contains(err.Error(), "198.51.100.10") {
		t.Fatalf("message %q does not name the caller's address", err)
	}
	_, err = f.allow(owner, "198.51.100.10/24")
	wantInput(t, err, "cidrs")
	if !strings.Contains(err.Error(), "198.51.100.0/24") {
		t.Fatalf("message %q does not suggest the masked range", err)
	}
	for _, bad := range []string{"10.0.0.0/33", "2001:db8::/129", "not an address", "198.51.100.0/24/8", ""} {
		_, err = f.allow(owner, "198.51.100.0/24", bad)
		wantInput(t, err, "cidrs")
	}
	_, err = f.allow(rep, "198.51.100.0/24")
	wantCode(t, err, crm.CodeForbidden)

	acct, err := f.allow(admin, "198.51.100.0/24", "2001:db8::/32", " 192.0.2.7 ", "198.51.100.0/24")
	noErr(t, err)
	if got := joinPrefixes(acct); got != "198.51.100.0/24,2001:db8::/32,192.0.2.7/32" {
		t.Fatalf("stored %s", got)
	}
	outside := rep.from("203.0.113.5")
	wantCode(t, f.enter(outside), crm.CodeIPNotAllowed)
	wantCode(t, f.rename(outside, rep.ID, "Away"), crm.CodeIPNotAllowed)
	noErr(t, f.enter(rep.from("2001:db8::1")))
	noErr(t, f.enter(rep.from("192.0.2.7")))
	events, err := f.Audit.LoginEvents(f.ctx, owner.Actor, crm.PageArgs{First: 100})
	noErr(t, err)
	refusals := 0
	for _, e := range events.Nodes {
		if e.Outcome == crm.LoginIPNotAllowed {
			refusals++
			if e.UserID != rep.ID || e.IP.String() != "203.0.113.5" || e.AccountID != owner.AccountID {
				t.Fatalf("refusal logged as %+v", e)
			}
		}
	}
	if refusals != 1 {
		t.Fatalf("%d refusals logged for two in a row, want 1", refusals)
	}

	// The owner signed up at the start: fifteen minutes later they still
	// may, a second after that they must sign in again.
	f.clock.Advance(15 * time.Minute)
	_, err = f.allow(owner, "198.51.100.0/24")
	noErr(t, err)
	f.clock.Advance(time.Second)
	_, err = f.allow(owner)
	wantCode(t, err, crm.CodeForbidden)
	f.signIn(&owner)
	_, err = f.allow(owner)
	noErr(t, err)
	noErr(t, f.enter(outside)) // an empty list admits everyone
}

func joinPrefixes(a *crm.Account) string {
	var s []string
	for _, p := range a.IPAllowlist {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

// TestPromotionToOwnerLiftsAPause: owners are exempt from activity limits,
// so a member paused by one and made owner is active at once; an admin's
// own deactivation is not lifted by it.
func TestPromotionToOwnerLiftsAPause(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	admin := f.join(owner, roleID(crm.RoleAdmin))
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	f.limit(owner, crm.Members, crm.Edit, 1)
	noErr(t, f.rename(admin, rep.ID, "One"))
	wantCode(t, f.enter(admin), crm.CodeAccountDeactivated)
	ownerRole := roleID(crm.RoleOwner)
	_, err := f.Members.UpdateMember(f.ctx, owner.Actor, admin.ID, crm.MemberUpdate{RoleID: &ownerRole})
	noErr(t, err)
	noErr(t, f.enter(admin))

	_, err = f.Members.DeactivateMember(f.ctx, owner.Actor, rep.ID)
	noErr(t, err)
	_, err = f.Members.UpdateMember(f.ctx, owner.Actor, rep.ID, crm.MemberUpdate{RoleID: &ownerRole})
	noErr(t, err)
	wantCode(t, f.enter(rep), crm.CodeAccountDeactivated)
}
