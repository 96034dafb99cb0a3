package crm

import (
	"fmt"
	"slices"
	"strings"
)

// The entity registry: every entity of the permission matrix, declared
// once. The matrix's entity list, which entities have owners, the catalog of
// fields a role may hide and, for records, their fields, lists, search and
// transfer all come from here (records.go says how a record's fields are
// declared; record_types.go declares them).

// EntityInfo declares one entity.
type EntityInfo struct {
	Entity Entity
	// Owned: its rows belong to a member, so that OWN means something
	// (members are "owned" by themselves; settings and billing belong to
	// the account).
	Owned bool
	// Hideable are the fields of it a role may hide, by their names in
	// roles (Role.HiddenFields holds "entity.field"). For a record each is
	// the Hide of one or more of its fields.
	Hideable []string
	// Record declares a CRM record type; nil for the account's own
	// entities (members, settings, billing).
	Record *RecordType
}

// registry lists the entities in matrix order.
var registry = []*EntityInfo{
	{Entity: Contacts, Owned: true, Hideable: []string{"email", "phone", "address"}, Record: contactType},
	{Entity: Companies, Owned: true, Hideable: []string{"revenue", "phone", "address"}, Record: companyType},
	{Entity: Deals, Owned: true, Hideable: []string{"amount", "probability", "expectedCloseDate"}, Record: dealType},
	{Entity: Tasks, Owned: true, Record: taskType},
	{Entity: Notes, Owned: true, Record: noteType},
	{Entity: Groups, Owned: true, Record: groupType},
	{Entity: Campaigns, Owned: true, Record: campaignType},
	{Entity: Templates, Owned: true, Record: templateType},
	{Entity: Mail, Owned: true, Record: mailType},
	{Entity: Members, Owned: true, Hideable: []string{"email", "lastSeenAt"}},
	{Entity: Settings},
	{Entity: Billing},
}

// Entities lists every entity, in matrix order.
var Entities = func() []Entity {
	out := make([]Entity, len(registry))
	for i, info := range registry {
		out[i] = info.Entity
	}
	return out
}()

// HideableFields are the fields a role may hide, by entity. Hidden fields
// resolve to null, are left out of filters, sorting and search, and
// cannot be written.
var HideableFields = func() map[Entity][]string {
	out := map[Entity][]string{}
	for _, info := range registry {
		if len(info.Hideable) > 0 {
			out[info.Entity] = info.Hideable
		}
	}
	return out
}()

// RecordTypes lists the record types, in matrix order.
var RecordTypes = func() []*RecordType {
	var out []*RecordType
	for _, info := range registry {
		if info.Record != nil {
			out = append(out, info.Record)
		}
	}
	return out
}()

// Info returns the declaration of e (nil for an unknown entity).
func (e Entity) Info() *EntityInfo {
	for _, info := range registry {
		if info.Entity == e {
			return info
		}
	}
	return nil
}

// HasOwner reports whether records of e belong to a member, so that OWN
// means something for it.
func (e Entity) HasOwner() bool {
	info := e.Info()
	return info != nil && info.Owned
}

// IsRecord reports whether e is a CRM record type.
func (e Entity) IsRecord() bool {
	info := e.Info()
	return info != nil && info.Record != nil
}

// recordEntities are the CRM records' entities.
func recordEntities() []Entity {
	out := make([]Entity, len(RecordTypes))
	for i, t := range RecordTypes {
		out[i] = t.Entity
	}
	return out
}

// checkRegistry verifies the declarations against each other once, at
// start-up: a mistake in one is a programming error, found by every test.
func checkRegistry() error {
	seen := map[Entity]bool{}
	for _, info := range registry {
		if seen[info.Entity] {
			return fmt.Errorf("entity %s declared twice", info.Entity)
		}
		seen[info.Entity] = true
		if t := info.Record; t != nil {
			if t.Entity != info.Entity {
				return fmt.Errorf("entity %s declares the record type of %s", info.Entity, t.Entity)
			}
			if err := t.check(); err != nil {
				return fmt.Errorf("record type %s: %w", t.Entity, err)
			}
			// Every hideable field hides at least one field, and every
			// field's Hide of this entity is in the catalog.
			for _, h := range info.Hideable {
				if !slices.ContainsFunc(t.Fields, func(f Field) bool { return f.Hide == FieldName(t.Entity, h) }) {
					return fmt.Errorf("hideable field %s hides no field", FieldName(t.Entity, h))
				}
			}
		}
	}
	for _, t := range RecordTypes {
		for _, f := range t.Fields {
			if f.Hide == "" {
				continue
			}
			entity, name, _ := strings.Cut(f.Hide, ".")
			owner := Entity(strings.ToUpper(entity)).Info()
			if owner == nil || !slices.Contains(owner.Hideable, name) {
				return fmt.Errorf("%s.%s is hidden by %s, which is not a hideable field", t.Entity, f.Name, f.Hide)
			}
		}
	}
	return nil
}

func init() {
	if err := checkRegistry(); err != nil {
		panic("crm: " + err.Error())
	}
}
