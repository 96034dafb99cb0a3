package crm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// A record type is declared once (record_types.go): its fields, with how
// each is checked and whether a role can hide it, its title, the orders and
// filters of its lists, and what search finds in it. One generic layer
// serves every type from that declaration (db/records.go for storage and
// lists, resolvers/records.go for the API): adding a type is a schema, a
// migration and a declaration.

// RecordType declares one kind of CRM record.
type RecordType struct {
	Entity Entity
	// Go is the struct a record is read into: it embeds RecordMeta and has
	// a field per column, tagged db:"column".
	Go reflect.Type
	// Noun names one record in messages and activity actions ("contact":
	// "contact.created").
	Noun string
	// Table holds its rows: account_id, id, owner_id, created_at and _by,
	// updated_at and _by, and a column per field (Field.Columns).
	Table  string
	Fields []Field
	// Title names the fields whose texts, joined by spaces, name a record
	// (in search hits and the timeline).
	Title []string
	// Orders are the orders of its lists besides CREATED and UPDATED;
	// Default is the order of a list that asks for none.
	Orders  []OrderKey
	Default Order
	// Filters are the filters of its lists besides the ones every list has
	// (ownerId, text, and the created and updated ranges).
	Filters []Filter
	// Immutable records are created and deleted, never changed: a logged
	// mail is what was sent.
	Immutable bool
	// OneOf names fields of which a record must keep at least one (a
	// contact needs a name or an address).
	OneOf []string
	// Needs are fields that, set, need another set too (a scheduled
	// campaign its time).
	Needs []Need
	// Idempotent names a field whose value identifies a record for its
	// owner: creating another with the same value gives back the first.
	Idempotent string
	// Search is what search calls the type ("" when it does not search
	// it); it reads the fields whose Search says how.
	Search SearchType

	indexOnce sync.Once
	index     map[string][]int
}

// FieldKind is what a field holds: how its input is checked and how it is
// stored.
type FieldKind int

// Field kinds.
const (
	KindText      FieldKind = iota // one line of text, trimmed, at most Max characters
	KindLongText                   // text with lines, at most Max bytes
	KindEnum                       // one of Values
	KindBool                       // true or false
	KindInt                        // a whole number from Min to Max
	KindDecimal                    // an amount: Decimal, not negative
	KindCurrency                   // an ISO 4217 code such as EUR
	KindDate                       // a calendar day: Date
	KindTime                       // an instant
	KindDomain                     // a domain name, lower case
	KindPhone                      // a phone number as written
	KindEmails                     // EmailAddresses: at most Max, one primary
	KindPhones                     // Phones: at most Max
	KindAddress                    // *Address
	KindTags                       // Tags: at most Max, each at most 50 characters
	KindRef                        // the id of a record of Ref in the same account
	KindRefs                       // ids of records of Ref, kept in the link table Link
	KindMember                     // the user id of a member of the account
	KindMembers                    // user ids of members (mentions)
	KindSubject                    // *RecordRef: a record of one of Subjects
	KindMailbox                    // *Mailbox
	KindMailboxes                  // Mailboxes: at most Max
)

// Field declares one field of a record type.
type Field struct {
	// Name is the field's name in the API: the input's key, the output
	// field (for a reference, the id: companyId), the key of activity
	// changes.
	Name string
	Kind FieldKind
	// Column overrides the column's name (Columns).
	Column string
	// Required fields must be given on create and cannot be cleared.
	Required bool
	// Max bounds text (characters; bytes for long text), numbers and lists.
	Max int
	Min int
	// Values are an enum's values; Default the value a create gets when the
	// field is not given.
	Values  []string
	Default any
	// Ref is the record type a reference points to; Link the table that
	// holds a KindRefs field's links; Subjects the types a KindSubject
	// field may point to.
	Ref      Entity
	Link     string
	Subjects []Entity
	// Hide is the hideable field ("contacts.email") whose hiding hides this
	// one; "" for a field no role hides. Fields of other entities may be
	// hidden by it too: mail addresses are contacts' emails.
	Hide string
	// Search says how search reads the field.
	Search SearchAs
	// Transfer: when a member is removed, their records go to the heir,
	// and so do the records where this member field names them (a task's
	// assignee).
	Transfer bool
	// ReadOnly fields are the server's to fill (a mail's snippet, from its
	// body): shown, never taken as input.
	ReadOnly bool
}

// SearchAs says how search reads a field.
type SearchAs int

// How search reads fields.
const (
	SearchNone   SearchAs = iota
	SearchWords           // its words (titles, bodies)
	SearchName            // its words, forgiving typos and prefixes (names)
	SearchEmail           // addresses: exactly, and by fragments
	SearchPhone           // numbers, by their digits whatever the formatting
	SearchDomain          // domains: exactly, and by fragments
)

// OrderKey is one order a list can take.
type OrderKey struct {
	// Name is its value in the API (NAME, AMOUNT, DUE).
	Name string
	// Fields are what it sorts by, in turn; text compares without case.
	Fields []string
}

// Direction orders a list up or down.
type Direction string

// Directions.
const (
	Ascending  Direction = "ASC"
	Descending Direction = "DESC"
)

// OrderField names an order of a record type (OrderKey.Name).
type OrderField string

// Order is how a list is sorted: a key of its type and a direction.
type Order struct {
	Field     OrderField
	Direction Direction
}

// Orders every list has.
var (
	OrderCreated = OrderKey{Name: "CREATED", Fields: []string{"createdAt"}}
	OrderUpdated = OrderKey{Name: "UPDATED", Fields: []string{"updatedAt"}}
)

// FilterOp is how a filter tests its field.
type FilterOp int

// Filter operations.
const (
	FilterEquals      FilterOp = iota // the field is the value
	FilterHas                         // a list field (tags, links, members) holds the value
	FilterFrom                        // the field is at or after the value
	FilterBefore                      // the field is before the value
	FilterText                        // the record's visible text contains the value
	FilterLinkedBy                    // the record is in the Link list of the record with the value's id (a contact in a group)
	FilterParticipant                 // a mail message whose participants include an address of the contact with the value's id
)

// Filter is one key of a list's filter input.
type Filter struct {
	Name  string
	Field string
	Op    FilterOp
	// Link is the link table of FilterLinkedBy.
	Link string
}

// Filters every list has. ownerId and the time ranges test the record's
// own metadata; text looks in every visible text field.
var commonFilters = []Filter{
	{Name: "ownerId", Field: "ownerId", Op: FilterEquals},
	{Name: "text", Op: FilterText},
	{Name: "createdAfter", Field: "createdAt", Op: FilterFrom},
	{Name: "createdBefore", Field: "createdAt", Op: FilterBefore},
	{Name: "updatedAfter", Field: "updatedAt", Op: FilterFrom},
	{Name: "updatedBefore", Field: "updatedAt", Op: FilterBefore},
}

// Meta fields every record has, addressed like declared fields by filters
// and orders.
var metaFields = map[string]FieldKind{"ownerId": KindMember, "createdAt": KindTime, "updatedAt": KindTime}

// Limits of record input.
const (
	MaxTextLen      = 200    // one line of text, in characters
	MaxSearchText   = 200    // a text filter or search query, in characters
	MaxTagLen       = 50     // one tag
	MaxListFilter   = 100    // ids in a filter or a link list
	MaxDecimal      = 1e15   // amounts stay below this
	MaxMailBodyLen  = 256000 // a mail's text body, in bytes
	MaxNoteBodyLen  = 20000  // a note's body, in bytes
	MaxTemplateBody = 100000 // a template's body, in bytes
	MaxMailContacts = 50     // contacts shown as a mail's participants
)

// RecordMeta is what every record has besides its fields.
type RecordMeta struct {
	ID        uuid.UUID `db:"id"`
	AccountID uuid.UUID `db:"account_id"`
	OwnerID   uuid.UUID `db:"owner_id"`
	CreatedAt time.Time `db:"created_at"`
	CreatedBy uuid.UUID `db:"created_by"`
	UpdatedAt time.Time `db:"updated_at"`
	UpdatedBy uuid.UUID `db:"updated_by"`
	// HiddenFields are the fields of this record the viewer's role hides
	// (by API name); they read as null.
	HiddenFields []string `db:"-"`
}

// Meta returns the record's metadata (every record type embeds it).
func (m *RecordMeta) Meta() *RecordMeta { return m }

// Owner is the record's owner, for policy checks.
func (m *RecordMeta) Owner() uuid.UUID { return m.OwnerID }

// TenantID is the record's account: what hidden fields under it are judged
// by (resolvers.AccountScoped).
func (m *RecordMeta) TenantID() uuid.UUID { return m.AccountID }

// Field returns the field named name, or nil.
func (t *RecordType) Field(name string) *Field {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return &t.Fields[i]
		}
	}
	return nil
}

// OrderKeys are the orders t's lists can take.
func (t *RecordType) OrderKeys() []OrderKey {
	return append(slices.Clip(t.Orders), OrderCreated, OrderUpdated)
}

// AllFilters are the filters t's lists take.
func (t *RecordType) AllFilters() []Filter {
	return append(slices.Clip(commonFilters), t.Filters...)
}

// HiddenBy returns the names of t's fields that grant g hides.
func (t *RecordType) HiddenBy(g Grant) []string {
	out := []string{}
	for _, f := range t.Fields {
		if f.Hide != "" && slices.Contains(g.Role.HiddenFields, f.Hide) {
			out = append(out, f.Name)
		}
	}
	return out
}

// Hides reports whether g hides the field named name of t (a meta field
// is never hidden).
func (t *RecordType) Hides(g Grant, name string) bool {
	f := t.Field(name)
	return f != nil && f.Hide != "" && slices.Contains(g.Role.HiddenFields, f.Hide)
}

// check verifies a declaration (checkRegistry calls it).
func (t *RecordType) check() error {
	if t.Noun == "" || t.Table == "" || t.Go == nil {
		return errors.New("no noun, table or Go type")
	}
	index := t.ColumnIndex()
	for _, col := range []string{"id", "account_id", "owner_id", "created_at", "created_by", "updated_at", "updated_by"} {
		if index[col] == nil {
			return fmt.Errorf("%s does not embed RecordMeta", t.Go)
		}
	}
	names := map[string]bool{}
	for _, f := range t.Fields {
		if names[f.Name] || metaFields[f.Name] != 0 || f.Name == "id" {
			return fmt.Errorf("field %q declared twice or shadows a meta field", f.Name)
		}
		names[f.Name] = true
		for _, col := range f.Columns() {
			if index[col] == nil {
				return fmt.Errorf("%s has no field for column %s of %s", t.Go, col, f.Name)
			}
		}
		switch f.Kind {
		case KindRef, KindRefs:
			if !f.Ref.IsRecord() {
				return fmt.Errorf("field %s refers to %s, not a record type", f.Name, f.Ref)
			}
			if f.Kind == KindRefs && f.Link == "" {
				return fmt.Errorf("field %s has no link table", f.Name)
			}
		case KindEnum:
			if len(f.Values) == 0 {
				return fmt.Errorf("enum %s has no values", f.Name)
			}
		case KindSubject:
			if len(f.Subjects) == 0 {
				return fmt.Errorf("field %s may point nowhere", f.Name)
			}
		}
	}
	for _, name := range t.Title {
		if f := t.Field(name); f == nil || (f.Kind != KindText && f.Kind != KindLongText) {
			return fmt.Errorf("title field %q is not a text field", name)
		}
	}
	for _, o := range t.OrderKeys() {
		for _, name := range o.Fields {
			if t.Field(name) == nil && metaFields[name] == 0 {
				return fmt.Errorf("order %s sorts by unknown field %q", o.Name, name)
			}
		}
	}
	if !slices.ContainsFunc(t.OrderKeys(), func(o OrderKey) bool { return o.Name == string(t.Default.Field) }) {
		return fmt.Errorf("default order %q is not one of its orders", t.Default.Field)
	}
	for _, f := range t.Filters {
		switch f.Op {
		case FilterLinkedBy:
			if f.Link == "" {
				return fmt.Errorf("filter %s has no link table", f.Name)
			}
		case FilterParticipant:
			if t.Entity != Mail {
				return fmt.Errorf("filter %s: only mail has participants", f.Name)
			}
		default:
			if t.Field(f.Field) == nil {
				return fmt.Errorf("filter %s tests unknown field %q", f.Name, f.Field)
			}
		}
	}
	for _, name := range append(slices.Clip(t.OneOf), t.Idempotent) {
		if name != "" && t.Field(name) == nil {
			return fmt.Errorf("unknown field %q in OneOf or Idempotent", name)
		}
	}
	for _, n := range t.Needs {
		if t.Field(n.Field) == nil || t.Field(n.Needs) == nil {
			return fmt.Errorf("unknown field in Needs %+v", n)
		}
	}
	return nil
}

// Need says that a record whose Field is set (to Value, when Value is not
// empty) must have Needs set as well.
type Need struct {
	Field, Value, Needs string
	// Why is the error's message: "a scheduled campaign needs its time".
	Why string
}

// Input is a create or update input as the API received it: field name to
// value, holding only the fields given; a field given as null is cleared.
// Values come typed from the API's scalars (*string, *int, *bool,
// *time.Time, *Decimal, *Date, *uuid.UUID, lists, and the input types
// below).
type Input map[string]any

// Assignment is one field's new value, checked and in its stored form; a
// nil Value clears the field.
type Assignment struct {
	Field *Field
	Value any
}

// CheckInput checks an input against t: every key a field of t (or ownerId,
// which is for the caller to judge), every value valid for its field. On
// create, required fields must be there and absent fields with a default
// get it. Errors name the field as the input does ("input.emails").
func (t *RecordType) CheckInput(in Input, creating bool) ([]Assignment, error) {
	var out []Assignment
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if key == "ownerId" {
			continue
		}
		f := t.Field(key)
		if f == nil || f.ReadOnly {
			return nil, InvalidInput("input."+key, "is not a field a %s takes", t.Noun)
		}
		v, err := f.Check("input."+key, in[key])
		if err != nil {
			return nil, err
		}
		if v == nil && f.Required {
			return nil, InvalidInput("input."+key, "is required")
		}
		out = append(out, Assignment{Field: f, Value: v})
	}
	if creating {
		for i := range t.Fields {
			f := &t.Fields[i]
			if _, given := in[f.Name]; given || f.ReadOnly {
				continue
			}
			switch {
			case f.Default != nil:
				out = append(out, Assignment{Field: f, Value: f.Default})
			case f.Required:
				return nil, InvalidInput("input."+f.Name, "is required")
			}
		}
	}
	return out, nil
}

// plain unwraps what the API hands over: a nil pointer is nil, a pointer
// its value, a string-kinded enum its string.
func plain(v any) any {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil
	}
	if rv.Kind() == reflect.String {
		return rv.String()
	}
	return rv.Interface()
}

// Check checks one value for the field and returns its stored form (nil:
// cleared). Errors name path.
func (f *Field) Check(path string, raw any) (any, error) {
	v := plain(raw)
	if v == nil {
		return nil, nil
	}
	bad := func(format string, args ...any) (any, error) { return nil, InvalidInput(path, format, args...) }
	switch f.Kind {
	case KindText:
		s, ok := v.(string)
		if !ok {
			return bad("must be text")
		}
		s, err := oneLine(path, s, f.max(MaxTextLen))
		if err != nil || s == "" {
			return nil, err
		}
		return s, nil
	case KindLongText:
		s, ok := v.(string)
		if !ok {
			return bad("must be text")
		}
		if err := CheckText(path, s); err != nil {
			return nil, err
		}
		if s = strings.TrimSpace(s); len(s) > f.max(MaxNoteBodyLen) {
			return bad("has at most %d bytes", f.max(MaxNoteBodyLen))
		}
		if s == "" {
			return nil, nil
		}
		return s, nil
	case KindEnum:
		s, ok := v.(string)
		if !ok || !slices.Contains(f.Values, s) {
			return bad("must be one of %s", strings.Join(f.Values, ", "))
		}
		return s, nil
	case KindBool:
		b, ok := v.(bool)
		if !ok {
			return bad("must be true or false")
		}
		return b, nil
	case KindInt:
		n, ok := v.(int)
		if !ok || n < f.Min || n > f.Max {
			return bad("must be a whole number from %d to %d", f.Min, f.Max)
		}
		return n, nil
	case KindDecimal:
		raw, ok := v.(string) // a Decimal, unwrapped
		d, err := ParseDecimal(raw)
		if !ok || err != nil {
			return bad("must be an amount with at most two decimal places")
		}
		if d.Negative() || d.Float() >= MaxDecimal {
			return bad("must be from 0 to less than %.0f", float64(MaxDecimal))
		}
		return d, nil
	case KindCurrency:
		s, ok := v.(string)
		s = strings.ToUpper(strings.TrimSpace(s))
		if !ok || len(s) != 3 || strings.IndexFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return bad("must be a three-letter ISO 4217 currency code, such as EUR")
		}
		return s, nil
	case KindDate:
		raw, ok := v.(string) // a Date, unwrapped
		d, err := ParseDate(raw)
		if !ok || err != nil {
			return bad("must be a date (YYYY-MM-DD)")
		}
		return d, nil
	case KindTime:
		t, ok := v.(time.Time)
		if !ok {
			return bad("must be a time")
		}
		return t.UTC(), nil
	case KindDomain:
		s, ok := v.(string)
		if !ok {
			return bad("must be a domain name")
		}
		d, err := NormalizeDomain(path, s)
		if err != nil || d == "" {
			return nil, err
		}
		return d, nil
	case KindPhone:
		s, ok := v.(string)
		if !ok {
			return bad("must be a phone number")
		}
		p, err := checkPhone(path, s)
		if err != nil || p == "" {
			return nil, err
		}
		return p, nil
	case KindEmails:
		list, ok := v.([]EmailAddress)
		if !ok {
			return bad("must be a list of email addresses")
		}
		return checkEmails(path, list, f.max(10))
	case KindPhones:
		list, ok := v.([]Phone)
		if !ok {
			return bad("must be a list of phone numbers")
		}
		return checkPhones(path, list, f.max(10))
	case KindAddress:
		a, ok := v.(Address)
		if !ok {
			return bad("must be an address")
		}
		return checkAddress(path, a)
	case KindTags:
		list, ok := v.([]string)
		if !ok {
			return bad("must be a list of tags")
		}
		return checkTags(path, list, f.max(20))
	case KindRef, KindMember:
		id, ok := v.(uuid.UUID)
		if !ok {
			return bad("must be an id")
		}
		return id, nil
	case KindRefs, KindMembers:
		ids, ok := v.([]uuid.UUID)
		if !ok {
			return bad("must be a list of ids")
		}
		if len(ids) > f.max(MaxListFilter) {
			return bad("has at most %d ids", f.max(MaxListFilter))
		}
		// A set: each once, in a fixed order.
		set := slices.Clone(ids)
		slices.SortFunc(set, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		return IDs(slices.Compact(set)), nil
	case KindSubject:
		ref, ok := v.(RecordRef)
		if !ok {
			return bad("must name a record")
		}
		if !slices.Contains(f.Subjects, ref.Entity) {
			return bad("must be a record of %s", entityList(f.Subjects))
		}
		return ref, nil
	case KindMailbox:
		m, ok := v.(Mailbox)
		if !ok {
			return bad("must be an address")
		}
		return checkMailbox(path, m)
	case KindMailboxes:
		list, ok := v.([]Mailbox)
		if !ok {
			return bad("must be a list of addresses")
		}
		if len(list) > f.max(100) {
			return bad("has at most %d addresses", f.max(100))
		}
		out := make(Mailboxes, 0, len(list))
		for i, m := range list {
			c, err := checkMailbox(fmt.Sprintf("%s.%d", path, i), m)
			if err != nil {
				return nil, err
			}
			out = append(out, *c)
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("crm: field %s has an unknown kind", f.Name)
}

// Columns are the field's columns: by default its name in snake case; a
// subject's are <column>_type and <column>_id; a link list has none (its
// link table holds it).
func (f *Field) Columns() []string {
	col := f.Column
	if col == "" {
		col = snakeCase(f.Name)
	}
	switch f.Kind {
	case KindRefs:
		return nil
	case KindSubject:
		return []string{col + "_type", col + "_id"}
	}
	return []string{col}
}

func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Value returns the value of field f in rec (a *T of the type's Go
// struct): the struct field's value, a subject as a *RecordRef (nil when
// unset). A link list has no value in the record.
func (t *RecordType) Value(rec any, f *Field) any {
	v := reflect.ValueOf(rec)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	index := t.ColumnIndex()
	cols := f.Columns()
	switch {
	case len(cols) == 0:
		return nil
	case f.Kind == KindSubject:
		typ, id := v.FieldByIndex(index[cols[0]]), v.FieldByIndex(index[cols[1]])
		if typ.Kind() == reflect.Pointer {
			if typ.IsNil() || id.IsNil() {
				return (*RecordRef)(nil)
			}
			typ, id = typ.Elem(), id.Elem()
		}
		return &RecordRef{Entity: Entity(typ.String()), ID: id.Interface().(uuid.UUID)}
	}
	return v.FieldByIndex(index[cols[0]]).Interface()
}

// ColumnIndex maps each db tag of the Go struct (embedded structs
// included) to its field's index, built once per type.
func (t *RecordType) ColumnIndex() map[string][]int {
	t.indexOnce.Do(func() {
		t.index = map[string][]int{}
		var walk func(typ reflect.Type, prefix []int)
		walk = func(typ reflect.Type, prefix []int) {
			for i := range typ.NumField() {
				sf := typ.Field(i)
				idx := append(slices.Clip(prefix), i)
				if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
					walk(sf.Type, idx)
					continue
				}
				if tag := sf.Tag.Get("db"); tag != "" && tag != "-" {
					t.index[tag] = idx
				}
			}
		}
		walk(t.Go, nil)
	})
	return t.index
}

func (f *Field) max(dflt int) int {
	if f.Max > 0 {
		return f.Max
	}
	return dflt
}

// oneLine checks and trims a line of text: valid UTF-8, no control or
// invisible characters, at most maxChars characters.
func oneLine(path, s string, maxChars int) (string, error) {
	if err := CheckText(path, s); err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || isInvisible(r) }) {
		return "", InvalidInput(path, "contains control or invisible characters")
	}
	if n := len([]rune(s)); n > maxChars {
		return "", InvalidInput(path, "has at most %d characters", maxChars)
	}
	return s, nil
}

func entityList(es []Entity) string {
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = strings.ToLower(string(e))
	}
	return strings.Join(names, ", ")
}

// RecordRef names a record of any type.
type RecordRef struct {
	Entity Entity    `json:"entity"`
	ID     uuid.UUID `json:"id"`
}

// RecordStore is the storage of one record type, for one actor's requests:
// every method checks the actor's grant in the record's account (the
// matrix cell of the type and action, own or all; hidden fields) and
// answers a record of another account, or one the actor may not see, as
// NOT_FOUND.
type RecordStore[T any] interface {
	Type() *RecordType
	List(ctx context.Context, a Actor, q ListQuery) (*Page[T], error)
	Get(ctx context.Context, a Actor, id uuid.UUID) (*T, error)
	// Load returns the records with ids the actor may see, in the order of
	// ids, with nil for the others (for the API's loaders).
	Load(ctx context.Context, a Actor, ids []uuid.UUID) ([]*T, error)
	Create(ctx context.Context, a Actor, in Input) (*T, error)
	Update(ctx context.Context, a Actor, id uuid.UUID, in Input) (*T, error)
	Delete(ctx context.Context, a Actor, id uuid.UUID) error
	// Linked returns, for each record of ids the actor may see, the ids
	// its link list field holds (a deal's contactIds), in the order of ids.
	Linked(ctx context.Context, a Actor, field string, ids []uuid.UUID) ([][]uuid.UUID, error)
	// ChangeLinks adds to and removes from a record's link list (a
	// group's contacts): an edit of the record.
	ChangeLinks(ctx context.Context, a Actor, id uuid.UUID, field string, add, remove []uuid.UUID) (*T, error)
}

// ListQuery asks for one page of a list.
type ListQuery struct {
	// Filter holds the filter input's keys (RecordType.AllFilters) and
	// values, as the API received them.
	Filter map[string]any
	// Order is nil for the type's default.
	Order *Order
	Page  PageArgs
}

// Records are the stores of every record type, and what relates records
// of several types.
type Records struct {
	Contacts  RecordStore[Contact]
	Companies RecordStore[Company]
	Deals     RecordStore[Deal]
	Tasks     RecordStore[Task]
	Notes     RecordStore[Note]
	Groups    RecordStore[Group]
	Templates RecordStore[Template]
	Campaigns RecordStore[Campaign]
	Mail      RecordStore[MailMessage]
	Relations RecordRelations
}

// TimelineItem is one entry of a contact's timeline: a note about it, a
// task about it, a deal with it, a mail to or from it.
type TimelineItem struct {
	Entity Entity
	ID     uuid.UUID
	At     time.Time
}

// TimelinePage is a page of a timeline, newest first.
type TimelinePage = Page[TimelineItem]

// RecordRelations answer what links records of several types.
type RecordRelations interface {
	// Timeline lists what concerns a contact, newest first: notes about
	// it, tasks about it, deals with it and mail with any of its
	// addresses, each type only if the actor's role may view it (their own
	// only, under OWN).
	Timeline(ctx context.Context, a Actor, contactID uuid.UUID, page PageArgs) (*TimelinePage, error)
	// MailContacts returns, for each mail message of ids, the contacts
	// the actor may see whose addresses take part in it.
	MailContacts(ctx context.Context, a Actor, mailIDs []uuid.UUID) ([][]uuid.UUID, error)
}
