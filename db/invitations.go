package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/secrets"
)

type invitationRow struct {
	AccountID    uuid.UUID  `db:"account_id"`
	ID           uuid.UUID  `db:"id"`
	Email        string     `db:"email"`
	BuiltInRole  *string    `db:"role"`
	CustomRoleID *uuid.UUID `db:"custom_role_id"`
	InvitedBy    uuid.UUID  `db:"invited_by"`
	CreatedAt    time.Time  `db:"created_at"`
	ExpiresAt    time.Time  `db:"expires_at"`
	AcceptedAt   *time.Time `db:"accepted_at"`
	RevokedAt    *time.Time `db:"revoked_at"`
}

const invitationColumns = `account_id, id, email, role, custom_role_id, invited_by, created_at, expires_at, accepted_at, revoked_at`

func (r *invitationRow) status(now time.Time) crm.InvitationStatus {
	switch {
	case r.AcceptedAt != nil:
		return crm.InvitationAccepted
	case r.RevokedAt != nil:
		return crm.InvitationRevoked
	case !now.Before(r.ExpiresAt):
		return crm.InvitationExpired
	}
	return crm.InvitationPending
}

func (r *invitationRow) roleID() uuid.UUID {
	if r.BuiltInRole != nil {
		return crm.BuiltInRole(*r.BuiltInRole).Role().ID
	}
	return *r.CustomRoleID
}

func (r *invitationRow) invitation(ctx context.Context, tx *Tx) (*crm.Invitation, error) {
	role, err := resolveRole(ctx, tx, r.AccountID, r.roleID(), roleShown)
	if err != nil {
		return nil, err
	}
	return &crm.Invitation{ID: r.ID, Email: r.Email, Role: role, InvitedBy: r.InvitedBy, CreatedAt: r.CreatedAt.UTC(),
		ExpiresAt: r.ExpiresAt.UTC(), Status: r.status(tx.Now)}, nil
}

// issueInvitationLink stores a fresh link token for an invitation (the
// older links stop working) and mails it.
func (s *InvitationService) issueInvitationLink(ctx context.Context, tx *Tx, e *entered, inv *invitationRow, role crm.Role) error {
	if _, err := tx.Exec(ctx, `DELETE FROM invitation_tokens WHERE invitation_account_id = $1 AND invitation_id = $2`, inv.AccountID, inv.ID); err != nil {
		return fmt.Errorf("retire old links: %w", err)
	}
	token := secrets.NewToken(secrets.PrefixInvitation)
	if _, err := tx.Exec(ctx, `INSERT INTO invitation_tokens (token_hash, invitation_account_id, invitation_id) VALUES ($1, $2, $3)`,
		secrets.HashToken(token), inv.AccountID, inv.ID); err != nil {
		return fmt.Errorf("store invitation link: %w", err)
	}
	// Someone who already has a login hears of it in the app too.
	var invitee []uuid.UUID
	if err := tx.Select(ctx, &invitee, `SELECT id FROM users WHERE email = $1`, inv.Email); err != nil {
		return fmt.Errorf("find invitee: %w", err)
	}
	for _, id := range invitee {
		message := fmt.Sprintf("%s invited you to %s as %s", e.actorName(), e.account.Name, role.Name)
		if err := notifyUsers(ctx, tx, s.cfg.Outbox, s.cfg.PublicURL, crm.NewNotification{Kind: crm.NotifyInvited, AccountID: e.account.ID,
			RecipientID: id, ActorID: e.userID(), SubjectType: crm.Members, SubjectID: inv.ID, Message: message, Subject: message}); err != nil {
			return err
		}
	}
	return s.cfg.Outbox.Email(ctx, tx.SQL(), crm.Email{
		To:      inv.Email,
		Subject: fmt.Sprintf("%s invited you to %s on Switchboard", e.principal.User.Name, e.account.Name),
		Text: fmt.Sprintf(`Hello,

%s (%s) invited you to join %s on Switchboard as %s.

Accept the invitation within 7 days:

%s/accept-invitation?token=%s

The link works once, and only for %s. If you do not know the sender, ignore this message.
`, e.principal.User.Name, e.principal.User.Email, e.account.Name, role.Name, s.cfg.PublicURL, token, inv.Email),
	})
}

// InviteMember implements crm.AccountService.
func (s *InvitationService) InviteMember(ctx context.Context, a crm.Actor, rawEmail string, roleID uuid.UUID) (*crm.Invitation, error) {
	email, err := crm.NormalizeEmail("email", rawEmail)
	if err != nil {
		return nil, err
	}
	var out *crm.Invitation
	err = s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Members, crm.Create, uuid.Nil); err != nil {
			return err
		}
		role, err := resolveRole(ctx, tx, e.account.ID, roleID, roleGiven)
		if err != nil {
			return err
		}
		if err := e.grant.MayGrant(role); err != nil {
			return err
		}
		var member bool
		if err := tx.Get(ctx, &member, `
			SELECT EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
				WHERE m.account_id = $1 AND u.email = $2 AND m.status <> 'REMOVED')`, e.account.ID, email); err != nil {
			return err
		}
		if member {
			return crm.Errorf(crm.CodeConflict, "%s is already a member", email)
		}
		if err := s.roomForInvitation(ctx, tx, e); err != nil {
			return err
		}
		if err := s.countAction(ctx, tx, e, crm.Members, crm.Create); err != nil {
			return err
		}
		// A pending invitation that has expired makes way for the new one.
		if _, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = $3 WHERE account_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= $3`,
			e.account.ID, email, tx.Now); err != nil {
			return err
		}
		builtIn, custom := roleColumns(role)
		var inv invitationRow
		err = tx.Get(ctx, &inv, `
			INSERT INTO invitations (account_id, id, email, role, custom_role_id, invited_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+invitationColumns,
			e.account.ID, uuid.Must(uuid.NewV7()), email, builtIn, custom, e.userID(), tx.Now, tx.Now.Add(crm.InvitationTTL))
		if isUniqueViolation(err, "invitations_one_pending") {
			return crm.Errorf(crm.CodeConflict, "%s is already invited: resend the invitation instead", email)
		}
		if err != nil {
			return fmt.Errorf("insert invitation: %w", err)
		}
		if err := s.issueInvitationLink(ctx, tx, e, &inv, role); err != nil {
			return err
		}
		if err := logActivity(ctx, tx, e, "member.invited", crm.Members, inv.ID,
			map[string]crm.Change{"email": {To: email}, "role": {To: role.Name}}); err != nil {
			return err
		}
		out, err = inv.invitation(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// roomForInvitation refuses one more pending invitation when the account
// has as many as it may (they are listed in one page).
func (s *InvitationService) roomForInvitation(ctx context.Context, tx *Tx, e *entered) error {
	var pending int
	if err := tx.Get(ctx, &pending, `
		SELECT count(*) FROM invitations WHERE account_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2`,
		e.account.ID, tx.Now); err != nil {
		return err
	}
	if pending >= crm.MaxListedInvitations {
		return crm.Errorf(crm.CodeConflict, "the account has %d pending invitations, the most it may have: revoke some first", pending)
	}
	return nil
}

// loadInvitation reads an invitation of the account in scope for a change;
// NOT_FOUND if it is another account's.
func loadInvitation(ctx context.Context, tx *Tx, accountID, id uuid.UUID) (*invitationRow, error) {
	var inv invitationRow
	err := tx.Get(ctx, &inv, `SELECT `+invitationColumns+` FROM invitations WHERE account_id = $1 AND id = $2 FOR UPDATE`, accountID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crm.NotFound("invitation")
	}
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// openInvitation loads an invitation the actor may resend or revoke: one
// not accepted or revoked yet (an expired one may be renewed).
func openInvitation(ctx context.Context, tx *Tx, e *entered, id uuid.UUID) (*invitationRow, error) {
	if err := e.grant.Require(crm.Members, crm.Create, uuid.Nil); err != nil {
		return nil, err
	}
	inv, err := loadInvitation(ctx, tx, e.account.ID, id)
	if err != nil {
		return nil, err
	}
	if st := inv.status(tx.Now); st == crm.InvitationAccepted || st == crm.InvitationRevoked {
		return nil, crm.Errorf(crm.CodeConflict, "the invitation was already %s", strings.ToLower(string(st)))
	}
	return inv, nil
}

// ResendInvitation implements crm.AccountService. An expired invitation
// gets seven more days.
func (s *InvitationService) ResendInvitation(ctx context.Context, a crm.Actor, id uuid.UUID) (*crm.Invitation, error) {
	var out *crm.Invitation
	err := s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		inv, err := openInvitation(ctx, tx, e, id)
		if err != nil {
			return err
		}
		role, err := resolveRole(ctx, tx, e.account.ID, inv.roleID(), roleGiven)
		if err != nil {
			return err
		}
		// A resend renews the invitation: the sender must be able to give
		// its role, as if inviting anew.
		if err := e.grant.MayGrant(role); err != nil {
			return err
		}
		if inv.status(tx.Now) == crm.InvitationExpired {
			// An expired invitation no longer counts as pending; renewing
			// it is a new pending one, within the account's limit.
			if err := s.roomForInvitation(ctx, tx, e); err != nil {
				return err
			}
		}
		if err := s.countAction(ctx, tx, e, crm.Members, crm.Create); err != nil {
			return err
		}
		if err := tx.Get(ctx, inv, `UPDATE invitations SET expires_at = $3 WHERE account_id = $1 AND id = $2 RETURNING `+invitationColumns,
			e.account.ID, id, tx.Now.Add(crm.InvitationTTL)); err != nil {
			return err
		}
		if err := s.issueInvitationLink(ctx, tx, e, inv, role); err != nil {
			return err
		}
		if err := logActivity(ctx, tx, e, "member.invitation_resent", crm.Members, id, map[string]crm.Change{"email": {To: inv.Email}}); err != nil {
			return err
		}
		out, err = inv.invitation(ctx, tx)
		return err
	})
	return out, err
}

// RevokeInvitation implements crm.AccountService.
func (s *InvitationService) RevokeInvitation(ctx context.Context, a crm.Actor, id uuid.UUID) error {
	return s.db.write(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		inv, err := openInvitation(ctx, tx, e, id)
		if err != nil {
			return err
		}
		if err := s.countAction(ctx, tx, e, crm.Members, crm.Create); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = $3 WHERE account_id = $1 AND id = $2`, e.account.ID, id, tx.Now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM invitation_tokens WHERE invitation_account_id = $1 AND invitation_id = $2`, e.account.ID, id); err != nil {
			return err
		}
		return logActivity(ctx, tx, e, "member.invitation_revoked", crm.Members, id, map[string]crm.Change{"email": {From: inv.Email}})
	})
}

// Invitations implements crm.AccountService.
func (s *InvitationService) Invitations(ctx context.Context, a crm.Actor) ([]crm.Invitation, error) {
	var out []crm.Invitation
	err := s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Members, crm.View, uuid.Nil); err != nil {
			return err
		}
		var rows []invitationRow
		if err := tx.Select(ctx, &rows, `SELECT `+invitationColumns+` FROM invitations
			WHERE account_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC LIMIT $3`,
			e.account.ID, tx.Now, crm.MaxListedInvitations); err != nil {
			return err
		}
		out = make([]crm.Invitation, 0, len(rows))
		for i := range rows {
			inv, err := rows[i].invitation(ctx, tx)
			if err != nil {
				return err
			}
			out = append(out, *inv)
		}
		return nil
	})
	return out, err
}

// AcceptInvitation implements crm.AccountService.
func (s *InvitationService) AcceptInvitation(ctx context.Context, token string, a crm.Actor, n crm.NewLogin) (*crm.Accepted, error) {
	errBad := crm.InvalidInput("token", "this invitation link is not valid, was already used, was revoked or has expired; ask for a new one")
	if !secrets.WellFormed(token, secrets.PrefixInvitation) {
		return nil, errBad
	}
	c := a.Client
	// A new login needs its password checked and hashed before the
	// transaction, so the transaction holds no connection while hashing.
	var name, hash string
	if a.Token == "" && (n.Name != "" || n.Password != "") {
		var err error
		if name, err = crm.CleanName("name", n.Name); err != nil {
			return nil, err
		}
		if err = s.cfg.Policy.Check("password", n.Password); err != nil {
			return nil, err
		}
		if hash, err = s.cfg.Identity.hash(ctx, n.Password); err != nil {
			return nil, err
		}
	}
	var out *crm.Accepted
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		// A signed-in caller's session is verified (and held) in the
		// transaction that joins them.
		var p *crm.Principal
		if a.Token != "" {
			var err error
			if p, _, err = s.db.authenticate(ctx, tx, a.Token, userOnly, true); err != nil {
				return err
			}
		}
		var ref struct {
			AccountID    uuid.UUID `db:"invitation_account_id"`
			InvitationID uuid.UUID `db:"invitation_id"`
		}
		err := tx.Get(ctx, &ref, `SELECT invitation_account_id, invitation_id FROM invitation_tokens WHERE token_hash = $1`, secrets.HashToken(token))
		if errors.Is(err, sql.ErrNoRows) {
			return errBad
		}
		if err != nil {
			return err
		}
		// The link itself is the proof: from here the transaction acts in
		// the invitation's account.
		userID := uuid.Nil
		if p != nil {
			userID = p.User.ID
		}
		if err := tx.setScope(ctx, Scope{UserID: userID, AccountID: ref.AccountID}); err != nil {
			return err
		}
		inv, err := loadInvitation(ctx, tx, ref.AccountID, ref.InvitationID)
		if err != nil {
			return err
		}
		if inv.status(tx.Now) != crm.InvitationPending {
			return errBad
		}
		var acct struct {
			Name      string    `db:"name"`
			CreatedAt time.Time `db:"created_at"`
		}
		if err := tx.Get(ctx, &acct, `SELECT name, created_at FROM accounts WHERE id = $1`, ref.AccountID); err != nil {
			return err
		}
		out = &crm.Accepted{Account: crm.Account{ID: ref.AccountID, Name: acct.Name, CreatedAt: acct.CreatedAt.UTC()}}
		existing, err := getUserByEmail(ctx, tx, inv.Email)
		if err != nil {
			return err
		}
		switch {
		case p != nil && p.User.Email != inv.Email:
			return crm.Forbidden("this invitation is for %s; you are signed in as %s", inv.Email, p.User.Email)
		case p == nil && existing != nil:
			return crm.Errorf(crm.CodeUnauthenticated, "%s already has a login: sign in, then accept the invitation", inv.Email)
		case p == nil && hash == "":
			return crm.InvalidInput("name", "give your name and a password to create your login")
		case p == nil:
			userID = uuid.Must(uuid.NewV7())
			if err := tx.setScope(ctx, Scope{UserID: userID, AccountID: ref.AccountID}); err != nil {
				return err
			}
			if _, err := insertUser(ctx, tx, userID, inv.Email, name, hash); err != nil {
				if isUniqueViolation(err, "users_email_key") {
					// Another invitation to the same address was accepted
					// at the same moment and created the login.
					return crm.Errorf(crm.CodeConflict, "%s got a login a moment ago: sign in, then accept the invitation", inv.Email)
				}
				return err
			}
		}
		if err := join(ctx, tx, inv, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = $3, accepted_by = $4 WHERE account_id = $1 AND id = $2`,
			inv.AccountID, inv.ID, tx.Now, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM invitation_tokens WHERE invitation_account_id = $1 AND invitation_id = $2`, inv.AccountID, inv.ID); err != nil {
			return err
		}
		role, err := resolveRole(ctx, tx, inv.AccountID, inv.roleID(), roleGiven)
		if err != nil {
			return err
		}
		if err := logActivityAs(ctx, tx, inv.AccountID, userID, role.Name, "member.joined", crm.Members, userID,
			map[string]crm.Change{"role": {To: role.Name}, "invitation": {To: inv.ID}}); err != nil {
			return err
		}
		if p != nil {
			return nil
		}
		// A new login is signed in at once, in the account it joined.
		tok, sess, err := s.cfg.Identity.newSession(ctx, tx, userID, inv.AccountID, c)
		if err != nil {
			return err
		}
		if err := logLogin(ctx, tx, userID, inv.Email, c, crm.LoginSucceeded, sess.ID, uuid.Nil); err != nil {
			return err
		}
		u, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		out.Auth = &crm.AuthResult{Token: tok, User: u.user(), Session: sess}
		return nil
	})
	if err != nil {
		return nil, s.db.settle(ctx, err)
	}
	return out, nil
}

// join makes userID a member with the invitation's role; a former
// (removed) member comes back.
func join(ctx context.Context, tx *Tx, inv *invitationRow, userID uuid.UUID) error {
	var status *string
	err := tx.Get(ctx, &status, `SELECT status FROM memberships WHERE account_id = $1 AND user_id = $2 FOR UPDATE`, inv.AccountID, userID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if status != nil && *status != string(crm.MemberRemoved) {
		return crm.Errorf(crm.CodeConflict, "you are already a member of this account")
	}
	if status != nil {
		_, err = tx.Exec(ctx, `
			UPDATE memberships SET role = $3, custom_role_id = $4, status = 'ACTIVE', deactivated_until = NULL, display_name = NULL, status_changed_at = $5
			WHERE account_id = $1 AND user_id = $2`, inv.AccountID, userID, inv.BuiltInRole, inv.CustomRoleID, tx.Now)
	} else {
		_, err = tx.Exec(ctx, `
			INSERT INTO memberships (account_id, user_id, role, custom_role_id, created_at, status_changed_at) VALUES ($1, $2, $3, $4, $5, $5)`,
			inv.AccountID, userID, inv.BuiltInRole, inv.CustomRoleID, tx.Now)
	}
	if err != nil {
		return fmt.Errorf("join account: %w", err)
	}
	return nil
}
