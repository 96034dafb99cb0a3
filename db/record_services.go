package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// NewRecordServices returns the record stores on d, with the activity
// limits and notices of cfg.
func NewRecordServices(d *DB, cfg AccountConfig) crm.Records {
	core := newAccountCore(d, cfg)
	return crm.Records{
		Contacts:  newRecords[crm.Contact](core, crm.Contacts.Info().Record),
		Companies: newRecords[crm.Company](core, crm.Companies.Info().Record),
		Deals:     newRecords[crm.Deal](core, crm.Deals.Info().Record),
		Tasks:     newRecords[crm.Task](core, crm.Tasks.Info().Record),
		Notes:     newRecords[crm.Note](core, crm.Notes.Info().Record),
		Groups:    newRecords[crm.Group](core, crm.Groups.Info().Record),
		Templates: newRecords[crm.Template](core, crm.Templates.Info().Record),
		Campaigns: newRecords[crm.Campaign](core, crm.Campaigns.Info().Record),
		Mail:      newRecords[crm.MailMessage](core, crm.Mail.Info().Record),
		Relations: &relations{core: core},
	}
}

// relations implements crm.RecordRelations.
type relations struct{ core *accountCore }

// ownClause limits alias's rows to the actor's own when their role views
// only their own records of entity; ok is false when it views none.
func ownClause(q *query, e *entered, entity crm.Entity, alias string) (string, bool) {
	switch e.grant.Role.Matrix.Scope(entity, crm.View) {
	case crm.ScopeAll:
		return "", true
	case crm.ScopeOwn:
		return " AND " + alias + ".owner_id = " + q.arg(e.userID()), true
	}
	return "", false
}

// Timeline implements crm.RecordRelations.
func (r *relations) Timeline(ctx context.Context, a crm.Actor, contactID uuid.UUID, page crm.PageArgs) (*crm.TimelinePage, error) {
	page, after, err := timePage(page)
	if err != nil {
		return nil, err
	}
	var out *crm.TimelinePage
	err = r.core.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		q := &query{}
		account, contact := q.arg(e.account.ID), q.arg(contactID)
		own, ok := ownClause(q, e, crm.Contacts, "c")
		if !ok {
			return e.grant.Require(crm.Contacts, crm.View, uuid.Nil)
		}
		var found bool
		if err := tx.Get(ctx, &found, "SELECT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = "+account+" AND c.id = "+contact+own+")", q.args...); err != nil {
			return fmt.Errorf("timeline: %w", err)
		}
		if !found {
			return crm.NotFound("contact")
		}
		var parts []string
		if own, ok := ownClause(q, e, crm.Notes, "n"); ok {
			parts = append(parts, "SELECT 'NOTES' AS entity, n.id, n.created_at AS at FROM notes n WHERE n.account_id = "+account+
				" AND n.about_type = 'CONTACTS' AND n.about_id = "+contact+own)
		}
		if own, ok := ownClause(q, e, crm.Tasks, "t"); ok {
			parts = append(parts, "SELECT 'TASKS', t.id, t.created_at FROM tasks t WHERE t.account_id = "+account+
				" AND t.related_type = 'CONTACTS' AND t.related_id = "+contact+own)
		}
		if own, ok := ownClause(q, e, crm.Deals, "d"); ok {
			parts = append(parts, "SELECT 'DEALS', d.id, d.created_at FROM deal_contacts l JOIN deals d ON d.account_id = l.account_id AND d.id = l.record_id"+
				" WHERE l.account_id = "+account+" AND l.linked_id = "+contact+own)
		}
		if own, ok := ownClause(q, e, crm.Mail, "m"); ok {
			parts = append(parts, "SELECT 'MAIL', m.id, m.sent_at FROM mail_messages m WHERE m.account_id = "+account+
				" AND m.address_keys && (SELECT c.email_keys FROM contacts c WHERE c.account_id = "+account+" AND c.id = "+contact+")"+own)
		}
		out = &crm.TimelinePage{}
		if len(parts) == 0 {
			return nil
		}
		stmt := "SELECT entity, id, at FROM (" + joinUnion(parts) + ") x"
		if after.at != nil {
			stmt += " WHERE (at, id) < (" + q.arg(*after.at) + ", " + q.arg(after.id) + ")"
		}
		stmt += " ORDER BY at DESC, id DESC LIMIT " + q.arg(page.First+1)
		var rows []struct {
			Entity string    `db:"entity"`
			ID     uuid.UUID `db:"id"`
			At     time.Time `db:"at"`
		}
		if err := tx.Select(ctx, &rows, stmt, q.args...); err != nil {
			return fmt.Errorf("timeline: %w", err)
		}
		rows, out.PageInfo.HasNextPage = pageOf(rows, page.First)
		for _, row := range rows {
			out.Nodes = append(out.Nodes, crm.TimelineItem{Entity: crm.Entity(row.Entity), ID: row.ID, At: row.At.UTC()})
		}
		if n := len(rows); n > 0 {
			out.PageInfo.End = encodeCursor(rows[n-1].At, rows[n-1].ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func joinUnion(parts []string) string {
	out := parts[0]
	for _, p := range parts[1:] {
		out += " UNION ALL " + p
	}
	return out
}

// MailContacts implements crm.RecordRelations.
func (r *relations) MailContacts(ctx context.Context, a crm.Actor, mailIDs []uuid.UUID) ([][]uuid.UUID, error) {
	out := make([][]uuid.UUID, len(mailIDs))
	err := r.core.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		q := &query{}
		account := q.arg(e.account.ID)
		ownMail, okMail := ownClause(q, e, crm.Mail, "m")
		ownContacts, okContacts := ownClause(q, e, crm.Contacts, "c")
		if !okMail || !okContacts {
			return nil
		}
		var pairs []idPair
		if err := tx.Select(ctx, &pairs, "SELECT key, value FROM (SELECT m.id AS key, c.id AS value,"+
			" row_number() OVER (PARTITION BY m.id ORDER BY c.id) AS n FROM mail_messages m"+
			" JOIN contacts c ON c.account_id = m.account_id AND c.email_keys && m.address_keys"+
			" WHERE m.account_id = "+account+" AND m.id = ANY("+q.arg(pq.Array(mailIDs))+")"+ownMail+ownContacts+
			") x WHERE n <= "+q.arg(crm.MaxMailContacts)+" ORDER BY key, value", q.args...); err != nil {
			return fmt.Errorf("mail contacts: %w", err)
		}
		out = groupPairs(mailIDs, pairs)
		return nil
	})
	return out, err
}
