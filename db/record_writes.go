package db

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// Writes of records. Each runs in a transaction of its own that verifies
// the actor under locks (DB.write), checks the role's matrix cell for the
// action on the record's owner and that no hidden field is written, checks
// that every record or member it points to is one the actor may see in the
// same account, and settles (updates the record's search documents, counts
// the action against the account's activity limits and logs it in the
// activity log), all in that transaction.

// writeVerbs name the activity entries of record writes by their action.
var writeVerbs = map[crm.Action]string{crm.Create: "created", crm.Edit: "updated", crm.Delete: "deleted"}

// action names an activity entry of the type ("contact.created").
func (s *Records[T, P]) action(verb string) string {
	return strings.ReplaceAll(s.t.Noun, " ", "_") + "." + verb
}

// ownerInput reads the ownerId an input may carry.
func ownerInput(in crm.Input) (*uuid.UUID, error) {
	raw, given := in["ownerId"]
	if !given {
		return nil, nil
	}
	switch id := raw.(type) {
	case *uuid.UUID:
		if id == nil {
			return nil, crm.InvalidInput("input.ownerId", "a record always has an owner")
		}
		return id, nil
	case uuid.UUID:
		return &id, nil
	}
	return nil, crm.InvalidInput("input.ownerId", "must be a member's id")
}

// Create implements crm.RecordStore.
func (s *Records[T, P]) Create(ctx context.Context, a crm.Actor, in crm.Input) (*T, error) {
	assigns, err := s.t.CheckInput(in, true)
	if err != nil {
		return nil, err
	}
	owner, err := ownerInput(in)
	if err != nil {
		return nil, err
	}
	if err := s.oneOf(assigns, nil); err != nil {
		return nil, err
	}
	var out *T
	err = s.core.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		ownerID := e.userID()
		if owner != nil {
			ownerID = *owner
		}
		if err := e.grant.Require(s.t.Entity, crm.Create, ownerID); err != nil {
			return err
		}
		if err := s.writable(e, assigns); err != nil {
			return err
		}
		if err := s.needs(e, assigns, nil); err != nil {
			return err
		}
		if ownerID != e.userID() {
			if err := checkMembers(ctx, tx, e, "input.ownerId", []uuid.UUID{ownerID}); err != nil {
				return err
			}
		}
		if err := s.checkRefs(ctx, tx, e, assigns); err != nil {
			return err
		}
		id := uuid.Must(uuid.NewV7())
		cols := slices.Clone(metaColumns)
		vals := []any{e.account.ID, id, ownerID, tx.Now, e.userID(), tx.Now, e.userID()}
		changes := map[string]crm.Change{}
		for _, as := range assigns {
			if as.Field.Kind == crm.KindRefs {
				continue
			}
			c, v := columnValues(as)
			cols, vals = append(cols, c...), append(vals, v...)
			if as.Value != nil {
				changes[as.Field.Name] = crm.Change{To: as.Value}
			}
		}
		if ownerID != e.userID() {
			changes["ownerId"] = crm.Change{To: ownerID}
		}
		q := &query{}
		placeholders := make([]string, len(vals))
		for i, v := range vals {
			placeholders[i] = q.arg(v)
		}
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = pq.QuoteIdentifier(c)
		}
		stmt := "INSERT INTO " + s.table() + " (" + strings.Join(quoted, ", ") + ") VALUES (" + strings.Join(placeholders, ", ") + ")"
		if key := s.t.Field(s.t.Idempotent); key != nil {
			stmt += " ON CONFLICT (account_id, owner_id, " + pq.QuoteIdentifier(key.Columns()[0]) + ") WHERE " +
				pq.QuoteIdentifier(key.Columns()[0]) + " IS NOT NULL DO NOTHING"
		}
		res, err := tx.Exec(ctx, stmt, q.args...)
		if err != nil {
			return fmt.Errorf("create %s: %w", s.t.Noun, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// The same message, logged before: that one is the answer.
			out, err = s.existing(ctx, tx, e, ownerID, assigns)
			return err
		}
		for _, as := range assigns {
			if as.Field.Kind == crm.KindRefs && as.Value != nil {
				if err := s.replaceLinks(ctx, tx, e, as.Field, id, as.Value.(crm.IDs)); err != nil {
					return err
				}
				changes[as.Field.Name] = crm.Change{To: as.Value}
			}
		}
		if err := s.settle(ctx, tx, e, id, ownerID, crm.Create, changes); err != nil {
			return err
		}
		out, err = s.written(ctx, tx, e, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// settle finishes a write of record id, owned by owner, in its
// transaction: the record's search documents follow its row, the action
// counts against the account's activity limits, the activity log gets its
// entry, and the members it newly assigns or mentions are told.
func (s *Records[T, P]) settle(ctx context.Context, tx *Tx, e *entered, id, owner uuid.UUID, act crm.Action, changes map[string]crm.Change) error {
	if err := index(ctx, tx, e, s.t, id); err != nil {
		return err
	}
	if err := s.core.countAction(ctx, tx, e, s.t.Entity, act); err != nil {
		return err
	}
	if err := tx.logEntry(e.account.ID, e.userID(), e.grant.Role.Name, s.action(writeVerbs[act]), s.t.Entity, id, owner, changes); err != nil {
		return err
	}
	if act == crm.Delete {
		return nil
	}
	var notes []crm.NewNotification
	actor := e.actorName()
	for _, n := range recordNotices {
		if n.entity != s.t.Entity {
			continue
		}
		c, ok := changes[n.field]
		if !ok {
			continue
		}
		for _, to := range addedMembers(c) {
			notes = append(notes, crm.NewNotification{Kind: n.kind, AccountID: e.account.ID, RecipientID: to, ActorID: e.userID(),
				SubjectType: s.t.Entity, SubjectID: id,
				Message: fmt.Sprintf(n.message, actor, s.t.Noun, e.account.Name),
				Subject: fmt.Sprintf(n.message, actor, s.t.Noun, e.account.Name)})
		}
	}
	return notifyUsers(ctx, tx, s.core.cfg.Outbox, s.core.cfg.PublicURL, notes...)
}

// recordNotices are the record changes that tell a member: being assigned a
// task, being mentioned in a note. Messages name no field value, which the
// recipient's role might hide.
var recordNotices = []struct {
	entity  crm.Entity
	field   string
	kind    crm.NotificationKind
	message string // actor, noun, account
}{
	{crm.Tasks, "assigneeId", crm.NotifyTaskAssigned, "%s assigned you a %s in %s"},
	{crm.Notes, "mentionIds", crm.NotifyMentioned, "%s mentioned you in a %s in %s"},
}

// addedMembers are the members a change adds: the new value of a member
// field, or the ids a list gained.
func addedMembers(c crm.Change) []uuid.UUID {
	switch to := c.To.(type) {
	case uuid.UUID:
		return []uuid.UUID{to}
	case *uuid.UUID:
		if to != nil {
			return []uuid.UUID{*to}
		}
	case crm.IDs:
		from, _ := c.From.(crm.IDs)
		var out []uuid.UUID
		for _, id := range to {
			if !slices.Contains(from, id) {
				out = append(out, id)
			}
		}
		return out
	}
	return nil
}

// existing finds the record an idempotent create gave back (the one with
// the same key for the same owner).
func (s *Records[T, P]) existing(ctx context.Context, tx *Tx, e *entered, ownerID uuid.UUID, assigns []crm.Assignment) (*T, error) {
	key := s.t.Field(s.t.Idempotent)
	var value any
	for _, as := range assigns {
		if as.Field == key {
			value = as.Value
		}
	}
	return s.selectOne(ctx, tx, e, "r.account_id = $1 AND r.owner_id = $2 AND r."+pq.QuoteIdentifier(key.Columns()[0])+" = $3",
		e.account.ID, ownerID, value)
}

// written reads a record the actor just wrote, whether or not their role
// lets them see it afterwards (a record created for a colleague under a
// role that views only its own): the answer to their mutation.
func (s *Records[T, P]) written(ctx context.Context, tx *Tx, e *entered, id uuid.UUID) (*T, error) {
	return s.selectOne(ctx, tx, e, "r.account_id = $1 AND r.id = $2", e.account.ID, id)
}

// selectOne reads the record where cond holds, shaped for e; NOT_FOUND
// when there is none.
func (s *Records[T, P]) selectOne(ctx context.Context, tx *Tx, e *entered, cond string, args ...any) (*T, error) {
	rows, err := tx.Query(ctx, "SELECT "+s.selects+" FROM "+s.table()+" r WHERE "+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.t.Noun, err)
	}
	recs, err := s.scanRecords(rows, nil)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, crm.NotFound(s.t.Noun)
	}
	s.shape(e, recs)
	return &recs[0], nil
}

// Update implements crm.RecordStore.
func (s *Records[T, P]) Update(ctx context.Context, a crm.Actor, id uuid.UUID, in crm.Input) (*T, error) {
	if s.t.Immutable {
		return nil, crm.Forbidden("a %s is kept as it was logged: delete it and log it again", s.t.Noun)
	}
	assigns, err := s.t.CheckInput(in, false)
	if err != nil {
		return nil, err
	}
	owner, err := ownerInput(in)
	if err != nil {
		return nil, err
	}
	var out *T
	err = s.core.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		cur, err := s.loadOne(ctx, tx, e, id, true)
		if err != nil {
			return err
		}
		curOwner := P(cur).Meta().OwnerID
		if err := e.grant.Require(s.t.Entity, crm.Edit, curOwner); err != nil {
			return err
		}
		if err := s.writable(e, assigns); err != nil {
			return err
		}
		if err := s.oneOf(assigns, cur); err != nil {
			return err
		}
		if err := s.needs(e, assigns, cur); err != nil {
			return err
		}
		changes := map[string]crm.Change{}
		q := &query{}
		var sets []string
		if owner != nil && *owner != curOwner {
			// Giving a record to someone else takes the scope over theirs;
			// taking one for oneself, every right over it one's own would
			// have.
			if err := e.grant.Require(s.t.Entity, crm.Edit, *owner); err != nil {
				return err
			}
			if *owner == e.userID() {
				if err := e.grant.RequireTake(s.t.Entity, curOwner); err != nil {
					return err
				}
			}
			if err := checkMembers(ctx, tx, e, "input.ownerId", []uuid.UUID{*owner}); err != nil {
				return err
			}
			sets = append(sets, "owner_id = "+q.arg(*owner))
			changes["ownerId"] = crm.Change{From: curOwner, To: *owner}
		}
		if err := s.checkRefs(ctx, tx, e, assigns); err != nil {
			return err
		}
		var links []crm.Assignment
		for _, as := range assigns {
			var from any
			if as.Field.Kind == crm.KindRefs {
				ids, err := s.links(ctx, tx, e, as.Field, id)
				if err != nil {
					return err
				}
				from = ids
			} else {
				from = s.t.Value(cur, as.Field)
			}
			if sameValue(from, as.Value) {
				continue
			}
			changes[as.Field.Name] = crm.Change{From: present(from), To: as.Value}
			if as.Field.Kind == crm.KindRefs {
				links = append(links, as)
				continue
			}
			cols, vals := columnValues(as)
			for i, c := range cols {
				sets = append(sets, pq.QuoteIdentifier(c)+" = "+q.arg(vals[i]))
			}
		}
		if len(changes) == 0 {
			out = cur // nothing to change: nothing written, nothing counted
			return nil
		}
		sets = append(sets, "updated_at = "+q.arg(tx.Now), "updated_by = "+q.arg(e.userID()))
		if _, err := tx.Exec(ctx, "UPDATE "+s.table()+" SET "+strings.Join(sets, ", ")+" WHERE account_id = "+q.arg(e.account.ID)+
			" AND id = "+q.arg(id), q.args...); err != nil {
			return fmt.Errorf("update %s: %w", s.t.Noun, err)
		}
		for _, as := range links {
			ids, _ := as.Value.(crm.IDs)
			if err := s.replaceLinks(ctx, tx, e, as.Field, id, ids); err != nil {
				return err
			}
		}
		owner := curOwner
		if o, ok := changes["ownerId"]; ok {
			owner = o.To.(uuid.UUID)
		}
		if err := s.settle(ctx, tx, e, id, owner, crm.Edit, changes); err != nil {
			return err
		}
		out, err = s.written(ctx, tx, e, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete implements crm.RecordStore. Notes about the record go with it;
// tasks about it stay, about nothing, and records that refer to it (a
// contact's or deal's company, a deal's contacts, a group's) lose the
// reference. Either changes records the actor may not own, so the actor
// needs the right to delete, or to edit, each of them.
func (s *Records[T, P]) Delete(ctx context.Context, a crm.Actor, id uuid.UUID) error {
	return s.core.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		cur, err := s.loadOne(ctx, tx, e, id, true)
		if err != nil {
			return err
		}
		if err := e.grant.Require(s.t.Entity, crm.Delete, P(cur).Meta().OwnerID); err != nil {
			return err
		}
		changes := map[string]crm.Change{}
		for i := range s.t.Fields {
			f := &s.t.Fields[i]
			if v := present(s.t.Value(cur, f)); v != nil {
				changes[f.Name] = crm.Change{From: v}
			}
		}
		for _, other := range crm.RecordTypes {
			for i := range other.Fields {
				f := &other.Fields[i]
				about := f.Kind == crm.KindSubject && slices.Contains(f.Subjects, s.t.Entity)
				refers := (f.Kind == crm.KindRef || f.Kind == crm.KindRefs) && f.Ref == s.t.Entity
				if !about && !refers {
					continue
				}
				if err := s.requireChanging(ctx, tx, e, other, f, id); err != nil {
					return err
				}
				if refers {
					// Their foreign keys unlink them with the delete; no
					// reference is in a search document.
					continue
				}
				cols := f.Columns()
				var stmt string
				if f.Required {
					stmt = "DELETE FROM " + pq.QuoteIdentifier(other.Table) + " WHERE account_id = $1 AND " +
						pq.QuoteIdentifier(cols[0]) + " = $2 AND " + pq.QuoteIdentifier(cols[1]) + " = $3"
				} else {
					stmt = "UPDATE " + pq.QuoteIdentifier(other.Table) + " SET " + pq.QuoteIdentifier(cols[0]) + " = NULL, " +
						pq.QuoteIdentifier(cols[1]) + " = NULL WHERE account_id = $1 AND " + pq.QuoteIdentifier(cols[0]) + " = $2 AND " +
						pq.QuoteIdentifier(cols[1]) + " = $3"
				}
				var touched []uuid.UUID
				if err := tx.Select(ctx, &touched, stmt+" RETURNING id", e.account.ID, string(s.t.Entity), id); err != nil {
					return fmt.Errorf("delete %s of a %s: %w", other.Table, s.t.Noun, err)
				}
				if n := len(touched); n > 0 && f.Required {
					changes[other.Table+".deleted"] = crm.Change{To: int64(n)}
				}
				if err := index(ctx, tx, e, other, touched...); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM "+s.table()+" WHERE account_id = $1 AND id = $2", e.account.ID, id); err != nil {
			return fmt.Errorf("delete %s: %w", s.t.Noun, err)
		}
		return s.settle(ctx, tx, e, id, P(cur).Meta().OwnerID, crm.Delete, changes)
	})
}

// requireChanging refuses deleting the record id of s when it would change
// records of other, through their field f, that the actor may not change:
// records that must have a subject (notes) go with it, so the actor must
// be allowed to delete each; the others lose their reference to it, so the
// actor must be allowed to edit each. A member who may delete their own
// contact may not take a colleague's notes with it, nor take a contact out
// of a colleague's deal. A role that may do so to every record of other
// reads none of them.
func (s *Records[T, P]) requireChanging(ctx context.Context, tx *Tx, e *entered, other *crm.RecordType, f *crm.Field, id uuid.UUID) error {
	act := crm.Edit
	if f.Required {
		act = crm.Delete
	}
	if e.grant.Role.Matrix.Scope(other.Entity, act) == crm.ScopeAll {
		return nil
	}
	owners, err := s.dependentOwners(ctx, tx, e, other, f, id)
	if err != nil {
		return err
	}
	for _, owner := range owners {
		if e.grant.Can(other.Entity, act, owner) {
			continue
		}
		kind := strings.ToLower(string(other.Entity))
		if act == crm.Delete {
			return crm.Forbidden("this %s has %s that your role (%s) may not delete, and they would be deleted with it: "+
				"their owners or an admin can delete them first", s.t.Noun, kind, e.grant.Role.Name)
		}
		return crm.Forbidden("%s that your role (%s) may not edit refer to this %s, and deleting it would change them: "+
			"their owners or an admin can change them first", kind, e.grant.Role.Name, s.t.Noun)
	}
	return nil
}

// dependentOwners are the owners of the records of other whose field f is
// about, or refers to, the record id of s, one per record. The records are
// locked until the delete commits, so none changes owner meanwhile.
func (s *Records[T, P]) dependentOwners(ctx context.Context, tx *Tx, e *entered, other *crm.RecordType, f *crm.Field, id uuid.UUID) ([]uuid.UUID, error) {
	table := pq.QuoteIdentifier(other.Table)
	var q string
	args := []any{e.account.ID, id}
	switch f.Kind {
	case crm.KindSubject:
		cols := f.Columns()
		q = "SELECT owner_id FROM " + table + " WHERE account_id = $1 AND " + pq.QuoteIdentifier(cols[1]) + " = $2 AND " +
			pq.QuoteIdentifier(cols[0]) + " = $3"
		args = append(args, string(s.t.Entity))
	case crm.KindRefs:
		q = "SELECT r.owner_id FROM " + table + " r JOIN " + pq.QuoteIdentifier(f.Link) +
			" l ON l.account_id = r.account_id AND l.record_id = r.id WHERE l.account_id = $1 AND l.linked_id = $2"
	default:
		q = "SELECT owner_id FROM " + table + " WHERE account_id = $1 AND " + pq.QuoteIdentifier(f.Columns()[0]) + " = $2"
	}
	var owners []uuid.UUID
	if err := tx.Select(ctx, &owners, q+" FOR UPDATE", args...); err != nil {
		return nil, fmt.Errorf("%s that refer to a %s: %w", other.Table, s.t.Noun, err)
	}
	return owners, nil
}

// ChangeLinks adds ids to and removes ids from a link list of a record (a
// group's contacts): an edit of the record.
func (s *Records[T, P]) ChangeLinks(ctx context.Context, a crm.Actor, id uuid.UUID, field string, add, remove []uuid.UUID) (*T, error) {
	f := s.t.Field(field)
	if f == nil || f.Kind != crm.KindRefs {
		return nil, fmt.Errorf("%s has no link list %q", s.t.Noun, field)
	}
	if len(add)+len(remove) == 0 || len(add) > f.Max || len(remove) > f.Max {
		return nil, crm.InvalidInput(field, "give from 1 to %d ids", f.Max)
	}
	var out *T
	err := s.core.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		cur, err := s.loadOne(ctx, tx, e, id, true)
		if err != nil {
			return err
		}
		if err := e.grant.Require(s.t.Entity, crm.Edit, P(cur).Meta().OwnerID); err != nil {
			return err
		}
		ids, err := s.links(ctx, tx, e, f, id)
		if err != nil {
			return err
		}
		if add != nil {
			if err := s.checkRefs(ctx, tx, e, []crm.Assignment{{Field: f, Value: crm.IDs(add)}}); err != nil {
				return err
			}
		}
		next := slices.Clone(ids)
		for _, a := range add {
			if !slices.Contains(next, a) {
				next = append(next, a)
			}
		}
		next = slices.DeleteFunc(next, func(id uuid.UUID) bool { return slices.Contains(remove, id) })
		if len(next) > f.Max {
			return crm.InvalidInput(field, "a %s holds at most %d", s.t.Noun, f.Max)
		}
		slices.SortFunc(next, compareIDs)
		if sameValue(ids, crm.IDs(next)) {
			out = cur
			return nil
		}
		if err := s.replaceLinks(ctx, tx, e, f, id, next); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE "+s.table()+" SET updated_at = $3, updated_by = $4 WHERE account_id = $1 AND id = $2",
			e.account.ID, id, tx.Now, e.userID()); err != nil {
			return fmt.Errorf("update %s: %w", s.t.Noun, err)
		}
		changes := map[string]crm.Change{f.Name: {From: present(ids), To: present(crm.IDs(next))}}
		if err := s.settle(ctx, tx, e, id, P(cur).Meta().OwnerID, crm.Edit, changes); err != nil {
			return err
		}
		out, err = s.written(ctx, tx, e, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// links reads a link list of one record, sorted.
func (s *Records[T, P]) links(ctx context.Context, tx *Tx, e *entered, f *crm.Field, id uuid.UUID) (crm.IDs, error) {
	var ids []uuid.UUID
	if err := tx.Select(ctx, &ids, "SELECT linked_id FROM "+pq.QuoteIdentifier(f.Link)+" WHERE account_id = $1 AND record_id = $2 ORDER BY linked_id",
		e.account.ID, id); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Link, err)
	}
	return ids, nil
}

// replaceLinks makes a record's link list ids.
func (s *Records[T, P]) replaceLinks(ctx context.Context, tx *Tx, e *entered, f *crm.Field, id uuid.UUID, ids crm.IDs) error {
	link := pq.QuoteIdentifier(f.Link)
	if _, err := tx.Exec(ctx, "DELETE FROM "+link+" WHERE account_id = $1 AND record_id = $2 AND NOT (linked_id = ANY($3))",
		e.account.ID, id, pq.Array([]uuid.UUID(ids))); err != nil {
		return fmt.Errorf("write %s: %w", f.Link, err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+link+" (account_id, record_id, linked_id) SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING",
		e.account.ID, id, pq.Array([]uuid.UUID(ids))); err != nil {
		return fmt.Errorf("write %s: %w", f.Link, err)
	}
	return nil
}

// writable refuses an input that writes a field the actor's role hides:
// FORBIDDEN, naming the field.
func (s *Records[T, P]) writable(e *entered, assigns []crm.Assignment) error {
	for _, as := range assigns {
		if s.t.Hides(e.grant, as.Field.Name) {
			return &crm.Error{Code: crm.CodeForbidden, Field: "input." + as.Field.Name,
				Message: fmt.Sprintf("your role (%s) does not see %s, so it cannot write it", e.grant.Role.Name, as.Field.Name)}
		}
	}
	return nil
}

// oneOf checks that a record keeps at least one of the type's OneOf
// fields: on create among what is given, on update among what is given and
// what stays.
func (s *Records[T, P]) oneOf(assigns []crm.Assignment, cur *T) error {
	if len(s.t.OneOf) == 0 {
		return nil
	}
	for _, name := range s.t.OneOf {
		if v, _ := s.merged(assigns, cur, name); v != nil {
			return nil
		}
	}
	return crm.InvalidInput("input."+s.t.OneOf[0], "a %s needs one of %s", s.t.Noun, strings.Join(s.t.OneOf, ", "))
}

// merged is a field's value once the input is applied: as the input gives
// it (given), else as cur holds it (nil on create, or when not set).
func (s *Records[T, P]) merged(assigns []crm.Assignment, cur *T, name string) (value any, given bool) {
	f := s.t.Field(name)
	for _, as := range assigns {
		if as.Field == f {
			return present(as.Value), true
		}
	}
	if cur != nil {
		return present(s.t.Value(cur, f)), false
	}
	return nil, false
}

// needs checks the type's Needs over what the input gives and (on update)
// what stays, when the input touches either field. A rule whose first
// field the actor's role hides is not checked: its error would tell them
// the hidden value is set.
func (s *Records[T, P]) needs(e *entered, assigns []crm.Assignment, cur *T) error {
	for _, n := range s.t.Needs {
		if s.t.Hides(e.grant, n.Field) {
			continue
		}
		v, givenField := s.merged(assigns, cur, n.Field)
		w, givenNeeds := s.merged(assigns, cur, n.Needs)
		if !givenField && !givenNeeds {
			continue
		}
		if v == nil || (n.Value != "" && fmt.Sprint(v) != n.Value) {
			continue
		}
		if w == nil {
			return crm.InvalidInput("input."+n.Needs, "%s", n.Why)
		}
	}
	return nil
}

// checkRefs checks that every record and member an input points to is in
// the actor's account and one they may see: NOT_FOUND otherwise, exactly as
// for one that does not exist. One statement per type pointed to.
func (s *Records[T, P]) checkRefs(ctx context.Context, tx *Tx, e *entered, assigns []crm.Assignment) error {
	records := map[crm.Entity][]uuid.UUID{}
	var members []uuid.UUID
	for _, as := range assigns {
		switch v := as.Value.(type) {
		case uuid.UUID:
			if as.Field.Kind == crm.KindMember {
				members = append(members, v)
			} else {
				records[as.Field.Ref] = append(records[as.Field.Ref], v)
			}
		case crm.IDs:
			if as.Field.Kind == crm.KindMembers {
				members = append(members, v...)
			} else {
				records[as.Field.Ref] = append(records[as.Field.Ref], v...)
			}
		case crm.RecordRef:
			records[v.Entity] = append(records[v.Entity], v.ID)
		}
	}
	if len(members) > 0 {
		if err := checkMembers(ctx, tx, e, "input", members); err != nil {
			return err
		}
	}
	for entity, ids := range records {
		t := entity.Info().Record
		q := &query{}
		switch e.grant.Role.Matrix.Scope(entity, crm.View) {
		case crm.ScopeNone:
			return crm.NotFound(t.Noun)
		case crm.ScopeOwn:
			q.where("r.owner_id = %s", q.arg(e.userID()))
		}
		q.where("r.account_id = %s", q.arg(e.account.ID))
		ids = dedupeIDs(ids)
		q.where("r.id = ANY(%s)", q.arg(pq.Array(ids)))
		var n int
		if err := tx.Get(ctx, &n, "SELECT count(*) FROM "+pq.QuoteIdentifier(t.Table)+" r"+q.clause(), q.args...); err != nil {
			return fmt.Errorf("check %s: %w", t.Table, err)
		}
		if n != len(ids) {
			return crm.NotFound(t.Noun)
		}
	}
	return nil
}

// checkMembers checks that ids are members of the actor's account (not
// removed): NOT_FOUND otherwise.
func checkMembers(ctx context.Context, tx *Tx, e *entered, path string, ids []uuid.UUID) error {
	ids = dedupeIDs(ids)
	var n int
	if err := tx.Get(ctx, &n, `SELECT count(*) FROM memberships WHERE account_id = $1 AND user_id = ANY($2) AND status <> 'REMOVED'`,
		e.account.ID, pq.Array(ids)); err != nil {
		return fmt.Errorf("check members: %w", err)
	}
	if n != len(ids) {
		return crm.NotFound("member")
	}
	return nil
}

func dedupeIDs(ids []uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, compareIDs)
	return slices.Compact(out)
}

func compareIDs(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) }

// columnValues are an assignment's columns and their parameters.
func columnValues(as crm.Assignment) ([]string, []any) {
	cols := as.Field.Columns()
	if as.Field.Kind == crm.KindSubject {
		ref, _ := as.Value.(crm.RecordRef)
		if as.Value == nil {
			return cols, []any{nil, nil}
		}
		return cols, []any{string(ref.Entity), ref.ID}
	}
	return cols, []any{sqlValue(as.Value)}
}

// present is a stored value as a change shows it: nil for an empty one (a
// nil pointer, an empty list), the value otherwise.
func present(v any) any {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		if rv.IsNil() || (rv.Kind() == reflect.Slice && rv.Len() == 0) {
			return nil
		}
		if rv.Kind() == reflect.Pointer {
			return rv.Elem().Interface()
		}
	}
	return v
}

// sameValue compares a stored value with a new one by what they say (their
// JSON), so that a pointer and a value, or a nil and an empty list, of the
// same content are the same.
func sameValue(a, b any) bool {
	ja, errA := json.Marshal(present(a))
	jb, errB := json.Marshal(present(b))
	return errA == nil && errB == nil && string(ja) == string(jb)
}
