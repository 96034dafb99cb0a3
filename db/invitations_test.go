package db_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
)

// accept accepts an invitation link as a (crm.Actor{} for someone not
// signed in) with n for a new login.
func (f *fixture) accept(token string, a crm.Actor, n crm.NewLogin) (*crm.Accepted, error) {
	return f.Invitations.AcceptInvitation(f.ctx, token, a, n)
}

var newLogin = crm.NewLogin{Name: "New Person", Password: testPassword}

// fillInvitations stores n pending invitations to the account, as the
// tables' owner: quicker than n invitations through the service, which
// the limit tests do not need to prove again.
func (f *fixture) fillInvitations(by member, n int, expiresAt time.Time) {
	f.t.Helper()
	f.raw.MustExec(`
		INSERT INTO invitations (account_id, id, email, role, invited_by, created_at, expires_at)
		SELECT $1, gen_random_uuid(), 'filler-' || n || '-' || gen_random_uuid() || '@example.com', 'READ_ONLY', $2, $3, $4
		FROM generate_series(1, $5) n`,
		by.AccountID, by.ID, f.clock.Now(), expiresAt, n)
}

// TestOnePendingInvitationPerEmail: a second invitation to an email (in
// any case) or to a member is refused; one that has expired makes way,
// and its link no longer works.
func TestOnePendingInvitationPerEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	admin := f.join(owner, roleID(crm.RoleAdmin))
	email := newEmail("invitee")
	_, err := f.Invitations.InviteMember(f.ctx, owner.Actor, email, roleID(crm.RoleReadOnly))
	noErr(t, err)
	oldLink := f.mail.invitationLink(t, email)

	_, err = f.Invitations.InviteMember(f.ctx, owner.Actor, email, roleID(crm.RoleSalesRep))
	wantCode(t, err, crm.CodeConflict)
	_, err = f.Invitations.InviteMember(f.ctx, admin.Actor, strings.ToUpper(email), roleID(crm.RoleSalesRep))
	wantCode(t, err, crm.CodeConflict)
	_, err = f.Invitations.InviteMember(f.ctx, owner.Actor, admin.Email, roleID(crm.RoleReadOnly))
	wantCode(t, err, crm.CodeConflict)

	f.clock.Advance(crm.InvitationTTL)
	f.signIn(&owner)
	second, err := f.Invitations.InviteMember(f.ctx, owner.Actor, email, roleID(crm.RoleSalesRep))
	noErr(t, err)
	list, err := f.Invitations.Invitations(f.ctx, owner.Actor)
	noErr(t, err)
	if len(list) != 1 || list[0].ID != second.ID || list[0].Status != crm.InvitationPending {
		t.Fatalf("pending invitations %+v", list)
	}
	_, err = f.accept(oldLink, crm.Actor{}, newLogin)
	wantInput(t, err, "token")
	got, err := f.accept(f.mail.invitationLink(t, email), crm.Actor{}, newLogin)
	noErr(t, err)
	_, grant, err := f.Accounts.Enter(f.ctx, crm.Actor{Token: got.Auth.Token})
	noErr(t, err)
	if grant.Role.BuiltIn != crm.RoleSalesRep {
		t.Fatalf("joined as %s, want the second invitation's role", grant.Role.Name)
	}
}

// TestPendingInvitationLimit: at most crm.MaxListedInvitations pending at
// once; expired ones do not count, and a revocation makes room.
func TestPendingInvitationLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	f.fillInvitations(owner, 1, f.clock.Now().Add(-time.Second))
	f.fillInvitations(owner, crm.MaxListedInvitations-1, f.clock.Now().Add(crm.InvitationTTL))
	last, err := f.Invitations.InviteMember(f.ctx, owner.Actor, newEmail("last"), roleID(crm.RoleReadOnly))
	noErr(t, err)
	wantCode(t, f.invite(owner, roleID(crm.RoleReadOnly)), crm.CodeConflict)
	list, err := f.Invitations.Invitations(f.ctx, owner.Actor)
	noErr(t, err)
	if len(list) != crm.MaxListedInvitations {
		t.Fatalf("%d pending listed", len(list))
	}
	noErr(t, f.Invitations.RevokeInvitation(f.ctx, owner.Actor, last.ID))
	noErr(t, f.invite(owner, roleID(crm.RoleReadOnly)))
}

// TestResendRetiresTheOldLink: a resend mails a new link and the old one
// stops working; an expired invitation gets seven more days.
func TestResendRetiresTheOldLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	email := newEmail("invitee")
	inv, err := f.Invitations.InviteMember(f.ctx, owner.Actor, email, roleID(crm.RoleManager))
	noErr(t, err)
	first := f.mail.invitationLink(t, email)
	_, err = f.Invitations.ResendInvitation(f.ctx, owner.Actor, inv.ID)
	noErr(t, err)
	second := f.mail.invitationLink(t, email)
	if second == first {
		t.Fatal("the resend mailed the same link")
	}
	_, err = f.accept(first, crm.Actor{}, newLogin)
	wantInput(t, err, "token")

	f.clock.Advance(crm.InvitationTTL + time.Hour)
	f.signIn(&owner)
	_, err = f.accept(second, crm.Actor{}, newLogin)
	wantInput(t, err, "token")
	renewed, err := f.Invitations.ResendInvitation(f.ctx, owner.Actor, inv.ID)
	noErr(t, err)
	if renewed.Status != crm.InvitationPending || !renewed.ExpiresAt.Equal(f.clock.Now().Add(crm.InvitationTTL)) {
		t.Fatalf("renewed %+v", renewed)
	}
	_, err = f.accept(f.mail.invitationLink(t, email), crm.Actor{}, newLogin)
	noErr(t, err)

	_, err = f.Invitations.ResendInvitation(f.ctx, owner.Actor, inv.ID)
	wantCode(t, err, crm.CodeConflict)
	wantCode(t, f.Invitations.RevokeInvitation(f.ctx, owner.Actor, inv.ID), crm.CodeConflict)
}

// TestRevokeInvitation: a revoked invitation is no longer listed, its link
// fails, it cannot be revoked or resent again, and the email may be
// invited anew.
func TestRevokeInvitation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	email := newEmail("invitee")
	inv, err := f.Invitations.InviteMember(f.ctx, owner.Actor, email, roleID(crm.RoleReadOnly))
	noErr(t, err)
	link := f.mail.invitationLink(t, email)

	wantCode(t, f.Invitations.RevokeInvitation(f.ctx, rep.Actor, inv.ID), crm.CodeForbidden)
	wantCode(t, f.Invitations.RevokeInvitation(f.ctx, owner.Actor, uuid.New()), crm.CodeNotFound)
	noErr(t, f.Invitations.RevokeInvitation(f.ctx, owner.Actor, inv.ID))
	list, err := f.Invitations.Invitations(f.ctx, owner.Actor)
	noErr(t, err)
	if len(list) != 0 {
		t.Fatalf("still listed: %+v", list)
	}
	_, err = f.accept(link, crm.Actor{}, newLogin)
	wantInput(t, err, "token")
	wantCode(t, f.Invitations.RevokeInvitation(f.ctx, owner.Actor, inv.ID), crm.CodeConflict)
	_, err = f.Invitations.ResendInvitation(f.ctx, owner.Actor, inv.ID)
	wantCode(t, err, crm.CodeConflict)
	_, err = f.Invitations.InviteMember(f.ctx, owner.Actor, email, roleID(crm.RoleReadOnly))
	noErr(t, err)
}

// TestAcceptInvitation: only the invited person joins. Signed in as
// someone else is FORBIDDEN; an email with a login must sign in first; a
// new person gives a name and an acceptable password; a link works once.
func TestAcceptInvitation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner, stranger, invited := f.signUp(), f.signUp(), f.signUp()
	_, err := f.Invitations.InviteMember(f.ctx, owner.Actor, invited.Email, roleID(crm.RoleManager))
	noErr(t, err)
	link := f.mail.invitationLink(t, invited.Email)

	_, err = f.accept(link, stranger.Actor, crm.NewLogin{})
	wantCode(t, err, crm.CodeForbidden)
	_, err = f.accept(link, crm.Actor{}, crm.NewLogin{})
	wantCode(t, err, crm.CodeUnauthenticated)
	_, err = f.accept(link, crm.Actor{}, newLogin)
	wantCode(t, err, crm.CodeUnauthenticated)
	got, err := f.accept(link, invited.Actor, crm.NewLogin{})
	noErr(t, err)
	if got.Account.ID != owner.AccountID || got.Auth != nil {
		t.Fatalf("accepted %+v", got)
	}
	_, grant, err := f.Accounts.Enter(f.ctx, invited.in(owner.AccountID).Actor)
	noErr(t, err)
	if grant.Role.BuiltIn != crm.RoleManager {
		t.Fatalf("joined as %s", grant.Role.Name)
	}
	_, err = f.accept(link, invited.Actor, crm.NewLogin{})
	wantInput(t, err, "token")

	email := newEmail("new")
	_, err = f.Invitations.InviteMember(f.ctx, owner.Actor, email, roleID(crm.RoleReadOnly))
	noErr(t, err)
	link = f.mail.invitationLink(t, email)
	_, err = f.accept(link, crm.Actor{}, crm.NewLogin{})
	wantInput(t, err, "name")
	_, err = f.accept(link, crm.Actor{}, crm.NewLogin{Name: "New", Password: "short"})
	wantInput(t, err, "password")
	for _, bad := range []string{"", "nonsense", "sbi_" + strings.Repeat("A", 43)} {
		_, err = f.accept(bad, crm.Actor{}, newLogin)
		wantInput(t, err, "token")
	}
	got, err = f.accept(link, crm.Actor{}, newLogin)
	noErr(t, err)
	if got.Auth == nil || got.Auth.User.Email != email || got.Auth.Session.AccountID != owner.AccountID {
		t.Fatalf("a new login should be signed in, in the account: %+v", got.Auth)
	}
}

// TestARemovedMemberCanComeBack: removal keeps the login and the
// membership row; a new invitation brings the person back.
func TestARemovedMemberCanComeBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	noErr(t, f.Members.RemoveMember(f.ctx, owner.Actor, rep.ID, owner.ID))
	_, err := f.Invitations.InviteMember(f.ctx, owner.Actor, rep.Email, roleID(crm.RoleReadOnly))
	noErr(t, err)
	_, err = f.accept(f.mail.invitationLink(t, rep.Email), rep.Actor, crm.NewLogin{})
	noErr(t, err)
	_, grant, err := f.Accounts.Enter(f.ctx, rep.Actor)
	noErr(t, err)
	if grant.Role.BuiltIn != crm.RoleReadOnly {
		t.Fatalf("back as %s", grant.Role.Name)
	}
}

// TestResendRespectsThePendingLimit
//
// KNOWN BUG, reported and not fixed here: this test fails. Resending an
// expired invitation makes it pending again without checking
// crm.MaxListedInvitations, so an account can hold more pending
// invitations than the limit, and Invitations (one page of at most the
// limit) then hides some of them from the admins who would revoke them.
// InviteMember checks the limit; ResendInvitation of an expired invitation
// should too (CONFLICT, as for a new invitation).
func TestResendRespectsThePendingLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	old, err := f.Invitations.InviteMember(f.ctx, owner.Actor, newEmail("old"), roleID(crm.RoleReadOnly))
	noErr(t, err)
	f.clock.Advance(crm.InvitationTTL)
	f.signIn(&owner)
	f.fillInvitations(owner, crm.MaxListedInvitations, f.clock.Now().Add(crm.InvitationTTL))

	_, err = f.Invitations.ResendInvitation(f.ctx, owner.Actor, old.ID)
	wantCode(t, err, crm.CodeConflict)
}
