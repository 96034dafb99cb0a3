package db_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/db"
)

// The search tests: what a viewer finds across accounts, as each role
// there shows it, and how queries match.

// search runs a search as m over every account m may see.
func (f *fixture) search(m member, text string, types ...crm.SearchType) *crm.SearchResult {
	f.t.Helper()
	res, err := db.NewSearchService(f.d).Search(f.ctx, m.Actor, crm.SearchQuery{Text: text, Types: types, Page: crm.PageArgs{First: 100}})
	noErr(f.t, err)
	return res
}

// hitKey names a hit in test messages: "DEAL Lovelace renewal".
func hitKey(h crm.SearchHit) string { return string(h.Type) + " " + h.Title }

// hitsIn lists the hits of one account, as hitKeys, sorted.
func hitsIn(res *crm.SearchResult, account uuid.UUID) []string {
	var out []string
	for _, h := range res.Nodes {
		if h.Account.ID == account {
			out = append(out, hitKey(h))
		}
	}
	slices.Sort(out)
	return out
}

// viewerIn brings an existing login into by's account with role.
func (f *fixture) viewerIn(by member, viewer member, role uuid.UUID) {
	f.t.Helper()
	_, err := f.Invitations.InviteMember(f.ctx, by.Actor, viewer.Email, role)
	noErr(f.t, err)
	_, err = f.accept(f.mail.invitationLink(f.t, viewer.Email), viewer.Actor, crm.NewLogin{})
	noErr(f.t, err)
}

// seedLovelace gives an account a contact, a company, two deals (one the
// owner's, one deal owned by dealOwner) and a mail from the contact.
func (f *fixture) seedLovelace(owner member, domain string, dealOwner uuid.UUID) {
	f.t.Helper()
	company, err := f.records.Companies.Create(f.ctx, owner.Actor, crm.Input{"name": ptr("Analytical Engines"), "domain": ptr(domain)})
	noErr(f.t, err)
	ada, err := f.records.Contacts.Create(f.ctx, owner.Actor, crm.Input{
		"firstName": ptr("Ada"), "lastName": ptr("Lovelace"), "companyId": &company.ID,
		"emails": []crm.EmailAddress{{Address: "ada@" + domain}}, "phones": []crm.Phone{{Number: "+44 20 7946 0958"}},
	})
	noErr(f.t, err)
	_, err = f.records.Deals.Create(f.ctx, owner.Actor, crm.Input{"title": ptr("Lovelace renewal"), "amount": ptr(crm.Decimal("5000.00")), "currency": ptr("EUR"),
		"contactIds": []uuid.UUID{ada.ID}})
	noErr(f.t, err)
	_, err = f.records.Deals.Create(f.ctx, owner.Actor, crm.Input{"title": ptr("Lovelace expansion"), "ownerId": &dealOwner})
	noErr(f.t, err)
	_, err = f.records.Mail.Create(f.ctx, owner.Actor, crm.Input{
		"from": &crm.Mailbox{Address: "ada@" + domain, Name: "Ada Lovelace"}, "to": []crm.Mailbox{{Address: "sales@switchboard.test"}},
		"subject": ptr("Engine order"), "bodyText": ptr("Please send the engine."), "sentAt": ptr(testStart), "direction": ptr("INBOUND"),
	})
	noErr(f.t, err)
}

// TestSearchShowsWhatEachRoleShows: a viewer with a different role in
// each of three accounts gets exactly the hits each role permits, a hidden
// address matches nothing, and no snippet holds a hidden value.
func TestSearchShowsWhatEachRoleShows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ownerA, ownerB, ownerC := f.signUp(), f.signUp(), f.signUp()
	viewer := f.join(ownerA, roleID(crm.RoleSalesRep)) // A: own deals, tasks, notes and mail
	hiding := f.customRole(ownerB, "Hiding", cells(crm.RoleManager), "deals.amount", "contacts.email")
	f.viewerIn(ownerB, viewer, hiding)                   // B: everything, amounts and addresses hidden
	f.viewerIn(ownerC, viewer, roleID(crm.RoleReadOnly)) // C: reads all but mail
	f.seedLovelace(ownerA, "a.example", viewer.ID)
	f.seedLovelace(ownerB, "b.example", ownerB.ID)
	f.seedLovelace(ownerC, "c.example", ownerC.ID)

	res := f.search(viewer, "lovelace")
	for _, c := range []struct {
		account uuid.UUID
		want    []string
	}{
		{ownerA.AccountID, []string{"CONTACT Ada Lovelace", "DEAL Lovelace expansion"}},
		{ownerB.AccountID, []string{"CONTACT Ada Lovelace", "DEAL Lovelace expansion", "DEAL Lovelace renewal"}},
		{ownerC.AccountID, []string{"CONTACT Ada Lovelace", "DEAL Lovelace expansion", "DEAL Lovelace renewal"}},
	} {
		if got := hitsIn(res, c.account); !slices.Equal(got, c.want) {
			t.Errorf("in %s: hits %v, want %v", c.account, got, c.want)
		}
	}
	// In A the viewer's own deal counts, the owner's does not, and the
	// owner's mail is not theirs; in B the mail matched only by its
	// participants, whose addresses and names are hidden there.
	for _, h := range res.Nodes {
		if h.Account.ID == ownerB.AccountID && strings.Contains(h.Snippet, "b.example") {
			t.Errorf("a snippet in B shows a hidden address: %q", h.Snippet)
		}
	}

	if got := hitsIn(f.search(viewer, "ada@b.example"), ownerB.AccountID); len(got) != 0 {
		t.Errorf("a hidden address found %v", got)
	}
	if got := hitsIn(f.search(viewer, "b.example"), ownerB.AccountID); !slices.Equal(got, []string{"COMPANY Analytical Engines"}) {
		t.Errorf("the domain (not hidden) found %v, want only the company", got)
	}
	if got := f.search(viewer, "5000"); len(hitsIn(got, ownerB.AccountID)) != 0 {
		t.Errorf("a hidden amount found %v", hitsIn(got, ownerB.AccountID))
	}
	exact := f.search(viewer, "ada@a.example")
	if len(exact.Nodes) == 0 || hitKey(exact.Nodes[0]) != "CONTACT Ada Lovelace" || exact.Nodes[0].Account.ID != ownerA.AccountID {
		t.Fatalf("an exact address: hits %v, want the contact first", exact.Nodes)
	}
	if !strings.Contains(exact.Nodes[0].Snippet, "«") {
		t.Errorf("the exact hit's snippet %q marks no match", exact.Nodes[0].Snippet)
	}

	// Facets count the hits per account and type.
	facets := map[string]int{}
	for _, a := range res.Facets.Accounts {
		facets[a.Account.ID.String()] = a.Count
	}
	for _, ty := range res.Facets.Types {
		facets[string(ty.Type)] = ty.Count
	}
	want := map[string]int{ownerA.AccountID.String(): 2, ownerB.AccountID.String(): 3, ownerC.AccountID.String(): 3,
		"CONTACT": 3, "DEAL": 5}
	if fmt.Sprint(facets) != fmt.Sprint(want) {
		t.Errorf("facets %v, want %v", facets, want)
	}

	// Types narrow; accounts narrow, and one without access is nothing.
	mail := f.search(viewer, "engine", crm.SearchMail)
	if len(mail.Nodes) != 1 || mail.Nodes[0].Type != crm.SearchMail || mail.Nodes[0].Account.ID != ownerB.AccountID {
		t.Fatalf("mail only: %v", mail.Nodes)
	}
	if s := mail.Nodes[0].Snippet; strings.Contains(s, "b.example") || strings.Contains(s, "Lovelace") || !strings.Contains(s, "«engine»") {
		t.Errorf("the mail's snippet in B is %q", s)
	}
	stranger := f.signUp()
	only, err := db.NewSearchService(f.d).Search(f.ctx, viewer.Actor, crm.SearchQuery{Text: "lovelace",
		Accounts: []uuid.UUID{ownerC.AccountID, stranger.AccountID}})
	noErr(t, err)
	for _, h := range only.Nodes {
		if h.Account.ID != ownerC.AccountID {
			t.Errorf("a search of C found %s in %s", hitKey(h), h.Account.ID)
		}
	}
	if len(only.Nodes) != 3 {
		t.Errorf("a search of C found %d hits, want 3", len(only.Nodes))
	}
}

// TestSearchIsolation: a user of account A finds nothing of account B,
// whatever the query and the filters.
func TestSearchIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ownerA, ownerB := f.signUp(), f.signUp()
	f.seedLovelace(ownerB, "b.example", ownerB.ID)
	for _, text := range []string{"lovelace", "Ada", "ada@b.example", "b.example", "Analytical", "engine", "+44 20 7946 0958", "Lovel", "Lovleace"} {
		for _, accounts := range [][]uuid.UUID{nil, {ownerB.AccountID}, {ownerA.AccountID, ownerB.AccountID}} {
			res, err := db.NewSearchService(f.d).Search(f.ctx, ownerA.Actor, crm.SearchQuery{Text: text, Accounts: accounts})
			noErr(t, err)
			if len(res.Nodes) != 0 || len(res.Facets.Accounts) != 0 || len(res.Facets.Types) != 0 {
				t.Errorf("%q in %v: A finds %+v", text, accounts, res)
			}
		}
	}
}

// TestSearchMatchesLikeAPerson: typos, prefixes, accents, address and
// domain fragments and phone numbers in any format find their record; an
// exact address ranks first.
func TestSearchMatchesLikeAPerson(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	weber, err := f.records.Companies.Create(f.ctx, owner.Actor, crm.Input{"name": ptr("Weber Logistik"), "domain": ptr("weber-logistik.de"),
		"phone": ptr("+49 30 1234567")})
	noErr(t, err)
	_, err = f.records.Contacts.Create(f.ctx, owner.Actor, crm.Input{
		"firstName": ptr("Jonathan"), "lastName": ptr("Schmidt"), "companyId": &weber.ID,
		"emails": []crm.EmailAddress{{Address: "jonathan.schmidt@weber-logistik.de"}}, "phones": []crm.Phone{{Number: "(555) 123-4567"}},
	})
	noErr(t, err)
	_, err = f.records.Contacts.Create(f.ctx, owner.Actor, crm.Input{"firstName": ptr("Jürgen"), "lastName": ptr("Müller"),
		"emails": []crm.EmailAddress{{Address: "j.mueller@example.org"}}})
	noErr(t, err)
	_, err = f.records.Contacts.Create(f.ctx, owner.Actor, crm.Input{"firstName": ptr("Jon"), "lastName": ptr("Schmitz"),
		"emails": []crm.EmailAddress{{Address: "jon@weber-logistik.de"}}})
	noErr(t, err)
	_, err = f.records.Tasks.Create(f.ctx, owner.Actor, crm.Input{"title": ptr("Call Jonathan about the Weber contract")})
	noErr(t, err)

	first := func(text string) crm.SearchHit {
		t.Helper()
		res := f.search(owner, text)
		if len(res.Nodes) == 0 {
			t.Fatalf("%q found nothing", text)
		}
		return res.Nodes[0]
	}
	finds := func(text, want string) {
		t.Helper()
		res := f.search(owner, text)
		for _, h := range res.Nodes {
			if hitKey(h) == want {
				if !strings.Contains(h.Snippet, "«") {
					t.Errorf("%q: the snippet %q marks no match", text, h.Snippet)
				}
				return
			}
		}
		var got []string
		for _, h := range res.Nodes {
			got = append(got, hitKey(h))
		}
		t.Errorf("%q found %v, not %s", text, got, want)
	}
	for _, q := range []string{"Jonathan Schmidt", "jonathan", "jonat", "Jonahtan", "Schmidt", "Schmdt", "Shcmidt", "jon schm",
		"schmidt@weber", "weber-log", "jonathan.schmidt", "555 123 4567", "+1 (555) 123-4567", "1234567"} {
		finds(q, "CONTACT Jonathan Schmidt")
	}
	for _, q := range []string{"Muller", "müller", "MÜLLER", "jurgen", "mueller"} {
		finds(q, "CONTACT Jürgen Müller")
	}
	for _, q := range []string{"weber", "Weber Logistik", "weber-logistik.de", "030 1234567", "+49 (30) 123 4567", "logist"} {
		finds(q, "COMPANY Weber Logistik")
	}
	finds("contract", "TASK Call Jonathan about the Weber contract")

	if h := first("jonathan.schmidt@weber-logistik.de"); hitKey(h) != "CONTACT Jonathan Schmidt" || h.Score < 100 {
		t.Errorf("an exact address ranks %s (%v) first", hitKey(h), h.Score)
	}
	if h := first("jon@weber-logistik.de"); hitKey(h) != "CONTACT Jon Schmitz" {
		t.Errorf("an exact address ranks %s first", hitKey(h))
	}
	if h := first("Weber Logistik"); hitKey(h) != "COMPANY Weber Logistik" {
		t.Errorf("an exact name ranks %s first", hitKey(h))
	}
	if res := f.search(owner, "zzzzqqq"); len(res.Nodes) != 0 {
		t.Errorf("nonsense found %v", res.Nodes)
	}
	if res := f.search(owner, "!!! ???"); len(res.Nodes) != 0 {
		t.Errorf("punctuation found %v", res.Nodes)
	}
}

// TestSearchPagesStayStable: paging through a search returns every hit
// once, in order, while matching records are added between the pages.
func TestSearchPagesStayStable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	for i := range 25 {
		_, err := f.records.Contacts.Create(f.ctx, owner.Actor, crm.Input{"firstName": ptr(fmt.Sprintf("Pager%02d", i)), "lastName": ptr("Paginated")})
		noErr(t, err)
	}
	svc := db.NewSearchService(f.d)
	seen := map[uuid.UUID]bool{}
	var after string
	var last float64
	for page := 0; ; page++ {
		res, err := svc.Search(f.ctx, owner.Actor, crm.SearchQuery{Text: "paginated", Page: crm.PageArgs{First: 7, After: after}})
		noErr(t, err)
		for _, h := range res.Nodes {
			if seen[h.RecordID] {
				t.Fatalf("page %d repeats %s", page, h.Title)
			}
			if len(seen) > 0 && h.Score > last {
				t.Fatalf("page %d: score %v after %v", page, h.Score, last)
			}
			seen[h.RecordID], last = true, h.Score
		}
		// Records added while paging belong to a new search.
		_, err = f.records.Contacts.Create(f.ctx, owner.Actor, crm.Input{"firstName": ptr(fmt.Sprintf("Late%02d", page)), "lastName": ptr("Paginated")})
		noErr(t, err)
		if !res.PageInfo.HasNextPage {
			break
		}
		after = res.PageInfo.End
	}
	if len(seen) != 25 {
		t.Fatalf("paging saw %d records, want the 25 there were", len(seen))
	}
	if res := f.search(owner, "paginated"); len(res.Nodes) <= 25 {
		t.Fatalf("a new search finds %d, without the records added since", len(res.Nodes))
	}
}

// TestSearchFollowsAccess: access gained or lost changes what the next
// search finds.
func TestSearchFollowsAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ownerA, ownerB := f.signUp(), f.signUp()
	f.seedLovelace(ownerB, "b.example", ownerB.ID)
	viewer := f.join(ownerA, roleID(crm.RoleManager))
	count := func() int { return len(hitsIn(f.search(viewer, "lovelace"), ownerB.AccountID)) }
	if n := count(); n != 0 {
		t.Fatalf("before joining B: %d hits there", n)
	}
	f.viewerIn(ownerB, viewer, roleID(crm.RoleManager))
	if n := count(); n != 4 { // the contact, two deals and the mail from her
		t.Fatalf("after joining B: %d hits there, want 4", n)
	}
	_, err := f.Members.DeactivateMember(f.ctx, ownerB.Actor, viewer.ID)
	noErr(t, err)
	if n := count(); n != 0 {
		t.Fatalf("deactivated in B: %d hits there", n)
	}
	_, err = f.Members.ReactivateMember(f.ctx, ownerB.Actor, viewer.ID)
	noErr(t, err)
	if n := count(); n != 4 {
		t.Fatalf("reactivated in B: %d hits there, want 4", n)
	}
	_, err = f.Protections.SetIPAllowlist(f.ctx, ownerB.from("203.0.113.5").Actor, []string{"203.0.113.0/24"})
	noErr(t, err)
	if n := count(); n != 0 {
		t.Fatalf("from an address B does not allow: %d hits there", n)
	}
	_, err = f.Protections.SetIPAllowlist(f.ctx, ownerB.from("203.0.113.5").Actor, nil)
	noErr(t, err)
	noErr(t, f.Members.RemoveMember(f.ctx, ownerB.Actor, viewer.ID, ownerB.ID))
	if n := count(); n != 0 {
		t.Fatalf("removed from B: %d hits there", n)
	}
}

// TestSearchRefusesBadInput: a query that cannot be run is BAD_USER_INPUT
// naming what is wrong, never INTERNAL.
func TestSearchRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	svc := db.NewSearchService(f.d)
	many := make([]uuid.UUID, crm.MaxSearchAccounts+1)
	for i := range many {
		many[i] = uuid.New()
	}
	for _, c := range []struct {
		name  string
		q     crm.SearchQuery
		field string
	}{
		{"empty", crm.SearchQuery{Text: ""}, "query"},
		{"spaces", crm.SearchQuery{Text: "   \t"}, "query"},
		{"too long", crm.SearchQuery{Text: strings.Repeat("a", crm.MaxSearchText+1)}, "query"},
		{"invalid UTF-8", crm.SearchQuery{Text: "ad\xffa"}, "query"},
		{"NUL", crm.SearchQuery{Text: "ad\x00a"}, "query"},
		{"too many accounts", crm.SearchQuery{Text: "ada", Accounts: many}, "accounts"},
		{"unknown type", crm.SearchQuery{Text: "ada", Types: []crm.SearchType{"GROUP"}}, "types"},
		{"a page too big", crm.SearchQuery{Text: "ada", Page: crm.PageArgs{First: crm.MaxPageSize + 1}}, "first"},
		{"a made-up cursor", crm.SearchQuery{Text: "ada", Page: crm.PageArgs{After: "bm90IGEgY3Vyc29y"}}, "after"},
		{"a cursor of another list", crm.SearchQuery{Text: "ada", Page: crm.PageArgs{After: "MTIzOjAxOTM"}}, "after"},
	} {
		_, err := svc.Search(f.ctx, owner.Actor, c.q)
		wantInput(t, err, c.field)
	}
}

// TestSearchIndexFollowsWrites: after creates, changes, deletions (with
// their dependents) and a transfer, the index holds exactly what indexing
// every record afresh would.
func TestSearchIndexFollowsWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	heir := f.join(owner, roleID(crm.RoleManager))
	f.seedLovelace(owner, "a.example", rep.ID)
	contact, err := f.records.Contacts.Create(f.ctx, rep.Actor, crm.Input{"lastName": ptr("Rep's"), "emails": []crm.EmailAddress{{Address: "x@rep.example"}}})
	noErr(t, err)
	_, err = f.records.Notes.Create(f.ctx, rep.Actor, crm.Input{"body": ptr("About the rep's contact"), "about": &crm.RecordRef{Entity: crm.Contacts, ID: contact.ID}})
	noErr(t, err)
	other, err := f.records.Contacts.Create(f.ctx, owner.Actor, crm.Input{"firstName": ptr("Gone"), "phones": []crm.Phone{{Number: "+1 555 0100"}}})
	noErr(t, err)
	_, err = f.records.Notes.Create(f.ctx, owner.Actor, crm.Input{"body": ptr("Goes with its contact"), "about": &crm.RecordRef{Entity: crm.Contacts, ID: other.ID}})
	noErr(t, err)
	_, err = f.records.Contacts.Update(f.ctx, rep.Actor, contact.ID, crm.Input{"firstName": ptr("Renamed"), "emails": []crm.EmailAddress{}, "phones": []crm.Phone{{Number: "0301234"}}})
	noErr(t, err)
	noErr(t, f.records.Contacts.Delete(f.ctx, owner.Actor, other.ID))
	noErr(t, f.Members.RemoveMember(f.ctx, owner.Actor, rep.ID, heir.ID))

	snapshot := `SELECT coalesce(string_agg(concat_ws('|', entity, record_id, grp, owner_id, title, body, tsv, digits), E'\n'
		ORDER BY entity, record_id, grp), '') FROM search_doc WHERE account_id = $1`
	var kept, fresh string
	noErr(t, f.raw.Get(&kept, snapshot, owner.AccountID))
	_, err = f.raw.Exec(`DELETE FROM search_doc WHERE account_id = $1`, owner.AccountID)
	noErr(t, err)
	for _, rt := range crm.RecordTypes {
		if rt.Search != "" {
			_, err := f.raw.Exec(db.IndexAllSQLForTest(rt))
			noErr(t, err)
		}
	}
	noErr(t, f.raw.Get(&fresh, snapshot, owner.AccountID))
	if kept != fresh {
		t.Fatalf("the index after the writes:\n%s\nindexed afresh:\n%s", kept, fresh)
	}
	for _, want := range []string{"Renamed Rep's", "0301234"} {
		if !strings.Contains(kept, want) {
			t.Errorf("the index lacks %q:\n%s", want, kept)
		}
	}
	for _, gone := range []string{"x@rep.example", "Gone", "Goes with its contact", rep.ID.String()} {
		if strings.Contains(kept, gone) {
			t.Errorf("the index still holds %q:\n%s", gone, kept)
		}
	}
	// The heir finds what they were given.
	if got := hitsIn(f.search(heir, "renamed"), owner.AccountID); !slices.Equal(got, []string{"CONTACT Renamed Rep's"}) {
		t.Errorf("the heir finds %v", got)
	}
}

// TestSearchFunctionsKeepToTheVerifiedAccounts: the two functions that
// read the index as its owner return nothing of an account outside the
// transaction's verified set, whatever accounts the caller names.
func TestSearchFunctionsKeepToTheVerifiedAccounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ownerA, ownerB := f.signUp(), f.signUp()
	f.seedLovelace(ownerA, "a.example", ownerA.ID)
	f.seedLovelace(ownerB, "b.example", ownerB.ID)
	_, err := f.raw.Exec(`SELECT set_config('role', $1, true), set_config('app.account_ids', $2, true)`, db.RuntimeRole, ownerA.AccountID.String())
	noErr(t, err)
	// Either way of reading the index (sb_search_docs chooses by
	// estimates), the same documents, and only A's.
	var found [2][]string
	for i, strategy := range []string{"index", "walk"} {
		_, err := f.raw.Exec(`SELECT set_config('sb.search_strategy', $1, true)`, strategy)
		noErr(t, err)
		var docs []struct {
			AccountID uuid.UUID `db:"account_id"`
			RecordID  uuid.UUID `db:"record_id"`
			Group     string    `db:"grp"`
		}
		noErr(t, f.raw.Select(&docs, `SELECT account_id, record_id, grp FROM sb_search_docs('CONTACTS', 'ada:* & lovelace', '{ada:*,lovelace}', NULL,
			$1, '{}', $2, '{}', 9223372036854775807, 100)`, pq.Array([]uuid.UUID{ownerA.AccountID, ownerB.AccountID}), ownerA.ID))
		for _, d := range docs {
			if d.AccountID != ownerA.AccountID {
				t.Errorf("%s: verified A, asked for A and B: a document of %v", strategy, d.AccountID)
			}
			found[i] = append(found[i], d.RecordID.String()+"/"+d.Group)
		}
		slices.Sort(found[i])
	}
	if len(found[0]) == 0 || !slices.Equal(found[0], found[1]) {
		t.Errorf("the index finds %v, the walk %v", found[0], found[1])
	}
	var terms []string
	noErr(t, f.raw.Select(&terms, `SELECT * FROM sb_similar_terms('lovleace', $1)`, pq.Array([]uuid.UUID{ownerB.AccountID})))
	if len(terms) != 0 {
		t.Errorf("verified A, asked for B's lexicon: %v", terms)
	}
	noErr(t, f.raw.Select(&terms, `SELECT * FROM sb_similar_terms('lovleace', $1)`, pq.Array([]uuid.UUID{ownerA.AccountID})))
	if !slices.Contains(terms, "lovelace") {
		t.Errorf("A's lexicon for lovleace: %v", terms)
	}
}
