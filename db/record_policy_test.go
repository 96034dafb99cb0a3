package db_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"switchboard/crm"
)

// recordOps drives one record type through its store, whatever its Go
// type, for tests that run over every type.
type recordOps struct {
	t      *crm.RecordType
	create func(a crm.Actor, in crm.Input) (uuid.UUID, error)
	get    func(a crm.Actor, id uuid.UUID) error
	list   func(a crm.Actor) ([]uuid.UUID, error)
	update func(a crm.Actor, id uuid.UUID, in crm.Input) error
	remove func(a crm.Actor, id uuid.UUID) error
}

func opsOf[T any](ctx context.Context, s crm.RecordStore[T]) recordOps {
	id := func(rec *T) uuid.UUID { return any(rec).(interface{ Meta() *crm.RecordMeta }).Meta().ID }
	return recordOps{
		t: s.Type(),
		create: func(a crm.Actor, in crm.Input) (uuid.UUID, error) {
			rec, err := s.Create(ctx, a, in)
			if err != nil {
				return uuid.Nil, err
			}
			return id(rec), nil
		},
		get: func(a crm.Actor, rid uuid.UUID) error { _, err := s.Get(ctx, a, rid); return err },
		list: func(a crm.Actor) ([]uuid.UUID, error) {
			page, err := s.List(ctx, a, crm.ListQuery{Page: crm.PageArgs{First: 100}})
			if err != nil {
				return nil, err
			}
			var out []uuid.UUID
			for i := range page.Nodes {
				out = append(out, id(&page.Nodes[i]))
			}
			return out, nil
		},
		update: func(a crm.Actor, rid uuid.UUID, in crm.Input) error { _, err := s.Update(ctx, a, rid, in); return err },
		remove: func(a crm.Actor, rid uuid.UUID) error { return s.Delete(ctx, a, rid) },
	}
}

func allOps(ctx context.Context, r crm.Records) []recordOps {
	return []recordOps{opsOf(ctx, r.Contacts), opsOf(ctx, r.Companies), opsOf(ctx, r.Deals), opsOf(ctx, r.Tasks), opsOf(ctx, r.Notes),
		opsOf(ctx, r.Groups), opsOf(ctx, r.Templates), opsOf(ctx, r.Campaigns), opsOf(ctx, r.Mail)}
}

// minimal is the smallest valid input of a type (about, for a note: a
// contact of the account).
func minimal(e crm.Entity, contact uuid.UUID) crm.Input {
	switch e {
	case crm.Contacts:
		return crm.Input{"lastName": ptr("Minimal")}
	case crm.Companies, crm.Groups, crm.Templates, crm.Campaigns:
		return crm.Input{"name": ptr("Minimal")}
	case crm.Deals, crm.Tasks:
		return crm.Input{"title": ptr("Minimal")}
	case crm.Notes:
		return crm.Input{"body": ptr("Minimal"), "about": &crm.RecordRef{Entity: crm.Contacts, ID: contact}}
	case crm.Mail:
		return crm.Input{"from": &crm.Mailbox{Address: "someone@example.org"}, "sentAt": ptr(testStart), "direction": ptr("INBOUND")}
	}
	panic("no minimal input for " + string(e))
}

// change is an input that changes a record of the type.
func change(e crm.Entity) crm.Input {
	in := minimal(e, uuid.Nil)
	for k, v := range in {
		if s, ok := v.(*string); ok && *s == "Minimal" {
			return crm.Input{k: ptr("Changed " + uuid.NewString()[:8])}
		}
	}
	return crm.Input{}
}

// roleWorld is an account for testing a role over records: its owner, a
// colleague (a Manager), a member m whose custom role the test shapes, and
// a contact that notes can be about.
type roleWorld struct {
	f                   *fixture
	owner, colleague, m member
	role                uuid.UUID
	contact             *crm.Contact
}

func newRoleWorld(f *fixture) roleWorld {
	f.t.Helper()
	w := roleWorld{f: f, owner: f.signUp()}
	w.colleague = f.join(w.owner, roleID(crm.RoleManager))
	w.role = f.customRole(w.owner, "Under test", nil)
	w.m = f.join(w.owner, w.role)
	var err error
	w.contact, err = f.records.Contacts.Create(f.ctx, w.owner.Actor, crm.Input{"lastName": ptr("About")})
	noErr(f.t, err)
	return w
}

// setRole gives m's role exactly these cells.
func (w roleWorld) setRole(cells ...crm.Permission) {
	w.f.t.Helper()
	_, err := w.f.Roles.UpdateRole(w.f.ctx, w.owner.Actor, w.role, crm.RoleInput{Name: "Under test", Permissions: cells})
	noErr(w.f.t, err)
}

// TestThePermissionTable runs every record type through every cell of the
// matrix (view, create, edit, delete; none, own, all) for a member whose
// custom role holds that one cell (and, to reach the records, view all of
// the type and of contacts), on a record they own and one a colleague
// owns: NONE refuses, OWN allows their own only, ALL allows both.
// Refusals are FORBIDDEN, except that a record the role may not see is
// NOT_FOUND, as one that does not exist.
func TestThePermissionTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := newRoleWorld(f)
	owner, colleague, m, contact := w.owner, w.colleague, w.m, w.contact
	for _, ops := range allOps(f.ctx, f.records) {
		e := ops.t.Entity
		for _, action := range crm.Actions {
			for _, scope := range []crm.Scope{crm.ScopeNone, crm.ScopeOwn, crm.ScopeAll} {
				name := fmt.Sprintf("%s %s %s", e, action, scope)
				// Records to act on, made by the owner for m and for the
				// colleague, while m's role lets them see nothing.
				w.setRole()
				mine, err := ops.create(owner.Actor, with(minimal(e, contact.ID), "ownerId", &m.ID))
				noErr(t, err)
				theirs, err := ops.create(owner.Actor, with(minimal(e, contact.ID), "ownerId", &colleague.ID))
				noErr(t, err)
				cells := []crm.Permission{{Entity: e, Action: action, Scope: scope}}
				if action != crm.View {
					cells = append(cells, crm.Permission{Entity: e, Action: crm.View, Scope: crm.ScopeAll})
				}
				if e != crm.Contacts || action != crm.View {
					cells = append(cells, crm.Permission{Entity: crm.Contacts, Action: crm.View, Scope: crm.ScopeAll})
				}
				if e == crm.Contacts && action != crm.View {
					cells = cells[:len(cells)-1] // contacts VIEW ALL is already there
				}
				w.setRole(cells...)

				// outcome says what an attempt on a record should give.
				outcome := func(own bool) crm.Code {
					switch {
					case scope == crm.ScopeAll, scope == crm.ScopeOwn && own:
						return ""
					case action == crm.View && scope == crm.ScopeOwn:
						return crm.CodeNotFound // a record the role does not see
					}
					return crm.CodeForbidden
				}
				check := func(what string, err error, want crm.Code) {
					t.Helper()
					if got := crm.ErrorCode(err); got != want && !(want == "" && err == nil) {
						t.Errorf("%s, %s: got %v, want %q", name, what, err, want)
					}
				}
				switch action {
				case crm.View:
					check("get mine", ops.get(m.Actor, mine), outcome(true))
					check("get theirs", ops.get(m.Actor, theirs), outcome(false))
					ids, err := ops.list(m.Actor)
					want := map[crm.Scope]string{crm.ScopeNone: "refused", crm.ScopeOwn: "mine", crm.ScopeAll: "both"}[scope]
					got := "refused"
					if err == nil {
						got = fmt.Sprintf("%v %v", contains(ids, mine), contains(ids, theirs))
						got = map[string]string{"true false": "mine", "true true": "both", "false false": "none", "false true": "theirs"}[got]
					} else if crm.ErrorCode(err) != crm.CodeForbidden {
						t.Errorf("%s, list: %v", name, err)
					}
					if got != want {
						t.Errorf("%s, list: %s, want %s", name, got, want)
					}
				case crm.Create:
					_, err := ops.create(m.Actor, minimal(e, contact.ID))
					check("create for myself", err, outcome(true))
					_, err = ops.create(m.Actor, with(minimal(e, contact.ID), "ownerId", &colleague.ID))
					check("create for a colleague", err, outcome(false))
				case crm.Edit:
					want := func(own bool) crm.Code {
						if ops.t.Immutable {
							return crm.CodeForbidden // mail is kept as logged
						}
						return outcome(own)
					}
					check("edit mine", ops.update(m.Actor, mine, change(e)), want(true))
					check("edit theirs", ops.update(m.Actor, theirs, change(e)), want(false))
				case crm.Delete:
					check("delete mine", ops.remove(m.Actor, mine), outcome(true))
					check("delete theirs", ops.remove(m.Actor, theirs), outcome(false))
				}
			}
		}
	}
}

// TestTakingARecordGivesNoNewRight: a role that edits every record but
// deletes (or views) only its own may not take a colleague's record for
// itself, which would make it deletable by a change of owner alone; with
// the same rights over everyone's it may.
func TestTakingARecordGivesNoNewRight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := newRoleWorld(f)
	owner, colleague, m, contact := w.owner, w.colleague, w.m, w.contact
	for _, ops := range allOps(f.ctx, f.records) {
		e := ops.t.Entity
		if ops.t.Immutable {
			continue // mail is kept as logged: no edit at all
		}
		for _, deleteScope := range []crm.Scope{crm.ScopeOwn, crm.ScopeAll} {
			cells := []crm.Permission{{Entity: e, Action: crm.View, Scope: crm.ScopeAll}, {Entity: e, Action: crm.Edit, Scope: crm.ScopeAll},
				{Entity: e, Action: crm.Delete, Scope: deleteScope}}
			if e != crm.Contacts {
				cells = append(cells, crm.Permission{Entity: crm.Contacts, Action: crm.View, Scope: crm.ScopeAll})
			}
			w.setRole(cells...)
			theirs, err := ops.create(owner.Actor, with(minimal(e, contact.ID), "ownerId", &colleague.ID))
			noErr(t, err)
			err = ops.update(m.Actor, theirs, crm.Input{"ownerId": &m.ID})
			if deleteScope == crm.ScopeOwn {
				wantCode(t, err, crm.CodeForbidden)
				wantCode(t, ops.remove(m.Actor, theirs), crm.CodeForbidden)
			} else {
				noErr(t, err)
				noErr(t, ops.remove(m.Actor, theirs))
			}
		}
	}
}

func with(in crm.Input, key string, v any) crm.Input {
	in[key] = v
	return in
}

func contains(ids []uuid.UUID, id uuid.UUID) bool { return slices.Contains(ids, id) }

// TestRemovalTransfersRecords: removing a member gives every record they
// own to the heir, and the tasks assigned to them; the removal's activity
// entry counts what moved.
func TestRemovalTransfersRecords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	heir := f.join(owner, roleID(crm.RoleManager))
	var contact uuid.UUID
	for _, ops := range allOps(f.ctx, f.records) {
		id, err := ops.create(rep.Actor, minimal(ops.t.Entity, contact))
		if crm.ErrorCode(err) == crm.CodeForbidden {
			// A sales rep may not create groups, templates or campaigns:
			// the owner makes them theirs.
			id, err = ops.create(owner.Actor, with(minimal(ops.t.Entity, contact), "ownerId", &rep.ID))
		}
		noErr(t, err)
		if ops.t.Entity == crm.Contacts {
			contact = id
		}
	}
	task, err := f.records.Tasks.Create(f.ctx, owner.Actor, crm.Input{"title": ptr("For the rep"), "assigneeId": &rep.ID})
	noErr(t, err)
	noErr(t, f.Members.RemoveMember(f.ctx, owner.Actor, rep.ID, heir.ID))
	for _, rt := range crm.RecordTypes {
		var left, moved int
		noErr(t, f.raw.Get(&left, `SELECT count(*) FROM `+rt.Table+` WHERE account_id = $1 AND owner_id = $2`, owner.AccountID, rep.ID))
		noErr(t, f.raw.Get(&moved, `SELECT count(*) FROM `+rt.Table+` WHERE account_id = $1 AND owner_id = $2`, owner.AccountID, heir.ID))
		if left != 0 || moved < 1 {
			t.Errorf("%s: %d left with the removed member, %d with the heir", rt.Table, left, moved)
		}
	}
	got, err := f.records.Tasks.Get(f.ctx, owner.Actor, task.ID)
	noErr(t, err)
	if got.AssigneeID == nil || *got.AssigneeID != heir.ID {
		t.Errorf("the removed member's task is assigned to %v, want the heir", got.AssigneeID)
	}
	var changes string
	noErr(t, f.raw.Get(&changes, `SELECT changes::text FROM activity_log WHERE account_id = $1 AND action = 'member.removed'`, owner.AccountID))
	for _, want := range []string{`"transferred.contacts"`, `"transferred.tasks.assignee_id"`, `"transferred.mail_messages"`} {
		if !strings.Contains(changes, want) {
			t.Errorf("the removal's changes %s lack %s", changes, want)
		}
	}
}

// TestDeletingARecordTakesNoColleaguesNotes: a record's notes go with it,
// so deleting it needs the right to delete every one of them. A Sales Rep
// deletes their own contact with their own notes, but not one a colleague
// wrote a note on, which stays whole; an admin deletes it, notes and all.
func TestDeletingARecordTakesNoColleaguesNotes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	manager := f.join(owner, roleID(crm.RoleManager))
	note := func(by member, contact uuid.UUID) uuid.UUID {
		n, err := f.records.Notes.Create(f.ctx, by.Actor, minimal(crm.Notes, contact))
		noErr(t, err)
		return n.ID
	}

	alone, err := f.records.Contacts.Create(f.ctx, rep.Actor, crm.Input{"lastName": ptr("Alone")})
	noErr(t, err)
	note(rep, alone.ID)
	noErr(t, f.records.Contacts.Delete(f.ctx, rep.Actor, alone.ID))

	shared, err := f.records.Contacts.Create(f.ctx, rep.Actor, crm.Input{"lastName": ptr("Shared")})
	noErr(t, err)
	own := note(rep, shared.ID)
	theirs := note(manager, shared.ID)
	err = f.records.Contacts.Delete(f.ctx, rep.Actor, shared.ID)
	wantCode(t, err, crm.CodeForbidden)
	if !strings.Contains(err.Error(), "notes") {
		t.Fatalf("the refusal does not say why: %v", err)
	}
	_, err = f.records.Contacts.Get(f.ctx, rep.Actor, shared.ID)
	noErr(t, err)
	for _, id := range []uuid.UUID{own, theirs} {
		_, err := f.records.Notes.Get(f.ctx, manager.Actor, id)
		noErr(t, err)
	}

	noErr(t, f.records.Contacts.Delete(f.ctx, owner.Actor, shared.ID))
	for _, id := range []uuid.UUID{own, theirs} {
		_, err := f.records.Notes.Get(f.ctx, owner.Actor, id)
		wantCode(t, err, crm.CodeNotFound)
	}
}

// TestDeletingARecordChangesNoColleaguesRecords: records that refer to a
// deleted one lose the reference, so deleting it needs the right to edit
// each of them: a Sales Rep may delete their own company, but not one a
// colleague's deal is with, nor their own contact in a group they may not
// edit. Nothing changes when refused; an admin's delete unlinks them.
func TestDeletingARecordChangesNoColleaguesRecords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep := f.join(owner, roleID(crm.RoleSalesRep))
	manager := f.join(owner, roleID(crm.RoleManager))

	company, err := f.records.Companies.Create(f.ctx, rep.Actor, crm.Input{"name": ptr("Acme")})
	noErr(t, err)
	repsDeal, err := f.records.Deals.Create(f.ctx, rep.Actor, crm.Input{"title": ptr("Own"), "companyId": &company.ID})
	noErr(t, err)
	theirDeal, err := f.records.Deals.Create(f.ctx, manager.Actor, crm.Input{"title": ptr("Theirs"), "companyId": &company.ID})
	noErr(t, err)
	err = f.records.Companies.Delete(f.ctx, rep.Actor, company.ID)
	wantCode(t, err, crm.CodeForbidden)
	if !strings.Contains(err.Error(), "deals") {
		t.Fatalf("the refusal does not say why: %v", err)
	}
	for _, id := range []uuid.UUID{repsDeal.ID, theirDeal.ID} {
		d, err := f.records.Deals.Get(f.ctx, manager.Actor, id)
		noErr(t, err)
		if d.CompanyID == nil || *d.CompanyID != company.ID {
			t.Fatalf("a refused delete unlinked deal %q: %v", d.Title, d.CompanyID)
		}
	}
	noErr(t, f.records.Deals.Delete(f.ctx, manager.Actor, theirDeal.ID))
	noErr(t, f.records.Companies.Delete(f.ctx, rep.Actor, company.ID)) // only the rep's own deal is left
	d, err := f.records.Deals.Get(f.ctx, rep.Actor, repsDeal.ID)
	noErr(t, err)
	if d.CompanyID != nil {
		t.Fatalf("the deal still has the deleted company %v", d.CompanyID)
	}

	contact, err := f.records.Contacts.Create(f.ctx, rep.Actor, crm.Input{"lastName": ptr("Grouped")})
	noErr(t, err)
	group, err := f.records.Groups.Create(f.ctx, owner.Actor, crm.Input{"name": ptr("Newsletter"), "contactIds": []uuid.UUID{contact.ID}})
	noErr(t, err)
	err = f.records.Contacts.Delete(f.ctx, rep.Actor, contact.ID)
	wantCode(t, err, crm.CodeForbidden)
	if !strings.Contains(err.Error(), "groups") {
		t.Fatalf("the refusal does not say why: %v", err)
	}
	noErr(t, f.records.Contacts.Delete(f.ctx, owner.Actor, contact.ID))
	links, err := f.records.Groups.Linked(f.ctx, owner.Actor, "contactIds", []uuid.UUID{group.ID})
	noErr(t, err)
	if len(links[0]) != 0 {
		t.Fatalf("the group still holds the deleted contact: %v", links[0])
	}
}
