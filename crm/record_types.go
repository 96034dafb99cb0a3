package crm

import (
	"reflect"
	"time"

	"github.com/google/uuid"
)

// The CRM's record types: each one a declaration (what entities.go's
// registry points to) and the Go type a record of it is read into. A type's
// struct has a field per declared field, tagged with its column
// (Field.Column), and embeds RecordMeta.

// Contact is a person.
type Contact struct {
	RecordMeta
	FirstName *string        `db:"first_name"`
	LastName  *string        `db:"last_name"`
	Emails    []EmailAddress `db:"emails"`
	Phones    []Phone        `db:"phones"`
	CompanyID *uuid.UUID     `db:"company_id"`
	JobTitle  *string        `db:"job_title"`
	Address   *Address       `db:"address"`
	Tags      []string       `db:"tags"`
}

var contactType = &RecordType{
	Search: SearchContact,
	Go:     reflect.TypeFor[Contact](),
	Entity: Contacts, Noun: "contact", Table: "contacts",
	Fields: []Field{
		{Name: "firstName", Kind: KindText, Max: 100, Search: SearchName},
		{Name: "lastName", Kind: KindText, Max: 100, Search: SearchName},
		{Name: "emails", Kind: KindEmails, Max: 10, Hide: "contacts.email", Search: SearchEmail},
		{Name: "phones", Kind: KindPhones, Max: 10, Hide: "contacts.phone", Search: SearchPhone},
		{Name: "companyId", Kind: KindRef, Ref: Companies},
		{Name: "jobTitle", Kind: KindText, Search: SearchWords},
		{Name: "address", Kind: KindAddress, Hide: "contacts.address", Search: SearchWords},
		{Name: "tags", Kind: KindTags, Search: SearchWords},
	},
	Title:   []string{"firstName", "lastName"},
	OneOf:   []string{"firstName", "lastName", "emails"},
	Orders:  []OrderKey{{Name: "NAME", Fields: []string{"lastName", "firstName"}}},
	Default: Order{Field: "NAME", Direction: Ascending},
	Filters: []Filter{
		{Name: "tag", Field: "tags", Op: FilterHas},
		{Name: "companyId", Field: "companyId", Op: FilterEquals},
		{Name: "groupId", Op: FilterLinkedBy, Link: "group_contacts"},
	},
}

// Company is an organisation.
type Company struct {
	RecordMeta
	Name    string   `db:"name"`
	Domain  *string  `db:"domain"`
	Phone   *string  `db:"phone"`
	Address *Address `db:"address"`
	Revenue *Decimal `db:"revenue"`
}

var companyType = &RecordType{
	Search: SearchCompany,
	Go:     reflect.TypeFor[Company](),
	Entity: Companies, Noun: "company", Table: "companies",
	Fields: []Field{
		{Name: "name", Kind: KindText, Required: true, Search: SearchName},
		{Name: "domain", Kind: KindDomain, Search: SearchDomain},
		{Name: "phone", Kind: KindPhone, Hide: "companies.phone", Search: SearchPhone},
		{Name: "address", Kind: KindAddress, Hide: "companies.address", Search: SearchWords},
		{Name: "revenue", Kind: KindDecimal, Hide: "companies.revenue"},
	},
	Title:   []string{"name"},
	Orders:  []OrderKey{{Name: "NAME", Fields: []string{"name"}}, {Name: "REVENUE", Fields: []string{"revenue"}}},
	Default: Order{Field: "NAME", Direction: Ascending},
	Filters: []Filter{{Name: "domain", Field: "domain", Op: FilterEquals}},
}

// DealStage is where a deal stands.
type DealStage string

// DealStages are a deal's stages, in the order a deal goes through them.
var DealStages = []string{"LEAD", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON", "LOST"}

// Deal is a possible sale.
type Deal struct {
	RecordMeta
	Title             string     `db:"title"`
	Amount            *Decimal   `db:"amount"`
	Currency          *string    `db:"currency"`
	Probability       *int       `db:"probability"`
	Stage             DealStage  `db:"stage"`
	ExpectedCloseDate *Date      `db:"expected_close_date"`
	CompanyID         *uuid.UUID `db:"company_id"`
}

var dealType = &RecordType{
	Search: SearchDeal,
	Go:     reflect.TypeFor[Deal](),
	Entity: Deals, Noun: "deal", Table: "deals",
	Fields: []Field{
		{Name: "title", Kind: KindText, Required: true, Search: SearchWords},
		{Name: "amount", Kind: KindDecimal, Hide: "deals.amount"},
		{Name: "currency", Kind: KindCurrency},
		{Name: "probability", Kind: KindInt, Min: 0, Max: 100, Hide: "deals.probability"},
		{Name: "stage", Kind: KindEnum, Values: DealStages, Default: "LEAD", Required: true},
		{Name: "expectedCloseDate", Kind: KindDate, Hide: "deals.expectedCloseDate"},
		{Name: "companyId", Kind: KindRef, Ref: Companies},
		{Name: "contactIds", Kind: KindRefs, Ref: Contacts, Link: "deal_contacts"},
	},
	Title: []string{"title"},
	Needs: []Need{{Field: "amount", Needs: "currency", Why: "an amount needs its currency, an ISO 4217 code such as EUR"}},
	Orders: []OrderKey{
		{Name: "NAME", Fields: []string{"title"}},
		{Name: "AMOUNT", Fields: []string{"amount"}},
		{Name: "CLOSE", Fields: []string{"expectedCloseDate"}},
	},
	Default: Order{Field: "CREATED", Direction: Descending},
	Filters: []Filter{
		{Name: "stage", Field: "stage", Op: FilterEquals},
		{Name: "companyId", Field: "companyId", Op: FilterEquals},
		{Name: "contactId", Field: "contactIds", Op: FilterHas},
		{Name: "closeAfter", Field: "expectedCloseDate", Op: FilterFrom},
		{Name: "closeBefore", Field: "expectedCloseDate", Op: FilterBefore},
	},
}

// Task is something to do, by a time, for a member.
type Task struct {
	RecordMeta
	Title       string     `db:"title"`
	Due         *time.Time `db:"due"`
	Done        bool       `db:"done"`
	AssigneeID  *uuid.UUID `db:"assignee_id"`
	RelatedType *Entity    `db:"related_type"`
	RelatedID   *uuid.UUID `db:"related_id"`
}

var taskType = &RecordType{
	Search: SearchTask,
	Go:     reflect.TypeFor[Task](),
	Entity: Tasks, Noun: "task", Table: "tasks",
	Fields: []Field{
		{Name: "title", Kind: KindText, Required: true, Search: SearchWords},
		{Name: "due", Kind: KindTime},
		{Name: "done", Kind: KindBool, Default: false, Required: true},
		{Name: "assigneeId", Kind: KindMember, Transfer: true},
		{Name: "related", Kind: KindSubject, Subjects: []Entity{Contacts, Companies, Deals}},
	},
	Title: []string{"title"},
	Orders: []OrderKey{
		{Name: "NAME", Fields: []string{"title"}},
		{Name: "DUE", Fields: []string{"due"}},
	},
	Default: Order{Field: "DUE", Direction: Ascending},
	Filters: []Filter{
		{Name: "assigneeId", Field: "assigneeId", Op: FilterEquals},
		{Name: "done", Field: "done", Op: FilterEquals},
		{Name: "dueAfter", Field: "due", Op: FilterFrom},
		{Name: "dueBefore", Field: "due", Op: FilterBefore},
		{Name: "relatedId", Field: "related", Op: FilterEquals},
	},
}

// Note is text about a record, which may mention members.
type Note struct {
	RecordMeta
	Body       string      `db:"body"`
	AboutType  Entity      `db:"about_type"`
	AboutID    uuid.UUID   `db:"about_id"`
	MentionIDs []uuid.UUID `db:"mention_ids"`
}

var noteType = &RecordType{
	Search: SearchNote,
	Go:     reflect.TypeFor[Note](),
	Entity: Notes, Noun: "note", Table: "notes",
	Fields: []Field{
		{Name: "body", Kind: KindLongText, Max: MaxNoteBodyLen, Required: true, Search: SearchWords},
		{Name: "about", Kind: KindSubject, Required: true,
			Subjects: []Entity{Contacts, Companies, Deals, Tasks, Groups, Campaigns, Templates, Mail}},
		{Name: "mentionIds", Kind: KindMembers, Max: 50},
	},
	Title:   []string{"body"},
	Default: Order{Field: "CREATED", Direction: Descending},
	Filters: []Filter{
		{Name: "aboutId", Field: "about", Op: FilterEquals},
		{Name: "mentionId", Field: "mentionIds", Op: FilterHas},
	},
}

// Group is a named set of contacts.
type Group struct {
	RecordMeta
	Name        string  `db:"name"`
	Description *string `db:"description"`
}

var groupType = &RecordType{
	Go:     reflect.TypeFor[Group](),
	Entity: Groups, Noun: "group", Table: "groups",
	Fields: []Field{
		{Name: "name", Kind: KindText, Required: true, Search: SearchWords},
		{Name: "description", Kind: KindLongText, Max: 2000, Search: SearchWords},
		{Name: "contactIds", Kind: KindRefs, Ref: Contacts, Link: "group_contacts", Max: 1000},
	},
	Title:   []string{"name"},
	Orders:  []OrderKey{{Name: "NAME", Fields: []string{"name"}}},
	Default: Order{Field: "NAME", Direction: Ascending},
	Filters: []Filter{{Name: "contactId", Field: "contactIds", Op: FilterHas}},
}

// Template is a mail to send more than once.
type Template struct {
	RecordMeta
	Name    string  `db:"name"`
	Subject *string `db:"subject"`
	Body    *string `db:"body"`
}

var templateType = &RecordType{
	Go:     reflect.TypeFor[Template](),
	Entity: Templates, Noun: "template", Table: "templates",
	Fields: []Field{
		{Name: "name", Kind: KindText, Required: true, Search: SearchWords},
		{Name: "subject", Kind: KindText, Max: 998, Search: SearchWords},
		{Name: "body", Kind: KindLongText, Max: MaxTemplateBody},
	},
	Title:   []string{"name"},
	Orders:  []OrderKey{{Name: "NAME", Fields: []string{"name"}}},
	Default: Order{Field: "NAME", Direction: Ascending},
}

// CampaignStatus is where a campaign stands.
type CampaignStatus string

// CampaignStatuses a client may set: a campaign is a draft or scheduled.
// Sending (and so SENT) comes with user connections.
var CampaignStatuses = []string{"DRAFT", "SCHEDULED"}

// Campaign is a template sent to groups.
type Campaign struct {
	RecordMeta
	Name        string         `db:"name"`
	Status      CampaignStatus `db:"status"`
	TemplateID  *uuid.UUID     `db:"template_id"`
	ScheduledAt *time.Time     `db:"scheduled_at"`
}

var campaignType = &RecordType{
	Go:     reflect.TypeFor[Campaign](),
	Entity: Campaigns, Noun: "campaign", Table: "campaigns",
	Fields: []Field{
		{Name: "name", Kind: KindText, Required: true, Search: SearchWords},
		{Name: "status", Kind: KindEnum, Values: CampaignStatuses, Default: "DRAFT", Required: true},
		{Name: "templateId", Kind: KindRef, Ref: Templates},
		{Name: "groupIds", Kind: KindRefs, Ref: Groups, Link: "campaign_groups"},
		{Name: "scheduledAt", Kind: KindTime},
	},
	Needs:   []Need{{Field: "status", Value: "SCHEDULED", Needs: "scheduledAt", Why: "a scheduled campaign needs its time"}},
	Title:   []string{"name"},
	Orders:  []OrderKey{{Name: "NAME", Fields: []string{"name"}}},
	Default: Order{Field: "CREATED", Direction: Descending},
	Filters: []Filter{
		{Name: "status", Field: "status", Op: FilterEquals},
		{Name: "groupId", Field: "groupIds", Op: FilterHas},
	},
}

// MailDirection says whether the account's side received or sent a mail.
type MailDirection string

// MailDirections are the directions.
var MailDirections = []string{"INBOUND", "OUTBOUND"}

// MailMessage is a mail in the CRM's store: logged by hand (logMail) or,
// later, synced from a mailbox. Its participants link to contacts by any of
// their addresses, without case, when it is read: a contact added later
// links to mail already there.
type MailMessage struct {
	RecordMeta
	MessageID     *string       `db:"message_id"`
	ThreadID      *string       `db:"thread_id"`
	From          Mailbox       `db:"from_address"`
	To            Mailboxes     `db:"to_addresses"`
	Cc            Mailboxes     `db:"cc_addresses"`
	Bcc           Mailboxes     `db:"bcc_addresses"`
	Subject       *string       `db:"subject"`
	Snippet       *string       `db:"snippet"`
	BodyText      *string       `db:"body_text"`
	SentAt        time.Time     `db:"sent_at"`
	Direction     MailDirection `db:"direction"`
	BodyTruncated bool          `db:"body_truncated"`
}

var mailType = &RecordType{
	Search: SearchMail,
	Go:     reflect.TypeFor[MailMessage](),
	Entity: Mail, Noun: "mail message", Table: "mail_messages", Immutable: true,
	// Logging a message twice (the same Message-ID, by the same member)
	// gives back the first.
	Idempotent: "messageId",
	Fields: []Field{
		{Name: "messageId", Kind: KindText, Max: 998},
		{Name: "threadId", Kind: KindText},
		{Name: "from", Column: "from_address", Kind: KindMailbox, Required: true, Hide: "contacts.email", Search: SearchEmail},
		{Name: "to", Column: "to_addresses", Kind: KindMailboxes, Hide: "contacts.email", Search: SearchEmail},
		{Name: "cc", Column: "cc_addresses", Kind: KindMailboxes, Hide: "contacts.email", Search: SearchEmail},
		{Name: "bcc", Column: "bcc_addresses", Kind: KindMailboxes, Hide: "contacts.email", Search: SearchEmail},
		{Name: "subject", Kind: KindText, Max: 998, Search: SearchWords},
		{Name: "snippet", Kind: KindText, ReadOnly: true},
		{Name: "bodyText", Kind: KindLongText, Max: MaxMailBodyLen, Search: SearchWords},
		{Name: "sentAt", Kind: KindTime, Required: true},
		{Name: "direction", Kind: KindEnum, Values: MailDirections, Required: true},
	},
	Title: []string{"subject"},
	Orders: []OrderKey{
		{Name: "SENT", Fields: []string{"sentAt"}},
	},
	Default: Order{Field: "SENT", Direction: Descending},
	Filters: []Filter{
		{Name: "threadId", Field: "threadId", Op: FilterEquals},
		{Name: "contactId", Op: FilterParticipant},
		{Name: "direction", Field: "direction", Op: FilterEquals},
		{Name: "sentAfter", Field: "sentAt", Op: FilterFrom},
		{Name: "sentBefore", Field: "sentAt", Op: FilterBefore},
	},
}

// AnyRecord is a record of any type: what the API's unions of records
// (a task's related record, a timeline, search hits) hold.
type AnyRecord interface{ RecordEntity() Entity }

// RecordEntity implements AnyRecord.
func (Contact) RecordEntity() Entity { return Contacts }

// RecordEntity implements AnyRecord.
func (Company) RecordEntity() Entity { return Companies }

// RecordEntity implements AnyRecord.
func (Deal) RecordEntity() Entity { return Deals }

// RecordEntity implements AnyRecord.
func (Task) RecordEntity() Entity { return Tasks }

// RecordEntity implements AnyRecord.
func (Note) RecordEntity() Entity { return Notes }

// RecordEntity implements AnyRecord.
func (Group) RecordEntity() Entity { return Groups }

// RecordEntity implements AnyRecord.
func (Template) RecordEntity() Entity { return Templates }

// RecordEntity implements AnyRecord.
func (Campaign) RecordEntity() Entity { return Campaigns }

// RecordEntity implements AnyRecord.
func (MailMessage) RecordEntity() Entity { return Mail }

// Pages of records.
type (
	ContactPage     = Page[Contact]
	CompanyPage     = Page[Company]
	DealPage        = Page[Deal]
	TaskPage        = Page[Task]
	NotePage        = Page[Note]
	GroupPage       = Page[Group]
	TemplatePage    = Page[Template]
	CampaignPage    = Page[Campaign]
	MailMessagePage = Page[MailMessage]
)
