package crm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestBuiltInRoleMatrix states every built-in role's rights cell by cell:
// for each entity and action, what the role may do to its own records and
// to other members' records. A change to a built-in role must change this
// table.
func TestBuiltInRoleMatrix(t *testing.T) {
	// Each entry: entity -> four letters for VIEW, CREATE, EDIT, DELETE:
	// A = all records, O = own records only, - = none.
	want := map[BuiltInRole]map[Entity]string{
		RoleOwner: {
			Contacts: "AAAA", Companies: "AAAA", Deals: "AAAA", Tasks: "AAAA", Notes: "AAAA", Groups: "AAAA",
			Campaigns: "AAAA", Templates: "AAAA", Mail: "AAAA", Members: "AAAA", Settings: "AAAA", Billing: "AAAA",
		},
		RoleAdmin: {
			Contacts: "AAAA", Companies: "AAAA", Deals: "AAAA", Tasks: "AAAA", Notes: "AAAA", Groups: "AAAA",
			Campaigns: "AAAA", Templates: "AAAA", Mail: "AAAA", Members: "AAAA", Settings: "AAAA", Billing: "A---",
		},
		RoleManager: {
			Contacts: "AAAA", Companies: "AAAA", Deals: "AAAA", Tasks: "AAAA", Notes: "AAAA", Groups: "AAAA",
			Campaigns: "AAAA", Templates: "AAAA", Mail: "AAAA", Members: "A---", Settings: "----", Billing: "----",
		},
		RoleSalesRep: {
			Contacts: "AAAO", Companies: "AAAO", Deals: "OOOO", Tasks: "OOOO", Notes: "OOOO", Groups: "A---",
			Campaigns: "A---", Templates: "A---", Mail: "OOOO", Members: "A---", Settings: "----", Billing: "----",
		},
		RoleReadOnly: {
			Contacts: "A---", Companies: "A---", Deals: "A---", Tasks: "A---", Notes: "A---", Groups: "A---",
			Campaigns: "A---", Templates: "A---", Mail: "----", Members: "A---", Settings: "----", Billing: "----",
		},
	}
	me, someoneElse := uuid.New(), uuid.New()
	for _, role := range BuiltInRoles {
		g := Grant{UserID: me, Role: role.Role()}
		for _, e := range Entities {
			cells := want[role][e]
			if len(cells) != 4 {
				t.Fatalf("%s %s: the table has no row", role, e)
			}
			for i, a := range Actions {
				t.Run(fmt.Sprintf("%s/%s/%s", role, e, a), func(t *testing.T) {
					own, others := g.Can(e, a, me), g.Can(e, a, someoneElse)
					var got byte
					switch {
					case own && others:
						got = 'A'
					case own:
						got = 'O'
					case !others:
						got = '-'
					default:
						t.Fatal("may touch others' records but not their own")
					}
					if got != cells[i] {
						t.Fatalf("got %c, want %c", got, cells[i])
					}
					err := g.Require(e, a, someoneElse)
					if others != (err == nil) || (err != nil && ErrorCode(err) != CodeForbidden) {
						t.Fatalf("Require: %v", err)
					}
				})
			}
		}
	}
}

func TestDenyByDefault(t *testing.T) {
	g := Grant{UserID: uuid.New(), Role: Role{Name: "empty", Matrix: Matrix{}}}
	for _, e := range Entities {
		for _, a := range Actions {
			if g.Can(e, a, uuid.Nil) || g.Can(e, a, g.UserID) {
				t.Fatalf("an empty role may %s %s", a, e)
			}
		}
	}
}

func TestNewMatrixValidates(t *testing.T) {
	for name, perms := range map[string][]Permission{
		"unknown entity":     {{Entity: "SPACESHIPS", Action: View, Scope: ScopeAll}},
		"unknown action":     {{Entity: Deals, Action: "FLY", Scope: ScopeAll}},
		"unknown scope":      {{Entity: Deals, Action: View, Scope: "SOME"}},
		"own settings":       {{Entity: Settings, Action: Edit, Scope: ScopeOwn}},
		"own billing":        {{Entity: Billing, Action: View, Scope: ScopeOwn}},
		"a cell given twice": {{Entity: Deals, Action: View, Scope: ScopeAll}, {Entity: Deals, Action: View, Scope: ScopeOwn}},
	} {
		if _, err := NewMatrix(perms); err == nil || err.(*Error).Field != "permissions" {
			t.Errorf("%s: %v", name, err)
		}
	}
	m, err := NewMatrix([]Permission{{Entity: Deals, Action: View, Scope: ScopeOwn}})
	if err != nil || m.Scope(Deals, View) != ScopeOwn || m.Scope(Deals, Edit) != ScopeNone {
		t.Fatalf("%v %v", m, err)
	}
}

func TestCoversPreventsEscalation(t *testing.T) {
	admin, rep := RoleAdmin.Role().Matrix, RoleSalesRep.Role().Matrix
	if !admin.Covers(rep) || rep.Covers(admin) {
		t.Fatal("admin should cover a sales rep and not the reverse")
	}
	if admin.Covers(RoleOwner.Role().Matrix) {
		t.Fatal("an admin covers the owner (billing)")
	}
	ownDeals, _ := NewMatrix([]Permission{{Entity: Deals, Action: Delete, Scope: ScopeAll}})
	if rep.Covers(ownDeals) {
		t.Fatal("own deals cover all deals")
	}
}

func TestHiddenFields(t *testing.T) {
	got, err := CheckHiddenFields([]string{"DEALS.amount", "members.email", "deals.amount"})
	if err != nil || strings.Join(got, ",") != "deals.amount,members.email" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"deals.nope", "amount", "spaceships.amount", ""} {
		if _, err := CheckHiddenFields([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	g := Grant{Role: Role{HiddenFields: got}}
	if !g.Hidden(Members, "email") || g.Hidden(Members, "lastSeenAt") || strings.Join(g.HiddenFieldsOf(Deals), ",") != "amount" {
		t.Fatal("hidden field lookups")
	}
}

func TestLimitPeriods(t *testing.T) {
	wed := mustTime("2026-11-25T15:04:05Z")
	for p, want := range map[LimitPeriod][2]string{
		PerDay:   {"2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"},
		PerWeek:  {"2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"},
		PerMonth: {"2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
	} {
		if got := [2]string{p.Start(wed).Format(timeFormat), p.End(wed).Format(timeFormat)}; got != want {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
	sunday := mustTime("2026-11-29T23:59:59Z")
	if PerWeek.Start(sunday).Format(timeFormat) != "2026-11-23T00:00:00Z" {
		t.Error("weeks start on Monday")
	}
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
