package db

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// memberView is a membership with the person behind it.
type memberView struct {
	memberRow
	Name       string     `db:"name"`
	Email      string     `db:"email"`
	LastSeenAt *time.Time `db:"last_seen_at"`
}

const memberViewSelect = memberViewColumns + `,
		(SELECT max(s.last_seen_at) FROM sessions s WHERE s.user_id = m.user_id) AS last_seen_at` + memberViewFrom

// memberViewSelectUnseen is memberViewSelect without the last-seen time,
// for lists that do not show it (a look-up in sessions per member).
const memberViewSelectUnseen = memberViewColumns + `, NULL::timestamptz AS last_seen_at` + memberViewFrom

const memberViewColumns = `
	SELECT m.account_id, m.user_id, m.role, m.custom_role_id, m.status, m.display_name, m.deactivated_until, m.created_at,
		r.name AS custom_name, r.permissions AS custom_permissions, r.hidden_fields AS custom_hidden_fields,
		coalesce(m.display_name, u.name) AS name, u.email`

// memberViewFrom reads a custom role only for a member who has one (most
// have a built-in role): as a plain LEFT JOIN, each member's row probed
// roles and its policy, about a sixth of a page's cost in PostgreSQL.
// OFFSET 0 keeps the planner from turning the lateral back into that join.
const memberViewFrom = `
	FROM memberships m
	JOIN users u ON u.id = m.user_id
	LEFT JOIN LATERAL (
		SELECT r.name, r.permissions, r.hidden_fields FROM roles r
		WHERE m.custom_role_id IS NOT NULL AND r.account_id = m.account_id AND r.id = m.custom_role_id
		OFFSET 0) r ON true`

// member shapes a member for the viewer. Fields the viewer's role hides are
// listed in HiddenFields; the GraphQL layer shows them as null (its
// @hideable directive is the one place that hides values in responses).
func (v *memberView) member(viewer crm.Grant, now time.Time) (crm.Member, error) {
	role, err := v.role()
	if err != nil {
		return crm.Member{}, err
	}
	m := crm.Member{
		UserID: v.UserID, Name: v.Name, Email: v.Email, Role: role, Status: v.status(now), JoinedAt: v.CreatedAt.UTC(),
		LastSeenAt: v.LastSeenAt, HiddenFields: viewer.HiddenFieldsOf(crm.Members),
	}
	if m.Status == crm.MemberDeactivated && v.DeactivatedUntil != nil {
		until := v.DeactivatedUntil.UTC()
		m.DeactivatedUntil = &until
	}
	return m, nil
}

// maxSearchLen bounds a search string.
const maxSearchLen = 100

// Members implements crm.AccountService.
func (s *MemberService) Members(ctx context.Context, a crm.Actor, f crm.MemberFilter, page crm.PageArgs) (*crm.MemberPage, error) {
	page, err := page.Check()
	if err != nil {
		return nil, err
	}
	if len(f.Search) > maxSearchLen {
		return nil, crm.InvalidInput("search", "at most %d characters", maxSearchLen)
	}
	statuses := []string{string(crm.MemberActive), string(crm.MemberDeactivated)}
	switch f.Status {
	case "":
	case crm.MemberActive, crm.MemberDeactivated, crm.MemberRemoved:
		statuses = []string{string(f.Status)}
	default:
		return nil, crm.InvalidInput("status", "unknown status %q", f.Status)
	}
	afterName, afterID, err := decodeNameCursor(page.After)
	if err != nil {
		return nil, crm.InvalidInput("after", "is not a cursor from this list")
	}
	var out *crm.MemberPage
	err = s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		scope := e.grant.Role.Matrix.Scope(crm.Members, crm.View)
		if scope == crm.ScopeNone {
			return e.grant.Require(crm.Members, crm.View, uuid.Nil)
		}
		onlySelf := uuid.Nil
		if scope == crm.ScopeOwn {
			onlySelf = e.userID()
		}
		// A hidden field is not matched by search either.
		searchEmail := !e.grant.Hidden(crm.Members, "email")
		selectMembers := memberViewSelectUnseen
		if f.LastSeen {
			selectMembers = memberViewSelect
		}
		var rows []memberView
		err := tx.Select(ctx, &rows, selectMembers+`
			WHERE m.account_id = $1 AND m.status = ANY($2)
				AND ($3::uuid IS NULL OR m.user_id = $3)
				AND ($4 = '' OR coalesce(m.display_name, u.name) ILIKE $5 ESCAPE '\' OR ($6 AND u.email ILIKE $5 ESCAPE '\'))
				AND ($7::text IS NULL OR (lower(coalesce(m.display_name, u.name)), m.user_id) > ($7, $8))
			ORDER BY lower(coalesce(m.display_name, u.name)), m.user_id
			LIMIT $9`,
			e.account.ID, pq.Array(statuses), nullUUID(onlySelf), f.Search, "%"+escapeLike(f.Search)+"%", searchEmail,
			afterName, afterID, page.First+1)
		if err != nil {
			return fmt.Errorf("list members: %w", err)
		}
		out = &crm.MemberPage{}
		rows, out.PageInfo.HasNextPage = pageOf(rows, page.First)
		for i := range rows {
			m, err := rows[i].member(e.grant, tx.Now)
			if err != nil {
				return err
			}
			out.Nodes = append(out.Nodes, m)
		}
		if n := len(rows); n > 0 {
			out.PageInfo.End = encodeNameCursor(strings.ToLower(rows[n-1].Name), rows[n-1].UserID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// likeEscaper quotes LIKE's wildcards (a read-only table, built once).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func escapeLike(s string) string { return likeEscaper.Replace(s) }

func encodeNameCursor(name string, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id.String() + name))
}

// decodeNameCursor returns nil, uuid.Nil for the start of the list.
func decodeNameCursor(c string) (*string, uuid.UUID, error) {
	if c == "" {
		return nil, uuid.Nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) < 36 {
		return nil, uuid.Nil, errors.New("malformed cursor")
	}
	id, err := uuid.Parse(string(raw[:36]))
	if err != nil {
		return nil, uuid.Nil, err
	}
	name := string(raw[36:])
	return &name, id, nil
}

// Member implements crm.AccountService.
func (s *MemberService) Member(ctx context.Context, a crm.Actor, userID uuid.UUID) (*crm.Member, error) {
	var out crm.Member
	err := s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Members, crm.View, userID); err != nil {
			return err
		}
		var err error
		out, err = viewMember(ctx, tx, e, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// LoadMembers implements crm.MemberService.
func (s *MemberService) LoadMembers(ctx context.Context, a crm.Actor, userIDs []uuid.UUID) ([]*crm.Member, error) {
	out := make([]*crm.Member, len(userIDs))
	err := s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		q := &query{}
		switch e.grant.Role.Matrix.Scope(crm.Members, crm.View) {
		case crm.ScopeNone:
			return e.grant.Require(crm.Members, crm.View, uuid.Nil)
		case crm.ScopeOwn:
			q.where("m.user_id = %s", q.arg(e.userID()))
		}
		q.where("m.account_id = %s", q.arg(e.account.ID))
		q.where("m.user_id = ANY(%s)", q.arg(pq.Array(userIDs)))
		var rows []memberView
		if err := tx.Select(ctx, &rows, memberViewSelectUnseen+q.clause(), q.args...); err != nil {
			return fmt.Errorf("load members: %w", err)
		}
		byID := map[uuid.UUID]*crm.Member{}
		for i := range rows {
			m, err := rows[i].member(e.grant, tx.Now)
			if err != nil {
				return err
			}
			byID[m.UserID] = &m
		}
		for i, id := range userIDs {
			out[i] = byID[id]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// loadMember reads a member of the account in scope; a removed one (or one
// of another account) is NOT_FOUND. lock holds the row for a change.
func loadMember(ctx context.Context, tx *Tx, accountID, userID uuid.UUID, lock bool) (*memberView, error) {
	q := memberViewSelect + ` WHERE m.account_id = $1 AND m.user_id = $2 AND m.status <> 'REMOVED'`
	if lock {
		q += ` FOR UPDATE OF m`
	}
	var v memberView
	err := tx.Get(ctx, &v, q, accountID, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crm.NotFound("member")
	}
	if err != nil {
		return nil, fmt.Errorf("load member: %w", err)
	}
	return &v, nil
}

// viewMember reads a member as the actor sees them.
func viewMember(ctx context.Context, tx *Tx, e *entered, userID uuid.UUID) (crm.Member, error) {
	v, err := loadMember(ctx, tx, e.account.ID, userID, false)
	if err != nil {
		return crm.Member{}, err
	}
	return v.member(e.grant, tx.Now)
}

// actOn loads the target of a change to a membership, locked, and asks the
// policy whether the actor may make it (crm.Grant.MayActOn).
func actOn(ctx context.Context, tx *Tx, e *entered, userID uuid.UUID, act crm.Action, selfVerb string) (*memberView, error) {
	if err := e.grant.Require(crm.Members, act, userID); err != nil {
		return nil, err
	}
	target, err := loadMember(ctx, tx, e.account.ID, userID, true)
	if err != nil {
		return nil, err
	}
	role, err := target.role()
	if err != nil {
		return nil, err
	}
	if err := e.grant.MayActOn(userID, role, act, selfVerb); err != nil {
		return nil, err
	}
	return target, nil
}

// keepAnOwner refuses a change that would leave the account without an
// active owner (one whose pause has ended is active, as on entering).
// Owner rows are locked, so two owners cannot demote each other at once.
func keepAnOwner(ctx context.Context, tx *Tx, accountID, changing uuid.UUID) error {
	var others []uuid.UUID
	if err := tx.Select(ctx, &others, `
		SELECT user_id FROM memberships WHERE account_id = $1 AND role = 'OWNER' AND user_id <> $2
			AND member_active(status, deactivated_until, $3) FOR UPDATE`,
		accountID, changing, tx.Now); err != nil {
		return fmt.Errorf("count owners: %w", err)
	}
	if len(others) == 0 {
		return crm.ErrLastOwner
	}
	return nil
}

// roleUse is what a role is looked up for, which decides whether a
// deleted one is found and how its row is locked.
type roleUse int

const (
	// roleShown: to show what history names (a removed member's role, a
	// past invitation's); a deleted role is found too.
	roleShown roleUse = iota
	// roleLive: to read; a deleted role is NOT_FOUND.
	roleLive
	// roleGiven: to give to a member or an invitation. The row is locked
	// (FOR SHARE) until the commit, so the role cannot be deleted before
	// the holder it gains is counted.
	roleGiven
	// roleChanged: to edit or delete. The row is locked (FOR UPDATE), so
	// no one can be given it while a deletion counts its holders, and an
	// edit and a deletion take turns.
	roleChanged
)

// resolveRole finds a role of the account in scope by id: built-in or
// custom (NOT_FOUND for another account's).
func resolveRole(ctx context.Context, tx *Tx, accountID, id uuid.UUID, use roleUse) (crm.Role, error) {
	if b, ok := crm.BuiltInRoleByID(id); ok {
		return b.Role(), nil
	}
	var r struct {
		Name   string         `db:"name"`
		Perms  []byte         `db:"permissions"`
		Hidden pq.StringArray `db:"hidden_fields"`
	}
	q := `SELECT name, permissions, hidden_fields FROM roles WHERE account_id = $1 AND id = $2`
	switch use {
	case roleLive:
		q += ` AND deleted_at IS NULL`
	case roleGiven:
		q += ` AND deleted_at IS NULL FOR SHARE`
	case roleChanged:
		q += ` AND deleted_at IS NULL FOR UPDATE`
	}
	err := tx.Get(ctx, &r, q, accountID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return crm.Role{}, crm.NotFound("role")
	}
	if err != nil {
		return crm.Role{}, fmt.Errorf("load role: %w", err)
	}
	return customRole(id, r.Name, r.Perms, r.Hidden)
}

// roleColumns splits a role into the memberships/invitations columns.
func roleColumns(r crm.Role) (builtIn, custom any) {
	if r.BuiltIn != "" {
		return string(r.BuiltIn), nil
	}
	return nil, r.ID
}

// UpdateMember implements crm.AccountService.
func (s *MemberService) UpdateMember(ctx context.Context, a crm.Actor, userID uuid.UUID, u crm.MemberUpdate) (*crm.Member, error) {
	var name *string
	if u.Name != nil {
		n, err := crm.CleanName("name", *u.Name)
		if err != nil {
			return nil, err
		}
		name = &n
	}
	var out crm.Member
	err := s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		self := ""
		if u.RoleID != nil {
			self = "change the role of"
		}
		target, err := actOn(ctx, tx, e, userID, crm.Edit, self)
		if err != nil {
			return err
		}
		oldRole, err := target.role()
		if err != nil {
			return err
		}
		changes := map[string]crm.Change{}
		if u.RoleID != nil && *u.RoleID != oldRole.ID {
			role, err := resolveRole(ctx, tx, e.account.ID, *u.RoleID, roleGiven)
			if err != nil {
				return err
			}
			if err := e.grant.MayGrant(role); err != nil {
				return err
			}
			if oldRole.BuiltIn == crm.RoleOwner {
				if err := keepAnOwner(ctx, tx, e.account.ID, userID); err != nil {
					return err
				}
			}
			builtIn, custom := roleColumns(role)
			if _, err := tx.Exec(ctx, `UPDATE memberships SET role = $3, custom_role_id = $4 WHERE account_id = $1 AND user_id = $2`,
				e.account.ID, userID, builtIn, custom); err != nil {
				return fmt.Errorf("change role: %w", err)
			}
			changes["role"] = crm.Change{From: oldRole.Name, To: role.Name}
			status := target.status(tx.Now)
			if role.BuiltIn == crm.RoleOwner && status == crm.MemberDeactivated && target.DeactivatedUntil != nil {
				// Owners are exempt from activity limits: a pause by one
				// ends with the promotion (a deactivation by an admin stays).
				if _, err := tx.Exec(ctx, `UPDATE memberships SET status = 'ACTIVE', deactivated_until = NULL, status_changed_at = $3 WHERE account_id = $1 AND user_id = $2`,
					e.account.ID, userID, tx.Now); err != nil {
					return fmt.Errorf("lift pause: %w", err)
				}
				changes["status"] = crm.Change{From: status, To: crm.MemberActive}
				status = crm.MemberActive
			}
			if err := announceMembership(ctx, tx, crm.MembershipChange{AccountID: e.account.ID, UserID: userID,
				Status: status, RoleID: role.ID}); err != nil {
				return err
			}
			message := fmt.Sprintf("%s made you %s in %s", e.actorName(), role.Name, e.account.Name)
			if err := notifyUsers(ctx, tx, s.cfg.Outbox, s.cfg.PublicURL, crm.NewNotification{Kind: crm.NotifyRoleChanged,
				AccountID: e.account.ID, RecipientID: userID, ActorID: e.userID(), SubjectType: crm.Members, SubjectID: userID,
				Message: message, Subject: message}); err != nil {
				return err
			}
		}
		if name != nil && *name != target.Name {
			if _, err := tx.Exec(ctx, `UPDATE memberships SET display_name = $3 WHERE account_id = $1 AND user_id = $2`, e.account.ID, userID, *name); err != nil {
				return fmt.Errorf("rename member: %w", err)
			}
			changes["name"] = crm.Change{From: target.Name, To: *name}
		}
		if len(changes) > 0 {
			if err := s.countAction(ctx, tx, e, crm.Members, crm.Edit); err != nil {
				return err
			}
			// Editing a member sends no mail: only the log records it.
			if err := logActivity(ctx, tx, e, "member.updated", crm.Members, userID, changes); err != nil {
				return err
			}
		}
		out, err = viewMember(ctx, tx, e, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeactivateMember implements crm.AccountService.
func (s *MemberService) DeactivateMember(ctx context.Context, a crm.Actor, userID uuid.UUID) (*crm.Member, error) {
	return s.setStatus(ctx, a, userID, crm.MemberDeactivated)
}

// ReactivateMember implements crm.AccountService.
func (s *MemberService) ReactivateMember(ctx context.Context, a crm.Actor, userID uuid.UUID) (*crm.Member, error) {
	return s.setStatus(ctx, a, userID, crm.MemberActive)
}

func (s *MemberService) setStatus(ctx context.Context, a crm.Actor, userID uuid.UUID, to crm.MembershipStatus) (*crm.Member, error) {
	verb := map[crm.MembershipStatus]string{crm.MemberDeactivated: "deactivate", crm.MemberActive: "reactivate"}[to]
	var out crm.Member
	err := s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		target, err := actOn(ctx, tx, e, userID, crm.Edit, verb)
		if err != nil {
			return err
		}
		from := target.status(tx.Now)
		if from == to {
			return crm.Errorf(crm.CodeConflict, "the member is already %s", strings.ToLower(string(to)))
		}
		role, err := target.role()
		if err != nil {
			return err
		}
		if role.BuiltIn == crm.RoleOwner && to == crm.MemberDeactivated {
			if err := keepAnOwner(ctx, tx, e.account.ID, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE memberships SET status = $3, deactivated_until = NULL, status_changed_at = $4 WHERE account_id = $1 AND user_id = $2`,
			e.account.ID, userID, string(to), tx.Now); err != nil {
			return fmt.Errorf("%s member: %w", verb, err)
		}
		if to == crm.MemberActive {
			// A reactivation is a fresh allowance: what the member did
			// before it no longer counts against an activity limit.
			if _, err := tx.Exec(ctx, `DELETE FROM activity_counters WHERE account_id = $1 AND user_id = $2`, e.account.ID, userID); err != nil {
				return fmt.Errorf("reset activity counters: %w", err)
			}
		}
		if err := s.countAction(ctx, tx, e, crm.Members, crm.Edit); err != nil {
			return err
		}
		if err := announceMembership(ctx, tx, crm.MembershipChange{AccountID: e.account.ID, UserID: userID, Status: to, RoleID: role.ID}); err != nil {
			return err
		}
		if err := logActivity(ctx, tx, e, "member."+verb+"d", crm.Members, userID, map[string]crm.Change{"status": {From: from, To: to}}); err != nil {
			return err
		}
		kind, message := crm.NotifyAccessRestored, fmt.Sprintf("%s restored your access to %s", e.actorName(), e.account.Name)
		if to == crm.MemberDeactivated {
			kind, message = crm.NotifyAccessDeactivated, fmt.Sprintf("%s deactivated your access to %s", e.actorName(), e.account.Name)
		}
		if err := notifyUsers(ctx, tx, s.cfg.Outbox, s.cfg.PublicURL, crm.NewNotification{Kind: kind, AccountID: e.account.ID,
			RecipientID: userID, ActorID: e.userID(), SubjectType: crm.Members, SubjectID: userID, Message: message, Subject: message}); err != nil {
			return err
		}
		out, err = viewMember(ctx, tx, e, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveMember implements crm.AccountService.
func (s *MemberService) RemoveMember(ctx context.Context, a crm.Actor, userID, transferTo uuid.UUID) error {
	return s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		target, err := actOn(ctx, tx, e, userID, crm.Delete, "remove")
		if err != nil {
			return err
		}
		if transferTo == userID {
			return crm.InvalidInput("transferTo", "give the records to someone other than the member being removed")
		}
		heir, err := loadMember(ctx, tx, e.account.ID, transferTo, true)
		if err != nil {
			return err
		}
		if heir.status(tx.Now) != crm.MemberActive {
			return crm.InvalidInput("transferTo", "give the records to an active member")
		}
		role, err := target.role()
		if err != nil {
			return err
		}
		if role.BuiltIn == crm.RoleOwner {
			if err := keepAnOwner(ctx, tx, e.account.ID, userID); err != nil {
				return err
			}
		}
		moved, err := transferRecords(ctx, tx, e.account.ID, userID, transferTo)
		if err != nil {
			return err
		}
		// The membership stays, marked removed, so history and reports
		// keep the person; the login is never deleted.
		if _, err := tx.Exec(ctx, `UPDATE memberships SET status = 'REMOVED', deactivated_until = NULL, status_changed_at = $3 WHERE account_id = $1 AND user_id = $2`,
			e.account.ID, userID, tx.Now); err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if err := s.countAction(ctx, tx, e, crm.Members, crm.Delete); err != nil {
			return err
		}
		if err := announceMembership(ctx, tx, crm.MembershipChange{AccountID: e.account.ID, UserID: userID, Status: crm.MemberRemoved, RoleID: role.ID}); err != nil {
			return err
		}
		changes := map[string]crm.Change{"status": {From: target.status(tx.Now), To: crm.MemberRemoved}, "transferTo": {To: transferTo}}
		var total int64
		for table, n := range moved {
			changes["transferred."+table] = crm.Change{To: n}
			total += n
		}
		if err := logActivity(ctx, tx, e, "member.removed", crm.Members, userID, changes); err != nil {
			return err
		}
		if total == 0 {
			return nil
		}
		message := fmt.Sprintf("%s gave you %d records of %s, who left %s", e.actorName(), total, target.Name, e.account.Name)
		return notifyUsers(ctx, tx, s.cfg.Outbox, s.cfg.PublicURL, crm.NewNotification{Kind: crm.NotifyRecordsTransferred,
			AccountID: e.account.ID, RecipientID: transferTo, ActorID: e.userID(), SubjectType: crm.Members, SubjectID: userID,
			Message: message, Subject: message})
	})
}

// transferRecords gives every record `from` owns in the account to `to`,
// and the tasks assigned to them (every member field declared Transfer):
// each record type of the registry, so a type added later cannot be
// forgotten (TestEveryOwnedTableIsARecordType keeps the catalog and the
// registry in agreement). It runs in the caller's transaction: any failure
// undoes the whole removal. History is not rewritten: created_by and the
// activity log keep who did what.
func transferRecords(ctx context.Context, tx *Tx, accountID, from, to uuid.UUID) (map[string]int64, error) {
	moved := map[string]int64{}
	for _, t := range crm.RecordTypes {
		columns := []string{"owner_id"}
		for _, f := range t.Fields {
			if f.Transfer {
				columns = append(columns, f.Columns()...)
			}
		}
		for _, col := range columns {
			res, err := tx.Exec(ctx, `UPDATE `+pq.QuoteIdentifier(t.Table)+` SET `+pq.QuoteIdentifier(col)+` = $3 WHERE account_id = $1 AND `+
				pq.QuoteIdentifier(col)+` = $2`, accountID, from, to)
			if err != nil {
				return nil, fmt.Errorf("transfer %s: %w", t.Table, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				key := t.Table
				if col != "owner_id" {
					key += "." + col
				}
				moved[key] = n
			}
		}
	}
	// Search reads a record's owner from its documents.
	if _, err := tx.Exec(ctx, `UPDATE search_doc SET owner_id = $3 WHERE account_id = $1 AND owner_id = $2`, accountID, from, to); err != nil {
		return nil, fmt.Errorf("transfer search documents: %w", err)
	}
	return moved, nil
}
