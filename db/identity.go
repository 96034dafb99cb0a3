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
	PublicURL       string
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	Hasher          *secrets.Hasher
	Box             *secrets.Box
	Policy          *crm.PasswordPolicy
	Outbox          Outbox
	Logger          *slog.Logger
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

func (s *IdentityService) session(r *sessionRow) *crm.Session {
	out := &crm.Session{
		ID: r.ID, UserID: r.UserID, CreatedAt: r.CreatedAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		IP: parseIP(r.IP), UserAgent: r.UserAgent, Device: r.Device,
	}
	out.IdleExpiresAt = minTime(out.LastSeenAt.Add(s.cfg.IdleTimeout), out.ExpiresAt)
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
func (s *IdentityService) expired(r *sessionRow, now time.Time) bool {
	return !now.Before(r.ExpiresAt) || !now.Before(r.LastSeenAt.Add(s.cfg.IdleTimeout))
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
		uuid.Must(uuid.NewV7()), userID, secrets.HashToken(token), tx.Now, tx.Now.Add(s.cfg.AbsoluteTimeout),
		nullIP(c.IP), crm.TruncateUserAgent(c.UserAgent), c.Device(), acct)
	if err != nil {
		return "", nil, fmt.Errorf("insert session: %w", err)
	}
	return token, s.session(&row), nil
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
	ipKeys := throttleKeys("", c.IP)[1:]
	if wait, err := s.readBlock(ctx, ipKeys); err != nil {
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
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)`,
			accountID, accountName, userID, tx.Now); err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (account_id, user_id, role, created_at, status_changed_at) VALUES ($1, $2, 'OWNER', $3, $3)`,
			accountID, userID, tx.Now); err != nil {
			return fmt.Errorf("insert membership: %w", err)
		}
		if err := logActivityAs(ctx, tx, accountID, userID, crm.RoleOwner.Role().Name, "account.created", crm.Settings, accountID,
			map[string]crm.Change{"name": {To: accountName}}); err != nil {
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
		if len(ipKeys) > 0 {
			_ = s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error { return recordFailure(ctx, tx, ipKeys) })
		}
		return nil, crm.Errorf(crm.CodeConflict, "an account with this email already exists; sign in instead")
	}
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	return result, nil
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

func (s *IdentityService) readBlock(ctx context.Context, keys []string) (time.Duration, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	var wait time.Duration
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		var err error
		wait, err = blockedFor(ctx, tx, keys)
		return err
	})
	return wait, err
}

// failLogin records a failed attempt: the log row and the failure counts,
// in one transaction, and returns err for the caller to pass on.
func (s *IdentityService) failLogin(ctx context.Context, userID uuid.UUID, email string, c crm.Client, outcome crm.LoginOutcome, err error) error {
	txErr := s.db.inTx(ctx, Scope{UserID: userID}, func(ctx context.Context, tx *Tx) error {
		if err := logLogin(ctx, tx, userID, email, c, outcome, uuid.Nil, uuid.Nil); err != nil {
			return err
		}
		return recordFailure(ctx, tx, throttleKeys(email, c.IP))
	})
	if txErr != nil {
		return fmt.Errorf("record failed login: %w", txErr)
	}
	return err
}

// Login implements crm.IdentityService.
func (s *IdentityService) Login(ctx context.Context, in crm.LoginInput, c crm.Client) (*crm.AuthResult, error) {
	if len(in.TOTPCode) > maxCodeLen {
		return nil, crm.InvalidInput("totpCode", "is not a verification code")
	}
	if in.Challenge != "" {
		return s.loginWithChallenge(ctx, in, c)
	}
	email, err := crm.NormalizeEmail("email", in.Email)
	if err != nil {
		return nil, err
	}
	if in.Password == "" {
		return nil, crm.InvalidInput("password", "enter your password")
	}
	if len(in.Password) > 4*crm.MaxPasswordLen {
		// No stored password can be this long; do not spend a hash on it.
		return nil, s.failLogin(ctx, uuid.Nil, email, c, crm.LoginWrongPassword, errWrongCredentials)
	}

	var user *userRow
	var wait time.Duration
	err = s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		var err error
		if wait, err = blockedFor(ctx, tx, throttleKeys(email, c.IP)); err != nil || wait > 0 {
			return err
		}
		user, err = getUserByEmail(ctx, tx, email)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if wait > 0 {
		return nil, s.logOnly(ctx, user, email, c, crm.LoginRateLimited, crm.RateLimited(wait))
	}

	// An unknown email costs a hash too, so timing does not tell.
	encoded := ""
	if user != nil {
		encoded = user.PasswordHash
	}
	ok, stale, err := s.verify(ctx, in.Password, encoded)
	if err != nil {
		return nil, err
	}
	if user == nil {
		return nil, s.failLogin(ctx, uuid.Nil, email, c, crm.LoginUnknownEmail, errWrongCredentials)
	}
	if !ok {
		return nil, s.failLogin(ctx, user.ID, email, c, crm.LoginWrongPassword, errWrongCredentials)
	}
	var rehash string
	if stale {
		if rehash, err = s.hash(ctx, in.Password); err != nil {
			return nil, err
		}
	}
	if user.TOTPEnabledAt == nil {
		return s.completeLogin(ctx, user.ID, email, c, rehash, nil)
	}
	if in.TOTPCode == "" {
		return s.issueChallenge(ctx, user, c)
	}
	return s.completeLogin(ctx, user.ID, email, c, rehash, &secondFactor{code: in.TOTPCode})
}

// logOnly appends to the login log without counting a failure (a refused,
// rate-limited attempt) and returns err.
func (s *IdentityService) logOnly(ctx context.Context, user *userRow, email string, c crm.Client, outcome crm.LoginOutcome, err error) error {
	var id uuid.UUID
	if user != nil {
		id = user.ID
	}
	if txErr := s.db.inTx(ctx, Scope{UserID: id}, func(ctx context.Context, tx *Tx) error {
		return logLogin(ctx, tx, id, email, c, outcome, uuid.Nil, uuid.Nil)
	}); txErr != nil {
		return fmt.Errorf("log login: %w", txErr)
	}
	return err
}

// issueChallenge answers a correct password when 2-step verification is on:
// nothing about sessions changes until the second factor arrives.
func (s *IdentityService) issueChallenge(ctx context.Context, user *userRow, c crm.Client) (*crm.AuthResult, error) {
	token := secrets.NewToken(secrets.PrefixChallenge)
	var expires time.Time
	err := s.db.inTx(ctx, Scope{UserID: user.ID}, func(ctx context.Context, tx *Tx) error {
		expires = tx.Now.Add(challengeTTL)
		if _, err := tx.Exec(ctx, `
			INSERT INTO login_challenges (id, token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			uuid.Must(uuid.NewV7()), secrets.HashToken(token), user.ID, tx.Now, expires); err != nil {
			return fmt.Errorf("insert challenge: %w", err)
		}
		return logLogin(ctx, tx, user.ID, user.Email, c, crm.LoginSecondFactorRequired, uuid.Nil, uuid.Nil)
	})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return &crm.AuthResult{SecondFactorRequired: true, Challenge: token, ChallengeExpiresAt: expires}, nil
}

// secondFactor is a code to check inside the sign-in transaction, and the
// challenge it answers, if any.
type secondFactor struct {
	code        string
	challengeID uuid.UUID
}

var errWrongCode = crm.Errorf(crm.CodeSecondFactorRequired, "the verification code is wrong or was already used")

// loginWithChallenge is the second step: challenge and code, no password.
func (s *IdentityService) loginWithChallenge(ctx context.Context, in crm.LoginInput, c crm.Client) (*crm.AuthResult, error) {
	if !secrets.WellFormed(in.Challenge, secrets.PrefixChallenge) {
		return nil, crm.InvalidInput("challenge", "is not a sign-in challenge")
	}
	if in.TOTPCode == "" {
		return nil, crm.InvalidInput("totpCode", "enter the code from your authenticator app or a recovery code")
	}
	var ch struct {
		ID        uuid.UUID  `db:"id"`
		UserID    uuid.UUID  `db:"user_id"`
		Email     string     `db:"email"`
		ExpiresAt time.Time  `db:"expires_at"`
		Attempts  int        `db:"attempts"`
		SpentAt   *time.Time `db:"spent_at"`
	}
	var wait time.Duration
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		err := tx.Get(ctx, &ch, `
			SELECT c.id, c.user_id, u.email, c.expires_at, c.attempts, c.spent_at
			FROM login_challenges c JOIN users u ON u.id = c.user_id WHERE c.token_hash = $1`,
			secrets.HashToken(in.Challenge))
		if err != nil {
			return err
		}
		wait, err = blockedFor(ctx, tx, throttleKeys(ch.Email, c.IP))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crm.Errorf(crm.CodeSecondFactorRequired, "this sign-in has expired; enter your password again")
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if wait > 0 {
		return nil, s.logOnly(ctx, &userRow{ID: ch.UserID}, ch.Email, c, crm.LoginRateLimited, crm.RateLimited(wait))
	}
	if ch.SpentAt != nil || !s.db.Now().Before(ch.ExpiresAt) || ch.Attempts >= challengeAttempts {
		return nil, crm.Errorf(crm.CodeSecondFactorRequired, "this sign-in has expired; enter your password again")
	}
	return s.completeLogin(ctx, ch.UserID, ch.Email, c, "", &secondFactor{code: in.TOTPCode, challengeID: ch.ID})
}

// completeLogin is the one transaction that makes a sign-in real: lock the
// user, check the second factor if any, end the previous session with
// NEW_LOGIN and announce it, insert the new session, queue the eviction
// notice, log the success and clear the failure counts.
func (s *IdentityService) completeLogin(ctx context.Context, userID uuid.UUID, email string, c crm.Client, rehash string, second *secondFactor) (*crm.AuthResult, error) {
	var result *crm.AuthResult
	var codeErr error
	err := s.db.inTx(ctx, Scope{UserID: userID}, func(ctx context.Context, tx *Tx) error {
		codeErr = nil
		user, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if second != nil {
			ok, err := s.checkSecondFactor(ctx, tx, user, second.code)
			if err != nil {
				return err
			}
			if !ok {
				codeErr = errWrongCode
				return errRollback
			}
			if second.challengeID != uuid.Nil {
				res, err := tx.Exec(ctx, `UPDATE login_challenges SET spent_at = $2 WHERE id = $1 AND spent_at IS NULL`, second.challengeID, tx.Now)
				if err != nil {
					return fmt.Errorf("spend challenge: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 0 {
					// Two second steps raced on one challenge; this one lost.
					codeErr = errWrongCode
					return errRollback
				}
			}
		}
		// A login whose every account has deactivated it has nowhere to
		// work: refuse it (without touching sessions). One with no account
		// at all may still sign in, to create one or accept an invitation.
		var access struct {
			Held   int `db:"held"`
			Usable int `db:"usable"`
		}
		if err := tx.Get(ctx, &access, `
			SELECT count(*) FILTER (WHERE status <> 'REMOVED') AS held,
				count(*) FILTER (WHERE status = 'ACTIVE' OR (status = 'DEACTIVATED' AND deactivated_until <= $2)) AS usable
			FROM memberships WHERE user_id = $1`, userID, tx.Now); err != nil {
			return fmt.Errorf("read memberships: %w", err)
		}
		if access.Held > 0 && access.Usable == 0 {
			codeErr = crm.Errorf(crm.CodeAccountDeactivated, "your access to every account you belong to is deactivated; ask an admin to reactivate it")
			return errRollback
		}
		if rehash != "" {
			if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, rehash); err != nil {
				return fmt.Errorf("rehash: %w", err)
			}
		}
		sessionID := uuid.Nil
		accountID, err := defaultAccount(ctx, tx, userID)
		if err != nil {
			return err
		}
		// A session already past its limits ends as expired, not evicted.
		if _, err := endSessions(ctx, tx, "s.user_id = $1 AND (s.expires_at <= $2 OR s.last_seen_at <= $3)",
			[]any{userID, tx.Now, tx.Now.Add(-s.cfg.IdleTimeout)}, crm.EndExpired, nil, uuid.Nil); err != nil {
			return err
		}
		// The new session's id is needed for the revocation record, so end
		// the old one first (the unique index allows one active session)
		// and point it at the new one afterwards.
		ended, err := endSessions(ctx, tx, "s.user_id = $1", []any{userID}, crm.EndNewLogin, &c, uuid.Nil)
		if err != nil {
			return err
		}
		token, sess, err := s.newSession(ctx, tx, userID, accountID, c)
		if err != nil {
			return err
		}
		sessionID = sess.ID
		if len(ended) > 0 {
			ids := make([]uuid.UUID, len(ended))
			for i, e := range ended {
				ids[i] = e.SessionID
			}
			if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_by_session = $2 WHERE id = ANY($1)`, pq.Array(uuidStrings(ids)), sessionID); err != nil {
				return fmt.Errorf("link ended sessions: %w", err)
			}
			if err := s.cfg.Outbox.Email(ctx, tx.SQL(), evictionNotice(user, c, tx.Now, s.cfg.PublicURL)); err != nil {
				return err
			}
		}
		if err := logLogin(ctx, tx, userID, email, c, crm.LoginSucceeded, sessionID, uuid.Nil); err != nil {
			return err
		}
		if err := recordSuccess(ctx, tx, throttleKeys(email, c.IP)); err != nil {
			return err
		}
		result = &crm.AuthResult{Token: token, User: user.user(), Session: sess}
		return nil
	})
	if errors.Is(err, errRollback) && crm.IsCode(codeErr, crm.CodeAccountDeactivated) {
		// The password (and code) were right: not a brute-force failure.
		return nil, s.logOnly(ctx, &userRow{ID: userID}, email, c, crm.LoginDeactivated, codeErr)
	}
	if errors.Is(err, errRollback) && codeErr != nil {
		if second != nil && second.challengeID != uuid.Nil {
			s.spendAttempt(ctx, second.challengeID)
		}
		return nil, s.failLogin(ctx, userID, email, c, crm.LoginSecondFactorFailed, codeErr)
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return result, nil
}

// errRollback ends a transaction without it being an error of its own; the
// caller reads why from a variable it set.
var errRollback = errors.New("rollback")

func (s *IdentityService) spendAttempt(ctx context.Context, challengeID uuid.UUID) {
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE login_challenges SET attempts = attempts + 1 WHERE id = $1`, challengeID)
		return err
	})
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "count challenge attempt", "err", err)
	}
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// defaultAccount is the account a new session starts in: the one the
// user's latest session was in, if they are still active there, else the
// one they joined first.
func defaultAccount(ctx context.Context, tx *Tx, userID uuid.UUID) (uuid.UUID, error) {
	var id uuid.UUID
	err := tx.Get(ctx, &id, `
		SELECT m.account_id FROM memberships m
		LEFT JOIN LATERAL (
			SELECT max(s.created_at) AS used FROM sessions s WHERE s.user_id = m.user_id AND s.current_account_id = m.account_id
		) recent ON true
		WHERE m.user_id = $1 AND m.status = 'ACTIVE'
		ORDER BY recent.used DESC NULLS LAST, m.created_at, m.account_id LIMIT 1`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return uuid.Nil, nil
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("default account: %w", err)
	}
	return id, nil
}

// checkSecondFactor accepts a TOTP code (each time step once, recorded in
// the locked user row) or an unused recovery code (spent here).
func (s *IdentityService) checkSecondFactor(ctx context.Context, tx *Tx, user *userRow, code string) (bool, error) {
	code = strings.TrimSpace(code)
	if isDigits(code) {
		secret, err := s.openSecret(user.TOTPSecret, user.TOTPKeyID, user.ID)
		if err != nil {
			return false, err
		}
		step, ok := secrets.MatchTOTP(secret, code, tx.Now)
		if !ok {
			return false, nil
		}
		res, err := tx.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)`, user.ID, step)
		if err != nil {
			return false, fmt.Errorf("record totp step: %w", err)
		}
		n, _ := res.RowsAffected()
		return n == 1, nil
	}
	res, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
		user.ID, secrets.HashToken(secrets.NormalizeRecoveryCode(code)), tx.Now)
	if err != nil {
		return false, fmt.Errorf("spend recovery code: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
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

// whereFrom says where a client is, for notices: "Firefox 121 on Linux at
// 203.0.113.7".
func whereFrom(c crm.Client) string {
	if c.IP.IsValid() {
		return c.Device() + " at " + c.IP.String()
	}
	return c.Device()
}

func evictionNotice(u *userRow, by crm.Client, at time.Time, publicURL string) crm.Email {
	where := whereFrom(by)
	return crm.Email{
		To:      u.Email,
		Subject: "You were signed out: new sign-in to Switchboard",
		Text: fmt.Sprintf(`Hello %s,

Your Switchboard account was just signed in from %s on %s UTC.
Switchboard allows one session at a time, so your previous session was signed out.

If this was you, there is nothing to do.

If it was not you, someone knows your password:
1. Reset your password now: %s/reset-password
2. Turn on 2-step verification in your profile.
3. Check your login log for other sign-ins you do not recognise.
`, u.Name, where, at.Format("Mon 2 Jan 2006 15:04"), publicURL),
	}
}

// Authenticate implements crm.IdentityService.
func (s *IdentityService) Authenticate(ctx context.Context, token string) (*crm.Principal, error) {
	if !secrets.WellFormed(token, secrets.PrefixSession) {
		return nil, crm.Errorf(crm.CodeUnauthenticated, "sign in first")
	}
	var (
		p     *crm.Principal
		ended *crm.SessionEnd
	)
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		p, ended = nil, nil
		var row struct {
			sessionRow
			UserEmail     string     `db:"user_email"`
			UserName      string     `db:"user_name"`
			UserCreatedAt time.Time  `db:"user_created_at"`
			TOTPEnabledAt *time.Time `db:"totp_enabled_at"`
		}
		err := tx.Get(ctx, &row, `
			SELECT `+sessionColumns+`, u.email AS user_email, u.name AS user_name, u.created_at AS user_created_at, u.totp_enabled_at
			FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`, secrets.HashToken(token))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if row.RevokedAt != nil {
			e := row.end()
			ended = &e
			return nil
		}
		if s.expired(&row.sessionRow, tx.Now) {
			ends, err := endSessions(ctx, tx, "s.id = $1", []any{row.ID}, crm.EndExpired, nil, uuid.Nil)
			if err != nil {
				return err
			}
			if len(ends) == 1 {
				ended = &ends[0]
			}
			return nil
		}
		if tx.Now.Sub(row.LastSeenAt) >= touchInterval {
			if _, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1`, row.ID, tx.Now); err != nil {
				return fmt.Errorf("touch session: %w", err)
			}
			row.LastSeenAt = tx.Now
		}
		p = &crm.Principal{
			User: crm.User{ID: row.UserID, Email: row.UserEmail, Name: row.UserName, TOTPEnabled: row.TOTPEnabledAt != nil,
				CreatedAt: row.UserCreatedAt.UTC()},
			Session: *s.session(&row.sessionRow),
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("authenticate: %w", err)
	case ended != nil:
		return nil, sessionEndedError(*ended)
	case p == nil:
		return nil, crm.Errorf(crm.CodeUnauthenticated, "sign in first")
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

// CheckSessions implements crm.IdentityService.
func (s *IdentityService) CheckSessions(ctx context.Context, ids []uuid.UUID) ([]crm.SessionEnd, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var ends []crm.SessionEnd
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		ends = nil
		var rows []sessionRow
		if err := tx.Select(ctx, &rows, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id = ANY($1)`, pq.Array(uuidStrings(ids))); err != nil {
			return err
		}
		var expired, active []uuid.UUID
		for i := range rows {
			switch r := &rows[i]; {
			case r.RevokedAt != nil:
				ends = append(ends, r.end())
			case s.expired(r, tx.Now):
				expired = append(expired, r.ID)
			default:
				active = append(active, r.ID)
			}
		}
		if len(expired) > 0 {
			more, err := endSessions(ctx, tx, "s.id = ANY($1)", []any{pq.Array(uuidStrings(expired))}, crm.EndExpired, nil, uuid.Nil)
			if err != nil {
				return err
			}
			ends = append(ends, more...)
		}
		if len(active) > 0 {
			// An open subscription is use: keep its session from idling out.
			if _, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = ANY($1) AND revoked_at IS NULL`,
				pq.Array(uuidStrings(active)), tx.Now); err != nil {
				return fmt.Errorf("touch sessions: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check sessions: %w", err)
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
	err = s.db.inTx(ctx, Scope{UserID: p.User.ID}, func(ctx context.Context, tx *Tx) error {
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
	rows, out.HasNextPage = pageOf(rows, first)
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
		out.Events = append(out.Events, e)
	}
	if n := len(rows); n > 0 {
		out.EndCursor = encodeCursor(rows[n-1].At, rows[n-1].ID)
	}
	return out
}
