package db

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/realtime"
)

// AccountConfig holds what the account service needs besides the database.
type AccountConfig struct {
	PublicURL string
	Policy    *crm.PasswordPolicy
	Outbox    Outbox
	// Identity creates logins and sessions for people who accept an
	// invitation without one.
	Identity *IdentityService
	Logger   *slog.Logger
}

// accountCore is what the account services share: the database, their
// configuration, and the rules every account mutation follows (activity
// limits, the activity log).
type accountCore struct {
	db  *DB
	cfg AccountConfig
}

// AccountServices are the PostgreSQL implementations of the accounts
// layer's services, on one database and configuration.
type AccountServices struct {
	Accounts    *AccountService
	Members     *MemberService
	Roles       *RoleService
	Invitations *InvitationService
	Protections *ProtectionService
	Audit       *AuditService
}

// AccountService implements crm.AccountService.
type AccountService struct{ *accountCore }

// MemberService implements crm.MemberService.
type MemberService struct{ *accountCore }

// RoleService implements crm.RoleService.
type RoleService struct{ *accountCore }

// InvitationService implements crm.InvitationService.
type InvitationService struct{ *accountCore }

// ProtectionService implements crm.ProtectionService.
type ProtectionService struct{ *accountCore }

// AuditService implements crm.AuditService.
type AuditService struct{ *accountCore }

var (
	_ crm.AccountService    = (*AccountService)(nil)
	_ crm.MemberService     = (*MemberService)(nil)
	_ crm.RoleService       = (*RoleService)(nil)
	_ crm.InvitationService = (*InvitationService)(nil)
	_ crm.ProtectionService = (*ProtectionService)(nil)
	_ crm.AuditService      = (*AuditService)(nil)
)

// NewAccountServices returns the account services on d.
func NewAccountServices(d *DB, cfg AccountConfig) AccountServices {
	core := newAccountCore(d, cfg)
	return AccountServices{
		Accounts: &AccountService{core}, Members: &MemberService{core}, Roles: &RoleService{core},
		Invitations: &InvitationService{core}, Protections: &ProtectionService{core}, Audit: &AuditService{core},
	}
}

func newAccountCore(d *DB, cfg AccountConfig) *accountCore {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &accountCore{db: d, cfg: cfg}
}

// recentSignIn is how fresh a sign-in must be for the most sensitive
// settings (the IP allowlist).
const recentSignIn = 15 * time.Minute

// announceMembership publishes a membership change in tx: the member's
// streams in this account learn of it (and close when access ended).
func announceMembership(ctx context.Context, tx *Tx, c crm.MembershipChange) error {
	c.At = tx.Now
	return notify(ctx, tx, realtime.MembershipTopic(c.AccountID.String(), c.UserID.String()), realtime.TypeMembershipChanged, c)
}

// Accounts implements crm.AccountService.
func (s *AccountService) Accounts(ctx context.Context, a crm.Actor) ([]crm.AccountAccess, error) {
	var out []crm.AccountAccess
	err := s.db.readAs(ctx, a, func(ctx context.Context, tx *Tx, p *crm.Principal) error {
		out = nil
		rows, err := userMemberships(ctx, tx, p.User.ID, nil)
		if err != nil {
			return err
		}
		for i := range rows {
			r := &rows[i]
			role, err := r.role()
			if err != nil {
				return err
			}
			access := crm.AccountAccess{
				Account: crm.Account{ID: r.AccountID, Name: r.AccountName, CreatedAt: r.AccountCreatedAt.UTC()},
				Role:    role, Kind: crm.AccessMembership, Status: r.status(tx.Now),
				Current: r.AccountID == p.Session.AccountID,
			}
			if access.Status == crm.MemberDeactivated && r.DeactivatedUntil != nil {
				until := r.DeactivatedUntil.UTC()
				access.DeactivatedUntil = &until
			}
			out = append(out, access)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	return out, nil
}

// membershipRow is a membership with its role and account.
type membershipRow struct {
	memberRow
	AccountName      string         `db:"account_name"`
	AccountCreatedAt time.Time      `db:"account_created_at"`
	Allowlist        pq.StringArray `db:"ip_allowlist"`
}

// userMemberships reads a user's memberships that are not removed (of the
// accounts only, when given), with their roles and accounts, by account
// name.
func userMemberships(ctx context.Context, tx *Tx, userID uuid.UUID, only []uuid.UUID) ([]membershipRow, error) {
	stmt := `
		SELECT m.account_id, m.user_id, m.role, m.custom_role_id, m.status, m.display_name, m.deactivated_until, m.created_at,
			r.name AS custom_name, r.permissions AS custom_permissions, r.hidden_fields AS custom_hidden_fields,
			a.name AS account_name, a.created_at AS account_created_at, a.ip_allowlist::text[] AS ip_allowlist
		FROM memberships m
		JOIN accounts a ON a.id = m.account_id
		LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id
		WHERE m.user_id = $1 AND m.status <> 'REMOVED'`
	args := []any{userID}
	if only != nil {
		stmt += ` AND m.account_id = ANY ($2)`
		args = append(args, pq.Array(only))
	}
	var rows []membershipRow
	if err := tx.Select(ctx, &rows, stmt+` ORDER BY lower(a.name), a.id`, args...); err != nil {
		return nil, err
	}
	return rows, nil
}

// CreateAccount implements crm.AccountService.
func (s *AccountService) CreateAccount(ctx context.Context, a crm.Actor, name string) (*crm.Account, error) {
	name, err := crm.CleanName("name", name)
	if err != nil {
		return nil, err
	}
	id := uuid.Must(uuid.NewV7())
	var out *crm.Account
	err = s.db.writeAs(ctx, a, func(ctx context.Context, tx *Tx, p *crm.Principal) error {
		if err := tx.setScope(ctx, Scope{UserID: p.User.ID, AccountID: id}); err != nil {
			return err
		}
		if err := createOwnedAccount(ctx, tx, p.User.ID, id, name); err != nil {
			return err
		}
		out = &crm.Account{ID: id, Name: name, CreatedAt: tx.Now, IPAllowlist: nil}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SwitchAccount implements crm.AccountService.
func (s *AccountService) SwitchAccount(ctx context.Context, a crm.Actor) (*crm.Session, error) {
	var out *crm.Session
	err := s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if _, err := tx.Exec(ctx, `UPDATE sessions SET current_account_id = $2 WHERE id = $1 AND revoked_at IS NULL`, e.principal.Session.ID, e.account.ID); err != nil {
			return fmt.Errorf("switch account: %w", err)
		}
		sess := e.principal.Session
		sess.AccountID = e.account.ID
		out = &sess
		return logActivity(ctx, tx, e, "account.switched_to", crm.Members, e.userID(), nil)
	})
	return out, err
}

// Enter implements crm.AccountService.
func (s *AccountService) Enter(ctx context.Context, a crm.Actor) (*crm.Account, crm.Grant, error) {
	e, err := s.db.verified(ctx, a)
	if err != nil {
		return nil, crm.Grant{}, err
	}
	acct := e.account
	return &acct, e.grant, nil
}

// RenameAccount implements crm.AccountService.
func (s *AccountService) RenameAccount(ctx context.Context, a crm.Actor, name string) (*crm.Account, error) {
	name, err := crm.CleanName("name", name)
	if err != nil {
		return nil, err
	}
	var out crm.Account
	err = s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.Edit, uuid.Nil); err != nil {
			return err
		}
		if err := s.countAction(ctx, tx, e, crm.Settings, crm.Edit); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET name = $2 WHERE id = $1`, e.account.ID, name); err != nil {
			return fmt.Errorf("rename account: %w", err)
		}
		if err := logActivity(ctx, tx, e, "account.renamed", crm.Settings, e.account.ID,
			map[string]crm.Change{"name": {From: e.account.Name, To: name}}); err != nil {
			return err
		}
		out = e.account
		out.Name = name
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
