package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/secrets"
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

// entered is what a verified actor brings into a transaction: who they
// are, the account, their membership and the grant it gives.
type entered struct {
	principal crm.Principal
	client    crm.Client
	account   crm.Account
	member    memberRow
	grant     crm.Grant
}

func (e *entered) userID() uuid.UUID { return e.principal.User.ID }

// actorName is the name the actor goes by in the account.
func (e *entered) actorName() string {
	if e.member.DisplayName != nil {
		return *e.member.DisplayName
	}
	return e.principal.User.Name
}

// enterRow is the one row app_enter (migration 00006) returns: the session
// and its user, then the membership in the account asked for (all null when
// there is none).
type enterRow struct {
	sessionRow
	UserEmail     string     `db:"user_email"`
	UserName      string     `db:"user_name"`
	UserCreatedAt time.Time  `db:"user_created_at"`
	TOTPEnabledAt *time.Time `db:"totp_enabled_at"`

	MAccountID        *uuid.UUID     `db:"m_account_id"`
	MRole             *string        `db:"m_role"`
	MCustomRoleID     *uuid.UUID     `db:"m_custom_role_id"`
	MStatus           *string        `db:"m_status"`
	MDisplayName      *string        `db:"m_display_name"`
	MDeactivatedUntil *time.Time     `db:"m_deactivated_until"`
	MCreatedAt        *time.Time     `db:"m_created_at"`
	CustomName        *string        `db:"custom_name"`
	CustomPerms       []byte         `db:"custom_permissions"`
	CustomHidden      pq.StringArray `db:"custom_hidden_fields"`
	AccountName       *string        `db:"account_name"`
	AccountCreatedAt  *time.Time     `db:"account_created_at"`
	Allowlist         pq.StringArray `db:"ip_allowlist"`
}

// touched reports that app_enter touched the session (its once-a-minute
// last_seen_at) in a read: the session's row is then locked until the
// transaction ends. A touch sets last_seen_at to now as sent, to the
// microsecond; a session created at now (a clock that stands still, in
// tests) has it without a touch, and a touched one was last seen a minute
// before at least, so was created before now.
func (r *enterRow) touched(now time.Time) bool {
	return r.LastSeenAt.Equal(now) && !r.CreatedAt.Equal(now)
}

// enterStatement is app_enter's call with its arguments written in: it has
// no parameters, so it rides in the round trip that begins its transaction
// (db/driver.go). Every value is one this package made and writes in a
// fixed form (a hash in hex, a uuid, a boolean, a time, a number): no text
// from a client reaches the statement.
func enterStatement(tokenHash []byte, in enterIn, lock bool, now time.Time, idle time.Duration) string {
	acct := "NULL"
	if in.account != uuid.Nil {
		acct = "'" + in.account.String() + "'"
	}
	return fmt.Sprintf(`SELECT * FROM app_enter(decode('%x', 'hex'), %s::uuid, %t, '%s'::timestamptz, %d * interval '1 microsecond', %t)`,
		tokenHash, acct, lock, now.UTC().Format(time.RFC3339Nano), idle.Microseconds(), in.member)
}

// enterIn says what authenticate verifies besides the session: the
// membership in an account, or none.
type enterIn struct {
	member  bool
	account uuid.UUID // uuid.Nil: the session's current account
}

// userOnly verifies the session alone, for reads and writes of the user's
// own: the transaction's scope then holds the user and no account.
var userOnly = enterIn{}

// memberOf verifies the session and the membership in account (uuid.Nil:
// the session's current account).
func memberOf(account uuid.UUID) enterIn { return enterIn{member: true, account: account} }

// errSessionExpired reports, from inside a transaction, a session found
// past its limits. The transaction cannot end it (under a write it holds
// the session's row share-locked), so the caller ends it afterwards, in a
// transaction of its own, and answers SESSION_EXPIRED.
type errSessionExpired struct{ end crm.SessionEnd }

func (e errSessionExpired) Error() string { return "session expired" }

// errIPRefused is returned by enter inside the transaction; the caller logs
// the refusal after the transaction rolled back and answers IP_NOT_ALLOWED.
type errIPRefused struct {
	principal crm.Principal
	actor     crm.Actor
	account   uuid.UUID
}

func (e errIPRefused) Error() string {
	return "address " + e.actor.Client.IP.String() + " is not on the allowlist"
}

var errSignIn = crm.Errorf(crm.CodeUnauthenticated, "sign in first")

// authenticate runs app_enter in tx for token and, as in says, a
// membership: it verifies the session, sets the transaction's scope, and
// returns the principal and the membership row, if any. lock share-locks
// the session and the membership until tx ends.
func (d *DB) authenticate(ctx context.Context, tx *Tx, token string, in enterIn, lock bool) (*crm.Principal, *enterRow, error) {
	if !secrets.WellFormed(token, secrets.PrefixSession) {
		return nil, nil, errSignIn
	}
	var rows []enterRow
	if err := tx.Select(ctx, &rows, enterStatement(secrets.HashToken(token), in, lock, tx.Now, d.sessions.Idle)); err != nil {
		return nil, nil, fmt.Errorf("authenticate: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil, errSignIn
	}
	r := &rows[0]
	if r.RevokedAt != nil {
		return nil, nil, sessionEndedError(r.end())
	}
	if d.sessions.expired(&r.sessionRow, tx.Now) {
		return nil, nil, errSessionExpired{end: crm.SessionEnd{SessionID: r.ID, UserID: r.UserID, Reason: crm.EndExpired}}
	}
	p := &crm.Principal{
		User: crm.User{ID: r.UserID, Email: r.UserEmail, Name: r.UserName, TOTPEnabled: r.TOTPEnabledAt != nil,
			CreatedAt: r.UserCreatedAt.UTC()},
		Session: d.sessions.session(&r.sessionRow),
	}
	return p, r, nil
}

// enterAs turns a verified principal and app_enter's membership row into
// the actor's scope in an account: a member (NOT_FOUND otherwise, exactly
// as for an account that does not exist), not deactivated
// (ACCOUNT_DEACTIVATED), from an allowed address.
func enterAs(p *crm.Principal, r *enterRow, a crm.Actor, now time.Time) (*entered, error) {
	account := a.AccountID
	if account == uuid.Nil {
		account = p.Session.AccountID
	}
	if account == uuid.Nil {
		return nil, crm.InvalidInput("X-Account-ID", "choose an account: send X-Account-ID or call switchAccount")
	}
	if r.MAccountID == nil || *r.MAccountID != account {
		return nil, crm.NotFound("account")
	}
	m := memberRow{
		AccountID: *r.MAccountID, UserID: p.User.ID, BuiltInRole: r.MRole, CustomRoleID: r.MCustomRoleID, Status: *r.MStatus,
		DisplayName: r.MDisplayName, DeactivatedUntil: r.MDeactivatedUntil, CreatedAt: *r.MCreatedAt,
		CustomName: r.CustomName, CustomPerms: r.CustomPerms, CustomHidden: r.CustomHidden,
	}
	switch m.status(now) {
	case crm.MemberRemoved:
		return nil, crm.NotFound("account")
	case crm.MemberDeactivated:
		msg := "your access to this account is deactivated; an admin can reactivate it"
		if m.DeactivatedUntil != nil {
			msg = fmt.Sprintf("your access to this account is paused until %s UTC (activity limit); an admin can restore it sooner",
				m.DeactivatedUntil.UTC().Format("2 Jan 2006 15:04"))
		}
		return nil, crm.Errorf(crm.CodeAccountDeactivated, "%s", msg)
	}
	allow, err := parsePrefixes(r.Allowlist)
	if err != nil {
		return nil, err
	}
	if !crm.AllowedFrom(allow, a.Client.IP) {
		return nil, errIPRefused{principal: *p, actor: a, account: account}
	}
	role, err := m.role()
	if err != nil {
		return nil, err
	}
	return &entered{
		principal: *p,
		client:    a.Client,
		account:   crm.Account{ID: account, Name: *r.AccountName, CreatedAt: r.AccountCreatedAt.UTC(), IPAllowlist: allow},
		member:    m,
		grant:     crm.Grant{UserID: p.User.ID, Role: role},
	}, nil
}

// enter verifies the actor inside tx and enters their account.
func (d *DB) enter(ctx context.Context, tx *Tx, a crm.Actor, lock bool) (*entered, error) {
	e, _, err := d.enterRow(ctx, tx, a, lock)
	return e, err
}

// enterRow is enter that also returns app_enter's row (nil when the
// session was refused), for the unit's commitTouch.
func (d *DB) enterRow(ctx context.Context, tx *Tx, a crm.Actor, lock bool) (*entered, *enterRow, error) {
	p, r, err := d.authenticate(ctx, tx, a.Token, memberOf(a.AccountID), lock)
	if err != nil {
		return nil, nil, err
	}
	e, err := enterAs(p, r, a, tx.Now)
	return e, r, err
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

// read runs fn with the actor's verified scope: in the operation's unit of
// work when there is one (so an operation's reads share one transaction
// and one verification), else in a transaction of its own.
func (d *DB) read(ctx context.Context, a crm.Actor, fn func(ctx context.Context, tx *Tx, e *entered) error) error {
	if u := d.unitFrom(ctx); u != nil {
		return d.settle(ctx, u.run(ctx, a, fn))
	}
	return d.settle(ctx, d.retrying(ctx, func() error {
		return d.runOnce(ctx, func(ctx context.Context, tx *Tx) error {
			e, err := d.enter(ctx, tx, a, false)
			if err != nil {
				return err
			}
			return fn(ctx, tx, e)
		})
	}))
}

// verified returns the actor's verified scope without more work: from the
// operation's unit of work when there is one, else from a transaction of
// its own.
func (d *DB) verified(ctx context.Context, a crm.Actor) (*entered, error) {
	if u := d.unitFrom(ctx); u != nil {
		u.mu.Lock()
		e, err := u.verify(ctx, a)
		u.mu.Unlock()
		return e, d.settle(ctx, err)
	}
	var out *entered
	err := d.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		out = e
		return nil
	})
	return out, err
}

// write runs fn in a transaction of its own that first verifies the actor
// and share-locks their session and membership, so that the check and the
// change commit together: a session ended or a member deactivated a moment
// earlier gets no write through. The verified scope is remembered for the
// rest of the operation's reads.
func (d *DB) write(ctx context.Context, a crm.Actor, fn func(ctx context.Context, tx *Tx, e *entered) error) error {
	var done *entered
	err := d.retrying(ctx, func() error {
		return d.runOnce(ctx, func(ctx context.Context, tx *Tx) error {
			e, err := d.enter(ctx, tx, a, true)
			if err != nil {
				return err
			}
			done = e
			return fn(ctx, tx, e)
		})
	})
	if err == nil {
		if u := d.unitFrom(ctx); u != nil {
			u.remember(a, done)
		}
	}
	return d.settle(ctx, err)
}

// readAs runs fn with the actor's verified principal, for the user's own
// reads that are in no account (the switcher); like read, in the
// operation's unit of work when there is one.
func (d *DB) readAs(ctx context.Context, a crm.Actor, fn func(ctx context.Context, tx *Tx, p *crm.Principal) error) error {
	if u := d.unitFrom(ctx); u != nil {
		return d.settle(ctx, u.runAs(ctx, a.Token, fn))
	}
	return d.settle(ctx, d.retrying(ctx, func() error {
		return d.runOnce(ctx, func(ctx context.Context, tx *Tx) error {
			p, _, err := d.authenticate(ctx, tx, a.Token, userOnly, false)
			if err != nil {
				return err
			}
			return fn(ctx, tx, p)
		})
	}))
}

// readUser runs fn scoped to an already verified user, for reads of the
// user's own (their login log): in the operation's unit of work when there
// is one.
func (d *DB) readUser(ctx context.Context, userID uuid.UUID, fn func(ctx context.Context, tx *Tx) error) error {
	if u := d.unitFrom(ctx); u != nil {
		return u.runUser(ctx, userID, fn)
	}
	return d.inTx(ctx, Scope{UserID: userID}, fn)
}

// writeAs runs fn in a transaction of its own that first verifies the
// actor's session and share-locks it, for the user's own changes in no
// account yet (creating one).
func (d *DB) writeAs(ctx context.Context, a crm.Actor, fn func(ctx context.Context, tx *Tx, p *crm.Principal) error) error {
	return d.settle(ctx, d.retrying(ctx, func() error {
		return d.runOnce(ctx, func(ctx context.Context, tx *Tx) error {
			p, _, err := d.authenticate(ctx, tx, a.Token, userOnly, true)
			if err != nil {
				return err
			}
			return fn(ctx, tx, p)
		})
	}))
}

// settle finishes what a transaction could only report: it ends a session
// found expired, and logs an allowlist refusal, each in a transaction of its
// own (the operation's was rolled back), and turns them into the errors the
// client gets.
func (d *DB) settle(ctx context.Context, err error) error {
	if expired, ok := errors.AsType[errSessionExpired](err); ok {
		if endErr := d.inTx(ctx, Scope{UserID: expired.end.UserID}, func(ctx context.Context, tx *Tx) error {
			_, err := endSessions(ctx, tx, "s.id = $1", []any{expired.end.SessionID}, crm.EndExpired, nil, uuid.Nil)
			return err
		}); endErr != nil {
			return endErr
		}
		return sessionEndedError(expired.end)
	}
	if refused, ok := errors.AsType[errIPRefused](err); ok {
		if logErr := d.logRefusal(ctx, refused); logErr != nil {
			return logErr
		}
		return crm.Errorf(crm.CodeIPNotAllowed, "this account does not accept requests from %s", refused.actor.Client.IP)
	}
	return err
}

// logRefusal records an allowlist refusal in the login log, at most once
// per user, account and address every ten minutes, so a client that keeps
// retrying does not flood the log.
func (d *DB) logRefusal(ctx context.Context, r errIPRefused) error {
	userID := r.principal.User.ID
	return d.inTx(ctx, Scope{UserID: userID}, func(ctx context.Context, tx *Tx) error {
		var recent bool
		err := tx.Get(ctx, &recent, `
			SELECT EXISTS (SELECT 1 FROM login_events
				WHERE user_id = $1 AND concerns_account_id = $2 AND outcome = 'IP_NOT_ALLOWED' AND ip IS NOT DISTINCT FROM $3::inet AND at > $4)`,
			userID, r.account, nullIP(r.actor.Client.IP), tx.Now.Add(-10*time.Minute))
		if err != nil || recent {
			return err
		}
		return logLogin(ctx, tx, userID, r.principal.User.Email, r.actor.Client, crm.LoginIPNotAllowed, r.principal.Session.ID, r.account)
	})
}
