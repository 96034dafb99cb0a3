package db_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
)

// TestRecordsRoundTrip: a record of every field kind is written, read
// back as written, listed, changed (with the change in the activity log),
// and deleted.
func TestRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	acme, err := f.records.Companies.Create(f.ctx, owner.Actor, crm.Input{
		"name": ptr("Acme GmbH"), "domain": ptr("https://www.Acme.example/about"), "phone": ptr("+49 30 1234-567"),
		"address": &crm.Address{City: "Berlin", Country: "DE"}, "revenue": ptr(crm.Decimal("1250000.50")),
	})
	noErr(t, err)
	if *acme.Domain != "acme.example" || *acme.Revenue != "1250000.50" || acme.Address.City != "Berlin" || acme.OwnerID != owner.ID {
		t.Fatalf("company read back as %+v", acme)
	}
	ada, err := f.records.Contacts.Create(f.ctx, owner.Actor, crm.Input{
		"firstName": ptr("Ada"), "lastName": ptr("Lovelace"), "companyId": &acme.ID,
		"emails": []crm.EmailAddress{{Address: "ada@Acme.example", Label: "work"}, {Address: "ada@home.example", Primary: true}},
		"phones": []crm.Phone{{Number: "030 1234567"}}, "tags": []string{"vip", "VIP", "board"},
	})
	noErr(t, err)
	if ada.Emails[0].Address != "ada@home.example" || !ada.Emails[0].Primary || len(ada.Emails) != 2 || len(ada.Tags) != 2 {
		t.Fatalf("contact read back as %+v", ada)
	}
	deal, err := f.records.Deals.Create(f.ctx, owner.Actor, crm.Input{
		"title": ptr("Acme renewal"), "amount": ptr(crm.Decimal("5000.00")), "currency": ptr("eur"), "probability": ptr(40),
		"expectedCloseDate": ptr(crm.Date("2026-06-30")), "companyId": &acme.ID, "contactIds": []uuid.UUID{ada.ID},
	})
	noErr(t, err)
	if deal.Stage != "LEAD" || *deal.Currency != "EUR" || *deal.ExpectedCloseDate != "2026-06-30" {
		t.Fatalf("deal read back as %+v", deal)
	}
	links, err := f.records.Deals.Linked(f.ctx, owner.Actor, "contactIds", []uuid.UUID{deal.ID})
	noErr(t, err)
	if len(links[0]) != 1 || links[0][0] != ada.ID {
		t.Fatalf("deal contacts %v", links)
	}

	page, err := f.records.Contacts.List(f.ctx, owner.Actor, crm.ListQuery{Filter: map[string]any{"tag": ptr("vip"), "companyId": &acme.ID}})
	noErr(t, err)
	if len(page.Nodes) != 1 || page.Nodes[0].ID != ada.ID {
		t.Fatalf("filtered list %+v", page.Nodes)
	}
	page, err = f.records.Contacts.List(f.ctx, owner.Actor, crm.ListQuery{Filter: map[string]any{"text": ptr("home.EXAMPLE")}})
	noErr(t, err)
	if len(page.Nodes) != 1 {
		t.Fatalf("text filter found %d", len(page.Nodes))
	}

	changed, err := f.records.Deals.Update(f.ctx, owner.Actor, deal.ID, crm.Input{"stage": ptr("WON"), "probability": (*int)(nil)})
	noErr(t, err)
	if changed.Stage != "WON" || changed.Probability != nil {
		t.Fatalf("updated deal %+v", changed)
	}
	noErr(t, f.records.Companies.Delete(f.ctx, owner.Actor, acme.ID))
	after, err := f.records.Deals.Get(f.ctx, owner.Actor, deal.ID)
	noErr(t, err)
	if after.CompanyID != nil {
		t.Fatalf("a deal of a deleted company still points to it: %+v", after)
	}
	_, err = f.records.Companies.Get(f.ctx, owner.Actor, acme.ID)
	wantCode(t, err, crm.CodeNotFound)
	for _, action := range []string{"company.created", "contact.created", "deal.created", "deal.updated", "company.deleted"} {
		var n int
		noErr(t, f.raw.Get(&n, `SELECT count(*) FROM activity_log WHERE account_id = $1 AND action = $2`, owner.AccountID, action))
		if n != 1 {
			t.Errorf("%d activity entries %s, want 1", n, action)
		}
	}
}

// TestRecordListsPageInEveryOrder: every order of every list pages
// through all records exactly once, nulls last, however the pages fall.
func TestRecordListsPageInEveryOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	names := []string{"delta", "Alpha", "charlie", "bravo", "echo"}
	for i, n := range names {
		in := crm.Input{"title": ptr(n)}
		if i%2 == 0 {
			in["amount"] = ptr(crm.Decimal([]string{"10.00", "10.00", "2.50"}[i/2]))
			in["currency"] = ptr("EUR")
			in["expectedCloseDate"] = ptr(crm.Date("2026-01-0" + string(rune('1'+i))))
		}
		_, err := f.records.Deals.Create(f.ctx, owner.Actor, in)
		noErr(t, err)
		f.clock.Advance(1)
	}
	for _, key := range []string{"NAME", "AMOUNT", "CLOSE", "CREATED", "UPDATED"} {
		for _, dir := range []crm.Direction{crm.Ascending, crm.Descending} {
			seen := map[uuid.UUID]bool{}
			var order []string
			after := ""
			for range 10 {
				page, err := f.records.Deals.List(f.ctx, owner.Actor, crm.ListQuery{Order: &crm.Order{Field: crm.OrderField(key), Direction: dir}, Page: crm.PageArgs{First: 2, After: after}})
				noErr(t, err)
				for _, d := range page.Nodes {
					if seen[d.ID] {
						t.Fatalf("%s %s: %s twice", key, dir, d.Title)
					}
					seen[d.ID] = true
					order = append(order, d.Title)
				}
				if !page.PageInfo.HasNextPage {
					break
				}
				after = page.PageInfo.End
			}
			if len(seen) != len(names) {
				t.Errorf("%s %s: paged through %v", key, dir, order)
			}
			if key == "NAME" && dir == crm.Ascending && order[0] != "Alpha" {
				t.Errorf("by name: %v", order)
			}
			// Alpha and bravo have no amount and no close date: last.
			if (key == "AMOUNT" || key == "CLOSE") && len(order) == 5 && !(order[3]+order[4] == "Alphabravo" || order[3]+order[4] == "bravoAlpha") {
				t.Errorf("by %s %s: %v (records without one last)", key, dir, order)
			}
		}
	}
	_, err := f.records.Deals.List(f.ctx, owner.Actor, crm.ListQuery{Page: crm.PageArgs{After: "bm9wZQ"}})
	wantCode(t, err, crm.CodeBadUserInput)
}

// TestAnAmountNeedsItsCurrency: a deal's amount is money only with its
// currency, on create and on update, whichever of the two the input
// changes; a deal without an amount needs none.
func TestAnAmountNeedsItsCurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	deals := f.records.Deals
	amount := ptr(crm.Decimal("1200.00"))
	_, err := deals.Create(f.ctx, owner.Actor, crm.Input{"title": ptr("Bare"), "amount": amount})
	wantInput(t, err, "input.currency")
	d, err := deals.Create(f.ctx, owner.Actor, crm.Input{"title": ptr("Priced"), "amount": amount, "currency": ptr("EUR")})
	noErr(t, err)
	_, err = deals.Update(f.ctx, owner.Actor, d.ID, crm.Input{"currency": nil})
	wantInput(t, err, "input.currency")
	_, err = deals.Update(f.ctx, owner.Actor, d.ID, crm.Input{"amount": ptr(crm.Decimal("900.00"))}) // in the deal's currency
	noErr(t, err)
	unpriced, err := deals.Create(f.ctx, owner.Actor, crm.Input{"title": ptr("Unpriced")})
	noErr(t, err)
	_, err = deals.Update(f.ctx, owner.Actor, unpriced.ID, crm.Input{"amount": amount})
	wantInput(t, err, "input.currency")
	// Without its amount, the currency may go.
	_, err = deals.Update(f.ctx, owner.Actor, d.ID, crm.Input{"amount": nil, "currency": nil})
	noErr(t, err)
}

// TestAScheduledCampaignNeedsItsTime: a campaign is scheduled only with a
// time, on create and on update, whichever of the two the input changes.
func TestAScheduledCampaignNeedsItsTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	camps := f.records.Campaigns
	scheduled := ptr("SCHEDULED")
	at := ptr(testStart.Add(48 * time.Hour))
	_, err := camps.Create(f.ctx, owner.Actor, crm.Input{"name": ptr("Spring"), "status": scheduled})
	wantInput(t, err, "input.scheduledAt")
	c, err := camps.Create(f.ctx, owner.Actor, crm.Input{"name": ptr("Spring"), "status": scheduled, "scheduledAt": at})
	noErr(t, err)
	_, err = camps.Update(f.ctx, owner.Actor, c.ID, crm.Input{"scheduledAt": nil})
	wantInput(t, err, "input.scheduledAt")
	draft, err := camps.Create(f.ctx, owner.Actor, crm.Input{"name": ptr("Summer")})
	noErr(t, err)
	_, err = camps.Update(f.ctx, owner.Actor, draft.ID, crm.Input{"status": scheduled})
	wantInput(t, err, "input.scheduledAt")
	// Back to a draft, the time may go.
	_, err = camps.Update(f.ctx, owner.Actor, c.ID, crm.Input{"status": ptr("DRAFT"), "scheduledAt": nil})
	noErr(t, err)
}
