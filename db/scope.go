package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// memberRow is a membership with its role, as stored.
type memberRow struct {
	AccountID        uuid.UUID      `db:"account_id"`
	UserID           uuid.UUID      `db:"user_id"`
	BuiltInRole      *string        `db:"role"`
	CustomRoleID     *uuid.UUID     `db:"custom_role_id"`
	Status           string         `db:"status"`
	DisplayName      *string        `db:"display_name"`
	DeactivatedUntil *time.Time     `db:"deactivated_until"`
	CreatedAt        time.Time      `db:"created_at"`
	CustomName       *string        `db:"custom_name"`
	CustomPerms      []byte         `db:"custom_permissions"`
	CustomHidden     pq.StringArray `db:"custom_hidden_fields"`
}

// memberSelect reads memberships with their custom role (if any); callers
// add WHERE, ORDER and LIMIT.
const memberSelect = `
	SELECT m.account_id, m.user_id, m.role, m.custom_role_id, m.status, m.display_name, m.deactivated_until, m.created_at,
		r.name AS custom_name, r.permissions AS custom_permissions, r.hidden_fields AS custom_hidden_fields
	FROM memberships m
	LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id`

// role assembles the member's role.
func (m *memberRow) role() (crm.Role, error) {
	if m.BuiltInRole != nil {
		return crm.BuiltInRole(*m.BuiltInRole).Role(), nil
	}
	if m.CustomRoleID == nil || m.CustomName == nil {
		return crm.Role{}, errors.New("membership without a role")
	}
	return customRole(*m.CustomRoleID, *m.CustomName, m.CustomPerms, m.CustomHidden)
}

// status is the effective status at now: a deactivation whose end has
// passed no longer counts.
func (m *memberRow) status(now time.Time) crm.MembershipStatus {
	s := crm.MembershipStatus(m.Status)
	if s == crm.MemberDeactivated && m.DeactivatedUntil != nil && !now.Before(*m.DeactivatedUntil) {
		return crm.MemberActive
	}
	return s
}

type permissionJSON struct {
	Entity crm.Entity `json:"entity"`
	Action crm.Action `json:"action"`
	Scope  crm.Scope  `json:"scope"`
}

func customRole(id uuid.UUID, name string, perms []byte, hidden []string) (crm.Role, error) {
	var cells []permissionJSON
	if err := json.Unmarshal(perms, &cells); err != nil {
		return crm.Role{}, fmt.Errorf("role %s permissions: %w", id, err)
	}
	list := make([]crm.Permission, len(cells))
	for i, c := range cells {
		list[i] = crm.Permission(c)
	}
	m, err := crm.NewMatrix(list)
	if err != nil {
		return crm.Role{}, fmt.Errorf("role %s permissions: %w", id, err)
	}
	if hidden == nil {
		hidden = []string{}
	}
	return crm.Role{ID: id, Name: name, Matrix: m, HiddenFields: hidden}, nil
}

func encodePermissions(m crm.Matrix) ([]byte, error) {
	var cells []permissionJSON
	for _, p := range m.Permissions() {
		if p.Scope != crm.ScopeNone {
			cells = append(cells, permissionJSON(p))
		}
	}
	if cells == nil {
		cells = []permissionJSON{}
	}
	return json.Marshal(cells)
}

// entered is what a verified actor brings into a transaction: the account,
// their membership and the grant it gives.
type entered struct {
	actor   crm.Actor
	account crm.Account
	member  memberRow
	grant   crm.Grant
}

// errIPRefused is returned by enter inside the transaction; scoped logs the
// refusal after the transaction rolled back and answers IP_NOT_ALLOWED.
type errIPRefused struct{ addr netip.Addr }

func (e errIPRefused) Error() string {
	return "address " + e.addr.String() + " is not on the allowlist"
}

// enter verifies an actor's scope inside tx: a member (NOT_FOUND
// otherwise, exactly as for an account that does not exist), not
// deactivated (ACCOUNT_DEACTIVATED), from an allowed address.
func enter(ctx context.Context, tx *Tx, a crm.Actor) (*entered, error) {
	if a.Principal == nil {
		return nil, crm.Errorf(crm.CodeUnauthenticated, "sign in first")
	}
	if a.AccountID == uuid.Nil {
		return nil, crm.InvalidInput("X-Account-ID", "choose an account: send X-Account-ID or call switchAccount")
	}
	var row struct {
		memberRow
		AccountName      string         `db:"account_name"`
		AccountCreatedAt time.Time      `db:"account_created_at"`
		Allowlist        pq.StringArray `db:"ip_allowlist"`
	}
	err := tx.Get(ctx, &row, `
		SELECT m.account_id, m.user_id, m.role, m.custom_role_id, m.status, m.display_name, m.deactivated_until, m.created_at,
			r.name AS custom_name, r.permissions AS custom_permissions, r.hidden_fields AS custom_hidden_fields,
			a.name AS account_name, a.created_at AS account_created_at, a.ip_allowlist::text[] AS ip_allowlist
		FROM memberships m
		JOIN accounts a ON a.id = m.account_id
		LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id
		WHERE m.account_id = $1 AND m.user_id = $2`, a.AccountID, a.UserID())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crm.NotFound("account")
	}
	if err != nil {
		return nil, fmt.Errorf("enter account: %w", err)
	}
	switch row.status(tx.Now) {
	case crm.MemberRemoved:
		return nil, crm.NotFound("account")
	case crm.MemberDeactivated:
		msg := "your access to this account is deactivated; an admin can reactivate it"
		if row.DeactivatedUntil != nil {
			msg = fmt.Sprintf("your access to this account is paused until %s UTC (activity limit); an admin can restore it sooner",
				row.DeactivatedUntil.UTC().Format("2 Jan 2006 15:04"))
		}
		return nil, crm.Errorf(crm.CodeAccountDeactivated, "%s", msg)
	}
	allow, err := parsePrefixes(row.Allowlist)
	if err != nil {
		return nil, err
	}
	if !allowed(allow, a.Client.IP) {
		return nil, errIPRefused{addr: a.Client.IP}
	}
	role, err := row.role()
	if err != nil {
		return nil, err
	}
	return &entered{
		actor:   a,
		account: crm.Account{ID: a.AccountID, Name: row.AccountName, CreatedAt: row.AccountCreatedAt.UTC(), IPAllowlist: allow},
		member:  row.memberRow,
		grant:   crm.Grant{UserID: a.UserID(), Role: role},
	}, nil
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("stored allowlist entry %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// allowed reports whether ip may use an account with allowlist list; an
// empty list allows everyone.
func allowed(list []netip.Prefix, ip netip.Addr) bool {
	if len(list) == 0 {
		return true
	}
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// scoped runs fn in a transaction scoped to the actor's account, after
// verifying the actor. An allowlist refusal is logged in a transaction of
// its own (the operation's rolled back) and answered IP_NOT_ALLOWED.
func (d *DB) scoped(ctx context.Context, a crm.Actor, fn func(ctx context.Context, tx *Tx, e *entered) error) error {
	var refused errIPRefused
	err := d.inTx(ctx, Scope{UserID: a.UserID(), AccountID: a.AccountID}, func(ctx context.Context, tx *Tx) error {
		e, err := enter(ctx, tx, a)
		if err != nil {
			return err
		}
		return fn(ctx, tx, e)
	})
	if errors.As(err, &refused) {
		if logErr := d.logRefusal(ctx, a); logErr != nil {
			return logErr
		}
		return crm.Errorf(crm.CodeIPNotAllowed, "this account does not accept requests from %s", refused.addr)
	}
	return err
}

// logRefusal records an allowlist refusal in the login log, at most once
// per user, account and address every ten minutes, so a client that keeps
// retrying does not flood the log.
func (d *DB) logRefusal(ctx context.Context, a crm.Actor) error {
	return d.inTx(ctx, Scope{UserID: a.UserID()}, func(ctx context.Context, tx *Tx) error {
		var recent bool
		err := tx.Get(ctx, &recent, `
			SELECT EXISTS (SELECT 1 FROM login_events
				WHERE user_id = $1 AND concerns_account_id = $2 AND outcome = 'IP_NOT_ALLOWED' AND ip IS NOT DISTINCT FROM $3::inet AND at > $4)`,
			a.UserID(), a.AccountID, nullIP(a.Client.IP), tx.Now.Add(-10*time.Minute))
		if err != nil || recent {
			return err
		}
		return logLogin(ctx, tx, a.UserID(), a.Principal.User.Email, a.Client, crm.LoginIPNotAllowed, a.Principal.Session.ID, a.AccountID)
	})
}
