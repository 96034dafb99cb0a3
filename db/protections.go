package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/realtime"
)

// maxAllowlist bounds the entries of an IP allowlist.
const maxAllowlist = 100

// SetIPAllowlist implements crm.AccountService.
func (s *ProtectionService) SetIPAllowlist(ctx context.Context, a crm.Actor, cidrs []string) (*crm.Account, error) {
	if len(cidrs) > maxAllowlist {
		return nil, crm.InvalidInput("cidrs", "at most %d entries", maxAllowlist)
	}
	list := make([]netip.Prefix, 0, len(cidrs))
	for _, raw := range cidrs {
		p, err := parseCIDR(raw)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(list, p) {
			list = append(list, p)
		}
	}
	var out crm.Account
	err := s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.Edit, uuid.Nil); err != nil {
			return err
		}
		if tx.Now.Sub(e.principal.Session.CreatedAt) > recentSignIn {
			return crm.Forbidden("changing the IP allowlist needs a sign-in within the last 15 minutes: sign in again")
		}
		// No one locks themselves out: the caller's own address must stay
		// allowed.
		if !crm.AllowedFrom(list, a.Client.IP) {
			return crm.InvalidInput("cidrs", "the list would lock you out: add your current address %s first", a.Client.IP)
		}
		if err := s.countAction(ctx, tx, e, crm.Settings, crm.Edit); err != nil {
			return err
		}
		strs := prefixStrings(list)
		if _, err := tx.Exec(ctx, `UPDATE accounts SET ip_allowlist = $2::cidr[] WHERE id = $1`, e.account.ID, pq.Array(strs)); err != nil {
			return fmt.Errorf("set allowlist: %w", err)
		}
		// Streams from addresses the list now excludes end, on every
		// process.
		if err := notify(ctx, tx, realtime.AccountTopic(e.account.ID.String()), realtime.TypeAllowlistChanged,
			crm.AllowlistChange{AccountID: e.account.ID, Allowlist: list, At: tx.Now}); err != nil {
			return err
		}
		if err := logActivity(ctx, tx, e, "account.ip_allowlist_changed", crm.Settings, e.account.ID,
			map[string]crm.Change{"ipAllowlist": {From: prefixStrings(e.account.IPAllowlist), To: strs}}); err != nil {
			return err
		}
		out = e.account
		out.IPAllowlist = list
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// parseCIDR reads an IPv4 or IPv6 CIDR, or a single address (a /32 or
// /128). Host bits must be zero, so "10.1.2.3/8" is refused rather than
// quietly widened.
func parseCIDR(raw string) (netip.Prefix, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > 64 {
		return netip.Prefix{}, crm.InvalidInput("cidrs", "%.64q… is not an address range", raw)
	}
	if !strings.Contains(raw, "/") {
		addr, err := netip.ParseAddr(raw)
		if err != nil {
			return netip.Prefix{}, crm.InvalidInput("cidrs", "%q is not an IPv4 or IPv6 address or CIDR", raw)
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(raw)
	if err != nil {
		return netip.Prefix{}, crm.InvalidInput("cidrs", "%q is not an IPv4 or IPv6 CIDR", raw)
	}
	if p.Masked() != p {
		return netip.Prefix{}, crm.InvalidInput("cidrs", "%q has host bits set; did you mean %s?", raw, p.Masked())
	}
	return p, nil
}

func prefixStrings(list []netip.Prefix) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.String()
	}
	return out
}

// countedActions are the actions an activity limit may count.
var countedActions = []crm.Action{crm.Create, crm.Edit, crm.Delete}

// ActivityLimits implements crm.AccountService.
func (s *ProtectionService) ActivityLimits(ctx context.Context, a crm.Actor) ([]crm.ActivityLimit, error) {
	var out []crm.ActivityLimit
	err := s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.View, uuid.Nil); err != nil {
			return err
		}
		var rows []struct {
			Entity string `db:"entity"`
			Action string `db:"action"`
			Max    int    `db:"max_count"`
			Period string `db:"period"`
		}
		if err := tx.Select(ctx, &rows, `SELECT entity, action, max_count, period FROM activity_limits WHERE account_id = $1 ORDER BY entity, action`, e.account.ID); err != nil {
			return err
		}
		out = make([]crm.ActivityLimit, len(rows))
		for i, r := range rows {
			out[i] = crm.ActivityLimit{Entity: crm.Entity(r.Entity), Action: crm.Action(r.Action), Limit: r.Max, Period: crm.LimitPeriod(r.Period)}
		}
		return nil
	})
	return out, err
}

// SetActivityLimit implements crm.AccountService.
func (s *ProtectionService) SetActivityLimit(ctx context.Context, a crm.Actor, l crm.ActivityLimit) (*crm.ActivityLimit, error) {
	if !slices.Contains(crm.Entities, l.Entity) {
		return nil, crm.InvalidInput("entity", "unknown entity %q", l.Entity)
	}
	if !slices.Contains(countedActions, l.Action) {
		return nil, crm.InvalidInput("action", "only CREATE, EDIT and DELETE can be limited")
	}
	if l.Limit < 1 || l.Limit > crm.MaxActivityLimit {
		return nil, crm.InvalidInput("limit", "must be from 1 to %d", crm.MaxActivityLimit)
	}
	if !l.Period.Valid() {
		return nil, crm.InvalidInput("period", "must be DAY, WEEK or MONTH")
	}
	err := s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.Edit, uuid.Nil); err != nil {
			return err
		}
		if err := s.countAction(ctx, tx, e, crm.Settings, crm.Edit); err != nil {
			return err
		}
		var before struct {
			Max    int    `db:"max_count"`
			Period string `db:"period"`
		}
		err := tx.Get(ctx, &before, `SELECT max_count, period FROM activity_limits WHERE account_id = $1 AND entity = $2 AND action = $3`,
			e.account.ID, string(l.Entity), string(l.Action))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO activity_limits (account_id, entity, action, max_count, period, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (account_id, entity, action) DO UPDATE SET max_count = $4, period = $5, updated_at = $6`,
			e.account.ID, string(l.Entity), string(l.Action), l.Limit, string(l.Period), tx.Now); err != nil {
			return fmt.Errorf("set activity limit: %w", err)
		}
		change := crm.Change{To: fmt.Sprintf("%d per %s", l.Limit, strings.ToLower(string(l.Period)))}
		if before.Max > 0 {
			change.From = fmt.Sprintf("%d per %s", before.Max, strings.ToLower(before.Period))
		}
		return logActivity(ctx, tx, e, "account.activity_limit_set", crm.Settings, uuid.Nil,
			map[string]crm.Change{string(l.Entity) + "." + string(l.Action): change})
	})
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// RemoveActivityLimit implements crm.AccountService.
func (s *ProtectionService) RemoveActivityLimit(ctx context.Context, a crm.Actor, ent crm.Entity, act crm.Action) error {
	return s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.Edit, uuid.Nil); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM activity_limits WHERE account_id = $1 AND entity = $2 AND action = $3`, e.account.ID, string(ent), string(act))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return crm.NotFound("activity limit")
		}
		if err := s.countAction(ctx, tx, e, crm.Settings, crm.Edit); err != nil {
			return err
		}
		return logActivity(ctx, tx, e, "account.activity_limit_removed", crm.Settings, uuid.Nil,
			map[string]crm.Change{string(ent) + "." + string(act): {From: "limited"}})
	})
}

// countAction counts one action of the actor against the account's limit
// for it, in the transaction that does the action. The counter row is
// updated atomically, so concurrent actions are counted exactly: the one
// that reaches the limit succeeds and pauses the membership until the period
// ends; any beyond it fail. Owners are not limited.
func (s *accountCore) countAction(ctx context.Context, tx *Tx, e *entered, ent crm.Entity, act crm.Action) error {
	if e.grant.IsOwner() {
		return nil
	}
	var lim struct {
		Max    int    `db:"max_count"`
		Period string `db:"period"`
	}
	err := tx.Get(ctx, &lim, `SELECT max_count, period FROM activity_limits WHERE account_id = $1 AND entity = $2 AND action = $3`,
		e.account.ID, string(ent), string(act))
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read activity limit: %w", err)
	}
	period := crm.LimitPeriod(lim.Period)
	var count int
	err = tx.Get(ctx, &count, `
		INSERT INTO activity_counters AS c (account_id, user_id, entity, action, period_start, count) VALUES ($1, $2, $3, $4, $5, 1)
		ON CONFLICT (account_id, user_id, entity, action, period_start) DO UPDATE SET count = c.count + 1
		RETURNING count`, e.account.ID, e.userID(), string(ent), string(act), period.Start(tx.Now))
	if err != nil {
		return fmt.Errorf("count activity: %w", err)
	}
	until := period.End(tx.Now)
	switch {
	case count > lim.Max:
		return crm.Errorf(crm.CodeAccountDeactivated, "you reached the limit of %d %s %s per %s; access resumes at %s UTC",
			lim.Max, strings.ToLower(string(ent)), strings.ToLower(string(act)), strings.ToLower(lim.Period), until.Format("2 Jan 2006 15:04"))
	case count < lim.Max:
		return nil
	}
	return s.pauseForLimit(ctx, tx, e, ent, act, lim.Max, period, until)
}

// pauseForLimit deactivates the actor's membership until the period ends,
// announces it, and tells the account's admins in-app and by mail.
func (s *accountCore) pauseForLimit(ctx context.Context, tx *Tx, e *entered, ent crm.Entity, act crm.Action, max int, period crm.LimitPeriod, until time.Time) error {
	userID := e.userID()
	if _, err := tx.Exec(ctx, `UPDATE memberships SET status = 'DEACTIVATED', deactivated_until = $3, status_changed_at = $4 WHERE account_id = $1 AND user_id = $2`,
		e.account.ID, userID, until, tx.Now); err != nil {
		return fmt.Errorf("pause membership: %w", err)
	}
	if err := announceMembership(ctx, tx, crm.MembershipChange{AccountID: e.account.ID, UserID: userID, Status: crm.MemberDeactivated,
		RoleID: e.grant.Role.ID, Until: &until}); err != nil {
		return err
	}
	what := fmt.Sprintf("%d %s %s per %s", max, strings.ToLower(string(ent)), strings.ToLower(string(act)), strings.ToLower(string(period)))
	if err := logActivity(ctx, tx, e, "member.activity_limit_reached", crm.Members, userID,
		map[string]crm.Change{"status": {From: crm.MemberActive, To: crm.MemberDeactivated}, "limit": {To: what}, "until": {To: until}}); err != nil {
		return err
	}
	name := e.actorName()
	message := fmt.Sprintf("%s reached the activity limit (%s) in %s and is deactivated until %s UTC. Reactivate them to restore access sooner.",
		name, what, e.account.Name, until.Format("2 Jan 2006 15:04"))
	admins, err := s.admins(ctx, tx, e.account.ID)
	if err != nil {
		return err
	}
	notes := make([]crm.NewNotification, len(admins))
	for i, admin := range admins {
		notes[i] = crm.NewNotification{Kind: crm.NotifyActivityLimit, AccountID: e.account.ID, RecipientID: admin.id, ActorID: userID,
			SubjectType: crm.Members, SubjectID: userID, Message: message,
			Email: &crm.Email{
				Subject: fmt.Sprintf("%s reached an activity limit in %s", name, e.account.Name),
				Text:    fmt.Sprintf("Hello %s,\n\n%s\n\nMembers: %s/accounts/%s/members\n", admin.name, message, s.cfg.PublicURL, e.account.ID),
			}}
	}
	return notifyUsers(ctx, tx, s.cfg.Outbox, s.cfg.PublicURL, notes...)
}

type adminContact struct {
	id          uuid.UUID
	email, name string
}

// admins are the active members who may manage members: owners, admins
// and custom roles that may edit all members.
func (s *accountCore) admins(ctx context.Context, tx *Tx, accountID uuid.UUID) ([]adminContact, error) {
	var rows []struct {
		memberRow
		Email string `db:"email"`
		Name  string `db:"name"`
	}
	if err := tx.Select(ctx, &rows, `
		SELECT m.account_id, m.user_id, m.role, m.custom_role_id, m.status, m.display_name, m.deactivated_until, m.created_at,
			r.name AS custom_name, r.permissions AS custom_permissions, r.hidden_fields AS custom_hidden_fields, u.email, u.name
		FROM memberships m
		JOIN users u ON u.id = m.user_id
		LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id
		WHERE m.account_id = $1 AND member_active(m.status, m.deactivated_until, $2)`, accountID, tx.Now); err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	var out []adminContact
	for i := range rows {
		role, err := rows[i].role()
		if err != nil {
			return nil, err
		}
		if role.Matrix.Scope(crm.Members, crm.Edit) == crm.ScopeAll {
			out = append(out, adminContact{id: rows[i].UserID, email: rows[i].Email, name: rows[i].Name})
		}
	}
	return out, nil
}
