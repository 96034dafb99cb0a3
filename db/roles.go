package db

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// Roles implements crm.AccountService.
func (s *RoleService) Roles(ctx context.Context, a crm.Actor) ([]crm.Role, error) {
	var out []crm.Role
	err := s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.View, uuid.Nil); err != nil {
			return err
		}
		out = nil
		for _, b := range crm.BuiltInRoles {
			out = append(out, b.Role())
		}
		var rows []struct {
			ID     uuid.UUID      `db:"id"`
			Name   string         `db:"name"`
			Perms  []byte         `db:"permissions"`
			Hidden pq.StringArray `db:"hidden_fields"`
		}
		if err := tx.Select(ctx, &rows, `SELECT id, name, permissions, hidden_fields FROM roles WHERE account_id = $1 AND deleted_at IS NULL ORDER BY lower(name), id`, e.account.ID); err != nil {
			return fmt.Errorf("list roles: %w", err)
		}
		for _, r := range rows {
			role, err := customRole(r.ID, r.Name, r.Perms, r.Hidden)
			if err != nil {
				return err
			}
			out = append(out, role)
		}
		return nil
	})
	return out, err
}

// Role implements crm.AccountService. Anyone may read their own role;
// other roles need settings VIEW.
func (s *RoleService) Role(ctx context.Context, a crm.Actor, id uuid.UUID) (*crm.Role, error) {
	var out crm.Role
	err := s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if id != e.grant.Role.ID {
			if err := e.grant.Require(crm.Settings, crm.View, uuid.Nil); err != nil {
				return err
			}
		}
		var err error
		out, err = resolveRole(ctx, tx, e.account.ID, id, roleLive)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// checkRoleInput validates a custom role.
func checkRoleInput(in crm.RoleInput) (string, crm.Matrix, []string, error) {
	name, err := crm.CleanName("name", in.Name)
	if err != nil {
		return "", nil, nil, err
	}
	for _, b := range crm.BuiltInRoles {
		if strings.EqualFold(b.Role().Name, name) {
			return "", nil, nil, crm.InvalidInput("name", "%q is a built-in role", name)
		}
	}
	if len(in.Permissions) > len(crm.Entities)*len(crm.Actions) {
		return "", nil, nil, crm.InvalidInput("permissions", "at most one entry per entity and action")
	}
	m, err := crm.NewMatrix(in.Permissions)
	if err != nil {
		return "", nil, nil, err
	}
	hidden, err := crm.CheckHiddenFields(in.HiddenFields)
	if err != nil {
		return "", nil, nil, err
	}
	return name, m, hidden, nil
}

// CreateRole implements crm.AccountService.
func (s *RoleService) CreateRole(ctx context.Context, a crm.Actor, in crm.RoleInput) (*crm.Role, error) {
	name, m, hidden, err := checkRoleInput(in)
	if err != nil {
		return nil, err
	}
	role := crm.Role{ID: uuid.Must(uuid.NewV7()), Name: name, Matrix: m, HiddenFields: hidden}
	err = s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.Edit, uuid.Nil); err != nil {
			return err
		}
		var custom int
		if err := tx.Get(ctx, &custom, `SELECT count(*) FROM roles WHERE account_id = $1 AND deleted_at IS NULL`, e.account.ID); err != nil {
			return err
		}
		if custom >= crm.MaxCustomRoles {
			return crm.Errorf(crm.CodeConflict, "the account has %d custom roles, the most it may have: delete one first", custom)
		}
		perms, err := s.roleWrite(ctx, tx, e, role)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO roles (account_id, id, name, permissions, hidden_fields, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
			e.account.ID, role.ID, name, perms, pq.Array(hidden), tx.Now); err != nil {
			if isUniqueViolation(err, "roles_name") {
				return crm.Errorf(crm.CodeConflict, "a role named %q exists", name)
			}
			return fmt.Errorf("create role: %w", err)
		}
		return logActivity(ctx, tx, e, "role.created", crm.Settings, role.ID, map[string]crm.Change{
			"name": {To: name}, "permissions": {To: permissionSummary(m)}, "hiddenFields": {To: hidden}})
	})
	if err != nil {
		return nil, err
	}
	return &role, nil
}

// roleWrite is what creating and replacing a custom role share: the role
// may not exceed the writer's own, the write counts against activity
// limits, and the matrix is stored as JSON.
func (s *RoleService) roleWrite(ctx context.Context, tx *Tx, e *entered, role crm.Role) ([]byte, error) {
	if err := e.grant.MayGrant(role); err != nil {
		return nil, err
	}
	if err := s.countAction(ctx, tx, e, crm.Settings, crm.Edit); err != nil {
		return nil, err
	}
	return encodePermissions(role.Matrix)
}

// permissionSummary is a compact, readable form of a matrix for the log.
func permissionSummary(m crm.Matrix) []string {
	var out []string
	for _, p := range m.Permissions() {
		if p.Scope != crm.ScopeNone {
			out = append(out, string(p.Entity)+"."+string(p.Action)+"="+string(p.Scope))
		}
	}
	return out
}

// UpdateRole implements crm.AccountService. Members holding the role get
// the new permissions on their next request.
func (s *RoleService) UpdateRole(ctx context.Context, a crm.Actor, id uuid.UUID, in crm.RoleInput) (*crm.Role, error) {
	if _, ok := crm.BuiltInRoleByID(id); ok {
		return nil, crm.Forbidden("built-in roles cannot be changed; create a custom role")
	}
	name, m, hidden, err := checkRoleInput(in)
	if err != nil {
		return nil, err
	}
	role := crm.Role{ID: id, Name: name, Matrix: m, HiddenFields: hidden}
	err = s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.Edit, uuid.Nil); err != nil {
			return err
		}
		old, err := resolveRole(ctx, tx, e.account.ID, id, roleChanged)
		if err != nil {
			return err
		}
		if err := e.grant.MayReshape(old); err != nil {
			return err
		}
		perms, err := s.roleWrite(ctx, tx, e, role)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE roles SET name = $3, permissions = $4, hidden_fields = $5, updated_at = $6 WHERE account_id = $1 AND id = $2`,
			e.account.ID, id, name, perms, pq.Array(hidden), tx.Now); err != nil {
			if isUniqueViolation(err, "roles_name") {
				return crm.Errorf(crm.CodeConflict, "a role named %q exists", name)
			}
			return fmt.Errorf("update role: %w", err)
		}
		// Holders' live subscriptions hear of it.
		var holders []uuid.UUID
		if err := tx.Select(ctx, &holders, `SELECT user_id FROM memberships WHERE account_id = $1 AND custom_role_id = $2 AND status <> 'REMOVED'`, e.account.ID, id); err != nil {
			return err
		}
		for _, h := range holders {
			if err := announceMembership(ctx, tx, crm.MembershipChange{AccountID: e.account.ID, UserID: h, Status: crm.MemberActive, RoleID: id}); err != nil {
				return err
			}
		}
		return logActivity(ctx, tx, e, "role.updated", crm.Settings, id, map[string]crm.Change{
			"name":         {From: old.Name, To: name},
			"permissions":  {From: permissionSummary(old.Matrix), To: permissionSummary(m)},
			"hiddenFields": {From: old.HiddenFields, To: hidden}})
	})
	if err != nil {
		return nil, err
	}
	return &role, nil
}

// DeleteRole implements crm.AccountService.
func (s *RoleService) DeleteRole(ctx context.Context, a crm.Actor, id uuid.UUID) error {
	if _, ok := crm.BuiltInRoleByID(id); ok {
		return crm.Forbidden("built-in roles cannot be deleted")
	}
	return s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.Edit, uuid.Nil); err != nil {
			return err
		}
		old, err := resolveRole(ctx, tx, e.account.ID, id, roleChanged)
		if err != nil {
			return err
		}
		if err := e.grant.MayReshape(old); err != nil {
			return err
		}
		// Members who hold it (deactivated ones too: they may come back)
		// and invitations that may still be accepted or renewed. Removed
		// members and past invitations keep naming it: it stays, deleted,
		// for them (migration 00016).
		var holders struct {
			Members     int `db:"members"`
			Invitations int `db:"invitations"`
		}
		if err := tx.Get(ctx, &holders, `
			SELECT (SELECT count(*) FROM memberships WHERE account_id = $1 AND custom_role_id = $2 AND status <> 'REMOVED') AS members,
			       (SELECT count(*) FROM invitations WHERE account_id = $1 AND custom_role_id = $2
			            AND accepted_at IS NULL AND revoked_at IS NULL) AS invitations`, e.account.ID, id); err != nil {
			return err
		}
		if holders.Members+holders.Invitations > 0 {
			return crm.Errorf(crm.CodeConflict, "the role is held by %d members and offered by %d open or expired invitations: "+
				"give the members another role and revoke the invitations first", holders.Members, holders.Invitations)
		}
		if err := s.countAction(ctx, tx, e, crm.Settings, crm.Edit); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE roles SET deleted_at = $3 WHERE account_id = $1 AND id = $2`, e.account.ID, id, tx.Now); err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		return logActivity(ctx, tx, e, "role.deleted", crm.Settings, id, map[string]crm.Change{"name": {From: old.Name}})
	})
}
