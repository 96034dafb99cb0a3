package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// The search index (migration 00012): each searchable record is one
// document per group of its searchable fields, written from the registry
// (crm.Field.Search and Hide) in the transaction of the write that changed
// the record. A group is '' for the fields no role can hide, else the
// hideable field that hides it, so that a viewer whose role hides a field
// never reads that field's documents.

// maxSnippetSource bounds the text of a group kept for snippets; its words
// are all indexed.
const maxSnippetSource = 2000

// docGroup is one group of a record type's searchable fields.
type docGroup struct {
	name   string       // '' or the hideable field
	fields []*crm.Field // in declaration order
}

// docGroups groups t's searchable fields, ” first.
func docGroups(t *crm.RecordType) []docGroup {
	var out []docGroup
	index := map[string]int{"": 0}
	out = append(out, docGroup{})
	for i := range t.Fields {
		f := &t.Fields[i]
		if f.Search == crm.SearchNone {
			continue
		}
		n, ok := index[f.Hide]
		if !ok {
			n = len(out)
			index[f.Hide] = n
			out = append(out, docGroup{name: f.Hide})
		}
		out[n].fields = append(out[n].fields, f)
	}
	return out
}

// fieldText returns SQL for a field's text as shown (display) and as
// indexed (words), and its phone digits ("" when none), over alias t.
func fieldText(f *crm.Field) (display, words, digits string) {
	col := "t." + pq.QuoteIdentifier(f.Columns()[0])
	switch f.Kind {
	case crm.KindDomain:
		return col, "sb_domain_text(" + col + ")", ""
	case crm.KindPhone:
		return col, col, "sb_phone_digits(" + col + ")"
	case crm.KindPhones:
		return "sb_phones_list(" + col + ")", "sb_phones_list(" + col + ")", "sb_phones_digits(" + col + ")"
	case crm.KindEmails:
		return "sb_emails_list(" + col + ")", "sb_emails_text(" + col + ")", ""
	case crm.KindMailbox, crm.KindMailboxes:
		return "sb_mailboxes_list(" + col + ")", "sb_mailboxes_text(" + col + ")", ""
	case crm.KindAddress, crm.KindTags:
		return "sb_json_text(" + col + ")", "sb_json_text(" + col + ")", ""
	}
	return col, col, ""
}

// fieldWeight ranks a field's words: names and titles (A) above addresses
// and domains (B), short texts (C) and long ones (D).
func fieldWeight(t *crm.RecordType, f *crm.Field) string {
	switch {
	case f.Search == crm.SearchName || slices.Contains(t.Title, f.Name):
		return "A"
	case f.Search == crm.SearchEmail || f.Search == crm.SearchDomain:
		return "B"
	case f.Kind == crm.KindLongText:
		return "D"
	}
	return "C"
}

// titleSQL is a record's title: its title fields joined (a long text's
// first line, cut at 80 characters), or "Unnamed <noun>".
func titleSQL(t *crm.RecordType) string {
	parts := make([]string, len(t.Title))
	for i, name := range t.Title {
		f := t.Field(name)
		col := "t." + pq.QuoteIdentifier(f.Columns()[0])
		if f.Kind == crm.KindLongText {
			col = "left(split_part(btrim(" + col + "), E'\\n', 1), 80)"
		}
		parts[i] = col
	}
	return "coalesce(nullif(btrim(concat_ws(' ', " + strings.Join(parts, ", ") + ")), ''), " + pq.QuoteLiteral("Unnamed "+t.Noun) + ")"
}

var docSelects sync.Map // *crm.RecordType → string

// docSelect is a SELECT of the documents of t's rows that match where
// (over alias t): account_id, entity, record_id, grp, owner_id, title,
// body, words (the tsvector) and digits.
func docSelect(t *crm.RecordType, where string) string {
	head, ok := docSelects.Load(t)
	if !ok {
		var rows []string
		for _, g := range docGroups(t) {
			var display, words, digits []string
			for _, f := range g.fields {
				d, w, p := fieldText(f)
				display = append(display, "nullif("+d+", '')")
				words = append(words, "setweight(to_tsvector('sb_search', coalesce("+w+", '')), '"+fieldWeight(t, f)+"')")
				if p != "" {
					digits = append(digits, "nullif("+p+", '')")
				}
			}
			body, vector, digitSQL := "''", "''::tsvector", "NULL::text"
			if len(display) > 0 {
				body = "left(concat_ws(' · ', " + strings.Join(display, ", ") + "), " + fmt.Sprint(maxSnippetSource) + ")"
				vector = strings.Join(words, " || ")
			}
			if len(digits) > 0 {
				digitSQL = "concat_ws(' ', " + strings.Join(digits, ", ") + ")"
			}
			rows = append(rows, "("+pq.QuoteLiteral(g.name)+", "+body+", "+vector+", "+digitSQL+")")
		}
		head = "SELECT t.account_id, " + pq.QuoteLiteral(string(t.Entity)) + "::text AS entity, t.id AS record_id, g.grp, t.owner_id, " +
			titleSQL(t) + " AS title, g.body, g.words, nullif(g.digits, '') AS digits FROM " + pq.QuoteIdentifier(t.Table) +
			" t CROSS JOIN LATERAL (VALUES " + strings.Join(rows, ", ") + ") g(grp, body, words, digits) WHERE g.body <> ''"
		docSelects.Store(t, head)
	}
	return head.(string) + " AND " + where
}

// indexSQL writes the documents of the rows docSelect(t, where) finds:
// new and changed ones (a changed document keeps its number), and away the
// groups a record no longer fills; the names and titles join the
// account's lexicon. ids is the statement's parameter holding the records'
// ids (every document of one of them that the select no longer yields
// goes).
func indexSQL(t *crm.RecordType, where, account, ids string) string {
	return "WITH docs AS (" + docSelect(t, where) + "), " +
		"gone AS (DELETE FROM search_doc d WHERE d.account_id = " + account + " AND d.entity = " + pq.QuoteLiteral(string(t.Entity)) +
		" AND d.record_id = ANY (" + ids + ") AND NOT EXISTS (SELECT 1 FROM docs WHERE docs.record_id = d.record_id AND docs.grp = d.grp)), " +
		"terms AS (INSERT INTO search_term (account_id, term) SELECT DISTINCT docs.account_id, w.term FROM docs, " +
		"unnest(tsvector_to_array(ts_filter(docs.words, '{a}'))) w(term) WHERE docs.grp = '' AND length(w.term) BETWEEN 3 AND 40 " +
		"ORDER BY 1, 2 ON CONFLICT DO NOTHING) " + // in order: two writers of the same new terms cannot deadlock
		"INSERT INTO search_doc AS d (account_id, entity, record_id, grp, owner_id, title, body, tsv, digits) " +
		"SELECT account_id, entity, record_id, grp, owner_id, title, body, words, digits FROM docs " +
		"ON CONFLICT (account_id, entity, record_id, grp) DO UPDATE SET owner_id = excluded.owner_id, title = excluded.title, " +
		"body = excluded.body, tsv = excluded.tsv, digits = excluded.digits " +
		"WHERE (d.owner_id, d.title, d.body, d.tsv, d.digits) IS DISTINCT FROM (excluded.owner_id, excluded.title, excluded.body, excluded.tsv, excluded.digits)"
}

// indexAllSQL indexes every record of t: the ids it names are none, so
// it deletes nothing and writes everything.
func indexAllSQL(t *crm.RecordType) string { return indexSQL(t, "true", "NULL", "'{}'::uuid[]") }

// index brings the search documents of records of t in the scope's
// account up to date with their rows (a record gone takes its documents).
func index(ctx context.Context, tx *Tx, e *entered, t *crm.RecordType, ids ...uuid.UUID) error {
	if t.Search == "" || len(ids) == 0 {
		return nil
	}
	stmt := indexSQL(t, "t.account_id = $1 AND t.id = ANY ($2)", "$1", "$2")
	if _, err := tx.Exec(ctx, stmt, e.account.ID, pq.Array(ids)); err != nil {
		return fmt.Errorf("index %s: %w", t.Noun, err)
	}
	return nil
}

// RebuildSearch writes the whole search index again from the records, as
// the tables' owner: for data loaded around the record layer (the scale
// generator) and after a change to what a type indexes. It locks the
// record and index tables (unforced): searches and writes wait until it
// commits.
func (d *DB) RebuildSearch(ctx context.Context) error {
	tx, err := d.admin.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rebuild search: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var partitions []string
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(array_agg(inhrelid::regclass::text ORDER BY 1), '{}') FROM pg_inherits
		WHERE inhparent = 'search_doc'::regclass`).Scan(pq.Array(&partitions)); err != nil {
		return fmt.Errorf("rebuild search: %w", err)
	}
	tables := append([]string{"search_doc", "search_term"}, partitions...)
	for _, t := range crm.RecordTypes {
		if t.Search != "" {
			tables = append(tables, t.Table)
		}
	}
	err = unforced(ctx, tx, tables, func() error {
		if _, err := tx.ExecContext(ctx, "TRUNCATE search_doc, search_term"); err != nil {
			return err
		}
		// Building an index once is far quicker than updating it row by
		// row: the secondary indexes go, and come back as the migrations
		// defined them once the rows are in.
		type secondary struct{ name, def string }
		var indexes []secondary
		rows, err := tx.QueryContext(ctx, `SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE i.indrelid IN ('search_doc'::regclass, 'search_term'::regclass) AND NOT i.indisprimary ORDER BY 1`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ix secondary
			if err := rows.Scan(&ix.name, &ix.def); err != nil {
				rows.Close()
				return err
			}
			indexes = append(indexes, ix)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ix := range indexes {
			if _, err := tx.ExecContext(ctx, "DROP INDEX "+pq.QuoteIdentifier(ix.name)); err != nil {
				return err
			}
		}
		for _, t := range crm.RecordTypes {
			if t.Search == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, indexAllSQL(t)); err != nil {
				return fmt.Errorf("%s: %w", t.Table, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "SET LOCAL maintenance_work_mem = '1GB'"); err != nil {
			return err
		}
		for _, ix := range indexes {
			// A partitioned table's index is defined ON ONLY the parent;
			// created on the parent, it is created on every partition.
			if _, err := tx.ExecContext(ctx, strings.Replace(ix.def, " ON ONLY ", " ON ", 1)); err != nil {
				return fmt.Errorf("index %s: %w", ix.name, err)
			}
		}
		return nil
	}, tx.Commit)
	if err != nil {
		return fmt.Errorf("rebuild search: %w", err)
	}
	return nil
}
