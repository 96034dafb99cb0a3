package db

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// One store serves every record type from its declaration
// (crm/record_types.go): the SQL below is written from the declared fields,
// by the conventions of migration 00011 (a column per field, named in snake
// case; link tables of account_id, record_id and linked_id). Identifiers in
// it come from the declarations only; every value is a parameter.

// recordPtr is what a record's Go type offers through its pointer.
type recordPtr[T any] interface {
	*T
	Meta() *crm.RecordMeta
}

// Records implements crm.RecordStore for one record type.
type Records[T any, P recordPtr[T]] struct {
	core *accountCore
	t    *crm.RecordType
	// columns are the columns a record is read from, in select order, and
	// kinds how each is stored.
	columns []string
	kinds   []crm.FieldKind
	selects string
}

var _ crm.RecordStore[crm.Contact] = (*Records[crm.Contact, *crm.Contact])(nil)

// metaColumns are the columns every record table starts with.
var metaColumns = []string{"account_id", "id", "owner_id", "created_at", "created_by", "updated_at", "updated_by"}

func newRecords[T any, P recordPtr[T]](core *accountCore, t *crm.RecordType) *Records[T, P] {
	s := &Records[T, P]{core: core, t: t, columns: slices.Clone(metaColumns), kinds: make([]crm.FieldKind, len(metaColumns))}
	for i := range t.Fields {
		for _, c := range t.Fields[i].Columns() {
			s.columns = append(s.columns, c)
			s.kinds = append(s.kinds, t.Fields[i].Kind)
		}
	}
	quoted := make([]string, len(s.columns))
	for i, c := range s.columns {
		quoted[i] = "r." + pq.QuoteIdentifier(c)
	}
	s.selects = strings.Join(quoted, ", ")
	return s
}

// Type implements crm.RecordStore.
func (s *Records[T, P]) Type() *crm.RecordType { return s.t }

func (s *Records[T, P]) table() string { return pq.QuoteIdentifier(s.t.Table) }

// scanRecords reads rows of s.columns (and, when cursor is not nil, one
// more column: each row's cursor) into records, without reflection per
// value: each column goes straight to its struct field.
func (s *Records[T, P]) scanRecords(rows *sql.Rows, cursors *[]string) ([]T, error) {
	defer rows.Close()
	index := s.t.ColumnIndex()
	var out []T
	for rows.Next() {
		var rec T
		v := reflect.ValueOf(&rec).Elem()
		dest := make([]any, 0, len(s.columns)+1)
		for i, c := range s.columns {
			dest = append(dest, scanTarget(s.kinds[i], v.FieldByIndex(index[c])))
		}
		var cursor string
		if cursors != nil {
			dest = append(dest, &cursor)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("read %s: %w", s.t.Table, err)
		}
		out = append(out, rec)
		if cursors != nil {
			*cursors = append(*cursors, cursor)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.t.Table, err)
	}
	return out, nil
}

// scanTarget is where a column's value goes: the struct field, through a
// reader of its stored form for JSON and dates.
func scanTarget(kind crm.FieldKind, field reflect.Value) any {
	switch kind {
	case crm.KindEmails, crm.KindPhones, crm.KindAddress, crm.KindTags, crm.KindMembers, crm.KindMailbox, crm.KindMailboxes:
		return jsonColumn{field}
	case crm.KindDate:
		return dateColumn{field}
	}
	return field.Addr().Interface()
}

// jsonColumn reads a JSON column into a field (NULL: the zero value).
type jsonColumn struct{ field reflect.Value }

func (c jsonColumn) Scan(src any) error {
	c.field.SetZero()
	var raw []byte
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
	default:
		return fmt.Errorf("read %T as JSON", src)
	}
	return json.Unmarshal(raw, c.field.Addr().Interface())
}

// dateColumn reads a date column into a crm.Date or *crm.Date.
type dateColumn struct{ field reflect.Value }

func (c dateColumn) Scan(src any) error {
	c.field.SetZero()
	if src == nil {
		return nil
	}
	t, ok := src.(time.Time)
	if !ok {
		return fmt.Errorf("read %T as a date", src)
	}
	d := reflect.ValueOf(crm.Date(t.Format(time.DateOnly)))
	if c.field.Kind() == reflect.Pointer {
		p := reflect.New(d.Type())
		p.Elem().Set(d)
		d = p
	}
	c.field.Set(d)
	return nil
}

// shape marks, on records read for e, which fields e's role hides.
func (s *Records[T, P]) shape(e *entered, recs []T) {
	hidden := s.t.HiddenBy(e.grant)
	for i := range recs {
		P(&recs[i]).Meta().HiddenFields = hidden
	}
}

// viewScope returns the actor's scope for viewing records of the type:
// FORBIDDEN when none, and the owner a list is limited to under OWN
// (uuid.Nil under ALL).
func (s *Records[T, P]) viewScope(e *entered) (uuid.UUID, error) {
	switch e.grant.Role.Matrix.Scope(s.t.Entity, crm.View) {
	case crm.ScopeAll:
		return uuid.Nil, nil
	case crm.ScopeOwn:
		return e.userID(), nil
	}
	return uuid.Nil, e.grant.Require(s.t.Entity, crm.View, uuid.Nil)
}

// query is a statement under construction: conditions and their
// parameters.
type query struct {
	conds []string
	args  []any
}

// arg adds a parameter and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) where(format string, args ...any) {
	q.conds = append(q.conds, fmt.Sprintf(format, args...))
}

func (q *query) clause() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}

// visible scopes q to the records of the type e may view in e's account.
func (s *Records[T, P]) visible(q *query, e *entered) error {
	owner, err := s.viewScope(e)
	if err != nil {
		return err
	}
	q.where("r.account_id = %s", q.arg(e.account.ID))
	if owner != uuid.Nil {
		q.where("r.owner_id = %s", q.arg(owner))
	}
	return nil
}

// load reads the records with ids that e may view, in no order.
func (s *Records[T, P]) load(ctx context.Context, tx *Tx, e *entered, ids []uuid.UUID, lock bool) ([]T, error) {
	q := &query{}
	if err := s.visible(q, e); err != nil {
		return nil, err
	}
	q.where("r.id = ANY(%s)", q.arg(pq.Array(ids)))
	stmt := "SELECT " + s.selects + " FROM " + s.table() + " r" + q.clause()
	if lock {
		stmt += " FOR UPDATE OF r"
	}
	rows, err := tx.Query(ctx, stmt, q.args...)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", s.t.Table, err)
	}
	recs, err := s.scanRecords(rows, nil)
	if err != nil {
		return nil, err
	}
	s.shape(e, recs)
	return recs, nil
}

// loadOne reads one record e may view; NOT_FOUND otherwise, exactly as for
// a record of another account or none at all.
func (s *Records[T, P]) loadOne(ctx context.Context, tx *Tx, e *entered, id uuid.UUID, lock bool) (*T, error) {
	recs, err := s.load(ctx, tx, e, []uuid.UUID{id}, lock)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, crm.NotFound(s.t.Noun)
	}
	return &recs[0], nil
}

// Get implements crm.RecordStore.
func (s *Records[T, P]) Get(ctx context.Context, a crm.Actor, id uuid.UUID) (*T, error) {
	var out *T
	err := s.core.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		var err error
		out, err = s.loadOne(ctx, tx, e, id, false)
		return err
	})
	return out, err
}

// Load implements crm.RecordStore.
func (s *Records[T, P]) Load(ctx context.Context, a crm.Actor, ids []uuid.UUID) ([]*T, error) {
	out := make([]*T, len(ids))
	err := s.core.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		recs, err := s.load(ctx, tx, e, ids, false)
		if err != nil {
			return err
		}
		byID := make(map[uuid.UUID]*T, len(recs))
		for i := range recs {
			byID[P(&recs[i]).Meta().ID] = &recs[i]
		}
		for i, id := range ids {
			out[i] = byID[id]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Linked returns, for each record in ids, the ids its link list field
// holds (in the order of ids), for records e may view.
func (s *Records[T, P]) Linked(ctx context.Context, a crm.Actor, field string, ids []uuid.UUID) ([][]uuid.UUID, error) {
	f := s.t.Field(field)
	if f == nil || f.Kind != crm.KindRefs {
		return nil, fmt.Errorf("%s has no link list %q", s.t.Noun, field)
	}
	out := make([][]uuid.UUID, len(ids))
	err := s.core.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		q := &query{}
		if err := s.visible(q, e); err != nil {
			return err
		}
		q.where("r.id = ANY(%s)", q.arg(pq.Array(ids)))
		var pairs []idPair
		if err := tx.Select(ctx, &pairs, "SELECT l.record_id AS key, l.linked_id AS value FROM "+s.table()+" r JOIN "+pq.QuoteIdentifier(f.Link)+
			" l ON l.account_id = r.account_id AND l.record_id = r.id"+q.clause()+" ORDER BY l.record_id, l.linked_id", q.args...); err != nil {
			return fmt.Errorf("read %s: %w", f.Link, err)
		}
		out = groupPairs(ids, pairs)
		return nil
	})
	return out, err
}

// idPair is a row of a one-to-many read: a key and one of its values.
type idPair struct {
	Key   uuid.UUID `db:"key"`
	Value uuid.UUID `db:"value"`
}

// groupPairs gathers pairs by key, in the order of keys (nil for a key
// without values).
func groupPairs(keys []uuid.UUID, pairs []idPair) [][]uuid.UUID {
	byKey := map[uuid.UUID][]uuid.UUID{}
	for _, p := range pairs {
		byKey[p.Key] = append(byKey[p.Key], p.Value)
	}
	out := make([][]uuid.UUID, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

// List implements crm.RecordStore.
func (s *Records[T, P]) List(ctx context.Context, a crm.Actor, lq crm.ListQuery) (*crm.Page[T], error) {
	page, err := lq.Page.Check()
	if err != nil {
		return nil, err
	}
	order, err := s.order(lq.Order)
	if err != nil {
		return nil, err
	}
	var out *crm.Page[T]
	err = s.core.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		q := &query{}
		if err := s.visible(q, e); err != nil {
			return err
		}
		if err := order.visibleTo(s.t, e.grant); err != nil {
			return err
		}
		if err := s.filter(q, e, lq.Filter); err != nil {
			return err
		}
		if err := order.after(q, page.After); err != nil {
			return err
		}
		stmt := "SELECT " + s.selects + ", " + order.cursorSQL() + " FROM " + s.table() + " r" + q.clause() +
			" ORDER BY " + order.orderSQL() + " LIMIT " + q.arg(page.First+1)
		rows, err := tx.Query(ctx, stmt, q.args...)
		if err != nil {
			return fmt.Errorf("list %s: %w", s.t.Table, err)
		}
		var cursors []string
		recs, err := s.scanRecords(rows, &cursors)
		if err != nil {
			return err
		}
		out = &crm.Page[T]{}
		recs, out.PageInfo.HasNextPage = pageOf(recs, page.First)
		s.shape(e, recs)
		out.Nodes = recs
		if n := len(recs); n > 0 {
			out.PageInfo.End = order.encode(cursors[n-1])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// A list's order, as SQL: its keys in turn, then the id.
type listOrder struct {
	key  crm.OrderKey
	desc bool
	keys []sortKey
}

// sortKey is one key of an order: an expression, and for a nullable one
// its null test and its value when null (nulls sort last either way).
type sortKey struct {
	expr, null, zero string
	// cast is the key's SQL type, to read a cursor's value back.
	cast string
	kind crm.FieldKind
	name string
}

// order resolves the order a list asked for (nil: the type's default).
func (s *Records[T, P]) order(o *crm.Order) (*listOrder, error) {
	if o == nil {
		o = &s.t.Default
	}
	dir := o.Direction
	if dir == "" {
		dir = crm.Ascending
	}
	if dir != crm.Ascending && dir != crm.Descending {
		return nil, crm.InvalidInput("orderBy.direction", "must be ASC or DESC")
	}
	i := slices.IndexFunc(s.t.OrderKeys(), func(k crm.OrderKey) bool { return k.Name == string(o.Field) })
	if i < 0 {
		return nil, crm.InvalidInput("orderBy.field", "a %s list cannot be ordered by %q", s.t.Noun, o.Field)
	}
	lo := &listOrder{key: s.t.OrderKeys()[i], desc: dir == crm.Descending}
	for _, name := range lo.key.Fields {
		lo.keys = append(lo.keys, sortKeyOf(s.t, name))
	}
	return lo, nil
}

func sortKeyOf(t *crm.RecordType, name string) sortKey {
	if kind, meta := metaFieldKinds[name]; meta {
		return sortKey{expr: "r." + metaColumn(name), cast: "timestamptz", kind: kind, name: name}
	}
	f := t.Field(name)
	col := "r." + pq.QuoteIdentifier(f.Columns()[0])
	k := sortKey{expr: col, kind: f.Kind, name: name}
	switch f.Kind {
	case crm.KindText, crm.KindLongText, crm.KindEnum, crm.KindDomain:
		k.expr, k.cast, k.zero = "lower("+col+")", "text", "''"
	case crm.KindDecimal:
		k.cast, k.zero = "numeric", "0"
	case crm.KindInt:
		k.cast, k.zero = "integer", "0"
	case crm.KindDate:
		k.cast, k.zero = "date", "'-infinity'::date"
	case crm.KindTime:
		k.cast, k.zero = "timestamptz", "'-infinity'::timestamptz"
	case crm.KindBool:
		k.cast, k.zero = "boolean", "false"
	default:
		panic(fmt.Sprintf("db: %s cannot sort by %s", t.Noun, name))
	}
	if !f.Required {
		k.null = col + " IS NULL"
		k.expr = "coalesce(" + k.expr + ", " + k.zero + ")"
	}
	return k
}

// metaFieldKinds are the meta fields filters and orders name.
var metaFieldKinds = map[string]crm.FieldKind{"ownerId": crm.KindMember, "createdAt": crm.KindTime, "updatedAt": crm.KindTime}

func metaColumn(name string) string {
	switch name {
	case "ownerId":
		return "owner_id"
	case "createdAt":
		return "created_at"
	}
	return "updated_at"
}

// terms are the order's expressions, in sort order, all in one direction:
// a nullable key sorts on its null test first (nulls last, ascending or
// descending).
func (o *listOrder) terms() []string {
	var out []string
	for _, k := range o.keys {
		if k.null != "" {
			if o.desc {
				out = append(out, "(NOT ("+k.null+"))")
			} else {
				out = append(out, "("+k.null+")")
			}
		}
		out = append(out, k.expr)
	}
	return append(out, "r.id")
}

func (o *listOrder) orderSQL() string {
	dir := " ASC"
	if o.desc {
		dir = " DESC"
	}
	terms := o.terms()
	for i := range terms {
		terms[i] += dir
	}
	return strings.Join(terms, ", ")
}

// cursorSQL is a row's position: its order terms as a JSON array.
func (o *listOrder) cursorSQL() string {
	return "jsonb_build_array(" + strings.Join(o.terms(), ", ") + ")::text"
}

// encode makes a cursor of a row's position, bound to the order.
func (o *listOrder) encode(position string) string {
	dir := "a"
	if o.desc {
		dir = "d"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(o.key.Name + ":" + dir + ":" + position))
}

// after limits q to the rows after cursor (which must come from a list
// in the same order), checking every value it holds before it reaches SQL.
func (o *listOrder) after(q *query, cursor string) error {
	if cursor == "" {
		return nil
	}
	bad := crm.InvalidInput("after", "is not a cursor from this list in this order")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return bad
	}
	dir := "a"
	if o.desc {
		dir = "d"
	}
	position, ok := strings.CutPrefix(string(raw), o.key.Name+":"+dir+":")
	if !ok {
		return bad
	}
	var values []any
	dec := json.NewDecoder(strings.NewReader(position))
	dec.UseNumber()
	if err := dec.Decode(&values); err != nil || len(values) != len(o.terms()) {
		return bad
	}
	var params []string
	i := 0
	for _, k := range o.keys {
		if k.null != "" {
			b, ok := values[i].(bool)
			if !ok {
				return bad
			}
			params = append(params, q.arg(b)+"::boolean")
			i++
		}
		v, ok := cursorValue(k, values[i])
		if !ok {
			return bad
		}
		params = append(params, q.arg(v)+"::"+k.cast)
		i++
	}
	id, ok := values[i].(string)
	if _, err := uuid.Parse(id); !ok || err != nil {
		return bad
	}
	params = append(params, q.arg(id)+"::uuid")
	cmp := ">"
	if o.desc {
		cmp = "<"
	}
	q.where("(%s) %s (%s)", strings.Join(o.terms(), ", "), cmp, strings.Join(params, ", "))
	return nil
}

// cursorValue checks one key's value from a cursor against the key's type
// and returns it as the text SQL casts back.
func cursorValue(k sortKey, v any) (string, bool) {
	switch k.cast {
	case "text":
		s, ok := v.(string)
		return s, ok && crm.CheckText("after", s) == nil
	case "numeric", "integer":
		n, ok := v.(json.Number)
		if !ok {
			return "", false
		}
		if k.cast == "integer" {
			_, err := strconv.ParseInt(string(n), 10, 32)
			return string(n), err == nil
		}
		_, err := crm.ParseDecimal(string(n))
		return string(n), err == nil
	case "boolean":
		b, ok := v.(bool)
		return strconv.FormatBool(b), ok
	case "date":
		s, ok := v.(string)
		if !ok {
			return "", false
		}
		if s == "-infinity" {
			return s, true
		}
		_, err := crm.ParseDate(s)
		return s, err == nil
	case "timestamptz":
		s, ok := v.(string)
		if !ok {
			return "", false
		}
		if s == "-infinity" {
			return s, true
		}
		// Only a time a client could have written: PostgreSQL refuses
		// year 0, and a cursor is the client's to forge.
		t, err := time.Parse("2006-01-02T15:04:05.999999-07:00", s)
		return s, err == nil && crm.TimeInRange(t)
	}
	return "", false
}

// visibleTo refuses an order by a field the grant hides.
func (o *listOrder) visibleTo(t *crm.RecordType, g crm.Grant) error {
	for _, k := range o.keys {
		if t.Hides(g, k.name) {
			return &crm.Error{Code: crm.CodeForbidden, Field: "orderBy",
				Message: fmt.Sprintf("your role (%s) does not see %s, so it cannot order by it", g.Role.Name, k.name)}
		}
	}
	return nil
}

// filter adds a list's filter to q. Unknown keys are refused; a null value
// filters nothing; a filter on a field the role hides is FORBIDDEN.
func (s *Records[T, P]) filter(q *query, e *entered, in map[string]any) error {
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	slices.Sort(names)
	filters := s.t.AllFilters()
	for _, name := range names {
		i := slices.IndexFunc(filters, func(f crm.Filter) bool { return f.Name == name })
		path := "filter." + name
		if i < 0 {
			return crm.InvalidInput(path, "a %s list has no such filter", s.t.Noun)
		}
		f := filters[i]
		if f.Field != "" && s.t.Hides(e.grant, f.Field) {
			return &crm.Error{Code: crm.CodeForbidden, Field: path,
				Message: fmt.Sprintf("your role (%s) does not see %s, so it cannot filter by it", e.grant.Role.Name, f.Field)}
		}
		if err := s.filterOne(q, e.grant, f, path, in[name]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Records[T, P]) filterOne(q *query, g crm.Grant, f crm.Filter, path string, raw any) error {
	if rv := reflect.ValueOf(raw); !rv.IsValid() || rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil // a filter given as null filters nothing
	}
	switch f.Op {
	case crm.FilterText:
		text, ok := raw.(*string)
		if !ok {
			return crm.InvalidInput(path, "must be text")
		}
		needle := strings.TrimSpace(*text)
		if err := crm.CheckText(path, needle); err != nil {
			return err
		}
		if len([]rune(needle)) > crm.MaxSearchText {
			return crm.InvalidInput(path, "has at most %d characters", crm.MaxSearchText)
		}
		if needle == "" {
			return nil
		}
		var parts []string
		pattern := q.arg("%" + escapeLike(needle) + "%")
		for i := range s.t.Fields {
			fld := &s.t.Fields[i]
			if fld.Search == crm.SearchNone || s.t.Hides(g, fld.Name) {
				continue
			}
			parts = append(parts, textExpr(fld)+" ILIKE "+pattern+` ESCAPE '\'`)
		}
		if len(parts) == 0 {
			q.where("false")
			return nil
		}
		q.where("(%s)", strings.Join(parts, " OR "))
		return nil
	case crm.FilterLinkedBy, crm.FilterParticipant:
		id, ok := raw.(*uuid.UUID)
		if !ok {
			return crm.InvalidInput(path, "must be an id")
		}
		if f.Op == crm.FilterLinkedBy {
			q.where("EXISTS (SELECT 1 FROM %s l WHERE l.account_id = r.account_id AND l.linked_id = r.id AND l.record_id = %s)",
				pq.QuoteIdentifier(f.Link), q.arg(*id))
		} else {
			q.where("r.address_keys && (SELECT c.email_keys FROM contacts c WHERE c.account_id = r.account_id AND c.id = %s)", q.arg(*id))
		}
		return nil
	}
	kind, meta := metaFieldKinds[f.Field]
	var fld *crm.Field
	if meta {
		fld = &crm.Field{Name: f.Field, Kind: kind}
	} else {
		fld = s.t.Field(f.Field)
	}
	// A filter's value is checked as the field's own would be (an enum's
	// values, a domain's form), except that a list filter takes one item.
	checkAs := *fld
	switch fld.Kind {
	case crm.KindTags:
		checkAs.Kind = crm.KindText
	case crm.KindRefs, crm.KindMembers, crm.KindSubject:
		checkAs.Kind = crm.KindRef
	}
	checkAs.Required = false
	v, err := checkAs.Check(path, raw)
	if err != nil || v == nil {
		return err
	}
	var col string
	if meta {
		col = "r." + metaColumn(f.Field)
	} else if cols := fld.Columns(); len(cols) > 0 {
		col = "r." + pq.QuoteIdentifier(cols[len(cols)-1]) // a subject's id
	}
	switch f.Op {
	case crm.FilterEquals:
		q.where("%s = %s", col, q.arg(sqlValue(v)))
	case crm.FilterFrom:
		q.where("%s >= %s", col, q.arg(sqlValue(v)))
	case crm.FilterBefore:
		q.where("%s < %s", col, q.arg(sqlValue(v)))
	case crm.FilterHas:
		switch fld.Kind {
		case crm.KindRefs:
			q.where("EXISTS (SELECT 1 FROM %s l WHERE l.account_id = r.account_id AND l.record_id = r.id AND l.linked_id = %s)",
				pq.QuoteIdentifier(fld.Link), q.arg(v))
		default: // a JSON list: tags, mentions
			q.where("%s @> jsonb_build_array(%s::text)", col, q.arg(fmt.Sprint(v)))
		}
	}
	return nil
}

// textExpr is a field as text, for text filters: its words, addresses,
// numbers.
func textExpr(f *crm.Field) string {
	col := "r." + pq.QuoteIdentifier(f.Columns()[0])
	switch f.Kind {
	case crm.KindEmails:
		return "array_to_string(r.email_keys, ' ')"
	case crm.KindPhones:
		return "(SELECT string_agg(p->>'number', ' ') FROM jsonb_array_elements(" + col + ") p)"
	case crm.KindAddress:
		return "concat_ws(' ', " + col + "->>'street', " + col + "->>'postalCode', " + col + "->>'city', " + col + "->>'region', " + col + "->>'country')"
	case crm.KindTags:
		return "(SELECT string_agg(t, ' ') FROM jsonb_array_elements_text(" + col + ") t)"
	case crm.KindMailbox:
		return "concat_ws(' ', " + col + "->>'name', " + col + "->>'address')"
	case crm.KindMailboxes:
		return "(SELECT string_agg(concat_ws(' ', m->>'name', m->>'address'), ' ') FROM jsonb_array_elements(" + col + ") m)"
	}
	return col
}

// sqlValue is a checked value as a statement parameter: lists and
// structures as JSON text.
func sqlValue(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case string, bool, int, time.Time, uuid.UUID:
		return v
	case crm.Decimal:
		return string(v)
	case crm.Date:
		return string(v)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("db: a checked value does not marshal: %v", err))
	}
	return string(raw)
}
