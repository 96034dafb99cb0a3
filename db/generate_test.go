package db_test

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/db"
	"switchboard/db/dbtest"
	"switchboard/secrets"
)

// smallDataset is a build small enough for a test, with the viewer in
// seven accounts: one of each kind of role it is given.
var smallDataset = db.GenerateParams{
	Seed: 7, Accounts: 8, MembersPerAccount: 3,
	Contacts: 400, Companies: 60, Deals: 150, Mail: 600,
	ViewerAccounts: 7,
}

// generatedDB builds p into a database of the test's own.
func generatedDB(t *testing.T, p db.GenerateParams) (*db.DB, *sqlx.DB) {
	t.Helper()
	d := dbtest.New(t).Open(t, db.Options{MaxOpenConns: 4})
	if err := d.Generate(t.Context(), p); err != nil {
		t.Fatalf("generate: %v", err)
	}
	return d, sqlx.NewDb(d.Pool(), "postgres")
}

func count(t *testing.T, raw *sqlx.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := raw.Get(&n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestGenerateBuildsTheDataset: a build has exactly the rows asked for,
// valid for the application (owners are members, mail is between members
// and contacts of its account, addresses are addresses), distributed
// unevenly, with the viewer in its accounts under mixed roles; its marker
// says so, a second build into it is refused, and the tables keep their
// forced row-level security.
func TestGenerateBuildsTheDataset(t *testing.T) {
	t.Parallel()
	p := smallDataset
	d, raw := generatedDB(t, p)

	got, err := d.Generated(t.Context())
	noErr(t, err)
	if got == nil || got.Params != p || got.Name != p.Name() || got.MigrationVersion < 11 || len(got.Steps) < 5 {
		t.Fatalf("marker %+v", got)
	}
	if err := d.Generate(t.Context(), p); err == nil {
		t.Error("a second build into a built database was not refused")
	}

	for table, want := range map[string]int{
		"users":         p.Accounts*p.MembersPerAccount + 1,
		"accounts":      p.Accounts,
		"memberships":   p.Accounts*p.MembersPerAccount + p.ViewerAccounts,
		"roles":         3 * p.Accounts,
		"companies":     p.Companies,
		"contacts":      p.Contacts,
		"deals":         p.Deals,
		"mail_messages": p.Mail,
	} {
		if n := count(t, raw, `SELECT count(*) FROM `+pq.QuoteIdentifier(table)); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	if n := count(t, raw, `SELECT count(*) FROM deal_contacts`); n < p.Deals/2 || n > 3*p.Deals {
		t.Errorf("deal_contacts: %d rows for %d deals", n, p.Deals)
	}
	// Uneven: the biggest account has several times the contacts of the
	// smallest, and each has at least one.
	var sizes []int
	noErr(t, raw.Select(&sizes, `SELECT count(c.id) FROM accounts a LEFT JOIN contacts c ON c.account_id = a.id GROUP BY a.id ORDER BY 1`))
	if len(sizes) != p.Accounts || sizes[0] < 1 || sizes[len(sizes)-1] < 4*sizes[0] {
		t.Errorf("contacts per account %v", sizes)
	}

	// Owners and creators are members of the record's account.
	for _, table := range []string{"companies", "contacts", "deals", "mail_messages"} {
		if n := count(t, raw, `SELECT count(*) FROM `+table+` r WHERE NOT EXISTS (
			SELECT 1 FROM memberships m WHERE m.account_id = r.account_id AND m.user_id = r.owner_id AND m.user_id = r.created_by)`); n != 0 {
			t.Errorf("%s: %d records whose owner is no member of their account", table, n)
		}
	}
	// Every mail is between the owner and contacts of its account.
	if n := count(t, raw, `SELECT count(*) FROM mail_messages m JOIN users u ON u.id = m.owner_id
		WHERE NOT (u.email = ANY (m.address_keys))
		   OR NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = m.account_id AND c.email_keys && m.address_keys)`); n != 0 {
		t.Errorf("%d mail messages not between their owner and a contact of the account", n)
	}
	if n := count(t, raw, `SELECT count(DISTINCT thread_id) FROM mail_messages`); n >= p.Mail || n < p.Mail/10 {
		t.Errorf("%d threads for %d messages", n, p.Mail)
	}
	var spread time.Duration
	var first, last time.Time
	noErr(t, raw.QueryRow(`SELECT min(sent_at), max(sent_at) FROM mail_messages`).Scan(&first, &last))
	if spread = last.Sub(first); spread < 600*24*time.Hour || spread > 731*24*time.Hour {
		t.Errorf("mail sent over %v", spread)
	}
	// Addresses are what the application would store.
	var emails []string
	noErr(t, raw.Select(&emails, `SELECT k FROM contacts, unnest(email_keys) k UNION ALL SELECT email FROM users`))
	for _, e := range emails {
		if n, err := crm.NormalizeEmail("email", e); err != nil || n != e {
			t.Errorf("address %q normalises to %q (%v)", e, n, err)
		}
	}
	// Contacts share their company's domain; names and titles have the
	// words search will be measured on.
	if n := count(t, raw, `SELECT count(*) FROM (SELECT split_part(k, '@', 2) FROM contacts, unnest(email_keys) k
		WHERE company_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) x`); n < 5 {
		t.Errorf("only %d company domains shared by several contacts", n)
	}
	if n := count(t, raw, `SELECT count(*) FROM deals WHERE title ILIKE '%renewal%'`); n < p.Deals/20 {
		t.Errorf("%d of %d deal titles have renewal", n, p.Deals)
	}
	if n := count(t, raw, `SELECT count(*) FROM contacts WHERE first_name || last_name ~ '[^\x01-\x7f]'`); n < p.Contacts/20 {
		t.Errorf("only %d contacts have a name with an accent", n)
	}
	if n := count(t, raw, `SELECT count(DISTINCT regexp_replace(ph->>'number', '[0-9]', '9', 'g')) FROM contacts, jsonb_array_elements(phones) ph`); n < 4 {
		t.Errorf("phone numbers in %d formats", n)
	}

	// The viewer: a member of ViewerAccounts accounts, with built-in and
	// custom roles.
	var kinds []string
	noErr(t, raw.Select(&kinds, `SELECT coalesce(m.role, r.name) FROM memberships m JOIN users u ON u.id = m.user_id
		LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id WHERE u.email = $1`, db.ScaleViewerEmail))
	if len(kinds) != p.ViewerAccounts {
		t.Errorf("the viewer has %d memberships, want %d", len(kinds), p.ViewerAccounts)
	}
	slices.Sort(kinds)
	if kinds = slices.Compact(kinds); len(kinds) != 7 {
		t.Errorf("the viewer's roles: %v", kinds)
	}

	// Forced row-level security is back on every tenant table written, and
	// the marker is the owner's alone.
	if n := count(t, raw, `SELECT count(*) FROM pg_class WHERE relname = ANY ($1) AND relrowsecurity AND NOT relforcerowsecurity`,
		pq.Array([]string{"accounts", "memberships", "roles", "companies", "contacts", "deals", "deal_contacts", "mail_messages"})); n != 0 {
		t.Errorf("%d tables lost their forced row-level security", n)
	}
	tx := raw.MustBegin()
	defer tx.Rollback()
	tx.MustExec(`SET LOCAL ROLE ` + db.RuntimeRole)
	_, err = tx.Exec(`SELECT * FROM generated_dataset`)
	if pqErr, ok := errors.AsType[*pq.Error](err); !ok || pqErr.Code != "42501" {
		t.Errorf("the application's role reads the marker: %v", err)
	}
}

// TestGenerateIsDeterministic: two builds with one seed are equal row for
// row, and another seed gives other data (and another database name).
func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	other := smallDataset
	other.Seed++
	if other.Name() == smallDataset.Name() {
		t.Fatal("two seeds, one name")
	}
	_, a := generatedDB(t, smallDataset)
	_, b := generatedDB(t, smallDataset)
	_, c := generatedDB(t, other)
	// The password hashes have random salts; everything else is the seed's.
	checksums := map[string]string{
		"users":         `SELECT md5(string_agg(concat_ws(',', id, email, name, created_at, password_changed_at), '|' ORDER BY id)) FROM users`,
		"accounts":      `SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM accounts t`,
		"memberships":   `SELECT md5(string_agg(t::text, '|' ORDER BY account_id, user_id)) FROM memberships t`,
		"roles":         `SELECT md5(string_agg(t::text, '|' ORDER BY account_id, id)) FROM roles t`,
		"companies":     `SELECT md5(string_agg(t::text, '|' ORDER BY account_id, id)) FROM companies t`,
		"contacts":      `SELECT md5(string_agg(t::text, '|' ORDER BY account_id, id)) FROM contacts t`,
		"deals":         `SELECT md5(string_agg(t::text, '|' ORDER BY account_id, id)) FROM deals t`,
		"deal_contacts": `SELECT md5(string_agg(t::text, '|' ORDER BY account_id, record_id, linked_id)) FROM deal_contacts t`,
		"mail_messages": `SELECT md5(string_agg(t::text, '|' ORDER BY account_id, id)) FROM mail_messages t`,
	}
	for table, q := range checksums {
		var sumA, sumB, sumC string
		noErr(t, a.Get(&sumA, q))
		noErr(t, b.Get(&sumB, q))
		noErr(t, c.Get(&sumC, q))
		if sumA != sumB {
			t.Errorf("%s: one seed, two builds differ", table)
		}
		if sumA == sumC {
			t.Errorf("%s: two seeds, one build", table)
		}
	}
}

// TestGenerateParams: names are stable, differ for other parameters and
// are database names; impossible parameters are refused.
func TestGenerateParams(t *testing.T) {
	t.Parallel()
	p := db.DefaultGenerateParams()
	if p.Accounts != 1000 || p.Contacts != 1_000_000 || p.Companies != 200_000 || p.Deals != 300_000 || p.Mail != 2_000_000 || p.ViewerAccounts != 50 {
		t.Errorf("default %+v", p)
	}
	noErr(t, p.Validate())
	if !regexp.MustCompile(`^sb_scale_[0-9a-f]{12}$`).MatchString(p.Name()) || p.Name() != db.DefaultGenerateParams().Name() {
		t.Errorf("name %q", p.Name())
	}
	q := p
	q.Mail++
	if q.Name() == p.Name() {
		t.Error("another mail count, one name")
	}
	for _, bad := range []func(*db.GenerateParams){
		func(p *db.GenerateParams) { p.Contacts = p.Accounts - 1 },
		func(p *db.GenerateParams) { p.ViewerAccounts = p.Accounts + 1 },
		func(p *db.GenerateParams) { p.ViewerAccounts = 0 },
		func(p *db.GenerateParams) { p.MembersPerAccount = 0 },
		func(p *db.GenerateParams) { p.Deals = -1 },
	} {
		q := p
		bad(&q)
		if q.Validate() == nil {
			t.Errorf("%+v accepted", q)
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	empty := dbtest.New(t).Open(t, db.Options{})
	q = smallDataset
	q.Contacts = 1
	if err := empty.Generate(t.Context(), q); err == nil {
		t.Error("Generate accepted parameters Validate refuses")
	}
}

// TestGeneratedRecordsReadThroughTheApplication: the viewer signs in with
// the documented password and, in each of its accounts, pages through the
// records its role shows, read by the record services as any request
// would: every contact of the account, the deals it may see (its own
// only under the own-deals role and Sales Rep), amounts and addresses
// marked hidden under the analyst role, and the mail.
func TestGeneratedRecordsReadThroughTheApplication(t *testing.T) {
	t.Parallel()
	p := smallDataset
	d, raw := generatedDB(t, p)
	box, err := secrets.NewBox(bytes.Repeat([]byte{7}, 32))
	noErr(t, err)
	ident := db.NewIdentityService(d, db.IdentityConfig{
		PublicURL: "https://switchboard.test", Hasher: secrets.NewHasher(secrets.DefaultArgon2, 1, 4),
		Box: box, Policy: testPolicy(), Outbox: &mailbox{},
	})
	noErr(t, testPolicy().Check("password", db.ScaleViewerPassword))
	res, err := ident.Login(t.Context(), crm.LoginInput{Email: db.ScaleViewerEmail, Password: db.ScaleViewerPassword}, crm.Client{IP: homeIP})
	noErr(t, err)
	records := db.NewRecordServices(d, db.AccountConfig{PublicURL: "https://switchboard.test", Policy: testPolicy(), Outbox: &mailbox{}, Identity: ident})

	var memberships []struct {
		AccountID uuid.UUID `db:"account_id"`
		Kind      string    `db:"kind"`
	}
	noErr(t, raw.Select(&memberships, `SELECT m.account_id, coalesce(m.role, r.name) AS kind FROM memberships m
		LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id WHERE m.user_id = $1 ORDER BY 1`, res.User.ID))
	if len(memberships) != p.ViewerAccounts {
		t.Fatalf("%d memberships", len(memberships))
	}
	ownDeals, mailRead := 0, 0
	for _, m := range memberships {
		viewer := crm.Actor{Token: res.Token, AccountID: m.AccountID, Client: crm.Client{IP: homeIP}}
		analyst := m.Kind == "Analyst (no amounts, no emails)"
		own := m.Kind == "Deal desk (own deals)" || m.Kind == string(crm.RoleSalesRep)

		contacts := listAll(t, records.Contacts, viewer)
		if want := count(t, raw, `SELECT count(*) FROM contacts WHERE account_id = $1`, m.AccountID); len(contacts) != want || want == 0 {
			t.Errorf("%s: the viewer lists %d contacts of %d", m.Kind, len(contacts), want)
		}
		// Values come with the fields the role hides marked (the API's
		// @hideable resolves those to null).
		for _, c := range contacts {
			if len(c.Emails) == 0 || !c.Emails[0].Primary || analyst != slices.Contains(c.HiddenFields, "emails") || c.LastName == nil {
				t.Fatalf("%s: contact %+v", m.Kind, c)
			}
		}

		deals := listAll(t, records.Deals, viewer)
		q := `SELECT count(*) FROM deals WHERE account_id = $1`
		if own {
			q += ` AND owner_id = $2`
			ownDeals += len(deals)
		} else {
			q += ` AND $2::uuid IS NOT NULL`
		}
		if want := count(t, raw, q, m.AccountID, res.User.ID); len(deals) != want {
			t.Errorf("%s: the viewer lists %d deals, want %d", m.Kind, len(deals), want)
		}
		for _, deal := range deals {
			if (own && deal.OwnerID != res.User.ID) || analyst != slices.Contains(deal.HiddenFields, "amount") || deal.Title == "" {
				t.Fatalf("%s: deal %+v", m.Kind, deal)
			}
		}

		mailScope := "ALL"
		switch m.Kind {
		case string(crm.RoleReadOnly):
			mailScope = "NONE"
		case "Deal desk (own deals)", string(crm.RoleSalesRep):
			mailScope = "OWN"
		}
		if mailScope == "NONE" {
			continue
		}
		mail := listAll(t, records.Mail, viewer)
		q = `SELECT count(*) FROM mail_messages WHERE account_id = $1 AND ($2 = 'ALL' OR owner_id = $3)`
		if want := count(t, raw, q, m.AccountID, mailScope, res.User.ID); len(mail) != want {
			t.Errorf("%s: the viewer lists %d mail messages, want %d", m.Kind, len(mail), want)
		}
		for _, msg := range mail {
			// The analyst role hides contacts' addresses, and so mail's.
			if msg.From.Address == "" || len(msg.To) == 0 || analyst != slices.Contains(msg.HiddenFields, "from") || msg.Subject == nil || msg.Snippet == nil {
				t.Fatalf("%s: mail %+v", m.Kind, msg)
			}
		}
		if len(mail) > 0 {
			one, err := records.Mail.Get(t.Context(), viewer, mail[0].ID)
			noErr(t, err)
			if one.BodyText == nil || *one.BodyText == "" {
				t.Errorf("mail read without its body: %+v", one)
			}
			mailRead++
		}
	}
	if ownDeals == 0 || mailRead == 0 {
		t.Errorf("the viewer read %d deals of its own and mail in %d accounts", ownDeals, mailRead)
	}

	// The search index holds every generated record, and the viewer finds
	// them across accounts.
	for _, rt := range crm.RecordTypes {
		if rt.Search == "" {
			continue
		}
		indexed := count(t, raw, `SELECT count(DISTINCT record_id) FROM search_doc WHERE entity = $1`, string(rt.Entity))
		if rows := count(t, raw, `SELECT count(*) FROM `+rt.Table); indexed != rows {
			t.Errorf("%s: %d records, %d indexed", rt.Table, rows, indexed)
		}
	}
	found, err := db.NewSearchService(d).Search(t.Context(), crm.Actor{Token: res.Token, Client: crm.Client{IP: homeIP}},
		crm.SearchQuery{Text: "renewal", Page: crm.PageArgs{First: 100}})
	noErr(t, err)
	accounts := map[uuid.UUID]bool{}
	for _, h := range found.Nodes {
		accounts[h.Account.ID] = true
	}
	if len(found.Nodes) == 0 || len(accounts) < 2 {
		t.Errorf("a search for renewal found %d hits in %d accounts", len(found.Nodes), len(accounts))
	}
}

// listAll pages through every record of a list, a hundred at a time.
func listAll[T any](t *testing.T, store crm.RecordStore[T], a crm.Actor) []T {
	t.Helper()
	var out []T
	after := ""
	for {
		page, err := store.List(t.Context(), a, crm.ListQuery{Page: crm.PageArgs{First: crm.MaxPageSize, After: after}})
		noErr(t, err)
		out = append(out, page.Nodes...)
		if !page.PageInfo.HasNextPage {
			return out
		}
		after = page.PageInfo.End
	}
}
