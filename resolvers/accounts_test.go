package resolvers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/crm"
	"switchboard/gateway/gatewaytest"
	"switchboard/graph"
)

func TestSwitcherAndScope(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	// The admin of A creates a second account; the switcher shows both.
	var created struct{ CreateAccount struct{ ID, Name string } }
	w.as(t, w.adminA, "", `mutation { createAccount(name: "Side Project") { id name } }`, nil).Decode(t, &created)
	side := created.CreateAccount.ID
	var me struct {
		Me struct {
			Accounts []struct {
				Account struct{ ID, Name string }
				Role    struct{ Name string }
				Kind    string
				Status  string
				Current bool
			}
		}
	}
	w.as(t, w.adminA, "", `{ me { accounts { account { id name } role { name } kind status current } } }`, nil).Decode(t, &me)
	got := map[string]string{}
	for _, a := range me.Me.Accounts {
		got[a.Account.ID] = a.Role.Name
		if a.Kind != "MEMBERSHIP" || a.Status != "ACTIVE" {
			t.Fatalf("access %+v", a)
		}
		if a.Current != (a.Account.ID == w.A) {
			t.Fatalf("current account: %+v", a)
		}
	}
	if len(got) != 2 || got[w.A] != "Admin" || got[side] != "Owner" {
		t.Fatalf("switcher %v", got)
	}

	account := func(scope string) string {
		var out struct{ Account struct{ ID string } }
		w.as(t, w.adminA, scope, `{ account { id } }`, nil).Decode(t, &out)
		return out.Account.ID
	}
	if account("") != w.A || account(side) != side {
		t.Fatal("X-Account-ID does not pick the scope")
	}
	var sw struct {
		SwitchAccount struct{ ID, AccountID string }
	}
	w.as(t, w.adminA, "", `mutation($a: ID!) { switchAccount(accountId: $a) { id accountId } }`, map[string]any{"a": side}).Decode(t, &sw)
	if sw.SwitchAccount.AccountID != side || account("") != side {
		t.Fatal("switchAccount did not change the session's current account")
	}
	// An account one is not in answers exactly like one that does not
	// exist.
	for _, id := range []string{w.B, "01900000-0000-7000-8000-000000000000"} {
		e := onlyCode(t, w.as(t, w.adminA, id, `{ account { id name } }`, nil), "NOT_FOUND")
		e2 := onlyCode(t, w.as(t, w.adminA, "", `mutation($a: ID!) { switchAccount(accountId: $a) { id } }`, map[string]any{"a": id}), "NOT_FOUND")
		if e.Message != "account not found" || e2.Message != "account not found" {
			t.Fatalf("messages %q %q", e.Message, e2.Message)
		}
	}
	onlyCode(t, w.as(t, w.adminA, "not-a-uuid", `{ account { id } }`, nil), "BAD_USER_INPUT")
}

func TestPermissionsAreEnforcedPerRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	cases := []struct {
		who   person
		query string
		ok    bool
	}{
		{w.readerA, `{ account { members { nodes { name } } } }`, true},
		{w.readerA, `{ account { roles { name } } }`, false},
		{w.readerA, `mutation { renameAccount(name: "Nope") { name } }`, false},
		{w.repA, `{ account { invitations { email } } }`, true},
		{w.repA, `mutation { inviteMember(email: "x@example.com", roleId: "` + roleID(crm.RoleReadOnly) + `") { id } }`, false},
		// The activity log shows each role what it may view (the
		// settings entries below only to roles that view settings).
		{w.managerA, `{ account { activity { nodes { action } } } }`, true},
		{w.managerA, `mutation { setActivityLimit(entity: DEALS, action: CREATE, limit: 5, period: DAY) { limit } }`, false},
		{w.adminA, `{ account { activity { nodes { action } } loginEvents { nodes { outcome } } roles { name } } }`, true},
		{w.adminA, `mutation { renameAccount(name: "Renamed by admin") { name } }`, true},
	}
	for _, tc := range cases {
		r := w.as(t, tc.who, w.A, tc.query, nil)
		if tc.ok && len(r.Errors) > 0 {
			t.Errorf("%.60s: %+v", tc.query, r.Errors)
		}
		if !tc.ok {
			onlyCode(t, r, "FORBIDDEN")
		}
	}
	renamed := func(who person) int {
		var out struct {
			Account struct {
				Activity struct{ Nodes []struct{ Action string } }
			}
		}
		w.as(t, who, w.A, `{ account { activity(first: 100) { nodes { action } } } }`, nil).Decode(t, &out)
		n := 0
		for _, e := range out.Account.Activity.Nodes {
			if e.Action == "account.renamed" {
				n++
			}
		}
		return n
	}
	if renamed(w.managerA) != 0 || renamed(w.adminA) != 1 {
		t.Errorf("the rename shows to the manager %d times and to the admin %d, want 0 and 1", renamed(w.managerA), renamed(w.adminA))
	}
	// What a role may do is readable by its holder.
	var mine struct {
		Account struct {
			MyRole        struct{ Name string }
			MyPermissions []struct{ Entity, Action, Scope string }
		}
	}
	w.as(t, w.repA, w.A, `{ account { myRole { name } myPermissions { entity action scope } } }`, nil).Decode(t, &mine)
	if mine.Account.MyRole.Name != "Sales Rep" || len(mine.Account.MyPermissions) != 48 {
		t.Fatalf("%+v", mine.Account)
	}
}

func TestCustomRolesHiddenFieldsAndLiveRoleChanges(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	var role struct{ CreateRole struct{ ID string } }
	w.as(t, w.adminA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"name":         "Auditor",
		"permissions":  []map[string]any{{"entity": "MEMBERS", "action": "VIEW", "scope": "ALL"}},
		"hiddenFields": []string{"members.email", "deals.amount"},
	}}).Decode(t, &role)
	auditor := role.CreateRole.ID

	// The reader's live subscription hears of the new role, and their
	// next request uses it.
	ws := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + w.readerA.token, "accountId": w.A})
	ws.Ack()
	live := liveSubscriptions(t, w.srv)
	ws.Subscribe("acct", gatewaytest.Request{Query: `subscription { accountEvents { __typename ... on RoleChanged { role { name hiddenFields } } } }`})
	awaitSubscriptions(t, w.srv, live+1)

	var updated struct {
		UpdateMember struct{ Role struct{ Name string } }
	}
	w.as(t, w.adminA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { role { name } } }`,
		map[string]any{"u": w.readerA.id, "r": auditor}).Decode(t, &updated)
	var event struct {
		AccountEvents struct {
			Typename string `json:"__typename"`
			Role     struct {
				Name         string
				HiddenFields []string
			}
		}
	}
	r := ws.NextData("acct")
	if err := json.Unmarshal(r.Data, &event); err != nil || event.AccountEvents.Role.Name != "Auditor" {
		t.Fatalf("live role change: %s %v", r.Data, err)
	}

	// Hidden fields resolve to null, are listed, and are not searched.
	var members struct {
		Account struct {
			Members struct {
				Nodes []struct {
					UserID       string
					Email        *string
					HiddenFields []string
				}
			}
		}
	}
	w.as(t, w.readerA, w.A, `{ account { members { nodes { userId email hiddenFields } } } }`, nil).Decode(t, &members)
	if len(members.Account.Members.Nodes) != 5 {
		t.Fatalf("%d members", len(members.Account.Members.Nodes))
	}
	for _, m := range members.Account.Members.Nodes {
		if m.Email != nil || len(m.HiddenFields) != 1 || m.HiddenFields[0] != "email" {
			t.Fatalf("hidden email leaked or not flagged: %+v", m)
		}
	}
	search := func(who person, q string) int {
		var out struct {
			Account struct {
				Members struct{ Nodes []struct{ UserID string } }
			}
		}
		w.as(t, who, w.A, `query($q: String) { account { members(search: $q) { nodes { userId } } } }`, map[string]any{"q": q}).Decode(t, &out)
		return len(out.Account.Members.Nodes)
	}
	domainPart := w.repA.email[strings.Index(w.repA.email, "@"):]
	if n := search(w.adminA, w.repA.email); n != 1 {
		t.Fatalf("admin searching by email found %d", n)
	}
	if n := search(w.readerA, w.repA.email); n != 0 {
		t.Fatalf("searching a hidden field matched %d members", n)
	}
	if n := search(w.readerA, "Member SALES_REP"); n != 1 {
		t.Fatalf("searching by name found %d", n)
	}
	_ = domainPart

	// Escalation guards.
	onlyCode(t, w.as(t, w.adminA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.repA.id, "r": roleID(crm.RoleOwner)}), "FORBIDDEN")
	onlyCode(t, w.as(t, w.adminA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.adminA.id, "r": roleID(crm.RoleManager)}), "FORBIDDEN")
	onlyCode(t, w.as(t, w.adminA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"name": "Billing boss", "permissions": []map[string]any{{"entity": "BILLING", "action": "EDIT", "scope": "ALL"}}}}), "FORBIDDEN")
	onlyCode(t, w.as(t, w.adminA, w.A, `mutation($id: ID!, $in: RoleInput!) { updateRole(id: $id, input: $in) { id } }`,
		map[string]any{"id": roleID(crm.RoleManager), "in": map[string]any{"name": "X", "permissions": []any{}}}), "FORBIDDEN")
	// Bad role input names the field.
	for field, in := range map[string]map[string]any{
		"name":         {"name": "", "permissions": []any{}},
		"permissions":  {"name": "Odd", "permissions": []map[string]any{{"entity": "SETTINGS", "action": "VIEW", "scope": "OWN"}}},
		"hiddenFields": {"name": "Odd", "permissions": []any{}, "hiddenFields": []string{"deals.secretSauce"}},
	} {
		e := onlyCode(t, w.as(t, w.adminA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": in}), "BAD_USER_INPUT")
		if e.Extensions["field"] != field {
			t.Errorf("field %v, want %s", e.Extensions["field"], field)
		}
	}
	onlyCode(t, w.as(t, w.adminA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"name": "auditor", "permissions": []any{}}}), "CONFLICT")
	// A role in use cannot be deleted; an unused one can.
	onlyCode(t, w.as(t, w.adminA, w.A, `mutation($id: ID!) { deleteRole(id: $id) }`, map[string]any{"id": auditor}), "CONFLICT")
	if w.activityCount(t, w.A, "role.created") != 1 || w.activityCount(t, w.A, "member.updated") != 1 {
		t.Fatal("role mutations not in the activity log")
	}
}

func TestOwnersAreProtected(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	mutate := func(who person, q string, vars map[string]any) gatewaytest.Response {
		return w.as(t, who, w.A, q, vars)
	}
	owner := map[string]any{"u": w.ownerA.id, "t": w.adminA.id, "r": roleID(crm.RoleManager)}
	// An admin cannot act on an owner.
	onlyCode(t, mutate(w.adminA, `mutation($u: ID!) { deactivateMember(userId: $u) { status } }`, owner), "FORBIDDEN")
	onlyCode(t, mutate(w.adminA, `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`, owner), "FORBIDDEN")
	onlyCode(t, mutate(w.adminA, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`, owner), "FORBIDDEN")
	// The last owner can be neither demoted, deactivated nor removed...
	onlyCode(t, mutate(w.ownerA, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`, owner), "FORBIDDEN")
	// ...by themselves either.
	onlyCode(t, mutate(w.ownerA, `mutation($u: ID!) { deactivateMember(userId: $u) { status } }`, owner), "FORBIDDEN")
	// With a second owner, the first may step down.
	mutate(w.ownerA, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.adminA.id, "r": roleID(crm.RoleOwner)}).Decode(t, &struct{}{})
	mutate(w.adminA, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.ownerA.id, "r": roleID(crm.RoleAdmin)}).Decode(t, &struct{}{})
	// Now adminA is the only owner.
	onlyCode(t, mutate(w.ownerA, `mutation($u: ID!) { deactivateMember(userId: $u) { status } }`, map[string]any{"u": w.adminA.id}), "FORBIDDEN")
	var conn = superuser(t, w.srv)
	var owners int
	if err := conn.Get(&owners, `SELECT count(*) FROM memberships WHERE account_id = $1 AND role = 'OWNER' AND status = 'ACTIVE'`, w.A); err != nil || owners != 1 {
		t.Fatalf("%d active owners (%v)", owners, err)
	}
}

func TestDeactivationEndsAccessInOneAccountOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	// The rep of A is also a member of B.
	rep := w.repA
	token := w.invite(t, w.ownerB, w.B, rep.email, roleID(crm.RoleSalesRep))
	w.accept(t, token, bearer(rep.token), nil).Decode(t, &struct{}{})

	inA := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + rep.token, "accountId": w.A})
	inA.Ack()
	live := liveSubscriptions(t, w.srv)
	inA.Subscribe("acct", gatewaytest.Request{Query: `subscription { accountEvents { __typename ... on AccessEnded { status } } }`})
	awaitSubscriptions(t, w.srv, live+1)
	inB := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + rep.token, "accountId": w.B})
	inB.Ack()
	inB.Subscribe("beat", gatewaytest.Request{Query: `subscription { heartbeat(seconds: 1) { time } }`})
	inB.NextData("beat")

	var m struct{ DeactivateMember struct{ Status string } }
	w.as(t, w.adminA, w.A, `mutation($u: ID!) { deactivateMember(userId: $u) { status } }`, map[string]any{"u": rep.id}).Decode(t, &m)
	if m.DeactivateMember.Status != "DEACTIVATED" {
		t.Fatalf("status %q", m.DeactivateMember.Status)
	}
	r := inA.NextData("acct")
	if !strings.Contains(string(r.Data), `"AccessEnded"`) || !strings.Contains(string(r.Data), "DEACTIVATED") {
		t.Fatalf("event %s (errors %+v)", r.Data, r.Errors)
	}
	if code, why, err := inA.CloseStatus(10 * time.Second); err != nil || code != 4403 || why != "ACCOUNT_DEACTIVATED" {
		t.Fatalf("close %d %q %v", code, why, err)
	}
	onlyCode(t, w.as(t, rep, w.A, `{ account { id } }`, nil), "ACCOUNT_DEACTIVATED")
	// Work in B goes on: the socket stays open and requests answer.
	inB.NextData("beat")
	var ok struct{ Account struct{ ID string } }
	w.as(t, rep, w.B, `{ account { id } }`, nil).Decode(t, &ok)

	w.as(t, w.adminA, w.A, `mutation($u: ID!) { reactivateMember(userId: $u) { status } }`, map[string]any{"u": rep.id}).Decode(t, &struct{}{})
	w.as(t, rep, w.A, `{ account { id } }`, nil).Decode(t, &ok)
	if w.activityCount(t, w.A, "member.deactivated") != 1 || w.activityCount(t, w.A, "member.reactivated") != 1 {
		t.Fatal("deactivation not in the activity log")
	}
}

func TestInvitations(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	w := newWorld(t, gatewaytest.Options{Clock: clock.Now})
	invite := func(email string) string { return w.invite(t, w.adminA, w.A, email, roleID(crm.RoleSalesRep)) }

	t.Run("accepted twice", func(t *testing.T) {
		email := newEmail(t)
		token := invite(email)
		w.accept(t, token, nil, map[string]any{"name": "Twice", "password": password}).Decode(t, &struct{}{})
		e := onlyCode(t, w.accept(t, token, nil, map[string]any{"name": "Twice", "password": password}), "BAD_USER_INPUT")
		if e.Extensions["field"] != "token" {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("for another email", func(t *testing.T) {
		token := invite(newEmail(t))
		onlyCode(t, w.accept(t, token, bearer(w.memberB.token), nil), "FORBIDDEN")
		// Still usable by the right person.
		w.accept(t, token, nil, map[string]any{"name": "Right person", "password": password}).Decode(t, &struct{}{})
	})
	t.Run("an existing login joins, signed in", func(t *testing.T) {
		token := invite(w.memberB.email)
		onlyCode(t, w.accept(t, token, nil, map[string]any{"name": "Impostor", "password": password}), "UNAUTHENTICATED")
		var out struct {
			AcceptInvitation struct {
				Account struct{ ID string }
				Auth    *authPayload
			}
		}
		w.accept(t, token, bearer(w.memberB.token), nil).Decode(t, &out)
		if out.AcceptInvitation.Account.ID != w.A || out.AcceptInvitation.Auth != nil {
			t.Fatalf("%+v", out.AcceptInvitation)
		}
		var acct struct {
			Account struct{ MyRole struct{ Name string } }
		}
		w.as(t, w.memberB, w.A, `{ account { myRole { name } } }`, nil).Decode(t, &acct)
		if acct.Account.MyRole.Name != "Sales Rep" {
			t.Fatal("did not join with the invited role")
		}
	})
	t.Run("resend retires the old link, revoke kills it", func(t *testing.T) {
		email := newEmail(t)
		first := invite(email)
		var list struct {
			Account struct {
				Invitations []struct{ ID, Email, Status string }
			}
		}
		w.as(t, w.adminA, w.A, `{ account { invitations { id email status } } }`, nil).Decode(t, &list)
		id := ""
		for _, inv := range list.Account.Invitations {
			if inv.Email == email && inv.Status == "PENDING" {
				id = inv.ID
			}
		}
		if id == "" {
			t.Fatalf("pending list %+v", list)
		}
		before := len(w.smtp.Messages())
		w.as(t, w.adminA, w.A, `mutation($id: ID!) { resendInvitation(id: $id) { id } }`, map[string]any{"id": id}).Decode(t, &struct{}{})
		second := w.tokenFor(t, email, before)
		onlyCode(t, w.accept(t, first, nil, map[string]any{"name": "Old link", "password": password}), "BAD_USER_INPUT")
		w.as(t, w.adminA, w.A, `mutation($id: ID!) { revokeInvitation(id: $id) }`, map[string]any{"id": id}).Decode(t, &struct{}{})
		onlyCode(t, w.accept(t, second, nil, map[string]any{"name": "Revoked", "password": password}), "BAD_USER_INPUT")
		onlyCode(t, w.as(t, w.adminA, w.A, `mutation($id: ID!) { revokeInvitation(id: $id) }`, map[string]any{"id": id}), "CONFLICT")
	})
	t.Run("a member is not invited twice", func(t *testing.T) {
		onlyCode(t, w.as(t, w.adminA, w.A, `mutation($e: String!, $r: ID!) { inviteMember(email: $e, roleId: $r) { id } }`,
			map[string]any{"e": w.repA.email, "r": roleID(crm.RoleReadOnly)}), "CONFLICT")
	})
	t.Run("expired", func(t *testing.T) {
		token := invite(newEmail(t))
		clock.Advance(7*24*time.Hour - time.Minute)
		fresh := login(t, w.srv, w.adminA.email, nil) // sessions end after 12 hours
		w.adminA.token = *fresh.Token
		still := invite(newEmail(t))
		clock.Advance(2 * time.Minute)
		onlyCode(t, w.accept(t, token, nil, map[string]any{"name": "Late", "password": password}), "BAD_USER_INPUT")
		w.accept(t, still, nil, map[string]any{"name": "In time", "password": password}).Decode(t, &struct{}{})
	})
	t.Run("editing a member sends no mail", func(t *testing.T) {
		// Mail is a job queued in the transaction of the change, so once
		// the change has answered, the jobs to the member's address are
		// all it will ever send them: counting them needs no waiting.
		conn := superuser(t, w.srv)
		toRep, toAnyone := mailJobs(t, conn, w.repA.email), mailJobs(t, conn, "")
		if toRep != 1 {
			t.Fatalf("%d mail jobs to the rep before the edit, want 1 (their invitation): the count would prove nothing", toRep)
		}
		w.as(t, w.adminA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r, name: "Renamed Rep"}) { name } }`,
			map[string]any{"u": w.repA.id, "r": roleID(crm.RoleManager)}).Decode(t, &struct{}{})
		if w.activityCount(t, w.A, "member.updated") != 1 {
			t.Fatal("the edit is not in the activity log: it did not commit")
		}
		if n := mailJobs(t, conn, w.repA.email); n != toRep {
			t.Fatalf("editing a member queued %d mails to them", n-toRep)
		}
		if n := mailJobs(t, conn, ""); n != toAnyone {
			t.Fatalf("editing a member queued %d mails", n-toAnyone)
		}
	})
}

func TestRemoveMemberTransfersRecordsOrNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	conn := superuser(t, w.srv)
	// The rep owns three contacts and a deal in A; B has a contact of its
	// own. A trigger on deals fails the removal after the contacts moved.
	for i := range 3 {
		w.as(t, w.repA, w.A, `mutation($n: String!) { createContact(input: {lastName: $n}) { id } }`, map[string]any{"n": fmt.Sprint("Rep's ", i)}).Decode(t, &struct{}{})
	}
	w.as(t, w.repA, w.A, `mutation { createDeal(input: {title: "Rep's deal"}) { id } }`, nil).Decode(t, &struct{}{})
	w.as(t, w.ownerB, w.B, `mutation { createContact(input: {lastName: "B's own"}) { id } }`, nil).Decode(t, &struct{}{})
	for _, stmt := range []string{
		`CREATE FUNCTION probe_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
		`CREATE TRIGGER probe_fail BEFORE UPDATE ON deals FOR EACH ROW EXECUTE FUNCTION probe_fail()`,
	} {
		if _, err := conn.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	remove := func(transferTo string) gatewaytest.Response {
		return w.as(t, w.adminA, w.A, `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`,
			map[string]any{"u": w.repA.id, "t": transferTo})
	}
	owned := func(owner string) int {
		var n int
		if err := conn.Get(&n, `SELECT count(*) FROM contacts WHERE account_id = $1 AND owner_id = $2`, w.A, owner); err != nil {
			t.Fatal(err)
		}
		return n
	}
	onlyCode(t, remove(w.repA.id), "BAD_USER_INPUT")
	onlyCode(t, remove(w.memberB.id), "NOT_FOUND") // not a member of A
	// An injected failure in the middle rolls everything back.
	r := remove(w.managerA.id)
	onlyCode(t, r, "INTERNAL")
	if owned(w.repA.id) != 3 || w.activityCount(t, w.A, "member.removed") != 0 {
		t.Fatal("a failed removal changed something")
	}
	var stillThere struct{ Account struct{ ID string } }
	w.as(t, w.repA, w.A, `{ account { id } }`, nil).Decode(t, &stillThere)

	if _, err := conn.Exec(`DROP TRIGGER probe_fail ON deals`); err != nil {
		t.Fatal(err)
	}
	var ok struct{ RemoveMember bool }
	remove(w.managerA.id).Decode(t, &ok)
	if owned(w.repA.id) != 0 || owned(w.managerA.id) != 3 {
		t.Fatalf("records not transferred: rep %d, manager %d", owned(w.repA.id), owned(w.managerA.id))
	}
	var bRows int
	if err := conn.Get(&bRows, `SELECT count(*) FROM contacts WHERE account_id = $1 AND owner_id = $2`, w.B, w.ownerB.id); err != nil || bRows != 1 {
		t.Fatal("another account's records were touched")
	}
	onlyCode(t, w.as(t, w.repA, w.A, `{ account { id } }`, nil), "NOT_FOUND")
	// History keeps the person; the login lives on.
	var log struct {
		Account struct {
			Activity struct {
				Nodes []struct{ ActorID, ActorName, Action string }
			}
		}
	}
	w.as(t, w.adminA, w.A, `query($a: ID) { account { activity(first: 100, filter: {actorId: $a}) { nodes { actorId actorName action } } } }`,
		map[string]any{"a": w.repA.id}).Decode(t, &log)
	if len(log.Account.Activity.Nodes) == 0 || log.Account.Activity.Nodes[0].ActorName == "" {
		t.Fatalf("the removed member's history: %+v", log)
	}
	var logins int
	if err := conn.Get(&logins, `SELECT count(*) FROM users WHERE id = $1`, w.repA.id); err != nil || logins != 1 {
		t.Fatal("the login was deleted")
	}
	var entry struct {
		Account struct {
			Activity struct{ Nodes []struct{ Changes string } }
		}
	}
	w.as(t, w.adminA, w.A, `{ account { activity(first: 1, filter: {action: "member.removed"}) { nodes { changes } } } }`, nil).Decode(t, &entry)
	if len(entry.Account.Activity.Nodes) != 1 || !strings.Contains(entry.Account.Activity.Nodes[0].Changes, `"transferred.contacts":{"to":3}`) {
		t.Fatalf("removal entry %+v", entry)
	}
}

func TestIPAllowlist(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	w := newWorld(t, gatewaytest.Options{Clock: clock.Now, Env: proxied})
	set := func(who person, from string, cidrs ...string) gatewaytest.Response {
		if cidrs == nil {
			cidrs = []string{}
		}
		h := bearer(who.token)
		h.Set("X-Account-ID", w.A)
		h.Set("X-Forwarded-For", from)
		return w.srv.Post(t, gatewaytest.Request{Query: `mutation($c: [String!]!) { setIpAllowlist(cidrs: $c) { ipAllowlist } }`,
			Variables: map[string]any{"c": cidrs}, Header: h})
	}
	query := func(who person, from string) gatewaytest.Response {
		h := bearer(who.token)
		h.Set("X-Account-ID", w.A)
		h.Set("X-Forwarded-For", from)
		return w.srv.Post(t, gatewaytest.Request{Query: `{ account { id } }`, Header: h})
	}
	for _, bad := range [][]string{{"10.0.0.0/33"}, {"10.1.2.3/8"}, {"not an address"}, {"2001:db8::/129"}} {
		onlyCode(t, set(w.adminA, "198.51.100.10", bad...), "BAD_USER_INPUT")
	}
	// A list without the caller's own address is refused.
	e := onlyCode(t, set(w.adminA, "198.51.100.10", "203.0.113.0/24"), "BAD_USER_INPUT")
	if !strings.Contains(e.Message, "198.51.100.10") {
		t.Fatalf("message %q", e.Message)
	}
	var out struct {
		SetIpAllowlist struct{ IpAllowlist []string }
	}
	set(w.adminA, "198.51.100.10", "198.51.100.0/24", "2001:db8::/32", "192.0.2.7").Decode(t, &out)
	if strings.Join(out.SetIpAllowlist.IpAllowlist, ",") != "198.51.100.0/24,2001:db8::/32,192.0.2.7/32" {
		t.Fatalf("stored %v", out.SetIpAllowlist.IpAllowlist)
	}
	// Members elsewhere are refused, and the refusal is logged; inside the
	// list they work.
	onlyCode(t, query(w.repA, "203.0.113.5"), "IP_NOT_ALLOWED")
	onlyCode(t, query(w.repA, "203.0.113.5"), "IP_NOT_ALLOWED")
	query(w.repA, "2001:db8::1").Decode(t, &struct{}{})
	var logins struct {
		Account struct {
			LoginEvents struct {
				Nodes []struct {
					Outcome, Email string
					IP             string
				}
			}
		}
	}
	h := bearer(w.adminA.token)
	h.Set("X-Account-ID", w.A)
	h.Set("X-Forwarded-For", "198.51.100.10")
	w.srv.Post(t, gatewaytest.Request{Query: `{ account { loginEvents(first: 100) { nodes { outcome email ip } } } }`, Header: h}).Decode(t, &logins)
	refusals := 0
	for _, ev := range logins.Account.LoginEvents.Nodes {
		if ev.Outcome == "IP_NOT_ALLOWED" {
			refusals++
			if ev.Email != w.repA.email || ev.IP != "203.0.113.5" {
				t.Fatalf("refusal %+v", ev)
			}
		}
	}
	if refusals != 1 {
		t.Fatalf("%d refusals logged for two refused requests in a row, want 1 (deduplicated)", refusals)
	}
	// Other accounts of the refused member are not restricted.
	var other struct{ Account struct{ ID string } }
	w.as(t, w.ownerB, w.B, `{ account { id } }`, nil).Decode(t, &other)
	// Changing the list needs a recent sign-in.
	clock.Advance(16 * time.Minute)
	onlyCode(t, set(w.adminA, "198.51.100.10"), "FORBIDDEN")
	// An empty list lifts the restriction.
	fresh := login(t, w.srv, w.adminA.email, http.Header{"X-Forwarded-For": {"198.51.100.10"}})
	w.adminA.token = *fresh.Token
	set(w.adminA, "198.51.100.10").Decode(t, &struct{}{})
	query(w.repA, "203.0.113.5").Decode(t, &struct{}{})
	if w.activityCount(t, w.A, "account.ip_allowlist_changed") != 2 {
		t.Fatal("allowlist changes not in the activity log")
	}
}

func TestActivityLimitUnderConcurrency(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	w.as(t, w.ownerA, w.A, `mutation { setActivityLimit(entity: MEMBERS, action: CREATE, limit: 10, period: DAY) { limit } }`, nil).Decode(t, &struct{}{})
	before := len(w.smtp.Messages())
	const n = 20
	var wg sync.WaitGroup
	results := make([]gatewaytest.Response, n)
	for i := range n {
		wg.Go(func() {
			results[i] = w.as(t, w.adminA, w.A, `mutation($e: String!, $r: ID!) { inviteMember(email: $e, roleId: $r) { id } }`,
				map[string]any{"e": "burst" + string(rune('a'+i)) + "@example.com", "r": roleID(crm.RoleReadOnly)})
		})
	}
	wg.Wait()
	succeeded := 0
	for _, r := range results {
		switch {
		case len(r.Errors) == 0:
			succeeded++
		case r.Errors[0].Code() != "ACCOUNT_DEACTIVATED":
			t.Fatalf("unexpected %+v", r.Errors)
		}
	}
	if succeeded != 10 {
		t.Fatalf("%d of 20 concurrent invitations succeeded against a limit of 10", succeeded)
	}
	var invited int
	if err := superuser(t, w.srv).Get(&invited, `SELECT count(*) FROM invitations WHERE account_id = $1 AND email LIKE 'burst%'`, w.A); err != nil || invited != 10 {
		t.Fatalf("%d invitations stored", invited)
	}
	// The admin is paused until tomorrow; the owners were told.
	e := onlyCode(t, w.as(t, w.adminA, w.A, `{ account { id } }`, nil), "ACCOUNT_DEACTIVATED")
	if !strings.Contains(e.Message, "until") {
		t.Fatalf("message %q", e.Message)
	}
	var notes struct {
		Account struct {
			Notifications struct {
				Nodes []struct{ Kind, Message, SubjectID string }
			}
		}
	}
	w.as(t, w.ownerA, w.A, `{ account { notifications { nodes { kind message subjectId } } } }`, nil).Decode(t, &notes)
	if len(notes.Account.Notifications.Nodes) != 1 || notes.Account.Notifications.Nodes[0].SubjectID != w.adminA.id {
		t.Fatalf("owner notifications %+v", notes)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := false
		for _, m := range w.smtp.Messages()[before:] {
			if m.To[0] == w.ownerA.email && strings.Contains(m.Subject, "activity limit") {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner got no mail about the limit")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// An owner may restore access sooner, with a fresh allowance.
	w.as(t, w.ownerA, w.A, `mutation($u: ID!) { reactivateMember(userId: $u) { status } }`, map[string]any{"u": w.adminA.id}).Decode(t, &struct{}{})
	w.as(t, w.adminA, w.A, `mutation($e: String!, $r: ID!) { inviteMember(email: $e, roleId: $r) { id } }`,
		map[string]any{"e": "after-reactivation@example.com", "r": roleID(crm.RoleReadOnly)}).Decode(t, &struct{}{})
}

func TestActivityLimitEndsWithThePeriod(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	w := newWorld(t, gatewaytest.Options{Clock: clock.Now})
	w.as(t, w.ownerA, w.A, `mutation { setActivityLimit(entity: MEMBERS, action: EDIT, limit: 1, period: DAY) { limit } }`, nil).Decode(t, &struct{}{})
	w.as(t, w.adminA, w.A, `mutation($u: ID!) { updateMember(userId: $u, input: {name: "Once"}) { name } }`, map[string]any{"u": w.repA.id}).Decode(t, &struct{}{})
	onlyCode(t, w.as(t, w.adminA, w.A, `{ account { id } }`, nil), "ACCOUNT_DEACTIVATED")
	clock.Advance(24 * time.Hour)
	w.adminA.token = *login(t, w.srv, w.adminA.email, nil).Token // sessions end after 12 hours
	w.ownerA.token = *login(t, w.srv, w.ownerA.email, nil).Token
	w.as(t, w.adminA, w.A, `{ account { id } }`, nil).Decode(t, &struct{}{})
	var bad = w.as(t, w.ownerA, w.A, `mutation { setActivityLimit(entity: MEMBERS, action: VIEW, limit: 0, period: DAY) { limit } }`, nil)
	onlyCode(t, bad, "BAD_USER_INPUT")
}

// TestEveryAccountMutationIsLogged walks every field of the schema's
// Mutation type. Each is either an account mutation, in the table below
// with arguments that make it succeed and the activity-log action it must
// write, or a mutation on a login rather than in an account, in the list
// after it with the reason. A mutation in neither fails the test by name,
// so a new one cannot be added without deciding. Both are run: an account
// mutation must write exactly one entry, in the account it acted in,
// naming the actor, the role they acted as and what it acted on (invariant
// 6: every mutation records who did it, as whom, in which account, in the
// same transaction); a login mutation must write no entry in any account.
func TestEveryAccountMutationIsLogged(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	w := newWorld(t, gatewaytest.Options{Clock: clock.Now})
	conn := superuser(t, w.srv)

	// The log reads back through the API, newest first, a page at a time.
	var page struct {
		Account struct {
			Activity struct {
				Nodes    []struct{ Action, ActorRole, Changes string }
				PageInfo struct {
					EndCursor   *string
					HasNextPage bool
				}
			}
		}
	}
	w.as(t, w.adminA, w.A, `{ account { activity(first: 3) { nodes { action actorRole changes } pageInfo { endCursor hasNextPage } } } }`, nil).Decode(t, &page)
	if len(page.Account.Activity.Nodes) != 3 || !page.Account.Activity.PageInfo.HasNextPage {
		t.Fatalf("%+v", page)
	}
	if n := page.Account.Activity.Nodes[0]; n.Action != "member.joined" || n.ActorRole != "Read-only" || !strings.Contains(n.Changes, "Read-only") {
		t.Fatalf("newest entry %+v", n)
	}

	// entry is an activity-log row: where, what, who, as which role, on
	// what ("" when the action names no entity).
	type entry struct{ Account, Action, Actor, Role, Entity string }
	role := func(r crm.BuiltInRole) string { return r.Role().Name }
	do := func(t *testing.T, who person, account, query string, vars map[string]any, out any) {
		t.Helper()
		w.as(t, who, account, query, vars).Decode(t, out)
	}
	var customRole, invitation, inviteToken string

	// Account mutations, in an order where each finds what it needs. run
	// makes the call and returns the entry it must write (Action aside);
	// setup prepares it, before the log is read.
	type accountMutation struct {
		mutation, action string
		setup            func(t *testing.T)
		run              func(t *testing.T) entry
	}
	accountMutations := []accountMutation{
		// An identity mutation, but it creates the login's first account,
		// whose log starts with its creation.
		{"signUp", "account.created", nil, func(t *testing.T) entry {
			var out struct {
				SignUp struct {
					User    struct{ ID string }
					Session struct{ AccountID string }
				}
			}
			w.srv.Post(t, gatewaytest.Request{Query: `mutation($in: SignUpInput!) { signUp(input: $in) { user { id } session { accountId } } }`,
				Variables: map[string]any{"in": map[string]any{"email": newEmail(t), "password": password, "name": "New Login", "accountName": "Fresh Start"}}}).Decode(t, &out)
			a := out.SignUp.Session.AccountID
			return entry{Account: a, Actor: out.SignUp.User.ID, Role: role(crm.RoleOwner), Entity: a}
		}},
		{"createAccount", "account.created", nil, func(t *testing.T) entry {
			var out struct{ CreateAccount struct{ ID string } }
			do(t, w.adminA, "", `mutation { createAccount(name: "Side Line") { id } }`, nil, &out)
			a := out.CreateAccount.ID
			return entry{Account: a, Actor: w.adminA.id, Role: role(crm.RoleOwner), Entity: a}
		}},
		{"switchAccount", "account.switched_to", nil, func(t *testing.T) entry {
			do(t, w.repA, "", `mutation($a: ID!) { switchAccount(accountId: $a) { id } }`, map[string]any{"a": w.A}, &struct{}{})
			return entry{Account: w.A, Actor: w.repA.id, Role: role(crm.RoleSalesRep), Entity: w.repA.id}
		}},
		{"renameAccount", "account.renamed", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation { renameAccount(name: "Renamed Sales") { id } }`, nil, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: w.A}
		}},
		{"createRole", "role.created", nil, func(t *testing.T) entry {
			var out struct{ CreateRole struct{ ID string } }
			do(t, w.adminA, w.A, `mutation { createRole(input: {name: "Logged", permissions: [{entity: MEMBERS, action: VIEW, scope: ALL}]}) { id } }`, nil, &out)
			customRole = out.CreateRole.ID
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: customRole}
		}},
		{"updateRole", "role.updated", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($id: ID!) { updateRole(id: $id, input: {name: "Logged again", permissions: []}) { id } }`,
				map[string]any{"id": customRole}, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: customRole}
		}},
		{"deleteRole", "role.deleted", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($id: ID!) { deleteRole(id: $id) }`, map[string]any{"id": customRole}, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: customRole}
		}},
		{"inviteMember", "member.invited", nil, func(t *testing.T) entry {
			var out struct{ InviteMember struct{ ID string } }
			do(t, w.adminA, w.A, `mutation($e: String!, $r: ID!) { inviteMember(email: $e, roleId: $r) { id } }`,
				map[string]any{"e": newEmail(t), "r": roleID(crm.RoleReadOnly)}, &out)
			invitation = out.InviteMember.ID
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: invitation}
		}},
		{"resendInvitation", "member.invitation_resent", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($id: ID!) { resendInvitation(id: $id) { id } }`, map[string]any{"id": invitation}, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: invitation}
		}},
		{"revokeInvitation", "member.invitation_revoked", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($id: ID!) { revokeInvitation(id: $id) }`, map[string]any{"id": invitation}, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: invitation}
		}},
		// Whoever accepts acts as the role they join with.
		{"acceptInvitation", "member.joined", func(t *testing.T) {
			inviteToken = w.invite(t, w.ownerA, w.A, newEmail(t), roleID(crm.RoleReadOnly))
		}, func(t *testing.T) entry {
			var out struct {
				AcceptInvitation struct {
					Auth struct{ User struct{ ID string } }
				}
			}
			w.accept(t, inviteToken, nil, map[string]any{"name": "Joiner", "password": password}).Decode(t, &out)
			u := out.AcceptInvitation.Auth.User.ID
			return entry{Account: w.A, Actor: u, Role: role(crm.RoleReadOnly), Entity: u}
		}},
		{"updateMember", "member.updated", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($u: ID!) { updateMember(userId: $u, input: {name: "Renamed Rep"}) { userId } }`, map[string]any{"u": w.repA.id}, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: w.repA.id}
		}},
		{"deactivateMember", "member.deactivated", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`, map[string]any{"u": w.readerA.id}, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: w.readerA.id}
		}},
		{"reactivateMember", "member.reactivated", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($u: ID!) { reactivateMember(userId: $u) { userId } }`, map[string]any{"u": w.readerA.id}, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: w.readerA.id}
		}},
		{"removeMember", "member.removed", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($u: ID!, $to: ID!) { removeMember(userId: $u, transferTo: $to) }`,
				map[string]any{"u": w.readerA.id, "to": w.managerA.id}, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: w.readerA.id}
		}},
		{"setIpAllowlist", "account.ip_allowlist_changed", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation { setIpAllowlist(cidrs: ["127.0.0.0/8", "::1"]) { id } }`, nil, &struct{}{})
			return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: w.A}
		}},
		// Limits name no entity: the changes say which cell.
		{"setActivityLimit", "account.activity_limit_set", nil, func(t *testing.T) entry {
			do(t, w.ownerA, w.A, `mutation { setActivityLimit(entity: DEALS, action: CREATE, limit: 5, period: DAY) { limit } }`, nil, &struct{}{})
			return entry{Account: w.A, Actor: w.ownerA.id, Role: role(crm.RoleOwner)}
		}},
		{"removeActivityLimit", "account.activity_limit_removed", nil, func(t *testing.T) entry {
			do(t, w.ownerA, w.A, `mutation { removeActivityLimit(entity: DEALS, action: CREATE) }`, nil, &struct{}{})
			return entry{Account: w.A, Actor: w.ownerA.id, Role: role(crm.RoleOwner)}
		}},
	}
	// Every record type's mutations, as the admin: create, change, delete.
	var seed seeded
	made := map[crm.Entity]string{}
	asAdmin := func(id string) entry {
		return entry{Account: w.A, Actor: w.adminA.id, Role: role(crm.RoleAdmin), Entity: id}
	}
	for i, api := range recordAPIs {
		noun := strings.ReplaceAll(api.entity.Info().Record.Noun, " ", "_")
		var setup func(t *testing.T)
		if i == 0 {
			setup = func(t *testing.T) { seed = w.seedRecords(t, w.adminA, w.A, w.repA) }
		}
		accountMutations = append(accountMutations, accountMutation{api.create, noun + ".created", setup, func(t *testing.T) entry {
			var out map[string]struct{ ID string }
			do(t, w.adminA, w.A, `mutation($in: `+api.typ+`Input!) { out: `+api.create+`(input: $in) { id } }`,
				map[string]any{"in": minimalInput(api.entity, seed)}, &out)
			made[api.entity] = out["out"].ID
			return asAdmin(made[api.entity])
		}})
		if api.update != "" {
			accountMutations = append(accountMutations, accountMutation{api.update, noun + ".updated", nil, func(t *testing.T) entry {
				in := minimalInput(api.entity, seed)
				for k, v := range in {
					if v == "Minimal" {
						in[k] = "Changed"
					}
				}
				do(t, w.adminA, w.A, `mutation($id: ID!, $in: `+api.typ+`Input!) { `+api.update+`(id: $id, input: $in) { id } }`,
					map[string]any{"id": made[api.entity], "in": in}, &struct{}{})
				return asAdmin(made[api.entity])
			}})
		}
		if api.entity == crm.Groups {
			for _, m := range []string{"addToGroup", "removeFromGroup"} {
				accountMutations = append(accountMutations, accountMutation{m, "group.updated", nil, func(t *testing.T) entry {
					do(t, w.adminA, w.A, `mutation($g: ID!, $c: [ID!]!) { `+m+`(groupId: $g, contactIds: $c) { id } }`,
						map[string]any{"g": made[crm.Groups], "c": []string{seed[crm.Contacts]}}, &struct{}{})
					return asAdmin(made[crm.Groups])
				}})
			}
		}
		accountMutations = append(accountMutations, accountMutation{api.remove, noun + ".deleted", nil, func(t *testing.T) entry {
			do(t, w.adminA, w.A, `mutation($id: ID!) { `+api.remove+`(id: $id) }`, map[string]any{"id": made[api.entity]}, &struct{}{})
			return asAdmin(made[api.entity])
		}})
	}

	// Mutations on a login, not in an account: no account owns what they
	// change, so they write no account's activity log; why, and what
	// records them instead. They run in this order, as the manager of B.
	who := w.memberB
	newPassword, totpSecret, resetToken := "a brand new passphrase", "", ""
	var recovery []string
	loginMutations := []struct {
		mutation, why string
		run           func(t *testing.T)
	}{
		{"login", "signs a login in, in no account in particular: the attempt is in login_events, which admins read as account.loginEvents",
			func(t *testing.T) { who.token = *login(t, w.srv, who.email, nil).Token }},
		{"changePassword", "the password is the login's, shared by all its accounts: users.password_changed_at and a notice mailed to the login record it",
			func(t *testing.T) {
				var out struct{ ChangePassword struct{ Token string } }
				w.srv.Post(t, gatewaytest.Request{Query: `mutation($in: ChangePasswordInput!) { changePassword(input: $in) { token } }`,
					Variables: map[string]any{"in": map[string]any{"currentPassword": password, "newPassword": newPassword}}, Header: bearer(who.token)}).Decode(t, &out)
				who.token = out.ChangePassword.Token
			}},
		{"enableTotp", "2-step verification is the login's: a pending secret on its users row",
			func(t *testing.T) {
				var out struct{ EnableTotp struct{ Secret string } }
				w.srv.Post(t, gatewaytest.Request{Query: `mutation { enableTotp { secret } }`, Header: bearer(who.token)}).Decode(t, &out)
				totpSecret = out.EnableTotp.Secret
			}},
		{"confirmTotp", "turns the login's 2-step verification on: users.totp_enabled_at and its recovery codes",
			func(t *testing.T) {
				var out struct{ ConfirmTotp struct{ Codes []string } }
				w.srv.Post(t, gatewaytest.Request{Query: `mutation($c: String!) { confirmTotp(code: $c) { codes } }`,
					Variables: map[string]any{"c": code(t, totpSecret, clock, 0)}, Header: bearer(who.token)}).Decode(t, &out)
				recovery = out.ConfirmTotp.Codes
			}},
		{"disableTotp", "turns the login's 2-step verification off, on its users row",
			func(t *testing.T) {
				if len(recovery) == 0 {
					t.Fatal("no recovery code to disable with")
				}
				w.srv.Post(t, gatewaytest.Request{Query: `mutation($p: String!, $c: String!) { disableTotp(password: $p, code: $c) }`,
					Variables: map[string]any{"p": newPassword, "c": recovery[0]}, Header: bearer(who.token)}).Decode(t, &struct{}{})
			}},
		{"markNotificationsRead", "the caller's own notifications, from any account: their read_at records it",
			func(t *testing.T) {
				w.srv.Post(t, gatewaytest.Request{Query: `mutation { markNotificationsRead(all: true) }`, Header: bearer(who.token)}).Decode(t, &struct{}{})
			}},
		{"setNotificationPreference", "the caller's own choice, for all their accounts: notification_preferences records it",
			func(t *testing.T) {
				w.srv.Post(t, gatewaytest.Request{Query: `mutation { setNotificationPreference(kind: MENTIONED, email: false) { email } }`,
					Header: bearer(who.token)}).Decode(t, &struct{}{})
			}},
		{"logout", "ends the caller's own session: the sessions row keeps when, and the reason LOGOUT",
			func(t *testing.T) {
				w.srv.Post(t, gatewaytest.Request{Query: `mutation { logout }`, Header: bearer(who.token)}).Decode(t, &struct{}{})
			}},
		{"requestPasswordReset", "anyone may ask, signed in or not, for any address, and the answer is the same: there is no actor to record; password_resets and the mailed link do",
			func(t *testing.T) {
				after := len(w.smtp.Messages())
				w.srv.Post(t, gatewaytest.Request{Query: `mutation($e: String!) { requestPasswordReset(email: $e) }`,
					Variables: map[string]any{"e": who.email}}).Decode(t, &struct{}{})
				resetToken = w.mailedToken(t, who.email, "sbr_", after)
			}},
		{"resetPassword", "the caller is known only by the reset link: password_resets.used_at, the session it ended (PASSWORD_RESET) and a notice mailed to the login record it",
			func(t *testing.T) {
				w.srv.Post(t, gatewaytest.Request{Query: `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) }`,
					Variables: map[string]any{"in": map[string]any{"token": resetToken, "newPassword": "the third passphrase"}}}).Decode(t, &struct{}{})
			}},
	}

	// Every mutation of the schema is in exactly one of the two.
	decided := map[string]string{}
	for _, m := range accountMutations {
		decided[m.mutation] = "account mutations"
	}
	for _, m := range loginMutations {
		if decided[m.mutation] != "" {
			t.Errorf("Mutation.%s is in both lists", m.mutation)
		}
		if m.why == "" {
			t.Errorf("Mutation.%s writes no account activity, and says not why", m.mutation)
		}
		decided[m.mutation] = "login mutations"
	}
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	for _, f := range schema.Mutation.Fields {
		if decided[f.Name] == "" {
			t.Errorf("Mutation.%s is neither an account mutation (in the table, with the activity entry it writes) nor a login mutation (in the list, with why it writes none)", f.Name)
		}
		delete(decided, f.Name)
	}
	for name, list := range decided {
		t.Errorf("%s lists %s, which the schema does not have", list, name)
	}

	// entries returns the log's rows, in every account, not among seen.
	entries := func(t *testing.T, seen map[string]bool) (fresh []entry, all map[string]bool) {
		t.Helper()
		var rows []struct {
			Key string `db:"key"`
			entry
		}
		if err := conn.Select(&rows, `
			SELECT account_id || '/' || id AS key, account_id::text AS account, action, actor_id::text AS actor, actor_role AS role, coalesce(entity_id::text, '') AS entity
			FROM activity_log ORDER BY at, id`); err != nil {
			t.Fatal(err)
		}
		all = map[string]bool{}
		for _, r := range rows {
			all[r.Key] = true
			if !seen[r.Key] {
				fresh = append(fresh, r.entry)
			}
		}
		return fresh, all
	}
	_, seen := entries(t, nil)
	for _, m := range accountMutations {
		t.Run(m.mutation, func(t *testing.T) {
			if m.setup != nil {
				m.setup(t)
			}
			_, seen = entries(t, nil)
			want := m.run(t)
			want.Action = m.action
			var got []entry
			got, seen = entries(t, seen)
			if len(got) != 1 || got[0] != want {
				t.Fatalf("wrote %+v, want exactly %+v", got, want)
			}
		})
	}
	for _, m := range loginMutations {
		t.Run(m.mutation, func(t *testing.T) {
			m.run(t)
			var got []entry
			if got, seen = entries(t, seen); len(got) > 0 {
				t.Fatalf("a mutation on a login wrote account activity: %+v", got)
			}
		})
	}
}

func TestSignInRefusedWhenEveryAccountIsDeactivated(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	w.as(t, w.adminA, w.A, `mutation($u: ID!) { deactivateMember(userId: $u) { status } }`, map[string]any{"u": w.readerA.id}).Decode(t, &struct{}{})
	onlyCode(t, w.srv.Post(t, loginRequest(w.readerA.email, password, nil, nil)), "ACCOUNT_DEACTIVATED")
	// Refused with the right password: no session changed, no failure
	// counted, and the admins see it in the login log.
	var me struct{ Me struct{ ID string } }
	w.as(t, w.readerA, "", `{ me { id } }`, nil).Decode(t, &me)
	var log struct {
		Account struct {
			LoginEvents struct {
				Nodes []struct{ Outcome, Email string }
			}
		}
	}
	w.as(t, w.adminA, w.A, `{ account { loginEvents(first: 5) { nodes { outcome email } } } }`, nil).Decode(t, &log)
	if n := log.Account.LoginEvents.Nodes; len(n) == 0 || n[0].Outcome != "DEACTIVATED" || n[0].Email != w.readerA.email {
		t.Fatalf("login log %+v", n)
	}
	w.as(t, w.adminA, w.A, `mutation($u: ID!) { reactivateMember(userId: $u) { status } }`, map[string]any{"u": w.readerA.id}).Decode(t, &struct{}{})
	if p := login(t, w.srv, w.readerA.email, nil); p.Token == nil {
		t.Fatal("no sign-in after reactivation")
	}
}

// TestADeletedRoleIsNeverHeld: one admin giving a member a role while
// another deletes it ends with one of the two refused, never with a member
// holding a deleted role (both lock the role's row).
func TestADeletedRoleIsNeverHeld(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	conn := superuser(t, w.srv)
	salesRep := crm.RoleSalesRep.Role().ID.String()
	// Two admins: one member's writes wait for each other anyway (each
	// locks its actor's membership).
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.managerA.id, "r": crm.RoleAdmin.Role().ID.String()}).Decode(t, &struct{}{})
	for i := range 20 {
		var created struct{ CreateRole struct{ ID string } }
		w.as(t, w.ownerA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": fmt.Sprintf("Contested %d", i), "permissions": []any{}}}).Decode(t, &created)
		role := created.CreateRole.ID
		var given, deleted gatewaytest.Response
		var wg sync.WaitGroup
		wg.Go(func() {
			given = w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
				map[string]any{"u": w.repA.id, "r": role})
		})
		wg.Go(func() {
			deleted = w.as(t, w.managerA, w.A, `mutation($r: ID!) { deleteRole(id: $r) }`, map[string]any{"r": role})
		})
		wg.Wait()
		if (len(given.Errors) == 0) == (len(deleted.Errors) == 0) {
			t.Fatalf("giving: %+v; deleting: %+v; want exactly one refused", given.Errors, deleted.Errors)
		}
		var stale int
		if err := conn.Get(&stale, `SELECT count(*) FROM memberships m JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id
			WHERE r.deleted_at IS NOT NULL AND m.status <> 'REMOVED'`); err != nil {
			t.Fatal(err)
		}
		if stale > 0 {
			t.Fatal("a member holds a deleted role")
		}
		if len(given.Errors) == 0 {
			w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
				map[string]any{"u": w.repA.id, "r": salesRep}).Decode(t, &struct{}{})
		}
	}
}
