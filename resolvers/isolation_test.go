package resolvers_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"

	"switchboard/crm"
	"switchboard/db"
	"switchboard/gateway/gatewaytest"
)

// snapshot is what an account holds, as its owner sees it: every tenant
// table's rows of the account, as text.
func snapshot(t testing.TB, conn *sqlx.DB, account string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tenantTables(t, conn) {
		col := "account_id"
		if table == "accounts" {
			col = "id"
		}
		var rows []string
		if err := conn.Select(&rows, fmt.Sprintf(`SELECT row_to_json(t)::text FROM %q t WHERE %s = $1 ORDER BY 1`, table, col), account); err != nil {
			t.Fatal(err)
		}
		out[table] = rows
	}
	return out
}

// tenantTables are the tables whose rows belong to an account: every table
// with an account_id column, and accounts itself.
func tenantTables(t testing.TB, conn *sqlx.DB) []string {
	t.Helper()
	var tables []string
	if err := conn.Select(&tables, `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r'
			AND (c.relname = 'accounts' OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped))
		ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	return tables
}

// TestIsolation tries every operation that takes an id across the
// boundary between two accounts: each answers NOT_FOUND, exactly as for an
// id that does not exist, and nothing in the other account changes. A new
// operation is one line here.
func TestIsolation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	conn := superuser(t, w.srv)
	// B gets a custom role and a pending invitation to aim at.
	var role struct{ CreateRole struct{ ID string } }
	w.as(t, w.ownerB, w.B, `mutation { createRole(input: {name: "B only", permissions: []}) { id } }`, nil).Decode(t, &role)
	var inv struct{ InviteMember struct{ ID string } }
	w.as(t, w.ownerB, w.B, `mutation($r: ID!) { inviteMember(email: "pending-b@example.com", roleId: $r) { id } }`,
		map[string]any{"r": roleID(crm.RoleReadOnly)}).Decode(t, &inv)
	ids := map[string]string{
		"account": w.B, "member": w.memberB.id, "owner": w.ownerB.id, "role": role.CreateRole.ID, "invitation": inv.InviteMember.ID,
		"nobody": "01900000-0000-7000-8000-00000000abcd",
	}
	before := snapshot(t, conn, w.B)

	// ownerA may do anything in A; with B's ids it must find nothing.
	type probe struct {
		name, query string
		vars        map[string]any
	}
	withIDs := []probe{
		{"account by id", `query($id: ID) { account(id: $id) { id } }`, map[string]any{"id": ids["account"]}},
		{"switch account", `mutation($id: ID!) { switchAccount(accountId: $id) { id } }`, map[string]any{"id": ids["account"]}},
		{"member", `query($u: ID!) { account { member(userId: $u) { userId } } }`, map[string]any{"u": ids["member"]}},
		{"role", `query($id: ID!) { account { role(id: $id) { id } } }`, map[string]any{"id": ids["role"]}},
		{"update member", `mutation($u: ID!) { updateMember(userId: $u, input: {name: "x"}) { userId } }`, map[string]any{"u": ids["member"]}},
		{"deactivate member", `mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`, map[string]any{"u": ids["member"]}},
		{"reactivate member", `mutation($u: ID!) { reactivateMember(userId: $u) { userId } }`, map[string]any{"u": ids["member"]}},
		{"remove member", `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`, map[string]any{"u": ids["member"], "t": w.adminA.id}},
		{"remove owner", `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`, map[string]any{"u": ids["owner"], "t": w.adminA.id}},
		{"transfer to a stranger", `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`, map[string]any{"u": w.readerA.id, "t": ids["member"]}},
		{"update role", `mutation($id: ID!) { updateRole(id: $id, input: {name: "Mine now", permissions: []}) { id } }`, map[string]any{"id": ids["role"]}},
		{"delete role", `mutation($id: ID!) { deleteRole(id: $id) }`, map[string]any{"id": ids["role"]}},
		{"invite with a foreign role", `mutation($r: ID!) { inviteMember(email: "x@example.com", roleId: $r) { id } }`, map[string]any{"r": ids["role"]}},
		{"give a foreign role", `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`, map[string]any{"u": w.readerA.id, "r": ids["role"]}},
		{"resend invitation", `mutation($id: ID!) { resendInvitation(id: $id) { id } }`, map[string]any{"id": ids["invitation"]}},
		{"revoke invitation", `mutation($id: ID!) { revokeInvitation(id: $id) }`, map[string]any{"id": ids["invitation"]}},
	}
	for _, p := range withIDs {
		t.Run(p.name, func(t *testing.T) {
			e := onlyCode(t, w.as(t, w.ownerA, w.A, p.query, p.vars), "NOT_FOUND")
			// The same operation with an id that exists nowhere says the
			// same thing.
			missing := map[string]any{}
			for k, v := range p.vars {
				missing[k] = v
				for _, foreign := range ids {
					if v == foreign {
						missing[k] = ids["nobody"]
					}
				}
			}
			if e2 := onlyCode(t, w.as(t, w.ownerA, w.A, p.query, missing), "NOT_FOUND"); e2.Message != e.Message {
				t.Fatalf("foreign id says %q, missing id says %q", e.Message, e2.Message)
			}
		})
	}
	// Scoped to B by header, every account operation finds nothing.
	inB := []string{
		`{ account { id name } }`,
		`{ account { members { nodes { userId } } } }`,
		`mutation { renameAccount(name: "Taken over") { id } }`,
		`mutation { createRole(input: {name: "Spy", permissions: []}) { id } }`,
		`mutation { setIpAllowlist(cidrs: ["127.0.0.1"]) { id } }`,
		`mutation { setActivityLimit(entity: DEALS, action: CREATE, limit: 1, period: DAY) { limit } }`,
		`mutation { removeActivityLimit(entity: DEALS, action: CREATE) }`,
		`mutation { inviteMember(email: "spy@example.com", roleId: "` + roleID(crm.RoleOwner) + `") { id } }`,
		`mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`,
	}
	for _, q := range inB {
		t.Run("scoped to B: "+q[:min(40, len(q))], func(t *testing.T) {
			onlyCode(t, w.as(t, w.ownerA, w.B, q, map[string]any{"u": ids["member"]}), "NOT_FOUND")
		})
	}
	after := snapshot(t, conn, w.B)
	for table, rows := range before {
		if fmt.Sprint(rows) != fmt.Sprint(after[table]) {
			t.Errorf("%s changed in account B:\nbefore %v\nafter  %v", table, rows, after[table])
		}
	}
}

// TestRowLevelSecurityCatalog proves invariant 3's backstop on every
// tenant table found in the catalog: row-level security is on and forced,
// the runtime role owns none of them and cannot bypass it, a transaction
// without a scope sees no row, and a scoped one sees exactly its account's.
func TestRowLevelSecurityCatalog(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	conn := superuser(t, w.srv)
	// Make every kind of tenant row exist in both accounts: a custom role,
	// a pending invitation, a limit that is reached (counters,
	// notifications).
	for _, acct := range []struct {
		id      string
		owner   person
		subject person
	}{{w.A, w.ownerA, w.adminA}, {w.B, w.ownerB, w.memberB}} {
		w.as(t, acct.owner, acct.id, `mutation { createRole(input: {name: "Custom", permissions: []}) { id } }`, nil).Decode(t, &struct{}{})
		w.as(t, acct.owner, acct.id, `mutation($r: ID!) { inviteMember(email: "pending@example.com", roleId: $r) { id } }`,
			map[string]any{"r": roleID(crm.RoleReadOnly)}).Decode(t, &struct{}{})
		w.as(t, acct.owner, acct.id, `mutation { setActivityLimit(entity: SETTINGS, action: EDIT, limit: 1, period: MONTH) { limit } }`, nil).Decode(t, &struct{}{})
		if acct.subject == w.memberB {
			w.as(t, acct.owner, acct.id, `mutation($u: ID!) { updateMember(userId: $u, input: {roleId: "`+roleID(crm.RoleAdmin)+`"}) { userId } }`,
				map[string]any{"u": acct.subject.id}).Decode(t, &struct{}{})
		}
		w.as(t, acct.subject, acct.id, `mutation { renameAccount(name: "Renamed once") { id } }`, nil).Decode(t, &struct{}{})
	}

	var role struct {
		Super, Bypass bool
	}
	if err := conn.QueryRow(`SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, db.RuntimeRole).Scan(&role.Super, &role.Bypass); err != nil {
		t.Fatal(err)
	}
	if role.Super || role.Bypass {
		t.Fatalf("runtime role: superuser %v, bypassrls %v", role.Super, role.Bypass)
	}
	tables := tenantTables(t, conn)
	if len(tables) < 8 {
		t.Fatalf("only %d tenant tables found: %v", len(tables), tables)
	}
	for _, table := range tables {
		t.Run(table, func(t *testing.T) {
			var meta struct {
				RLS, Force bool
				Owner      string
				Policies   int
			}
			if err := conn.QueryRow(`
				SELECT c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner),
					(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = $1`, table).
				Scan(&meta.RLS, &meta.Force, &meta.Owner, &meta.Policies); err != nil {
				t.Fatal(err)
			}
			if !meta.RLS || !meta.Force || meta.Policies == 0 || meta.Owner == db.RuntimeRole {
				t.Fatalf("%+v: row-level security must be on, forced, with a policy, and not owned by the runtime role", meta)
			}
			col := "account_id"
			if table == "accounts" {
				col = "id"
			}
			count := func(where string, args ...any) int {
				var n int
				if err := conn.Get(&n, fmt.Sprintf(`SELECT count(*) FROM %q WHERE %s`, table, where), args...); err != nil {
					t.Fatal(err)
				}
				return n
			}
			inA, inB := count(col+" = $1", w.A), count(col+" = $1", w.B)
			if inA == 0 || inB == 0 {
				t.Fatalf("rows in A %d, in B %d: extend the scenario so each tenant table has rows in both", inA, inB)
			}
			asRuntime := func(account string) int {
				tx, err := conn.BeginTxx(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				if _, err := tx.Exec(`SELECT set_config('role', $1, true), set_config('app.account_id', $2, true)`, db.RuntimeRole, account); err != nil {
					t.Fatal(err)
				}
				var n int
				if err := tx.Get(&n, fmt.Sprintf(`SELECT count(*) FROM %q`, table)); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := asRuntime(""); n != 0 {
				t.Fatalf("a transaction without a scope sees %d rows", n)
			}
			if n := asRuntime(w.A); n != inA {
				t.Fatalf("scoped to A: sees %d rows, A has %d", n, inA)
			}
		})
	}
}
