package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/realtime"
	"switchboard/secrets"
)

// Outbox queues outgoing mail inside a transaction: it is sent if and only
// if the transaction commits.
type Outbox interface {
	Email(ctx context.Context, tx *sql.Tx, e crm.Email) error
}

// IdentityConfig holds what the identity service needs besides the
// database.
type IdentityConfig struct {
	PublicURL string
	Hasher    *secrets.Hasher
	Box       *secrets.Box
	Policy    *crm.PasswordPolicy
	Outbox    Outbox
	Logger    *slog.Logger
}

// Lifetimes of the short-lived secrets.
const (
	challengeTTL        = 5 * time.Minute
	challengeAttempts   = 5
	resetTTL            = time.Hour
	resetRequestsPerHr  = 3
	touchInterval       = time.Minute // how stale last_seen_at may get before a request rewrites it
	recoveryCodeCount   = 10
	totpIssuer          = "Switchboard"
	maxCodeLen          = 32
	maxChallengeLen     = 100
	maxResetTokenLength = 100
)

// IdentityService is the PostgreSQL implementation of crm.IdentityService.
type IdentityService struct {
	db  *DB
	cfg IdentityConfig
}

var _ crm.IdentityService = (*IdentityService)(nil)

// NewIdentityService returns the identity service on d.
func NewIdentityService(d *DB, cfg IdentityConfig) *IdentityService {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &IdentityService{db: d, cfg: cfg}
}

var errWrongCredentials = crm.Errorf(crm.CodeUnauthenticated, "wrong email or password")

// userRow is a users row with its secrets.
type userRow struct {
	ID                uuid.UUID  `db:"id"`
	Email             string     `db:"email"`
	Name              string     `db:"name"`
	PasswordHash      string     `db:"password_hash"`
	TOTPSecret        []byte     `db:"totp_secret"`
	TOTPKeyID         *string    `db:"totp_key_id"`
	TOTPEnabledAt     *time.Time `db:"totp_enabled_at"`
	TOTPPending       []byte     `db:"totp_pending"`
	TOTPPendingKeyID  *string    `db:"totp_pending_key_id"`
	TOTPLastStep      *int64     `db:"totp_last_step"`
	CreatedAt         time.Time  `db:"created_at"`
	PasswordChangedAt time.Time  `db:"password_changed_at"`
}

func (u *userRow) user() *crm.User {
	return &crm.User{ID: u.ID, Email: u.Email, Name: u.Name, TOTPEnabled: u.TOTPEnabledAt != nil, CreatedAt: u.CreatedAt.UTC()}
}

const userColumns = `id, email, name, password_hash, totp_secret, totp_key_id, totp_enabled_at, totp_pending,
	totp_pending_key_id, totp_last_step, created_at, password_changed_at`

func getUserByEmail(ctx context.Context, tx *Tx, email string) (*userRow, error) {
	var u userRow
	err := tx.Get(ctx, &u, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &u, err
}

// lockUser reads a user and locks the row until the transaction ends: every
// sign-in of one user takes this lock, so they happen one at a time.
func lockUser(ctx context.Context, tx *Tx, id uuid.UUID) (*userRow, error) {
	var u userRow
	if err := tx.Get(ctx, &u, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id); err != nil {
		return nil, fmt.Errorf("lock user: %w", err)
	}
	return &u, nil
}

// sessionRow is a sessions row.
type sessionRow struct {
	ID              uuid.UUID  `db:"id"`
	UserID          uuid.UUID  `db:"user_id"`
	CreatedAt       time.Time  `db:"created_at"`
	LastSeenAt      time.Time  `db:"last_seen_at"`
	ExpiresAt       time.Time  `db:"expires_at"`
	IP              *string    `db:"ip"`
	UserAgent       string     `db:"user_agent"`
	Device          string     `db:"device"`
	AccountID       *uuid.UUID `db:"current_account_id"`
	RevokedAt       *time.Time `db:"revoked_at"`
	RevokedReason   *string    `db:"revoked_reason"`
	RevokedByIP     *string    `db:"revoked_by_ip"`
	RevokedByDevice *string    `db:"revoked_by_device"`
}

const sessionColumns = `s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, host(s.ip) AS ip, s.user_agent, s.device,
	s.current_account_id, s.revoked_at, s.revoked_reason, host(s.revoked_by_ip) AS revoked_by_ip, s.revoked_by_device`

// session shapes a sessions row, with when it idles out.
func (l SessionLimits) session(r *sessionRow) crm.Session {
	out := crm.Session{
		ID: r.ID, UserID: r.UserID, CreatedAt: r.CreatedAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		IP: parseIP(r.IP), UserAgent: r.UserAgent, Device: r.Device,
	}
	out.IdleExpiresAt = minTime(out.LastSeenAt.Add(l.Idle), out.ExpiresAt)
	if r.AccountID != nil {
		out.AccountID = *r.AccountID
	}
	return out
}

// end describes how the session ended, for the event and the error.
func (r *sessionRow) end() crm.SessionEnd {
	e := crm.SessionEnd{SessionID: r.ID, UserID: r.UserID}
	if r.RevokedAt != nil {
		e.At = r.RevokedAt.UTC()
	}
	if r.RevokedReason != nil {
		e.Reason = crm.SessionEndReason(*r.RevokedReason)
	}
	if r.RevokedByIP != nil {
		e.ByIP = *r.RevokedByIP
	}
	if r.RevokedByDevice != nil {
		e.ByDevice = *r.RevokedByDevice
	}
	return e
}

// expired reports whether an active session has passed its idle or
// absolute limit at now.
func (l SessionLimits) expired(r *sessionRow, now time.Time) bool {
	return !now.Before(r.ExpiresAt) || !now.Before(r.LastSeenAt.Add(l.Idle))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// endSessions revokes the given active sessions of a user with reason,
// announces each end on the bus, and returns them. by describes the
// sign-in that caused it, when one did.
func endSessions(ctx context.Context, tx *Tx, where string, args []any, reason crm.SessionEndReason, by *crm.Client, bySession uuid.UUID) ([]crm.SessionEnd, error) {
	var byIP, byDevice any
	if by != nil {
		byIP, byDevice = nullIP(by.IP), by.Device()
	}
	var bySess any
	if bySession != uuid.Nil {
		bySess = bySession
	}
	n := len(args)
	var rows []sessionRow
	err := tx.Select(ctx, &rows, fmt.Sprintf(`
		UPDATE sessions s SET revoked_at = $%d, revoked_reason = $%d, revoked_by_ip = $%d, revoked_by_device = $%d, revoked_by_session = $%d
		WHERE s.revoked_at IS NULL AND %s
		RETURNING `+sessionColumns, n+1, n+2, n+3, n+4, n+5, where),
		append(args, tx.Now, string(reason), byIP, byDevice, bySess)...)
	if err != nil {
		return nil, fmt.Errorf("end sessions: %w", err)
	}
	ends := make([]crm.SessionEnd, 0, len(rows))
	for i := range rows {
		e := rows[i].end()
		if err := notify(ctx, tx, realtime.SessionTopic(e.SessionID.String()), realtime.TypeSessionEnded, e); err != nil {
			return nil, err
		}
		ends = append(ends, e)
	}
	return ends, nil
}

// newSession inserts the user's one active session and returns its token.
func (s *IdentityService) newSession(ctx context.Context, tx *Tx, userID, accountID uuid.UUID, c crm.Client) (string, *crm.Session, error) {
	token := secrets.NewToken(secrets.PrefixSession)
	var acct any
	if accountID != uuid.Nil {
		acct = accountID
	}
	var row sessionRow
	err := tx.Get(ctx, &row, `
		INSERT INTO sessions AS s (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, device, current_account_id)
		VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9)
		RETURNING `+sessionColumns,
		uuid.Must(uuid.NewV7()), userID, secrets.HashToken(token), tx.Now, tx.Now.Add(s.db.sessions.Absolute),
		nullIP(c.IP), crm.TruncateUserAgent(c.UserAgent), c.Device(), acct)
	if err != nil {
		return "", nil, fmt.Errorf("insert session: %w", err)
	}
	sess := s.db.sessions.session(&row)
	return token, &sess, nil
}

// logLogin appends to the login log.
func logLogin(ctx context.Context, tx *Tx, userID uuid.UUID, email string, c crm.Client, outcome crm.LoginOutcome, sessionID, accountID uuid.UUID) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO login_events (id, at, user_id, email, ip, user_agent, device, outcome, session_id, concerns_account_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		uuid.Must(uuid.NewV7()), tx.Now, nullUUID(userID), email, nullIP(c.IP), crm.TruncateUserAgent(c.UserAgent),
		c.Device(), string(outcome), nullUUID(sessionID), nullUUID(accountID))
	if err != nil {
		return fmt.Errorf("log login: %w", err)
	}
	return nil
}

func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

// SignUp implements crm.IdentityService.
func (s *IdentityService) SignUp(ctx context.Context, in crm.SignUpInput, c crm.Client) (*crm.AuthResult, error) {
	email, err := crm.NormalizeEmail("email", in.Email)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Policy.Check("password", in.Password); err != nil {
		return nil, err
	}
	name, err := crm.CleanName("name", in.Name)
	if err != nil {
		return nil, err
	}
	accountName, err := crm.CleanName("accountName", in.AccountName)
	if err != nil {
		return nil, err
	}
	// Repeated sign-ups for taken addresses count as failures of the
	// caller's address, so probing which emails exist gets throttled.
	probe := attempt{ip: c.IP}
	if wait, err := s.readBlock(ctx, probe); err != nil {
		return nil, err
	} else if wait > 0 {
		return nil, crm.RateLimited(wait)
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	userID, accountID := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	var result *crm.AuthResult
	err = s.db.inTx(ctx, Scope{UserID: userID, AccountID: accountID}, func(ctx context.Context, tx *Tx) error {
		u, err := insertUser(ctx, tx, userID, email, name, hash)
		if err != nil {
			return err
		}
		if err := createOwnedAccount(ctx, tx, userID, accountID, accountName); err != nil {
			return err
		}
		token, sess, err := s.newSession(ctx, tx, userID, accountID, c)
		if err != nil {
			return err
		}
		if err := logLogin(ctx, tx, userID, email, c, crm.LoginSucceeded, sess.ID, uuid.Nil); err != nil {
			return err
		}
		result = &crm.AuthResult{Token: token, User: u.user(), Session: sess}
		return nil
	})
	if isUniqueViolation(err, "users_email_key") {
		if probe.ip.IsValid() {
			_ = s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error { return recordFailure(ctx, tx, probe) })
		}
		return nil, crm.Errorf(crm.CodeConflict, "an account with this email already exists; sign in instead")
	}
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	return result, nil
}

// createOwnedAccount creates an account owned by userID, with its entry
// in the account's activity log; tx's scope must be that account.
func createOwnedAccount(ctx context.Context, tx *Tx, userID, accountID uuid.UUID, name string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)`,
		accountID, name, userID, tx.Now); err != nil {
		return fmt.Errorf("insert account: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO memberships (account_id, user_id, role, created_at, status_changed_at) VALUES ($1, $2, 'OWNER', $3, $3)`,
		accountID, userID, tx.Now); err != nil {
		return fmt.Errorf("insert membership: %w", err)
	}
	return logActivityAs(ctx, tx, accountID, userID, crm.RoleOwner.Role().Name, "account.created", crm.Settings, accountID,
		map[string]crm.Change{"name": {To: name}})
}

// Provision creates a login that owns the named accounts, without signing
// it in (so its first real sign-in evicts nobody), or, when the email has
// a login, gives it a new password. It is for the command line (the demo
// seed), not reachable over GraphQL. Errors: BAD_USER_INPUT.
func (s *IdentityService) Provision(ctx context.Context, in crm.SignUpInput, moreAccounts ...string) (created bool, err error) {
	email, err := crm.NormalizeEmail("email", in.Email)
	if err != nil {
		return false, err
	}
	if err := s.cfg.Policy.Check("password", in.Password); err != nil {
		return false, err
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return false, err
	}
	names := append([]string{in.AccountName}, moreAccounts...)
	userID := uuid.Must(uuid.NewV7())
	err = s.db.inTx(ctx, Scope{UserID: userID}, func(ctx context.Context, tx *Tx) error {
		existing, err := getUserByEmail(ctx, tx, email)
		if err != nil {
			return err
		}
		if existing != nil {
			created = false
			return s.replacePassword(ctx, tx, existing, hash)
		}
		created = true
		if _, err := insertUser(ctx, tx, userID, email, in.Name, hash); err != nil {
			return err
		}
		for _, name := range names {
			id := uuid.Must(uuid.NewV7())
			if err := tx.setScope(ctx, Scope{UserID: userID, AccountID: id}); err != nil {
				return err
			}
			if err := createOwnedAccount(ctx, tx, userID, id, name); err != nil {
				return err
			}
		}
		return nil
	})
	return created, err
}

// insertUser creates a login. A taken email fails with the unique
// violation users_email_key, which callers turn into CONFLICT.
func insertUser(ctx context.Context, tx *Tx, id uuid.UUID, email, name, hash string) (*userRow, error) {
	var u userRow
	err := tx.Get(ctx, &u, `
		INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $5) RETURNING `+userColumns,
		id, email, name, hash, tx.Now)
	return &u, err
}

// hash runs the password hasher, answering RATE_LIMITED when its pool is
// saturated.
func (s *IdentityService) hash(ctx context.Context, password string) (string, error) {
	h, err := s.cfg.Hasher.Hash(ctx, password)
	if errors.Is(err, secrets.ErrBusy) {
		return "", crm.RateLimited(time.Second)
	}
	return h, err
}

func (s *IdentityService) verify(ctx context.Context, password, encoded string) (ok, stale bool, err error) {
	ok, stale, err = s.cfg.Hasher.Verify(ctx, password, encoded)
	if errors.Is(err, secrets.ErrBusy) {
		return false, false, crm.RateLimited(time.Second)
	}
	return ok, stale, err
}

func (s *IdentityService) readBlock(ctx context.Context, a attempt) (time.Duration, error) {
	var wait time.Duration
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		var err error
		wait, err = blockedFor(ctx, tx, a)
		return err
	})
	return wait, err
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

func (s *IdentityService) openSecret(sealed []byte, keyID *string, userID uuid.UUID) (string, error) {
	if sealed == nil || keyID == nil {
		return "", errors.New("no totp secret")
	}
	plain, err := s.cfg.Box.Open(sealed, *keyID, totpAD(userID))
	if err != nil {
		return "", fmt.Errorf("open totp secret: %w", err)
	}
	return string(plain), nil
}

// totpAD binds a sealed TOTP secret to its user.
func totpAD(userID uuid.UUID) []byte { return []byte("totp:" + userID.String()) }

// Authenticate implements crm.IdentityService. In an operation's unit of
// work it verifies the token once, in the unit's transaction (with the
// membership of the account the operation asked for, in the same
// statement); elsewhere it is one statement of its own.
func (s *IdentityService) Authenticate(ctx context.Context, token string) (*crm.Principal, error) {
	if !secrets.WellFormed(token, secrets.PrefixSession) {
		return nil, errSignIn
	}
	if u := s.db.unitFrom(ctx); u != nil {
		u.mu.Lock()
		p, err := u.authenticate(ctx, token, false)
		u.mu.Unlock()
		return p, s.db.settle(ctx, err)
	}
	var p *crm.Principal
	err := s.db.single(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		p, _, err = s.db.authenticate(ctx, tx, token, userOnly, false)
		return err
	})
	if err != nil {
		return nil, s.db.settle(ctx, redact(err))
	}
	return p, nil
}

// sessionEndedError is what a request with an ended session's token gets.
func sessionEndedError(e crm.SessionEnd) error {
	switch e.Reason {
	case crm.EndNewLogin:
		where := e.ByDevice
		if e.ByIP != "" {
			where += " at " + e.ByIP
		}
		return crm.Errorf(crm.CodeSessionEvicted, "you were signed out because your account signed in elsewhere (%s)", where)
	case crm.EndExpired:
		return crm.Errorf(crm.CodeSessionExpired, "your session expired; sign in again")
	case crm.EndLogout:
		return crm.Errorf(crm.CodeUnauthenticated, "you signed out; sign in again")
	default:
		return crm.Errorf(e.Reason.Code(), "you were signed out (%s); sign in again", strings.ToLower(strings.ReplaceAll(string(e.Reason), "_", " ")))
	}
}

// Logout implements crm.IdentityService.
func (s *IdentityService) Logout(ctx context.Context, p *crm.Principal, c crm.Client) error {
	return s.db.inTx(ctx, Scope{UserID: p.User.ID}, func(ctx context.Context, tx *Tx) error {
		_, err := endSessions(ctx, tx, "s.id = $1", []any{p.Session.ID}, crm.EndLogout, nil, uuid.Nil)
		return err
	})
}

// checkSessionsBatch bounds the sessions one statement of CheckSessions
// reads or touches.
const checkSessionsBatch = 5000

// CheckSessions implements crm.IdentityService. It reads the sessions a
// few thousand per statement, and touches only those whose last use is
// older than a quarter of the idle timeout: a process holding 20,000
// streams rewrites each of their sessions every few minutes, not at every
// re-check.
func (s *IdentityService) CheckSessions(ctx context.Context, ids []uuid.UUID) ([]crm.SessionEnd, error) {
	var ends []crm.SessionEnd
	for start := 0; start < len(ids); start += checkSessionsBatch {
		batch := ids[start:min(start+checkSessionsBatch, len(ids))]
		err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
			var rows []sessionRow
			// Only what deciding needs: this reads thousands of rows.
			if err := tx.Select(ctx, &rows, `
				SELECT s.id, s.user_id, s.last_seen_at, s.expires_at, s.revoked_at, s.revoked_reason,
					host(s.revoked_by_ip) AS revoked_by_ip, s.revoked_by_device
				FROM sessions s WHERE s.id = ANY($1::uuid[])`, pq.Array(uuidStrings(batch))); err != nil {
				return err
			}
			var expired, stale []uuid.UUID
			var found []crm.SessionEnd
			touchBefore := tx.Now.Add(-s.db.sessions.Idle / 4)
			for i := range rows {
				switch r := &rows[i]; {
				case r.RevokedAt != nil:
					found = append(found, r.end())
				case s.db.sessions.expired(r, tx.Now):
					expired = append(expired, r.ID)
				case r.LastSeenAt.Before(touchBefore):
					stale = append(stale, r.ID)
				}
			}
			if len(expired) > 0 {
				more, err := endSessions(ctx, tx, "s.id = ANY($1)", []any{pq.Array(uuidStrings(expired))}, crm.EndExpired, nil, uuid.Nil)
				if err != nil {
					return err
				}
				found = append(found, more...)
			}
			if len(stale) > 0 {
				// An open subscription is use: keep its session from idling out.
				if _, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = ANY($1) AND revoked_at IS NULL`,
					pq.Array(uuidStrings(stale)), tx.Now); err != nil {
					return fmt.Errorf("touch sessions: %w", err)
				}
			}
			ends = append(ends, found...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("check sessions: %w", err)
		}
	}
	return ends, nil
}

// LoginEvents implements crm.IdentityService.
func (s *IdentityService) LoginEvents(ctx context.Context, p *crm.Principal, page crm.PageArgs) (*crm.LoginEventPage, error) {
	page, after, err := timePage(page)
	if err != nil {
		return nil, err
	}
	var out *crm.LoginEventPage
	err = s.db.readUser(ctx, p.User.ID, func(ctx context.Context, tx *Tx) error {
		var rows []loginEventRow
		err := tx.Select(ctx, &rows, `
			SELECT id, at, user_id, email, host(ip) AS ip, user_agent, device, outcome, session_id, concerns_account_id
			FROM login_events
			WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (at, id) < ($2, $3))
			ORDER BY at DESC, id DESC LIMIT $4`,
			p.User.ID, after.at, after.id, page.First+1)
		if err != nil {
			return err
		}
		out = loginEventPage(rows, page.First)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("login events: %w", err)
	}
	return out, nil
}

type loginEventRow struct {
	ID        uuid.UUID  `db:"id"`
	At        time.Time  `db:"at"`
	UserID    *uuid.UUID `db:"user_id"`
	Email     string     `db:"email"`
	IP        *string    `db:"ip"`
	UserAgent string     `db:"user_agent"`
	Device    string     `db:"device"`
	Outcome   string     `db:"outcome"`
	SessionID *uuid.UUID `db:"session_id"`
	AccountID *uuid.UUID `db:"concerns_account_id"`
}

func loginEventPage(rows []loginEventRow, first int) *crm.LoginEventPage {
	out := &crm.LoginEventPage{}
	rows, out.PageInfo.HasNextPage = pageOf(rows, first)
	for _, r := range rows {
		e := crm.LoginEvent{ID: r.ID, At: r.At.UTC(), Email: r.Email, IP: parseIP(r.IP), UserAgent: r.UserAgent,
			Device: r.Device, Outcome: crm.LoginOutcome(r.Outcome)}
		if r.UserID != nil {
			e.UserID = *r.UserID
		}
		if r.SessionID != nil {
			e.SessionID = *r.SessionID
		}
		if r.AccountID != nil {
			e.AccountID = *r.AccountID
		}
		out.Nodes = append(out.Nodes, e)
	}
	if n := len(rows); n > 0 {
		out.PageInfo.End = encodeCursor(rows[n-1].At, rows[n-1].ID)
	}
	return out
}
