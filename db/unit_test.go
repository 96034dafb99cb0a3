package db_test

import (
	"context"
	"testing"

	"switchboard/crm"
	"switchboard/db"
)

// statements runs fn as one operation of a's (a unit of work) that reads
// in an account and returns how many statements it sent, BEGIN and COMMIT
// included.
func (f *fixture) statements(a crm.Actor, fn func(ctx context.Context)) int64 {
	f.t.Helper()
	return f.statementsOf(a, true, fn)
}

// statementsOf is statements for an operation that reads in an account or
// (inAccount false) only the user's own.
func (f *fixture) statementsOf(a crm.Actor, inAccount bool, fn func(ctx context.Context)) int64 {
	f.t.Helper()
	before := f.d.Statements()
	ctx, end := f.d.BeginOperation(f.ctx, a, inAccount)
	fn(ctx)
	end()
	return f.d.Statements() - before
}

// TestAnOperationVerifiesTheSessionOnce: an operation's reads share one
// transaction, and the session and the account asked for are verified once
// in it, by the statement that authenticates: each further read is one
// statement, whoever asks for it.
func TestAnOperationVerifiesTheSessionOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	other, err := f.Accounts.CreateAccount(f.ctx, owner.Actor, "Other")
	noErr(t, err)
	me := func(ctx context.Context, m member) {
		_, err := f.ident.Authenticate(ctx, m.Token)
		noErr(t, err)
		_, _, err = f.Accounts.Enter(ctx, m.Actor)
		noErr(t, err)
		_, err = f.Members.Members(ctx, m.Actor, crm.MemberFilter{}, crm.PageArgs{})
		noErr(t, err)
	}
	for _, c := range []struct {
		name     string
		who      member
		usersOwn bool // the operation reads only the user's own
		want     int64
		fn       func(ctx context.Context)
	}{
		{"nothing read, nothing sent", owner, false, 0, func(context.Context) {}},
		// BEGIN, app_enter, the list, COMMIT.
		{"me: Authenticate, Enter, Members", owner, false, 4, func(ctx context.Context) { me(ctx, owner) }},
		{"every read of the account, one statement each", owner, false, 4 + 5, func(ctx context.Context) {
			me(ctx, owner)
			_, err := f.Members.Member(ctx, owner.Actor, rep.ID)
			noErr(t, err)
			_, err = f.Roles.Roles(ctx, owner.Actor)
			noErr(t, err)
			_, err = f.Invitations.Invitations(ctx, owner.Actor)
			noErr(t, err)
			_, err = f.Protections.ActivityLimits(ctx, owner.Actor)
			noErr(t, err)
			_, err = f.Audit.Notifications(ctx, owner.Actor, crm.PageArgs{})
			noErr(t, err)
		}},
		{"the switcher", owner, false, 4, func(ctx context.Context) {
			_, err := f.ident.Authenticate(ctx, owner.Token)
			noErr(t, err)
			_, err = f.Accounts.Accounts(ctx, owner.Actor)
			noErr(t, err)
		}},
		// An operation of the user's own verifies the session alone...
		{"the switcher, as the user's own", owner, true, 4, func(ctx context.Context) {
			_, err := f.ident.Authenticate(ctx, owner.Token)
			noErr(t, err)
			_, err = f.Accounts.Accounts(ctx, owner.Actor)
			noErr(t, err)
		}},
		// ... and enters an account it reads after all with one more
		// app_enter.
		{"the user's own, then an account", owner, true, 5, func(ctx context.Context) { me(ctx, owner) }},
		// A refusal is the answer, not a failure: the transaction goes on.
		{"a refused read", rep, false, 4, func(ctx context.Context) {
			_, err := f.ident.Authenticate(ctx, rep.Token)
			noErr(t, err)
			_, err = f.Roles.Roles(ctx, rep.Actor)
			wantCode(t, err, crm.CodeForbidden)
			_, err = f.Members.Members(ctx, rep.Actor, crm.MemberFilter{}, crm.PageArgs{})
			noErr(t, err)
		}},
		// Another account is verified once too: one more app_enter.
		{"a second account", owner, false, 6, func(ctx context.Context) {
			_, err := f.ident.Authenticate(ctx, owner.Token)
			noErr(t, err)
			for range 2 {
				_, err = f.Members.Members(ctx, owner.in(other.ID).Actor, crm.MemberFilter{}, crm.PageArgs{})
				noErr(t, err)
			}
		}},
	} {
		if got := f.statementsOf(c.who.Actor, !c.usersOwn, c.fn); got != c.want {
			t.Errorf("%s: %d statements, want %d", c.name, got, c.want)
		}
	}
}

// TestAnOperationRemembersItsWrites: a write verifies the actor under
// locks in its own transaction, and the operation's later reads use that
// verification rather than make their own. So the payload of a write that
// paused its author (the action reaching an activity limit succeeds) still
// reads; the next operation is refused.
func TestAnOperationRemembersItsWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	admin := f.join(owner, roleID(crm.RoleAdmin))
	rep := f.join(owner, roleID(crm.RoleSalesRep))

	var afterWrite, auth, reads int64
	f.statements(owner.Actor, func(ctx context.Context) {
		_, err := f.Accounts.RenameAccount(ctx, owner.Actor, "Renamed")
		noErr(t, err)
		afterWrite = f.d.Statements()
		_, err = f.ident.Authenticate(ctx, owner.Token)
		noErr(t, err)
		_, _, err = f.Accounts.Enter(ctx, owner.Actor)
		noErr(t, err)
		auth = f.d.Statements() - afterWrite
		_, err = f.Members.Members(ctx, owner.Actor, crm.MemberFilter{}, crm.PageArgs{})
		noErr(t, err)
		reads = f.d.Statements() - afterWrite - auth
	})
	// Authenticate and Enter send nothing; the list is BEGIN, the scope's
	// set_config, the list.
	if auth != 0 || reads != 3 {
		t.Fatalf("after a write: authenticating and entering sent %d statements, the list %d; want 0 and 3", auth, reads)
	}

	f.limit(owner, crm.Members, crm.Edit, 1)
	f.statements(admin.Actor, func(ctx context.Context) {
		m, err := f.Members.UpdateMember(ctx, admin.Actor, rep.ID, crm.MemberUpdate{Name: ptr("Last edit")})
		noErr(t, err)
		if m.Name != "Last edit" {
			t.Fatalf("returned %+v", m)
		}
		page, err := f.Members.Members(ctx, admin.Actor, crm.MemberFilter{Search: "Last edit"}, crm.PageArgs{})
		noErr(t, err)
		if len(page.Nodes) != 1 || page.Nodes[0].UserID != rep.ID {
			t.Fatalf("the operation's read after its write found %+v", page.Nodes)
		}
	})
	f.statements(admin.Actor, func(ctx context.Context) {
		_, err := f.Members.Members(ctx, admin.Actor, crm.MemberFilter{}, crm.PageArgs{})
		wantCode(t, err, crm.CodeAccountDeactivated)
	})
}

func ptr[T any](v T) *T { return &v }

// TestARefusedAccountLeavesNoScope: app_enter names the account in the
// transaction's settings before it reads the membership, so a refused
// account (one the user is not a member of) is in them after the refusal.
// No later read of the operation runs with it: not a read of another
// account, nor one of the user's own, nor the user's own in an operation
// that never reads in an account.
func TestARefusedAccountLeavesNoScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	stranger := f.signUp() // another account, of someone else
	intruding := owner.in(stranger.AccountID)
	for _, inAccount := range []bool{true, false} {
		ctx, end := f.d.BeginOperation(f.ctx, intruding.Actor, inAccount)
		_, err := f.Members.Members(ctx, intruding.Actor, crm.MemberFilter{}, crm.PageArgs{})
		wantCode(t, err, crm.CodeNotFound)
		own, err := db.AccountSettingForTest(ctx, f.d, intruding.Actor, true)
		noErr(t, err)
		if own != "" {
			t.Errorf("inAccount %t: the user's own read ran in the refused account %s", inAccount, own)
		}
		_, err = f.Members.Members(ctx, intruding.Actor, crm.MemberFilter{}, crm.PageArgs{})
		wantCode(t, err, crm.CodeNotFound)
		mine, err := db.AccountSettingForTest(ctx, f.d, owner.Actor, false)
		noErr(t, err)
		if mine != owner.AccountID.String() {
			t.Errorf("inAccount %t: a read of the owner's account ran in %q, want %s", inAccount, mine, owner.AccountID)
		}
		end()
	}
	// And an operation of the user's own that names an account it never
	// verifies has no account in its settings.
	ctx, end := f.d.BeginOperation(f.ctx, intruding.Actor, false)
	defer end()
	_, err := f.ident.Authenticate(ctx, intruding.Token)
	noErr(t, err)
	own, err := db.AccountSettingForTest(ctx, f.d, intruding.Actor, true)
	noErr(t, err)
	if own != "" {
		t.Errorf("the user's own operation ran in %s", own)
	}
}

// TestAWriteInAnotherAccountLeavesTheOperationsScope: an operation reading
// account A writes in account B; its next read of A still sees A.
func TestAWriteInAnotherAccountLeavesTheOperationsScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	f.join(owner, roleID(crm.RoleSalesRep))
	other, err := f.Accounts.CreateAccount(f.ctx, owner.Actor, "Other")
	noErr(t, err)
	inOther := owner.Actor
	inOther.AccountID = other.ID
	ctx, end := f.d.BeginOperation(f.ctx, owner.Actor, true)
	defer end()
	page, err := f.Members.Members(ctx, owner.Actor, crm.MemberFilter{}, crm.PageArgs{})
	noErr(t, err)
	before := len(page.Nodes)
	_, err = f.Accounts.RenameAccount(ctx, inOther, "Other, renamed")
	noErr(t, err)
	page, err = f.Members.Members(ctx, owner.Actor, crm.MemberFilter{}, crm.PageArgs{})
	noErr(t, err)
	if len(page.Nodes) != before || before != 2 {
		t.Fatalf("the account's members: %d, then %d after a write elsewhere; want 2 both times", before, len(page.Nodes))
	}
}
