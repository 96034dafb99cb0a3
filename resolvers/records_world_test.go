package resolvers_test

import (
	"strings"
	"testing"

	"switchboard/crm"
)

// recordAPI names a record type in the API.
type recordAPI struct {
	entity    crm.Entity
	typ       string // the GraphQL type
	one, many string // Account's fields for one record and for the list
	// create is the create mutation; update and remove the others ("" for
	// none).
	create, update, remove string
}

// recordAPIs are every record type's names. TestRecordAPIsCoverTheRegistry
// keeps it complete.
var recordAPIs = []recordAPI{
	{crm.Contacts, "Contact", "contact", "contacts", "createContact", "updateContact", "deleteContact"},
	{crm.Companies, "Company", "company", "companies", "createCompany", "updateCompany", "deleteCompany"},
	{crm.Deals, "Deal", "deal", "deals", "createDeal", "updateDeal", "deleteDeal"},
	{crm.Tasks, "Task", "task", "tasks", "createTask", "updateTask", "deleteTask"},
	{crm.Notes, "Note", "note", "notes", "createNote", "updateNote", "deleteNote"},
	{crm.Groups, "Group", "group", "groups", "createGroup", "updateGroup", "deleteGroup"},
	{crm.Templates, "Template", "template", "templates", "createTemplate", "updateTemplate", "deleteTemplate"},
	{crm.Campaigns, "Campaign", "campaign", "campaigns", "createCampaign", "updateCampaign", "deleteCampaign"},
	{crm.Mail, "MailMessage", "mailMessage", "mailMessages", "logMail", "", "deleteMailMessage"},
}

func apiOf(e crm.Entity) recordAPI {
	for _, a := range recordAPIs {
		if a.entity == e {
			return a
		}
	}
	panic("no API for " + string(e))
}

// seeded are the records seedRecords made in one account: one of each
// type, all pointing at each other.
type seeded map[crm.Entity]string

// minimalInput is the smallest valid create input of a type, in an
// account where seed holds records (a note must be about something).
func minimalInput(e crm.Entity, seed seeded) map[string]any {
	switch e {
	case crm.Contacts:
		return map[string]any{"lastName": "Minimal"}
	case crm.Companies, crm.Groups, crm.Templates, crm.Campaigns:
		return map[string]any{"name": "Minimal"}
	case crm.Deals, crm.Tasks:
		return map[string]any{"title": "Minimal"}
	case crm.Notes:
		return map[string]any{"body": "Minimal", "about": map[string]any{"entity": "CONTACTS", "id": seed[crm.Contacts]}}
	case crm.Mail:
		return map[string]any{"from": map[string]any{"address": "someone@example.org"}, "sentAt": "2026-03-04T09:00:00Z", "direction": "INBOUND"}
	}
	panic("no minimal input for " + string(e))
}

// seedRecords makes one record of each type in account as who (an owner
// or admin there), each pointing at the others, with member as a task's
// assignee and a note's mention, and returns their ids.
func (w *world) seedRecords(t testing.TB, who person, account string, member person) seeded {
	t.Helper()
	ids := seeded{}
	create := func(e crm.Entity, in map[string]any) {
		t.Helper()
		api := apiOf(e)
		var out map[string]struct{ ID string }
		w.as(t, who, account, `mutation($in: `+api.typ+`Input!) { out: `+api.create+`(input: $in) { id } }`, map[string]any{"in": in}).Decode(t, &out)
		ids[e] = out["out"].ID
	}
	domain := strings.ToLower(strings.ReplaceAll(account[:8], "-", "")) + ".example"
	create(crm.Companies, map[string]any{"name": "Seed Company", "domain": domain, "phone": "+49 30 1234567", "revenue": "1000000.00",
		"address": map[string]any{"city": "Hamburg"}})
	create(crm.Contacts, map[string]any{"firstName": "Sam", "lastName": "Seed", "companyId": ids[crm.Companies], "tags": []string{"seed"},
		"emails": []map[string]any{{"address": "sam@" + domain}}, "phones": []map[string]any{{"number": "040 555 0100"}},
		"address": map[string]any{"street": "Seed Street 1", "city": "Hamburg"}})
	create(crm.Deals, map[string]any{"title": "Seed deal", "amount": "5000.00", "currency": "EUR", "probability": 50,
		"expectedCloseDate": "2026-06-30", "companyId": ids[crm.Companies], "contactIds": []string{ids[crm.Contacts]}})
	create(crm.Tasks, map[string]any{"title": "Call Sam", "due": "2026-03-05T10:00:00Z", "assigneeId": member.id,
		"related": map[string]any{"entity": "CONTACTS", "id": ids[crm.Contacts]}})
	create(crm.Notes, map[string]any{"body": "Met Sam", "about": map[string]any{"entity": "CONTACTS", "id": ids[crm.Contacts]},
		"mentionIds": []string{member.id}})
	create(crm.Groups, map[string]any{"name": "Seed group", "contactIds": []string{ids[crm.Contacts]}})
	create(crm.Templates, map[string]any{"name": "Seed template", "subject": "Hello", "body": "Hello there"})
	create(crm.Campaigns, map[string]any{"name": "Seed campaign", "templateId": ids[crm.Templates], "groupIds": []string{ids[crm.Groups]}})
	create(crm.Mail, map[string]any{"messageId": "<seed@" + domain + ">", "from": map[string]any{"address": "sam@" + domain, "name": "Sam Seed"},
		"to": []map[string]any{{"address": "team@" + domain}}, "subject": "Seed mail", "bodyText": "Hello from Sam",
		"sentAt": "2026-03-04T08:00:00Z", "direction": "INBOUND"})
	return ids
}

// TestRecordAPIsCoverTheRegistry: the tests' table of API names has every
// record type of the registry.
func TestRecordAPIsCoverTheRegistry(t *testing.T) {
	t.Parallel()
	if len(recordAPIs) != len(crm.RecordTypes) {
		t.Fatalf("%d record APIs for %d record types", len(recordAPIs), len(crm.RecordTypes))
	}
	for _, rt := range crm.RecordTypes {
		_ = apiOf(rt.Entity)
	}
}
