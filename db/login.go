package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/secrets"
)

// failLogin records a failed attempt: first the failure counts, then the
// log row, each in its own transaction, so that nothing about the log row
// can cost the count. It returns err for the caller to pass on.
func (s *IdentityService) failLogin(ctx context.Context, a attempt, c crm.Client, outcome crm.LoginOutcome, err error) error {
	if txErr := s.db.inTx(ctx, Scope{UserID: a.userID}, func(ctx context.Context, tx *Tx) error {
		return recordFailure(ctx, tx, a)
	}); txErr != nil {
		return fmt.Errorf("count failed login: %w", txErr)
	}
	s.logAttempt(ctx, a, c, outcome)
	return err
}

// logAttempt appends a refused attempt to the login log. A failure to
// write it is the server's to report; the client's answer stays what the
// attempt earned.
func (s *IdentityService) logAttempt(ctx context.Context, a attempt, c crm.Client, outcome crm.LoginOutcome) {
	if err := s.db.inTx(ctx, Scope{UserID: a.userID}, func(ctx context.Context, tx *Tx) error {
		return logLogin(ctx, tx, a.userID, a.email, c, outcome, uuid.Nil, uuid.Nil)
	}); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "write login log", "outcome", string(outcome), "err", err)
	}
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
		return nil, s.failLogin(ctx, attempt{email: email, ip: c.IP}, c, crm.LoginWrongPassword, errWrongCredentials)
	}

	var user *userRow
	var wait time.Duration
	a := attempt{email: email, ip: c.IP}
	err = s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		var err error
		if user, err = getUserByEmail(ctx, tx, email); err != nil {
			return err
		}
		if user != nil {
			a.userID = user.ID
		}
		wait, err = blockedFor(ctx, tx, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if wait > 0 {
		s.logAttempt(ctx, a, c, crm.LoginRateLimited)
		return nil, crm.RateLimited(wait)
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
		return nil, s.failLogin(ctx, a, c, crm.LoginUnknownEmail, errWrongCredentials)
	}
	if !ok {
		return nil, s.failLogin(ctx, a, c, crm.LoginWrongPassword, errWrongCredentials)
	}
	var rehash string
	if stale {
		if rehash, err = s.hash(ctx, in.Password); err != nil {
			return nil, err
		}
	}
	if user.TOTPEnabledAt == nil {
		return s.completeLogin(ctx, a, c, rehash, nil)
	}
	if in.TOTPCode == "" {
		return s.issueChallenge(ctx, user, c)
	}
	return s.completeLogin(ctx, a, c, rehash, &secondFactor{code: in.TOTPCode})
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
	errExpired := crm.Errorf(crm.CodeSecondFactorRequired, "this sign-in has expired; enter your password again")
	var ch struct {
		ID     uuid.UUID `db:"id"`
		UserID uuid.UUID `db:"user_id"`
		Email  string    `db:"email"`
	}
	var wait time.Duration
	var a attempt
	claimed := false
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		claimed = false
		err := tx.Get(ctx, &ch, `
			SELECT c.id, c.user_id, u.email FROM login_challenges c JOIN users u ON u.id = c.user_id WHERE c.token_hash = $1`,
			secrets.HashToken(in.Challenge))
		if err != nil {
			return err
		}
		a = attempt{email: ch.Email, ip: c.IP, userID: ch.UserID}
		if wait, err = blockedFor(ctx, tx, a); err != nil || wait > 0 {
			return err
		}
		// Each code checked spends one of the challenge's attempts, taken
		// here atomically and committed before the code is looked at, so
		// concurrent guesses cannot share an attempt.
		res, err := tx.Exec(ctx, `
			UPDATE login_challenges SET attempts = attempts + 1
			WHERE id = $1 AND spent_at IS NULL AND expires_at > $2 AND attempts < $3`, ch.ID, tx.Now, challengeAttempts)
		if err != nil {
			return fmt.Errorf("count challenge attempt: %w", err)
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errExpired
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if wait > 0 {
		s.logAttempt(ctx, a, c, crm.LoginRateLimited)
		return nil, crm.RateLimited(wait)
	}
	if !claimed {
		return nil, errExpired
	}
	return s.completeLogin(ctx, a, c, "", &secondFactor{code: in.TOTPCode, challengeID: ch.ID})
}

// completeLogin is the one transaction that makes a sign-in real: lock the
// user, check the second factor if any, end the previous session with
// NEW_LOGIN and announce it, insert the new session, queue the eviction
// notice, log the success and clear the failure counts.
func (s *IdentityService) completeLogin(ctx context.Context, a attempt, c crm.Client, rehash string, second *secondFactor) (*crm.AuthResult, error) {
	userID, email := a.userID, a.email
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
				count(*) FILTER (WHERE member_active(status, deactivated_until, $2)) AS usable
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
		accountID, err := defaultAccount(ctx, tx, userID)
		if err != nil {
			return err
		}
		// A session already past its limits ends as expired, not evicted.
		if _, err := endSessions(ctx, tx, "s.user_id = $1 AND (s.expires_at <= $2 OR s.last_seen_at <= $3)",
			[]any{userID, tx.Now, tx.Now.Add(-s.db.sessions.Idle)}, crm.EndExpired, nil, uuid.Nil); err != nil {
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
		sessionID := sess.ID
		if len(ended) > 0 {
			ids := make([]uuid.UUID, len(ended))
			for i, e := range ended {
				ids[i] = e.SessionID
			}
			if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_by_session = $2 WHERE id = ANY($1)`, pq.Array(uuidStrings(ids)), sessionID); err != nil {
				return fmt.Errorf("link ended sessions: %w", err)
			}
			// The notice waits in the app for the next sign-in, and goes by
			// email (always: it is a security notice).
			notice := evictionNotice(user, c, tx.Now, s.cfg.PublicURL) // addressed: no look-up
			if accountID != uuid.Nil {
				message := "A new sign-in from " + whereFrom(c) + " ended your previous session"
				err = notifyUsers(ctx, tx, s.cfg.Outbox, s.cfg.PublicURL, crm.NewNotification{Kind: crm.NotifySessionReplaced,
					AccountID: accountID, RecipientID: userID, Message: message, Subject: notice.Subject, Email: &notice})
			} else {
				err = s.cfg.Outbox.Email(ctx, tx.SQL(), notice)
			}
			if err != nil {
				return err
			}
		}
		if err := logLogin(ctx, tx, userID, email, c, crm.LoginSucceeded, sessionID, uuid.Nil); err != nil {
			return err
		}
		if err := recordSuccess(ctx, tx, a); err != nil {
			return err
		}
		result = &crm.AuthResult{Token: token, User: user.user(), Session: sess}
		return nil
	})
	if errors.Is(err, errRollback) && crm.IsCode(codeErr, crm.CodeAccountDeactivated) {
		// The password (and code) were right: not a brute-force failure.
		s.logAttempt(ctx, a, c, crm.LoginDeactivated)
		return nil, codeErr
	}
	if errors.Is(err, errRollback) && codeErr != nil {
		return nil, s.failLogin(ctx, a, c, crm.LoginSecondFactorFailed, codeErr)
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return result, nil
}

// errRollback ends a transaction without it being an error of its own; the
// caller reads why from a variable it set.
var errRollback = errors.New("rollback")

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
		WHERE m.user_id = $1 AND member_active(m.status, m.deactivated_until, $2)
		ORDER BY recent.used DESC NULLS LAST, m.created_at, m.account_id LIMIT 1`, userID, tx.Now)
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
