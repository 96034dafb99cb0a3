package resolvers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"switchboard/crm"
	"switchboard/gateway/gatewaytest"
	"switchboard/graph"
)

// TestListingDealsCostsAConstantNumberOfStatements: a page of deals with
// their owners, companies and contacts is read by one statement per kind
// of thing, however many deals it holds (no N+1).
func TestListingDealsCostsAConstantNumberOfStatements(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	var companies, contacts []string
	for i := range 10 {
		var c struct{ CreateCompany struct{ ID string } }
		w.as(t, w.ownerA, w.A, `mutation($n: String!) { createCompany(input: {name: $n}) { id } }`, map[string]any{"n": fmt.Sprint("Company ", i)}).Decode(t, &c)
		companies = append(companies, c.CreateCompany.ID)
		var p struct{ CreateContact struct{ ID string } }
		w.as(t, w.ownerA, w.A, `mutation($n: String!) { createContact(input: {lastName: $n}) { id } }`, map[string]any{"n": fmt.Sprint("Person ", i)}).Decode(t, &p)
		contacts = append(contacts, p.CreateContact.ID)
	}
	owners := []person{w.ownerA, w.adminA, w.managerA, w.repA}
	for i := range 100 {
		w.as(t, owners[i%len(owners)], w.A, `mutation($in: DealInput!) { createDeal(input: $in) { id } }`, map[string]any{"in": map[string]any{
			"title": fmt.Sprint("Deal ", i), "companyId": companies[i%10], "contactIds": []string{contacts[i%10], contacts[(i+3)%10]},
		}}).Decode(t, &struct{}{})
	}
	h := withAccount(bearer(w.ownerA.token), w.A)
	query := `query($n: Int!) { account { deals(first: $n) { nodes { id title owner { name } company { name } contacts { name } } } } }`
	var counts []int64
	for _, n := range []int{100, 10} {
		count, r := statements(t, w.srv, gatewaytest.Request{Query: query, Variables: map[string]any{"n": n}, Header: h})
		var out struct {
			Account struct {
				Deals struct {
					Nodes []struct {
						Owner    *struct{ Name string }
						Company  *struct{ Name string }
						Contacts []struct{ Name string }
					}
				}
			}
		}
		r.Decode(t, &out)
		nodes := out.Account.Deals.Nodes
		if len(nodes) != n {
			t.Fatalf("%d deals, want %d", len(nodes), n)
		}
		for _, d := range nodes {
			if d.Owner == nil || d.Company == nil || len(d.Contacts) != 2 {
				t.Fatalf("a deal came back without its owner, company or contacts: %+v", d)
			}
		}
		counts = append(counts, count)
	}
	// BEGIN with the session's check, the deals, their owners, companies,
	// contact links and contacts, COMMIT.
	if counts[0] != counts[1] || counts[0] > 8 {
		t.Fatalf("100 deals cost %d statements and 10 cost %d: want the same, at most 8", counts[0], counts[1])
	}
	t.Logf("a page of deals with owners, companies and contacts: %d statements", counts[0])
}

// TestHiddenFieldsCannotBeWrittenFilteredOrSorted: for a role hiding
// deals' amounts and contacts' emails, writing one is FORBIDDEN naming the
// field, so is filtering or ordering by it, and text filters do not match
// what it holds.
func TestHiddenFieldsCannotBeWrittenFilteredOrSorted(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	var made struct{ CreateRole struct{ ID string } }
	var perms []map[string]any
	for _, e := range []string{"CONTACTS", "DEALS", "COMPANIES"} {
		for _, a := range []string{"VIEW", "CREATE", "EDIT"} {
			perms = append(perms, map[string]any{"entity": e, "action": a, "scope": "ALL"})
		}
	}
	w.as(t, w.ownerA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"name": "No money", "permissions": perms, "hiddenFields": []string{"deals.amount", "contacts.email"}}}).Decode(t, &made)
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.repA.id, "r": made.CreateRole.ID}).Decode(t, &struct{}{})
	seed := w.seedRecords(t, w.ownerA, w.A, w.repA)

	for _, tc := range []struct{ name, query, field string }{
		{"create with an amount", `mutation { createDeal(input: {title: "Mine", amount: "10.00"}) { id } }`, "input.amount"},
		{"update an amount", `mutation($id: ID!) { updateDeal(id: $id, input: {amount: "1.00"}) { id } }`, "input.amount"},
		{"clear an amount", `mutation($id: ID!) { updateDeal(id: $id, input: {amount: null}) { id } }`, "input.amount"},
		{"create with an email", `mutation { createContact(input: {lastName: "X", emails: [{address: "x@example.com"}]}) { id } }`, "input.emails"},
		{"order by amount", `{ account { deals(orderBy: {field: AMOUNT}) { nodes { id } } } }`, "orderBy"},
	} {
		r := w.as(t, w.repA, w.A, tc.query, map[string]any{"id": seed[crm.Deals]})
		e := onlyCode(t, r, "FORBIDDEN")
		if got, _ := e.Extensions["field"].(string); got != tc.field {
			t.Errorf("%s: FORBIDDEN naming %q, want %q", tc.name, got, tc.field)
		}
	}
	// The owner's text filter finds the contact by its address; the
	// role's does not, and finds it by its name.
	find := func(who person, text string) int {
		var out struct {
			Account struct {
				Contacts struct{ Nodes []struct{ ID string } }
			}
		}
		w.as(t, who, w.A, `query($q: String) { account { contacts(filter: {text: $q}) { nodes { id } } } }`, map[string]any{"q": text}).Decode(t, &out)
		return len(out.Account.Contacts.Nodes)
	}
	domain := strings.ToLower(strings.ReplaceAll(w.A[:8], "-", "")) + ".example"
	if find(w.ownerA, "sam@"+domain) != 1 || find(w.repA, "sam@"+domain) != 0 || find(w.repA, "Seed") != 1 {
		t.Errorf("text filter by a hidden address: owner %d, role %d; by name %d", find(w.ownerA, "sam@"+domain), find(w.repA, "sam@"+domain), find(w.repA, "Seed"))
	}
	// And the record reads with the hidden fields null, and says which.
	var deal struct {
		Account struct {
			Deal struct {
				Amount       *string
				Title        string
				HiddenFields []string
			}
		}
	}
	w.as(t, w.repA, w.A, `query($id: ID!) { account { deal(id: $id) { amount title hiddenFields } } }`, map[string]any{"id": seed[crm.Deals]}).Decode(t, &deal)
	if d := deal.Account.Deal; d.Amount != nil || d.Title != "Seed deal" || fmt.Sprint(d.HiddenFields) != "[amount]" {
		t.Errorf("deal as the role sees it: %+v", d)
	}
}

// TestTimelineAndMailLinks: a contact's timeline lists the notes and tasks
// about it, the deals with it and mail with any of its addresses, newest
// first; mail links to contacts by address without case, including a
// contact created after the mail was logged.
func TestTimelineAndMailLinks(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	seed := w.seedRecords(t, w.ownerA, w.A, w.repA)
	domain := strings.ToLower(strings.ReplaceAll(w.A[:8], "-", "")) + ".example"
	var timeline struct {
		Account struct {
			Contact struct {
				Timeline struct {
					Nodes []struct {
						Typename string `json:"__typename"`
						ID       string
					}
				}
			}
		}
	}
	w.as(t, w.ownerA, w.A, `query($id: ID!) { account { contact(id: $id) { timeline(first: 10) { nodes { __typename ... on Note { id } ... on Task { id } ... on Deal { id } ... on MailMessage { id } } } } } }`,
		map[string]any{"id": seed[crm.Contacts]}).Decode(t, &timeline)
	var kinds []string
	for _, n := range timeline.Account.Contact.Timeline.Nodes {
		kinds = append(kinds, n.Typename)
	}
	// Created in this order: the deal, the task, the note, then the mail
	// (sent before all of them, so last).
	if fmt.Sprint(kinds) != "[Note Task Deal MailMessage]" {
		t.Fatalf("timeline %v", kinds)
	}

	// A mail from an address no contact has yet, in another case.
	var logged struct{ LogMail struct{ ID string } }
	w.as(t, w.ownerA, w.A, `mutation($in: MailMessageInput!) { logMail(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"from": map[string]any{"address": "Later.Person@" + strings.ToUpper(domain)}, "subject": "Before you knew me",
		"sentAt": "2026-03-01T09:00:00Z", "direction": "INBOUND"}}).Decode(t, &logged)
	contactsOf := func() []string {
		var out struct {
			Account struct {
				MailMessage struct{ Contacts []struct{ LastName string } }
			}
		}
		w.as(t, w.ownerA, w.A, `query($id: ID!) { account { mailMessage(id: $id) { contacts { lastName } } } }`, map[string]any{"id": logged.LogMail.ID}).Decode(t, &out)
		var names []string
		for _, c := range out.Account.MailMessage.Contacts {
			names = append(names, c.LastName)
		}
		return names
	}
	if got := contactsOf(); len(got) != 0 {
		t.Fatalf("a mail from nobody links to %v", got)
	}
	w.as(t, w.ownerA, w.A, `mutation { createContact(input: {lastName: "Later", emails: [{address: "later.person@`+domain+`"}]}) { id } }`, nil).Decode(t, &struct{}{})
	if got := contactsOf(); fmt.Sprint(got) != "[Later]" {
		t.Fatalf("the mail links to %v after the contact was created, want [Later]", got)
	}
	// Logging the same message twice gives back the first.
	var first, second struct{ LogMail struct{ ID string } }
	in := map[string]any{"in": map[string]any{"messageId": "<twice@" + domain + ">", "from": map[string]any{"address": "a@b.example"},
		"sentAt": "2026-03-01T09:00:00Z", "direction": "OUTBOUND"}}
	w.as(t, w.ownerA, w.A, `mutation($in: MailMessageInput!) { logMail(input: $in) { id } }`, in).Decode(t, &first)
	w.as(t, w.ownerA, w.A, `mutation($in: MailMessageInput!) { logMail(input: $in) { id } }`, in).Decode(t, &second)
	if first.LogMail.ID != second.LogMail.ID {
		t.Fatalf("the same Message-ID logged twice made two messages")
	}
	if n := w.activityCount(t, w.A, "mail_message.created"); n != 3 {
		t.Errorf("%d mail_message.created entries, want 3 (the seed's, the one from nobody, the first of the twins)", n)
	}
}

// TestBadRecordInputIsTheClientsMistake: for every input field of every
// record type, a value of the wrong kind, and for text a value too long,
// answers a client error (BAD_USER_INPUT naming the field, or a
// validation failure), never INTERNAL.
func TestBadRecordInputIsTheClientsMistake(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	seed := w.seedRecords(t, w.ownerA, w.A, w.repA)
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	bad := []any{42, true, "x", []any{1}, map[string]any{"no": "such"}, strings.Repeat("y", 1100), "not-an-id",
		"\u202eevil", "2026-13-45", "-5.00", "1.234", 1e30,
		// Times at the edges: Go's zero time (written back as null), and
		// offsets that carry a time across year 9999 or year 1 in UTC.
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
		"00000000-0000-0000-0000-000000000000"}
	for _, api := range recordAPIs {
		input := schema.Types[api.typ+"Input"]
		for _, f := range input.Fields {
			for _, v := range bad {
				in := minimalInput(api.entity, seed)
				in[f.Name] = v
				r := w.as(t, w.ownerA, w.A, `mutation($in: `+api.typ+`Input!) { `+api.create+`(input: $in) { id } }`, map[string]any{"in": in})
				for _, e := range r.Errors {
					if e.Code() == "INTERNAL" {
						t.Errorf("%s.%s = %v: INTERNAL", api.typ, f.Name, v)
					}
				}
				if len(r.Errors) == 0 {
					// Some values are valid for some fields ("x" for a
					// name): delete what they made, to keep the count.
					var out map[string]struct{ ID string }
					r.Decode(t, &out)
					w.as(t, w.ownerA, w.A, `mutation($id: ID!) { `+api.remove+`(id: $id) }`, map[string]any{"id": out[api.create].ID}).Decode(t, &struct{}{})
				}
			}
		}
	}
}

// TestSearchOverTheAPI: search answers with hits, their records and
// facets, pages by its cursor, and refuses bad arguments as the client's
// mistake, naming them.
func TestSearchOverTheAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	w.seedRecords(t, w.ownerA, w.A, w.repA)
	w.seedRecords(t, w.ownerB, w.B, w.memberB)
	var res struct {
		Search struct {
			Nodes []struct {
				Account struct{ ID, Name string }
				Type    string
				Title   string
				Snippet string
				Record  struct {
					Typename string `json:"__typename"`
					ID       string
				}
			}
			PageInfo struct {
				EndCursor   *string
				HasNextPage bool
			}
			Facets struct {
				Accounts []struct {
					Account struct{ ID string }
					Count   int
				}
				Types []struct {
					Type  string
					Count int
				}
			}
		}
	}
	const q = `query($q: String!, $first: Int, $after: String, $types: [SearchType!]) {
		search(query: $q, first: $first, after: $after, types: $types) {
			nodes { account { id name } type title snippet record { __typename ... on Contact { id } ... on Deal { id } ... on Company { id }
				... on Task { id } ... on Note { id } ... on MailMessage { id } } }
			pageInfo { endCursor hasNextPage } facets { accounts { account { id } count } types { type count } } } }`
	w.as(t, w.ownerA, w.A, q, map[string]any{"q": "sam"}).Decode(t, &res)
	types := map[string]string{}
	for _, h := range res.Search.Nodes {
		if h.Account.ID != w.A || h.Record.ID == "" {
			t.Errorf("hit %+v: not A's, or without its record", h)
		}
		types[h.Type] = h.Record.Typename
	}
	for typ, typename := range map[string]string{"CONTACT": "Contact", "TASK": "Task", "NOTE": "Note", "MAIL": "MailMessage"} {
		if types[typ] != typename {
			t.Errorf("a search for sam found %v, no %s", types, typ)
		}
	}
	if len(res.Search.Facets.Accounts) != 1 || res.Search.Facets.Accounts[0].Account.ID != w.A || res.Search.Facets.Accounts[0].Count != len(res.Search.Nodes) {
		t.Errorf("facets %+v for %d hits", res.Search.Facets, len(res.Search.Nodes))
	}

	// Pages: one hit at a time, each once.
	seen := map[string]bool{}
	var after *string
	for range 10 {
		w.as(t, w.ownerA, w.A, q, map[string]any{"q": "sam", "first": 1, "after": after}).Decode(t, &res)
		for _, h := range res.Search.Nodes {
			if seen[h.Record.ID] {
				t.Fatalf("%s twice", h.Record.ID)
			}
			seen[h.Record.ID] = true
		}
		if !res.Search.PageInfo.HasNextPage {
			break
		}
		after = res.Search.PageInfo.EndCursor
	}
	if len(seen) != len(types) {
		t.Errorf("paging one by one saw %d hits, one page %d", len(seen), len(types))
	}

	for _, c := range []struct {
		name  string
		query string
		vars  map[string]any
		field string
	}{
		{"an empty query", `{ search(query: "") { nodes { title } } }`, nil, "query"},
		{"a long query", `query($q: String!) { search(query: $q) { nodes { title } } }`, map[string]any{"q": strings.Repeat("sam ", 60)}, "query"},
		{"a malformed account", `{ search(query: "sam", accounts: ["not-an-id"]) { nodes { title } } }`, nil, "accounts"},
		{"too many accounts", `query($a: [ID!]) { search(query: "sam", accounts: $a) { nodes { title } } }`,
			map[string]any{"a": slices.Repeat([]string{w.A}, crm.MaxSearchAccounts+1)}, "accounts"},
		{"a bad cursor", `{ search(query: "sam", after: "nope") { nodes { title } } }`, nil, "after"},
		{"a page too big", `{ search(query: "sam", first: 1000) { nodes { title } } }`, nil, "first"},
	} {
		r := w.as(t, w.ownerA, w.A, c.query, c.vars)
		if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Errorf("%s: %+v, want one BAD_USER_INPUT", c.name, r.Errors)
			continue
		}
		if got, _ := r.Errors[0].Extensions["field"].(string); !strings.HasSuffix(got, c.field) {
			t.Errorf("%s: BAD_USER_INPUT naming %q, want %q", c.name, got, c.field)
		}
	}
	if r := w.as(t, w.ownerA, w.A, `{ search(query: "sam", types: [GROUP]) { nodes { title } } }`, nil); len(r.Errors) == 0 || r.Errors[0].Code() == "INTERNAL" {
		t.Errorf("an unknown type: %+v", r.Errors)
	}
}

// TestSearchPagesUnderConcurrentInserts: while another member keeps adding
// matching contacts, paging through a search sees every contact that was
// there when it began, each once.
func TestSearchPagesUnderConcurrentInserts(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	const create = `mutation($n: String!) { createContact(input: {firstName: $n, lastName: "Pageturner"}) { id } }`
	before := map[string]bool{}
	for i := range 30 {
		var out struct{ CreateContact struct{ ID string } }
		w.as(t, w.ownerA, w.A, create, map[string]any{"n": fmt.Sprintf("Early%02d", i)}).Decode(t, &out)
		before[out.CreateContact.ID] = true
	}
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if r := w.as(t, w.adminA, w.A, create, map[string]any{"n": fmt.Sprintf("Late%03d", n)}); len(r.Errors) > 0 {
				t.Errorf("a concurrent insert: %+v", r.Errors)
			}
			n++
		}
	}()
	seen := map[string]bool{}
	var after *string
	for page := 0; ; page++ {
		var res struct {
			Search struct {
				Nodes    []struct{ Record struct{ ID string } }
				PageInfo struct {
					EndCursor   *string
					HasNextPage bool
				}
			}
		}
		w.as(t, w.ownerA, w.A, `query($after: String) { search(query: "pageturner", first: 4, after: $after) {
			nodes { record { ... on Contact { id } } } pageInfo { endCursor hasNextPage } } }`, map[string]any{"after": after}).Decode(t, &res)
		for _, n := range res.Search.Nodes {
			if seen[n.Record.ID] {
				t.Fatalf("page %d repeats %s", page, n.Record.ID)
			}
			seen[n.Record.ID] = true
		}
		if !res.Search.PageInfo.HasNextPage {
			break
		}
		after = res.Search.PageInfo.EndCursor
	}
	close(stop)
	if inserted := <-done; inserted == 0 {
		t.Fatal("no insert ran while paging")
	}
	for id := range before {
		if !seen[id] {
			t.Errorf("paging missed %s, there from the start", id)
		}
	}
}

// TestATimelinePagesAcrossTheYears: a timeline paged one entry at a time
// gives every entry once, whatever its time within the range a client may
// give. Its cursor counted nanoseconds, which overflow after 2262: with
// mail from 2500 and 2999, pages skipped entries.
func TestATimelinePagesAcrossTheYears(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	var contact struct{ CreateContact struct{ ID string } }
	w.as(t, w.ownerA, w.A, `mutation { createContact(input: {lastName: "Longview", emails: [{address: "long@view.example"}]}) { id } }`, nil).Decode(t, &contact)
	sent := []string{"2999-12-31T23:59:59Z", "2500-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "1900-01-02T00:00:00Z"}
	for _, at := range sent {
		w.as(t, w.ownerA, w.A, `mutation($in: MailMessageInput!) { logMail(input: $in) { id } }`, map[string]any{"in": map[string]any{
			"from": map[string]any{"address": "long@view.example"}, "subject": "at " + at, "sentAt": at, "direction": "INBOUND"}}).Decode(t, &struct{}{})
	}
	var got []string
	after := ""
	for range 10 {
		var page struct {
			Account struct {
				Contact struct {
					Timeline struct {
						Nodes    []struct{ SentAt string }
						PageInfo struct {
							EndCursor   string
							HasNextPage bool
						}
					}
				}
			}
		}
		w.as(t, w.ownerA, w.A, `query($id: ID!, $a: String) { account { contact(id: $id) { timeline(first: 1, after: $a) {
			nodes { ... on MailMessage { sentAt } } pageInfo { endCursor hasNextPage } } } } }`,
			map[string]any{"id": contact.CreateContact.ID, "a": after}).Decode(t, &page)
		for _, n := range page.Account.Contact.Timeline.Nodes {
			got = append(got, n.SentAt)
		}
		if !page.Account.Contact.Timeline.PageInfo.HasNextPage {
			break
		}
		after = page.Account.Contact.Timeline.PageInfo.EndCursor
	}
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Fatalf("paged one at a time: %v, want %v", got, sent)
	}
}

// TestAValuesMissingPartsAreNull: the parts of a value a client leaves out
// (an address's street, an email's or a phone's label, a mailbox's name)
// read back as null, not as empty text; an address is one value, so an
// update replaces it whole.
func TestAValuesMissingPartsAreNull(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	const fields = `id address { street city region postalCode country } emails { address label } phones { number label }`
	var created struct{ CreateContact map[string]any }
	w.as(t, w.ownerA, w.A, `mutation { createContact(input: {lastName: "Parts", address: {city: "Berlin"},
		emails: [{address: "parts@example.org"}], phones: [{number: "+49 30 5550100", label: null}]}) { `+fields+` } }`, nil).Decode(t, &created)
	want := `map[address:map[city:Berlin country:<nil> postalCode:<nil> region:<nil> street:<nil>] ` +
		`emails:[map[address:parts@example.org label:<nil>]] id:%s phones:[map[label:<nil> number:+49 30 5550100]]]`
	id := created.CreateContact["id"]
	if got := fmt.Sprint(created.CreateContact); got != fmt.Sprintf(want, id) {
		t.Fatalf("created:\n%s\nwant\n%s", got, fmt.Sprintf(want, id))
	}
	var updated struct {
		UpdateContact struct{ Address map[string]any }
	}
	w.as(t, w.ownerA, w.A, `mutation($id: ID!) { updateContact(id: $id, input: {address: {street: "Unter den Linden 1"}}) { `+fields+` } }`,
		map[string]any{"id": id}).Decode(t, &updated)
	if got := fmt.Sprint(updated.UpdateContact.Address); got != "map[city:<nil> country:<nil> postalCode:<nil> region:<nil> street:Unter den Linden 1]" {
		t.Fatalf("updated address: %s", got)
	}
	var logged struct {
		LogMail struct{ From map[string]any }
	}
	w.as(t, w.ownerA, w.A, `mutation { logMail(input: {from: {address: "someone@example.org"}, sentAt: "2026-03-01T09:00:00Z", direction: INBOUND}) { from { address name } } }`,
		nil).Decode(t, &logged)
	if got := fmt.Sprint(logged.LogMail.From); got != "map[address:someone@example.org name:<nil>]" {
		t.Fatalf("a mailbox without a name: %s", got)
	}
}
