package resolvers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"switchboard/crm"
	"switchboard/db"
	"switchboard/gateway/gatewaytest"
	"switchboard/graph"
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

// noTenantID are the operations that take no id of an account's things
// and act in no existing account: they act on the caller's own login or
// session, create something new, or read nothing of anyone's, so there is
// no boundary between accounts for a probe to cross. Each says why.
// TestIsolation fails for an operation that is neither probed nor here.
var noTenantID = map[string]string{
	"Query.serverInfo":                   "the gateway's version, environment and clock: nothing of any account",
	"Query.me":                           "the caller's own login, found by the session token; its switcher (User.accounts) lists only the caller's own memberships",
	"Mutation.signUp":                    "creates a new login and its first account: it names no existing one",
	"Mutation.login":                     "by email and password (or a challenge): signs a login in, in no account in particular",
	"Mutation.logout":                    "ends the caller's own session, found by its token",
	"Mutation.changePassword":            "the caller's own login, found by the session token",
	"Mutation.requestPasswordReset":      "by email, and answers the same whether or not the address has a login",
	"Mutation.resetPassword":             "by a reset link's token, which names the login; no account is involved",
	"Mutation.enableTotp":                "the caller's own login, found by the session token",
	"Mutation.confirmTotp":               "the caller's own login, found by the session token",
	"Mutation.disableTotp":               "the caller's own login, found by the session token",
	"Mutation.createAccount":             "creates a new account, owned by the caller: it names no existing one",
	"Mutation.acceptInvitation":          "by an invitation link's token, which is the proof that names the account (TestInvitations: a link for another email is FORBIDDEN, a used, revoked or expired one BAD_USER_INPUT)",
	"Subscription.heartbeat":             "the server's clock, for anyone",
	"Subscription.sessionEvents":         "the caller's own session, found by its token",
	"Subscription.notifications":         "the caller's own notifications, found by the session's user (row-level security admits a notification to its recipient only)",
	"Mutation.markNotificationsRead":     "the caller's own notifications: another user's ids change nothing and count 0, as missing ones (TestNotificationsAreTheirRecipients)",
	"Mutation.setNotificationPreference": "the caller's own preference, found by the session's user",
}

// TestIsolation tries every operation across the boundary between two
// accounts. With an id of the other account's (in an argument, or in an
// input), each answers exactly as for an id that does not exist: NOT_FOUND
// (a filter: the empty list); scoped to the other account by header, each
// answers exactly as for an account that does not exist; and nothing in
// the other account changes. The probes are checked against the schema:
// every id argument of every field must be given a foreign id by a probe,
// and every field of Query, Mutation, Subscription and Account must be
// probed, unless noTenantID says why it need not be. A new operation is
// one line here.
func TestIsolation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	conn := superuser(t, w.srv)
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	// B gets a custom role and a pending invitation to aim at.
	var role struct{ CreateRole struct{ ID string } }
	w.as(t, w.ownerB, w.B, `mutation { createRole(input: {name: "B only", permissions: []}) { id } }`, nil).Decode(t, &role)
	var inv struct{ InviteMember struct{ ID string } }
	w.as(t, w.ownerB, w.B, `mutation($r: ID!) { inviteMember(email: "pending-b@example.com", roleId: $r) { id } }`,
		map[string]any{"r": roleID(crm.RoleReadOnly)}).Decode(t, &inv)
	ids := map[string]string{
		"account": w.B, "member": w.memberB.id, "owner": w.ownerB.id, "role": role.CreateRole.ID, "invitation": inv.InviteMember.ID,
	}
	// Records of every type in both accounts: B's to aim at, A's to point
	// from.
	recB := w.seedRecords(t, w.ownerB, w.B, w.memberB)
	recA := w.seedRecords(t, w.ownerA, w.A, w.repA)
	for e, id := range recB {
		ids[string(e)] = id
	}
	const nobody = "01900000-0000-7000-8000-00000000abcd"
	foreign := map[string]bool{}
	for _, id := range ids {
		foreign[id] = true
	}
	before := snapshot(t, conn, w.B)

	// send runs an operation as ownerA, who may do anything in A, scoped
	// to account; a subscription over SSE, answering its first event.
	send := func(t *testing.T, account, query string, vars map[string]any) gatewaytest.Response {
		t.Helper()
		req := gatewaytest.Request{Query: query, Variables: vars, Header: withAccount(bearer(w.ownerA.token), account)}
		if !strings.HasPrefix(strings.TrimSpace(query), "subscription") {
			return w.srv.Post(t, req)
		}
		return w.srv.Stream(t, t.Context(), req).Next(t, 10*time.Second)
	}

	// In A, with B's ids.
	type probe struct {
		name, query string
		vars        map[string]any
		// filter: the id narrows a list, so the answer is a list, the one
		// an id that matches nothing gets, not NOT_FOUND.
		filter bool
	}
	withIDs := []probe{
		{"account by id", `query($id: ID) { account(id: $id) { id } }`, map[string]any{"id": ids["account"]}, false},
		{"switch account", `mutation($id: ID!) { switchAccount(accountId: $id) { id } }`, map[string]any{"id": ids["account"]}, false},
		{"member", `query($u: ID!) { account { member(userId: $u) { userId } } }`, map[string]any{"u": ids["member"]}, false},
		{"role", `query($id: ID!) { account { role(id: $id) { id } } }`, map[string]any{"id": ids["role"]}, false},
		{"activity of a foreign actor", `query($a: ID) { account { activity(first: 100, filter: {actorId: $a}) { nodes { id action } } } }`, map[string]any{"a": ids["member"]}, true},
		{"live activity of a foreign actor", `subscription($a: ID) { activity(filter: {actorId: $a}) { id } }`, map[string]any{"a": ids["member"]}, false},
		{"update member", `mutation($u: ID!) { updateMember(userId: $u, input: {name: "x"}) { userId } }`, map[string]any{"u": ids["member"]}, false},
		{"deactivate member", `mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`, map[string]any{"u": ids["member"]}, false},
		{"reactivate member", `mutation($u: ID!) { reactivateMember(userId: $u) { userId } }`, map[string]any{"u": ids["member"]}, false},
		{"remove member", `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`, map[string]any{"u": ids["member"], "t": w.adminA.id}, false},
		{"remove owner", `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`, map[string]any{"u": ids["owner"], "t": w.adminA.id}, false},
		{"transfer to a stranger", `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`, map[string]any{"u": w.readerA.id, "t": ids["member"]}, false},
		{"update role", `mutation($id: ID!) { updateRole(id: $id, input: {name: "Mine now", permissions: []}) { id } }`, map[string]any{"id": ids["role"]}, false},
		{"delete role", `mutation($id: ID!) { deleteRole(id: $id) }`, map[string]any{"id": ids["role"]}, false},
		{"invite with a foreign role", `mutation($r: ID!) { inviteMember(email: "x@example.com", roleId: $r) { id } }`, map[string]any{"r": ids["role"]}, false},
		{"give a foreign role", `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`, map[string]any{"u": w.readerA.id, "r": ids["role"]}, false},
		{"resend invitation", `mutation($id: ID!) { resendInvitation(id: $id) { id } }`, map[string]any{"id": ids["invitation"]}, false},
		{"revoke invitation", `mutation($id: ID!) { revokeInvitation(id: $id) }`, map[string]any{"id": ids["invitation"]}, false},
		{"search in a foreign account", `query($a: ID!) { search(query: "Seed", accounts: [$a]) { nodes { title } facets { types { count } } } }`,
			map[string]any{"a": ids["account"]}, true},
		{"add to a foreign group", `mutation($g: ID!, $c: [ID!]!) { addToGroup(groupId: $g, contactIds: $c) { id } }`,
			map[string]any{"g": recB[crm.Groups], "c": []string{recA[crm.Contacts]}}, false},
		{"add foreign contacts to a group", `mutation($g: ID!, $c: [ID!]!) { addToGroup(groupId: $g, contactIds: $c) { id } }`,
			map[string]any{"g": recA[crm.Groups], "c": []any{recB[crm.Contacts]}}, false},
		{"remove from a foreign group", `mutation($g: ID!, $c: [ID!]!) { removeFromGroup(groupId: $g, contactIds: $c) { id } }`,
			map[string]any{"g": recB[crm.Groups], "c": []string{recB[crm.Contacts]}}, false},
	}
	// Every record type: B's record by id, changed, deleted; A's records
	// created or changed to point at B's records or members (every field
	// that holds an id, and the owner); A's lists filtered by B's ids.
	foreignValue := func(f *crm.Field) any {
		switch f.Kind {
		case crm.KindRef:
			return recB[f.Ref]
		case crm.KindRefs:
			return []any{recB[f.Ref]}
		case crm.KindMember:
			return w.memberB.id
		case crm.KindMembers:
			return []any{w.memberB.id}
		case crm.KindSubject:
			return map[string]any{"entity": string(crm.Contacts), "id": recB[crm.Contacts]}
		}
		return nil
	}
	// The ids B's seed holds in the fields a filter names.
	filterValue := map[string]string{
		"ownerId": w.ownerB.id, "assigneeId": w.memberB.id, "mentionId": w.memberB.id, "companyId": recB[crm.Companies],
		"groupId": recB[crm.Groups], "contactId": recB[crm.Contacts], "relatedId": recB[crm.Contacts], "aboutId": recB[crm.Contacts],
	}
	for _, api := range recordAPIs {
		rt := api.entity.Info().Record
		foreignID := map[string]any{"id": recB[api.entity]}
		withIDs = append(withIDs,
			probe{api.one, `query($id: ID!) { account { ` + api.one + `(id: $id) { id } } }`, foreignID, false},
			probe{api.remove, `mutation($id: ID!) { ` + api.remove + `(id: $id) }`, foreignID, false})
		if api.update != "" {
			withIDs = append(withIDs, probe{api.update, `mutation($id: ID!, $in: ` + api.typ + `Input!) { ` + api.update + `(id: $id, input: $in) { id } }`,
				map[string]any{"id": recB[api.entity], "in": map[string]any{}}, false})
		}
		fields := append([]crm.Field{{Name: "ownerId", Kind: crm.KindMember}}, rt.Fields...)
		for i := range fields {
			v := foreignValue(&fields[i])
			if v == nil {
				continue
			}
			name := fields[i].Name
			in := minimalInput(api.entity, recA)
			in[name] = v
			withIDs = append(withIDs, probe{api.create + " with a foreign " + name,
				`mutation($in: ` + api.typ + `Input!) { ` + api.create + `(input: $in) { id } }`, map[string]any{"in": in}, false})
			if api.update != "" {
				withIDs = append(withIDs, probe{api.update + " to a foreign " + name,
					`mutation($id: ID!, $in: ` + api.typ + `Input!) { ` + api.update + `(id: $id, input: $in) { id } }`,
					map[string]any{"id": recA[api.entity], "in": map[string]any{name: v}}, false})
			}
		}
		for _, f := range rt.AllFilters() {
			if fd := schema.Types[api.typ+"Filter"].Fields.ForName(f.Name); fd == nil || fd.Type.Name() != "ID" {
				continue
			}
			if filterValue[f.Name] == "" {
				t.Fatalf("no foreign id for the filter %s of %s", f.Name, api.many)
			}
			withIDs = append(withIDs, probe{api.many + " by a foreign " + f.Name,
				`query($id: ID) { account { ` + api.many + `(first: 100, filter: {` + f.Name + `: $id}) { nodes { id } } } }`,
				map[string]any{"id": filterValue[f.Name]}, true})
		}
	}
	// Scoped to B by header (on a stream, the same), every account
	// operation finds nothing: these, and a query of each field of
	// Account, including any added later.
	type scoped struct{ name, query string }
	inB := []scoped{
		{"rename account", `mutation { renameAccount(name: "Taken over") { id } }`},
		{"create role", `mutation { createRole(input: {name: "Spy", permissions: []}) { id } }`},
		{"set IP allowlist", `mutation { setIpAllowlist(cidrs: ["127.0.0.1"]) { id } }`},
		{"set activity limit", `mutation { setActivityLimit(entity: DEALS, action: CREATE, limit: 1, period: DAY) { limit } }`},
		{"remove activity limit", `mutation { removeActivityLimit(entity: DEALS, action: CREATE) }`},
		{"invite member", `mutation { inviteMember(email: "spy@example.com", roleId: "` + roleID(crm.RoleOwner) + `") { id } }`},
		{"deactivate member", `mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`},
		{"account events", `subscription { accountEvents { __typename } }`},
		{"live activity", `subscription { activity { id } }`},
	}
	for _, sel := range fieldSelections(schema, "Account", 2, map[string]string{"userId": `"` + ids["member"] + `"`, "id": `"` + ids["role"] + `"`}) {
		field := strings.FieldsFunc(sel, func(r rune) bool { return r == ' ' || r == '(' })[0]
		inB = append(inB, scoped{"account." + field, `{ account { ` + sel + ` } }`})
	}

	t.Run("the probes cover the schema", func(t *testing.T) {
		probed := map[string]bool{}   // fields some probe calls across the boundary
		idsGiven := map[string]bool{} // id arguments some probe gives a foreign id
		for _, p := range withIDs {
			for id := range foreign {
				if strings.Contains(p.query, id) {
					t.Errorf("%s: put the foreign id in a variable, so the probe's twin can replace it with a missing one", p.name)
				}
			}
			fields, args := crossings(t, schema, p.query, p.vars, foreign)
			if len(args) == 0 {
				t.Errorf("%s gives no foreign id", p.name)
			}
			for _, f := range fields {
				probed[f] = true
			}
			for _, a := range args {
				idsGiven[a] = true
			}
		}
		for _, p := range inB {
			fields, _ := crossings(t, schema, p.query, map[string]any{"u": ids["member"]}, foreign)
			for _, f := range fields {
				probed[f] = true
			}
		}
		for _, typ := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription, schema.Types["Account"]} {
			for _, f := range typ.Fields {
				name := typ.Name + "." + f.Name
				_, free := noTenantID[name]
				switch {
				case strings.HasPrefix(f.Name, "__"):
				case free && probed[name]:
					t.Errorf("%s is probed, and listed in noTenantID as having no boundary: which is it?", name)
				case !free && !probed[name]:
					t.Errorf("%s is not probed across accounts: add a probe to TestIsolation, or say in noTenantID why it needs none", name)
				}
			}
		}
		for _, arg := range idArguments(schema) {
			field, _, _ := strings.Cut(arg, "(")
			if _, free := noTenantID[field]; !free && !idsGiven[arg] {
				t.Errorf("%s takes an id, and no probe gives it one of another account's: add a probe to TestIsolation's withIDs", arg)
			}
		}
		for name := range noTenantID {
			typ, field, _ := strings.Cut(name, ".")
			if d := schema.Types[typ]; d == nil || d.Fields.ForName(field) == nil {
				t.Errorf("noTenantID lists %s, which the schema does not have", name)
			}
		}
	})

	for _, p := range withIDs {
		t.Run(p.name, func(t *testing.T) {
			got := send(t, w.A, p.query, p.vars)
			if p.filter {
				if len(got.Errors) > 0 {
					t.Fatalf("a filter by a foreign id: %+v", got.Errors)
				}
				// In B the id matches something, so the answer in A shows
				// the boundary, not an id that matches nothing anywhere.
				if mine := w.as(t, w.ownerB, w.B, p.query, p.vars); sameAnswer(mine, got) {
					t.Fatalf("the filter matches nothing in B either (%s): the probe would prove nothing", mine.Data)
				}
			} else {
				onlyCode(t, got, "NOT_FOUND")
			}
			// The same operation with an id that exists nowhere says the
			// same thing.
			var missing func(v any) any // v with every foreign id, at any depth, replaced by nobody
			missing = func(v any) any {
				switch v := v.(type) {
				case string:
					if foreign[v] {
						return nobody
					}
				case map[string]any:
					out := map[string]any{}
					for k, e := range v {
						out[k] = missing(e)
					}
					return out
				case []any:
					out := make([]any, len(v))
					for i, e := range v {
						out[i] = missing(e)
					}
					return out
				}
				return v
			}
			twin := missing(p.vars).(map[string]any)
			if fmt.Sprint(twin) == fmt.Sprint(p.vars) {
				t.Fatal("the twin request has no id to replace")
			}
			if want := send(t, w.A, p.query, twin); !sameAnswer(got, want) {
				t.Fatalf("a foreign id answers %+v %s, a missing id %+v %s", got.Errors, got.Data, want.Errors, want.Data)
			}
		})
	}
	for _, p := range inB {
		t.Run("scoped to B: "+p.name, func(t *testing.T) {
			vars := map[string]any{"u": ids["member"]}
			got := send(t, w.B, p.query, vars)
			onlyCode(t, got, "NOT_FOUND")
			if want := send(t, nobody, p.query, vars); !sameAnswer(got, want) {
				t.Fatalf("scoped to B: %+v; to an account that does not exist: %+v", got.Errors, want.Errors)
			}
		})
	}
	after := snapshot(t, conn, w.B)
	for table, rows := range before {
		if fmt.Sprint(rows) != fmt.Sprint(after[table]) {
			t.Errorf("%s changed in account B:\nbefore %v\nafter  %v", table, rows, after[table])
		}
	}
}

// sameAnswer reports whether two responses are the same to a client: the
// same data, and the same errors (code, message, path).
func sameAnswer(a, b gatewaytest.Response) bool {
	answer := func(r gatewaytest.Response) string {
		var data any
		_ = json.Unmarshal(r.Data, &data)
		var errs []string
		for _, e := range r.Errors {
			errs = append(errs, fmt.Sprint(e.Code(), e.Message, e.Path))
		}
		return fmt.Sprint(data, errs)
	}
	return answer(a) == answer(b)
}

// idArguments lists every place where a field of the schema takes an id:
// "Type.field(arg)" for an argument of type ID (or a list of them), and
// "Type.field(arg.path)" for an ID field of an input, at any depth.
func idArguments(schema *ast.Schema) []string {
	var out []string
	for _, typ := range schema.Types {
		if typ.Kind != ast.Object || strings.HasPrefix(typ.Name, "__") {
			continue
		}
		for _, f := range typ.Fields {
			for _, a := range f.Arguments {
				for _, p := range idPaths(schema, a.Type, a.Name, map[string]bool{}) {
					out = append(out, typ.Name+"."+f.Name+"("+p+")")
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func idPaths(schema *ast.Schema, typ *ast.Type, path string, inputs map[string]bool) []string {
	for typ.Elem != nil {
		typ = typ.Elem
	}
	def := schema.Types[typ.NamedType]
	switch {
	case def.Name == "ID":
		return []string{path}
	case def.Kind != ast.InputObject || inputs[def.Name]:
		return nil
	}
	inputs[def.Name] = true
	defer delete(inputs, def.Name)
	var out []string
	for _, f := range def.Fields {
		out = append(out, idPaths(schema, f.Type, path+"."+f.Name, inputs)...)
	}
	return out
}

// crossings reads a probe as the gateway does (the schema validates it)
// and returns the fields it calls, as "Type.field", and the id arguments it
// gives one of the foreign ids, as idArguments names them.
func crossings(t *testing.T, schema *ast.Schema, query string, vars map[string]any, foreign map[string]bool) (fields, idArgs []string) {
	t.Helper()
	doc, errs := gqlparser.LoadQueryWithRules(schema, query, nil)
	if errs != nil {
		t.Fatalf("probe %q: %v", query, errs)
	}
	// As the gateway gets them: JSON.
	raw, err := json.Marshal(vars)
	if err != nil {
		t.Fatal(err)
	}
	vars = nil
	if err := json.Unmarshal(raw, &vars); err != nil {
		t.Fatal(err)
	}
	var given func(typ *ast.Type, v any, path string)
	given = func(typ *ast.Type, v any, path string) {
		if list, ok := v.([]any); ok && typ.Elem != nil {
			for _, e := range list {
				given(typ.Elem, e, path)
			}
			return
		}
		def := schema.Types[typ.Name()]
		switch v := v.(type) {
		case string:
			if def.Name == "ID" && foreign[v] {
				idArgs = append(idArgs, path)
			}
		case map[string]any:
			for name, fv := range v {
				if f := def.Fields.ForName(name); f != nil {
					given(f.Type, fv, path+"."+name)
				}
			}
		}
	}
	var walk func(set ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if strings.HasPrefix(s.Name, "__") {
					continue
				}
				field := s.ObjectDefinition.Name + "." + s.Name
				fields = append(fields, field)
				for _, a := range s.Arguments {
					v, err := a.Value.Value(vars)
					if err != nil {
						t.Fatalf("probe %q, argument %s: %v", query, a.Name, err)
					}
					before := len(idArgs)
					given(s.Definition.Arguments.ForName(a.Name).Type, v, a.Name)
					for i := before; i < len(idArgs); i++ {
						idArgs[i] = field + "(" + idArgs[i] + ")"
					}
				}
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				walk(s.Definition.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet)
	}
	return fields, idArgs
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
		w.seedRecords(t, acct.owner, acct.id, acct.owner)
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
				Partition  bool
				Readable   bool
			}
			if err := conn.QueryRow(`
				SELECT c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner),
					(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid), c.relispartition,
					has_table_privilege($2, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = $1`, table, db.RuntimeRole).
				Scan(&meta.RLS, &meta.Force, &meta.Owner, &meta.Policies, &meta.Partition, &meta.Readable); err != nil {
				t.Fatal(err)
			}
			// The search index is the one exception to forcing: its owner
			// reads it through two functions that apply the same scope,
			// since no index serves a search under the policy (migration
			// 00012). The runtime role is held to the policy all the same.
			forced := meta.Force || table == "search_term" || table == "search_doc" || strings.HasPrefix(table, "search_doc_")
			if !meta.RLS || !forced || meta.Policies == 0 || meta.Owner == db.RuntimeRole {
				t.Fatalf("%+v: row-level security must be on, forced, with a policy, and not owned by the runtime role", meta)
			}
			if meta.Partition {
				// A partition is reached through its table, whose policy
				// applies; the runtime role has no privilege on it at all.
				if meta.Readable {
					t.Fatalf("the runtime role may use partition %s directly", table)
				}
				return
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
			if table == "notifications" {
				// A notification is its recipient's, in every account:
				// an account's scope shows none of them, and a user's
				// scope shows theirs, wherever they come from.
				if n := asRuntime(w.A); n != 0 {
					t.Fatalf("scoped to A: sees %d notifications, want none", n)
				}
				var recipient string
				if err := conn.Get(&recipient, `SELECT recipient_id FROM notifications WHERE account_id = $1 LIMIT 1`, w.A); err != nil {
					t.Fatal(err)
				}
				mine := count("recipient_id = $1", recipient)
				tx, err := conn.BeginTxx(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				var n int
				if _, err := tx.Exec(`SELECT set_config('role', $1, true), set_config('app.user_id', $2, true)`, db.RuntimeRole, recipient); err != nil {
					t.Fatal(err)
				}
				if err := tx.Get(&n, `SELECT count(*) FROM notifications`); err != nil || n != mine {
					t.Fatalf("scoped to their recipient: sees %d notifications (%v), they have %d", n, err, mine)
				}
				return
			}
			if n := asRuntime(w.A); n != inA {
				t.Fatalf("scoped to A: sees %d rows, A has %d", n, inA)
			}
		})
	}
}
