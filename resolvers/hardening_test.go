package resolvers_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"switchboard/crm"
	"switchboard/gateway/gatewaytest"
	"switchboard/graph"
)

// Tests for what an outside review of identity and accounts found: each
// failed before its fix.

// TestScalarsAreStrict: an input of the wrong kind is a clear error that
// changes nothing, not a conversion ("42" for a number) or INTERNAL.
func TestScalarsAreStrict(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	conn := superuser(t, w.srv)
	count := func() int {
		var n int
		if err := conn.Get(&n, `SELECT count(*) FROM accounts`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		field       string
	}{
		{"a number for a String", `mutation($n: String!) { createAccount(name: $n) { id } }`, map[string]any{"n": 42}, "name"},
		{"a boolean for a String", `mutation($n: String!) { createAccount(name: $n) { id } }`, map[string]any{"n": true}, "name"},
		{"a string for an Int", `query($f: Int) { account { members(first: $f) { nodes { userId } } } }`, map[string]any{"f": "5"}, "first"},
		{"a fraction for an Int", `query($f: Int) { account { members(first: $f) { nodes { userId } } } }`, map[string]any{"f": 2.5}, ""},
		{"NUL in a search", `query($q: String) { account { members(search: $q) { nodes { userId } } } }`, map[string]any{"q": "a\x00b"}, "search"},
		{"NUL in an activity filter", `query($a: String) { account { activity(filter: {action: $a}) { nodes { id } } } }`, map[string]any{"a": "x\x00"}, "action"},
		{"NUL in a name", `mutation($n: String!) { createAccount(name: $n) { id } }`, map[string]any{"n": "Acme\x00"}, "name"},
		{"a tab in a name", `mutation($n: String!) { createAccount(name: $n) { id } }`, map[string]any{"n": "Ac\tme"}, "name"},
		{"a right-to-left override in a name", `mutation($n: String!) { createAccount(name: $n) { id } }`, map[string]any{"n": "Acme \u202eevil"}, "name"},
		{"a time that is not one", `query($s: Time) { account { activity(filter: {since: $s}) { nodes { id } } } }`, map[string]any{"s": "garbage"}, "since"},
		{"a time past year 9999", `query($s: Time) { account { activity(filter: {since: $s}) { nodes { id } } } }`, map[string]any{"s": "294277-01-01T00:00:00Z"}, "since"},
		{"a time before year 1", `query($s: Time) { account { activity(filter: {until: $s}) { nodes { id } } } }`, map[string]any{"s": "-0001-01-01T00:00:00Z"}, "until"},
		{"a number for an ID", `query($id: ID) { account(id: $id) { id } }`, map[string]any{"id": 7}, ""},
		// The nil id read as "not given": the current account.
		{"the nil id", `query($id: ID) { account(id: $id) { id } }`, map[string]any{"id": "00000000-0000-0000-0000-000000000000"}, "id"},
		// Go's zero time is written back as null, so it broke every list
		// that showed it.
		{"Go's zero time", `query($s: Time) { account { activity(filter: {since: $s}) { nodes { id } } } }`, map[string]any{"s": "0001-01-01T00:00:00Z"}, "since"},
		// The year is the UTC one: offsets moved these across 9999 and 1.
		{"past 9999 in UTC", `query($s: Time) { account { activity(filter: {since: $s}) { nodes { id } } } }`, map[string]any{"s": "9999-12-31T23:59:59-14:00"}, "since"},
		{"before year 1 in UTC", `query($s: Time) { account { activity(filter: {since: $s}) { nodes { id } } } }`, map[string]any{"s": "0001-01-01T00:00:00+14:00"}, "since"},
		// PageArgs reads 0 as the default page.
		{"a page of none", `query($f: Int) { account { members(first: $f) { nodes { userId } } } }`, map[string]any{"f": 0}, "first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.as(t, w.ownerA, w.A, tc.query, tc.vars)
			if len(r.Errors) != 1 {
				t.Fatalf("want one error, got %+v", r.Errors)
			}
			code := r.Errors[0].Code()
			if code != "BAD_USER_INPUT" && code != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("code %s (%s), want BAD_USER_INPUT", code, r.Errors[0].Message)
			}
			if code == "BAD_USER_INPUT" && tc.field != "" && r.Errors[0].Extensions["field"] != tc.field {
				t.Fatalf("field %v, want %s", r.Errors[0].Extensions["field"], tc.field)
			}
		})
	}
	if after := count(); after != before {
		t.Fatalf("bad input created %d accounts", after-before)
	}
	// gqlparser's own words for a fraction were "cannot use value 0 as Int".
	r := w.as(t, w.ownerA, w.A, `query($f: Int) { account { members(first: $f) { nodes { userId } } } }`, map[string]any{"f": 2.5})
	if len(r.Errors) != 1 || r.Errors[0].Message != "must be a whole number" || fmt.Sprint(r.Errors[0].Path) != "[variable f]" {
		t.Fatalf("a fraction for an Int: %+v", r.Errors)
	}

	// Invalid UTF-8 inside a string literal of a document sent as
	// application/graphql.
	body := []byte("mutation { createAccount(name: \"Acme \xff\xfe\") { id } }")
	h := bearer(w.ownerA.token)
	h.Set("Content-Type", "application/graphql")
	r = w.srv.Do(t, http.MethodPost, "/graphql", bytes.NewReader(body), h)
	// The gateway refuses a body that is not UTF-8 as a bad envelope.
	if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_REQUEST" || r.Status != http.StatusBadRequest {
		t.Fatalf("invalid UTF-8 literal: %d %+v", r.Status, r.Errors)
	}
	if after := count(); after != before {
		t.Fatal("an invalid UTF-8 name was stored")
	}
}

// TestForgedPositionsAreTheClientsMistake: a cursor is the client's to
// forge, and a forged one is refused as bad input (never INTERNAL, from
// PostgreSQL refusing what it holds), as is the nil id as X-Account-ID,
// which read as no header at all (the current account).
func TestForgedPositionsAreTheClientsMistake(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	nilID := "00000000-0000-0000-0000-000000000000"
	for _, tc := range []struct{ name, query, after string }{
		{"a list cursor in year 0", `query($a: String) { account { contacts(after: $a, orderBy: {field: CREATED, direction: DESC}) { nodes { id } } } }`,
			b64(`CREATED:d:["0000-01-01T00:00:00+00:00", "` + nilID + `"]`)},
		{"a search score in Go's hex", `query($a: String) { search(query: "acme", after: $a) { nodes { title } } }`,
			b64("1|0x1p-2|DEALS|" + nilID)},
		{"a search score with an underscore", `query($a: String) { search(query: "acme", after: $a) { nodes { title } } }`,
			b64("1|1_0|DEALS|" + nilID)},
		{"a time cursor past 2262 in nanoseconds", `query($a: String) { account { activity(after: $a) { nodes { id } } } }`,
			b64("u99999999999999999:" + nilID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onlyCode(t, w.as(t, w.ownerA, w.A, tc.query, map[string]any{"a": tc.after}), "BAD_USER_INPUT")
		})
	}
	t.Run("the nil id as X-Account-ID", func(t *testing.T) {
		onlyCode(t, w.as(t, w.ownerA, nilID, `{ account { id } }`, nil), "BAD_USER_INPUT")
	})
}

// TestHeadersCannotSwitchOffBruteForceProtection: a User-Agent that is
// not UTF-8 is stored cleaned, so the failure count and the log row are
// written, and sign-up and sign-in work with it.
func TestHeadersCannotSwitchOffBruteForceProtection(t *testing.T) {
	t.Parallel()
	// A clock that stands still: past the threshold a block lasts 1 s,
	// which a loaded machine can outlast between two attempts.
	clock := newFakeClock()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Clock: clock.Now})
	conn := superuser(t, srv)
	const bad = "Mozilla\xff\t/5.0"
	email := newEmail(t)
	r := rawPost(t, srv, bad, gatewaytest.Request{
		Query: `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`,
		Variables: map[string]any{"in": map[string]any{
			"email": email, "password": password, "name": "Pat Example", "accountName": "Example Sales"}},
	})
	if len(r.Errors) > 0 {
		t.Fatalf("sign-up with an odd User-Agent: %+v", r.Errors)
	}
	codes := map[string]int{}
	for range 8 {
		codes[rawPost(t, srv, bad, loginRequest(email, "not the password", nil, nil)).Codes()[0]]++
	}
	if codes["UNAUTHENTICATED"] != 5 || codes["RATE_LIMITED"] != 3 {
		t.Fatalf("8 wrong passwords answered %v, want 5 UNAUTHENTICATED then 3 RATE_LIMITED", codes)
	}
	var throttled, logged int
	if err := conn.Get(&throttled, `SELECT count(*) FROM login_throttles WHERE key LIKE '%' || $1 || '%' AND failures > 0`, email); err != nil {
		t.Fatal(err)
	}
	if err := conn.Get(&logged, `SELECT count(*) FROM login_events WHERE email = $1 AND outcome IN ('WRONG_PASSWORD', 'RATE_LIMITED')`, email); err != nil {
		t.Fatal(err)
	}
	if throttled == 0 || logged != 8 {
		t.Fatalf("%d throttle rows and %d log rows after 8 refused sign-ins", throttled, logged)
	}
	var ua string
	if err := conn.Get(&ua, `SELECT user_agent FROM login_events WHERE email = $1 LIMIT 1`, email); err != nil {
		t.Fatal(err)
	}
	if ua != "Mozilla\uFFFD/5.0" { // invalid bytes replaced, control characters dropped
		t.Fatalf("stored User-Agent %q", ua)
	}
}

// TestRolesCannotShedHiddenFields: a role that hides fewer fields than
// one's own is stronger; it cannot be created, reshaped into or given.
func TestRolesCannotShedHiddenFields(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	allPerms := func(entities ...string) []map[string]any {
		var out []map[string]any
		for _, e := range entities {
			for _, a := range []string{"VIEW", "CREATE", "EDIT", "DELETE"} {
				out = append(out, map[string]any{"entity": e, "action": a, "scope": "ALL"})
			}
		}
		return out
	}
	create := func(who person, name string, hidden []string) gatewaytest.Response {
		return w.as(t, who, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
			"name": name, "permissions": allPerms("MEMBERS", "SETTINGS", "CONTACTS"), "hiddenFields": hidden}})
	}
	var made struct{ CreateRole struct{ ID string } }
	create(w.ownerA, "Discreet admin", []string{"members.email"}).Decode(t, &made)
	discreet := made.CreateRole.ID
	create(w.ownerA, "Other discreet", []string{"members.email", "contacts.phone"}).Decode(t, &made)
	other := made.CreateRole.ID
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.managerA.id, "r": discreet}).Decode(t, &struct{}{})

	// The same permissions without the hidden field: refused.
	onlyCode(t, create(w.managerA, "Seeing admin", nil), "FORBIDDEN")
	// Hiding more is fine.
	create(w.managerA, "Very discreet", []string{"members.email", "deals.amount"}).Decode(t, &made)
	// Reshaping another role to hide less: refused.
	onlyCode(t, w.as(t, w.managerA, w.A, `mutation($id: ID!, $in: RoleInput!) { updateRole(id: $id, input: $in) { id } }`,
		map[string]any{"id": other, "in": map[string]any{"name": "Other discreet", "permissions": allPerms("MEMBERS"), "hiddenFields": []string{}}}), "FORBIDDEN")
	// Giving a role that sees emails, or inviting with one: refused.
	onlyCode(t, w.as(t, w.managerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.readerA.id, "r": roleID(crm.RoleManager)}), "FORBIDDEN")
	onlyCode(t, w.as(t, w.managerA, w.A, `mutation($r: ID!) { inviteMember(email: "second-me@example.com", roleId: $r) { id } }`,
		map[string]any{"r": roleID(crm.RoleReadOnly)}), "FORBIDDEN")
}

// TestAdminsCannotActOnStrongerMembers: acting on a member needs a role
// that covers theirs.
func TestAdminsCannotActOnStrongerMembers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	var perms []map[string]any
	for _, e := range crm.Entities {
		for _, a := range crm.Actions {
			perms = append(perms, map[string]any{"entity": string(e), "action": string(a), "scope": "ALL"})
		}
	}
	var made struct{ CreateRole struct{ ID string } }
	w.as(t, w.ownerA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"name": "Finance lead", "permissions": perms}}).Decode(t, &made)
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.managerA.id, "r": made.CreateRole.ID}).Decode(t, &struct{}{})
	for name, q := range map[string]string{
		"deactivate": `mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`,
		"demote":     `mutation($u: ID!) { updateMember(userId: $u, input: {roleId: "` + roleID(crm.RoleReadOnly) + `"}) { userId } }`,
		"remove":     `mutation($u: ID!) { removeMember(userId: $u, transferTo: "` + w.adminA.id + `") }`,
	} {
		t.Run(name, func(t *testing.T) {
			onlyCode(t, w.as(t, w.adminA, w.A, q, map[string]any{"u": w.managerA.id}), "FORBIDDEN")
		})
	}
	// The role itself is out of the admin's reach too.
	onlyCode(t, w.as(t, w.adminA, w.A, `mutation($id: ID!) { deleteRole(id: $id) }`, map[string]any{"id": made.CreateRole.ID}), "FORBIDDEN")
	// The admin still acts on members their role covers.
	w.as(t, w.adminA, w.A, `mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`, map[string]any{"u": w.repA.id}).Decode(t, &struct{}{})
}

// TestLookAlikeEmailsAreOneLoginOrRefused.
func TestLookAlikeEmailsAreOneLoginOrRefused(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	signUp(t, srv, "elise.pat@example.com")
	for raw, code := range map[string]string{
		"ｅlise.pat@example.com":       "CONFLICT",       // full-width
		"e\u0301lise.pat@example.com": "",               // decomposed é: a different, real name
		"\u0435lise.pat@example.com":  "BAD_USER_INPUT", // Cyrillic е
		"elise.p\u200bat@example.com": "BAD_USER_INPUT", // zero-width space
		"\u202eelise.pat@example.com": "BAD_USER_INPUT", // right-to-left override
		"ELISE.PAT@EXAMPLE.COM":       "CONFLICT",
	} {
		r := srv.Post(t, gatewaytest.Request{
			Query: `mutation($in: SignUpInput!) { signUp(input: $in) { user { email } } }`,
			Variables: map[string]any{"in": map[string]any{
				"email": raw, "password": password, "name": "Look Alike", "accountName": "Look Alike"}},
		})
		if code == "" {
			if len(r.Errors) > 0 {
				t.Errorf("%q: %+v", raw, r.Errors)
			}
			continue
		}
		if got := r.Codes(); len(got) != 1 || got[0] != code {
			t.Errorf("%q answered %v, want %s", raw, got, code)
		}
	}
	// Decomposed and composed é are one login.
	r := srv.Post(t, gatewaytest.Request{
		Query: `mutation($in: SignUpInput!) { signUp(input: $in) { user { email } } }`,
		Variables: map[string]any{"in": map[string]any{
			"email": "\u00e9lise.pat@example.com", "password": password, "name": "Look Alike", "accountName": "Look Alike"}},
	})
	onlyCode(t, r, "CONFLICT")
}

// TestChallengeAttemptsHoldUnderConcurrency: 100 concurrent wrong codes
// on one challenge have exactly five checked.
func TestChallengeAttemptsHoldUnderConcurrency(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Clock: clock.Now})
	u := enableTOTP(t, srv, clock)
	ch := challenge(t, srv, u.email)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := range 100 {
		wg.Go(func() {
			wrong := "00000" + string(rune('0'+i%10))
			r := secondStep(srv, t, ch, wrong)
			mu.Lock()
			defer mu.Unlock()
			for _, c := range r.Codes() {
				codes[c]++
			}
		})
	}
	wg.Wait()
	var checked int
	if err := superuser(t, srv).Get(&checked, `SELECT count(*) FROM login_events WHERE email = $1 AND outcome = 'SECOND_FACTOR_FAILED'`, u.email); err != nil {
		t.Fatal(err)
	}
	if checked > 5 {
		t.Fatalf("%d codes were checked on one challenge, want at most 5 (answers %v)", checked, codes)
	}
	if codes["INTERNAL"] > 0 {
		t.Fatalf("answers %v", codes)
	}
	// Once the failures' wait is over, the right code is refused too: the
	// challenge's five attempts are spent.
	clock.Advance(2 * time.Second)
	onlyCode(t, secondStep(srv, t, ch, code(t, u.secret, clock, 0)), "SECOND_FACTOR_REQUIRED")
}

// TestProductionRevealsNoSchema: no suggestions on arguments, input
// fields or enum values, and introspection refused with a code.
func TestProductionRevealsNoSchema(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Env: map[string]string{"SWITCHBOARD_INTROSPECTION": "false"}})
	token := *signUp(t, srv, newEmail(t)).Token
	for name, q := range map[string]string{
		"argument":    `{ account { members(firts: 2) { nodes { userId } } } }`,
		"input field": `mutation { createRole(input: {nam: "x", permissions: []}) { id } }`,
		"enum value":  `{ account { members(status: ACTIV) { nodes { userId } } } }`,
		"field":       `{ account { membrs { nodes { userId } } } }`,
	} {
		r := srv.Post(t, gatewaytest.Request{Query: q, Header: bearer(token)})
		if len(r.Errors) == 0 || strings.Contains(r.Errors[0].Message, "Did you mean") {
			t.Errorf("%s: %+v", name, r.Errors)
		}
	}
	for _, q := range []string{`{ __schema { types { name } } }`, `{ __type(name: "User") { name } }`,
		`query { ...F } fragment F on Query { __schema { queryType { name } } }`} {
		onlyCode(t, srv.Post(t, gatewaytest.Request{Query: q}), "GRAPHQL_VALIDATION_FAILED")
	}
	// __typename is not introspection.
	r := srv.Post(t, gatewaytest.Request{Query: `{ __typename }`})
	if len(r.Errors) > 0 {
		t.Fatalf("__typename: %+v", r.Errors)
	}
}

// TestEveryListCostsItsPage: aliases of a big page cannot add up past the
// budget.
func TestEveryListCostsItsPage(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	token := *signUp(t, srv, newEmail(t)).Token
	var q strings.Builder
	q.WriteString("{ account {")
	for i := range 29 {
		q.WriteString(" a" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `: activity(first: 100) { nodes { id action changes } }`)
	}
	q.WriteString(" } }")
	onlyCode(t, srv.Post(t, gatewaytest.Request{Query: q.String(), Header: bearer(token)}), "COMPLEXITY_LIMIT_EXCEEDED")
}

// TestConcurrentAcceptsOfOneNewEmail: two invitations to one new address,
// from two accounts, accepted at the same moment: one login is created,
// the other answer is CONFLICT.
func TestConcurrentAcceptsOfOneNewEmail(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	email := newEmail(t)
	tokens := []string{
		w.invite(t, w.ownerA, w.A, email, roleID(crm.RoleReadOnly)),
		w.invite(t, w.ownerB, w.B, email, roleID(crm.RoleReadOnly)),
	}
	var wg sync.WaitGroup
	codes := make([][]string, 2)
	start := make(chan struct{})
	for i, tok := range tokens {
		wg.Go(func() {
			<-start
			codes[i] = w.accept(t, tok, nil, map[string]any{"name": "Racing Person", "password": password}).Codes()
		})
	}
	close(start)
	wg.Wait()
	ok, conflict := 0, 0
	for _, c := range codes {
		switch {
		case len(c) == 0:
			ok++
		case len(c) == 1 && (c[0] == "CONFLICT" || c[0] == "UNAUTHENTICATED"):
			conflict++
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("two concurrent accepts answered %v, want one success and one CONFLICT", codes)
	}
}

// rawPost sends a GraphQL request with a User-Agent header that Go's HTTP
// client would refuse to send (it is not valid UTF-8), over a bare TCP
// connection.
func rawPost(t testing.TB, srv *gatewaytest.Server, userAgent string, req gatewaytest.Request) gatewaytest.Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": req.Query, "variables": req.Variables})
	if err != nil {
		t.Fatal(err)
	}
	conn, host := srv.Dial(t)
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		host, userAgent, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := gatewaytest.Response{Status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return out
}

// selectAll writes a selection of every field of typ, to depth levels.
func selectAll(schema *ast.Schema, typ string, depth int, args map[string]string) string {
	return "{ __typename " + strings.Join(fieldSelections(schema, typ, depth, args), " ") + " }"
}

// fieldSelections writes a selection of each field of typ, to depth levels,
// with arguments: paged lists ask for five, required arguments come from
// args (by "field.argument", else by argument name; fields needing others
// are left out). It is how the tour below reaches every field, including
// any added later.
func fieldSelections(schema *ast.Schema, typ string, depth int, args map[string]string) []string {
	var out []string
	for _, f := range schema.Types[typ].Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		inner := f.Type
		for inner.Elem != nil {
			inner = inner.Elem
		}
		fdef := schema.Types[inner.NamedType]
		if leaf := fdef.Kind == ast.Scalar || fdef.Kind == ast.Enum; !leaf && depth == 0 {
			continue
		}
		var call []string
		skip := false
		for _, a := range f.Arguments {
			value := args[f.Name+"."+a.Name]
			if value == "" {
				value = args[a.Name]
			}
			switch {
			case a.Name == "first":
				call = append(call, "first: 5")
			case a.Type.NonNull && value == "":
				skip = true
			case a.Type.NonNull:
				call = append(call, a.Name+": "+value)
			}
		}
		if skip {
			continue
		}
		sel := f.Name
		if len(call) > 0 {
			sel += "(" + strings.Join(call, ", ") + ")"
		}
		switch fdef.Kind {
		case ast.Object:
			sel += " " + selectAll(schema, fdef.Name, depth-1, args)
		case ast.Union, ast.Interface:
			sel += " { __typename"
			for _, member := range schema.GetPossibleTypes(fdef) {
				sel += " ... on " + member.Name + " " + selectAll(schema, member.Name, depth-1, args)
			}
			sel += " }"
		}
		out = append(out, sel)
	}
	return out
}

// shows reports whether body holds the secret: anywhere for text, and for
// a number only where no digit touches it.
func shows(body, secret string) bool {
	if strings.Trim(secret, "0123456789") != "" {
		return strings.Contains(body, secret)
	}
	for i := 0; ; {
		k := strings.Index(body[i:], secret)
		if k < 0 {
			return false
		}
		at, end := i+k, i+k+len(secret)
		if (at == 0 || !isDigit(body[at-1])) && (end == len(body) || !isDigit(body[end])) {
			return true
		}
		i = at + 1
	}
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// TestHiddenValuesAppearNowhere takes a role that hides every hideable
// field (members' emails and last-seen times, contacts' addresses, phones
// and emails, which mail addresses are too, companies' revenue, phone and
// address, deals' amount, probability and close date) on a tour of every
// field of the account, of every member mutation and of every record
// type's mutation result, and looks for the hidden values in each response
// body.
func TestHiddenValuesAppearNowhere(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	var made struct{ CreateRole struct{ ID string } }
	var perms []map[string]any
	for _, e := range crm.Entities {
		if e == crm.Billing {
			continue
		}
		for _, a := range []string{"VIEW", "CREATE", "EDIT"} {
			perms = append(perms, map[string]any{"entity": e, "action": a, "scope": "ALL"})
		}
	}
	var everyHideable []string
	for e, fields := range crm.HideableFields {
		for _, f := range fields {
			everyHideable = append(everyHideable, crm.FieldName(e, f))
		}
	}
	w.as(t, w.ownerA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"name": "Discreet", "permissions": perms, "hiddenFields": everyHideable}}).Decode(t, &made)
	records := w.seedRecords(t, w.ownerA, w.A, w.repA)
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.readerA.id, "r": made.CreateRole.ID}).Decode(t, &struct{}{})
	viewer := login(t, w.srv, w.readerA.email, nil) // fresh sign-in for the IP allowlist below
	w.readerA.token = *viewer.Token
	// A member whose role the viewer's covers, for the member mutations.
	peerEmail := newEmail(t)
	var joined struct {
		AcceptInvitation struct {
			Auth struct{ User struct{ ID string } }
		}
	}
	w.accept(t, w.invite(t, w.ownerA, w.A, peerEmail, made.CreateRole.ID), nil,
		map[string]any{"name": "Peer", "password": password}).Decode(t, &joined)
	peer := joined.AcceptInvitation.Auth.User.ID
	pending := newEmail(t)
	w.invite(t, w.ownerA, w.A, pending, roleID(crm.RoleReadOnly))
	w.as(t, w.ownerA, w.A, `mutation { setIpAllowlist(cidrs: []) { id } }`, nil).Decode(t, &struct{}{})

	// What the seed wrote in hideable fields (seedRecords). A number is
	// found only where no digit touches it: "5000" turns up inside
	// timestamps' microseconds ("00:41:51.450003Z" failed the test once).
	domain := strings.ToLower(strings.ReplaceAll(w.A[:8], "-", "")) + ".example"
	secrets := []string{w.ownerA.email, w.adminA.email, w.managerA.email, w.repA.email, peerEmail, pending,
		"sam@" + domain, "team@" + domain, "040 555 0100", "Seed Street", "+49 30 1234567", "Hamburg", "1000000", "5000", `"probability":50`, "2026-06-30"}
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	args := map[string]string{"userId": `"` + peer + `"`, "id": `"` + made.CreateRole.ID + `"`}
	for _, api := range recordAPIs {
		args[api.one+".id"] = `"` + records[api.entity] + `"`
	}
	check := func(name string, r gatewaytest.Response) {
		t.Helper()
		// Every field answers: a tour that stopped at an error would prove
		// nothing.
		if len(r.Errors) > 0 || len(r.Data) < 20 {
			t.Fatalf("%s: %+v (data %s)", name, r.Errors, r.Data)
		}
		body := string(r.Data)
		for _, e := range r.Errors {
			body += e.Message
		}
		for _, s := range secrets {
			if shows(body, s) {
				t.Errorf("%s shows the hidden email %s: %s", name, s, body)
			}
		}
		if strings.Contains(body, `"lastSeenAt":"`) {
			t.Errorf("%s shows a hidden lastSeenAt: %s", name, body)
		}
	}
	// One query per field of the account, each as deep as the complexity
	// budget allows (four levels, or fewer for lists of lists).
	tour := map[string]string{}
	for depth := 2; depth <= 4; depth++ {
		for _, sel := range fieldSelections(schema, "Account", depth, args) {
			name, _, _ := strings.Cut(strings.SplitN(sel, "(", 2)[0], " ")
			q := "{ account { " + sel + " } }"
			if depth > 2 {
				if r := w.as(t, w.ownerA, w.A, q, nil); len(r.Errors) > 0 && r.Errors[0].Code() == "COMPLEXITY_LIMIT_EXCEEDED" {
					continue
				}
			}
			tour["account."+name] = q
		}
	}
	member := selectAll(schema, "Member", 2, args)
	for name, m := range map[string]string{
		"updateMember":     `updateMember(userId: "` + peer + `", input: {name: "Renamed Peer"}) ` + member,
		"deactivateMember": `deactivateMember(userId: "` + peer + `") ` + member,
		"inviteMember":     `inviteMember(email: "` + newEmail(t) + `", roleId: "` + made.CreateRole.ID + `") ` + selectAll(schema, "Invitation", 2, args),
	} {
		tour[name] = "mutation { " + m + " }"
	}
	// Each record type's mutation result: a change that changes nothing
	// answers with the record.
	for _, api := range recordAPIs {
		if api.update == "" {
			continue
		}
		for depth := 3; depth >= 1; depth-- {
			q := "mutation { " + api.update + `(id: "` + records[api.entity] + `", input: {}) ` + selectAll(schema, api.typ, depth, args) + " }"
			if r := w.as(t, w.ownerA, w.A, q, nil); len(r.Errors) == 0 || r.Errors[0].Code() != "COMPLEXITY_LIMIT_EXCEEDED" || depth == 1 {
				tour[api.update] = q
				break
			}
		}
	}
	// Search, for every hidden value and for the words around them.
	// (A hit's record is the record the account tour above reads whole.)
	hits := "{ nodes { account { id name } type title snippet score record { __typename ... on Contact { id firstName emails { address } } } }" +
		" pageInfo { endCursor hasNextPage } facets { accounts { account { id name } count } types { type count } } }"
	for i, text := range append(slices.Clone(secrets), "seed", "sam", "hamburg", "street", "team", "040", "5550100", domain, "Seed Company") {
		tour[fmt.Sprintf("search %d (%s)", i, text)] = `{ search(query: ` + strconv.Quote(text) + `) ` + hits + ` }`
	}
	for name, q := range tour {
		check(name, w.as(t, w.readerA, w.A, q, nil))
	}
	// The searches found what the role shows: the tour saw real hits.
	var found struct {
		Search struct {
			Nodes []struct{ Type, Snippet string }
		}
	}
	w.as(t, w.readerA, w.A, `{ search(query: "seed") { nodes { type snippet } } }`, nil).Decode(t, &found)
	if len(found.Search.Nodes) < 4 {
		t.Fatalf("a search for seed found only %+v", found.Search.Nodes)
	}
	// A live feed of the account too.
	ws := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + w.readerA.token, "accountId": w.A})
	ws.Ack()
	live := liveSubscriptions(t, w.srv)
	ws.Subscribe("events", gatewaytest.Request{Query: "subscription { accountEvents { __typename ... on RoleChanged " +
		selectAll(schema, "RoleChanged", 3, args) + " } }"})
	awaitSubscriptions(t, w.srv, live+1)
	w.as(t, w.ownerA, w.A, `mutation($id: ID!, $in: RoleInput!) { updateRole(id: $id, input: $in) { id } }`, map[string]any{"id": made.CreateRole.ID,
		"in": map[string]any{"name": "Discreet", "permissions": perms, "hiddenFields": []string{"members.email", "members.lastSeenAt", "deals.amount"}}}).Decode(t, &struct{}{})
	check("accountEvents", ws.NextData("events"))
}
