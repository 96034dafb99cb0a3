package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/secrets"
)

// holdSession checks, inside a transaction that changes a user's own
// security settings, that the session asking is still active, and
// share-locks it until the change commits: a sign-out or eviction
// committed meanwhile waits, and one committed first refuses the change.
func holdSession(ctx context.Context, tx *Tx, p *crm.Principal) error {
	var row sessionRow
	err := tx.Get(ctx, &row, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id = $1 FOR SHARE`, p.Session.ID)
	if err != nil {
		return fmt.Errorf("hold session: %w", err)
	}
	if row.RevokedAt != nil {
		return sessionEndedError(row.end())
	}
	return nil
}

// EnableTOTP implements crm.IdentityService.
func (s *IdentityService) EnableTOTP(ctx context.Context, p *crm.Principal) (*crm.TOTPSetup, error) {
	var setup *crm.TOTPSetup
	err := s.db.inTx(ctx, Scope{UserID: p.User.ID}, func(ctx context.Context, tx *Tx) error {
		if err := holdSession(ctx, tx, p); err != nil {
			return err
		}
		user, err := lockUser(ctx, tx, p.User.ID)
		if err != nil {
			return err
		}
		if user.TOTPEnabledAt != nil {
			return crm.Errorf(crm.CodeConflict, "2-step verification is already on")
		}
		key, err := secrets.NewTOTPKey(totpIssuer, user.Email)
		if err != nil {
			return err
		}
		sealed, keyID := s.cfg.Box.Seal([]byte(key.Secret), totpAD(user.ID))
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_pending = $2, totp_pending_key_id = $3 WHERE id = $1`, user.ID, sealed, keyID); err != nil {
			return fmt.Errorf("store pending totp: %w", err)
		}
		setup = &crm.TOTPSetup{Secret: key.Secret, URI: key.URI}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return setup, nil
}

// ConfirmTOTP implements crm.IdentityService.
func (s *IdentityService) ConfirmTOTP(ctx context.Context, p *crm.Principal, code string) ([]string, error) {
	if len(code) > maxCodeLen {
		return nil, crm.InvalidInput("code", "is not a verification code")
	}
	var codes []string
	err := s.db.inTx(ctx, Scope{UserID: p.User.ID}, func(ctx context.Context, tx *Tx) error {
		if err := holdSession(ctx, tx, p); err != nil {
			return err
		}
		user, err := lockUser(ctx, tx, p.User.ID)
		if err != nil {
			return err
		}
		if user.TOTPEnabledAt != nil {
			return crm.Errorf(crm.CodeConflict, "2-step verification is already on")
		}
		if user.TOTPPending == nil {
			return crm.InvalidInput("code", "start with enableTotp")
		}
		secret, err := s.openSecret(user.TOTPPending, user.TOTPPendingKeyID, user.ID)
		if err != nil {
			return err
		}
		step, ok := secrets.MatchTOTP(secret, code, tx.Now)
		if !ok {
			return crm.InvalidInput("code", "the code does not match; check the time on your device and try the current code")
		}
		// The confirming step counts as used, so the same code cannot
		// also sign in.
		if _, err := tx.Exec(ctx, `
			UPDATE users SET totp_secret = totp_pending, totp_key_id = totp_pending_key_id, totp_enabled_at = $2,
				totp_pending = NULL, totp_pending_key_id = NULL, totp_last_step = $3
			WHERE id = $1`, user.ID, tx.Now, step); err != nil {
			return fmt.Errorf("enable totp: %w", err)
		}
		codes, err = replaceRecoveryCodes(ctx, tx, user.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// replaceRecoveryCodes issues a fresh set of single-use codes, storing only
// their hashes.
func replaceRecoveryCodes(ctx context.Context, tx *Tx, userID uuid.UUID) ([]string, error) {
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return nil, fmt.Errorf("clear recovery codes: %w", err)
	}
	codes := make([]string, recoveryCodeCount)
	for i := range codes {
		codes[i] = secrets.NewRecoveryCode()
		if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`,
			userID, secrets.HashToken(codes[i]), tx.Now); err != nil {
			return nil, fmt.Errorf("store recovery code: %w", err)
		}
	}
	return codes, nil
}

// checkPassword verifies the caller's password for a sensitive change,
// under the same brute-force counts as sign-in.
func (s *IdentityService) checkPassword(ctx context.Context, p *crm.Principal, password string, c crm.Client) (stale bool, err error) {
	if password == "" || len(password) > 4*crm.MaxPasswordLen {
		return false, crm.Errorf(crm.CodeUnauthenticated, "the password is wrong")
	}
	a := attempt{email: p.User.Email, ip: c.IP, userID: p.User.ID}
	var hash string
	var wait time.Duration
	err = s.db.inTx(ctx, Scope{UserID: p.User.ID}, func(ctx context.Context, tx *Tx) error {
		if wait, err = blockedFor(ctx, tx, a); err != nil {
			return err
		}
		return tx.Get(ctx, &hash, `SELECT password_hash FROM users WHERE id = $1`, p.User.ID)
	})
	if err != nil {
		return false, err
	}
	if wait > 0 {
		return false, crm.RateLimited(wait)
	}
	ok, stale, err := s.verify(ctx, password, hash)
	if err != nil {
		return false, err
	}
	if !ok {
		if err := s.db.inTx(ctx, Scope{UserID: p.User.ID}, func(ctx context.Context, tx *Tx) error {
			return recordFailure(ctx, tx, a)
		}); err != nil {
			return false, err
		}
		return false, crm.Errorf(crm.CodeUnauthenticated, "the password is wrong")
	}
	return stale, nil
}

// DisableTOTP implements crm.IdentityService.
func (s *IdentityService) DisableTOTP(ctx context.Context, p *crm.Principal, password, code string, c crm.Client) error {
	if len(code) > maxCodeLen {
		return crm.InvalidInput("code", "is not a verification code")
	}
	if _, err := s.checkPassword(ctx, p, password, c); err != nil {
		return err
	}
	return s.db.inTx(ctx, Scope{UserID: p.User.ID}, func(ctx context.Context, tx *Tx) error {
		if err := holdSession(ctx, tx, p); err != nil {
			return err
		}
		user, err := lockUser(ctx, tx, p.User.ID)
		if err != nil {
			return err
		}
		if user.TOTPEnabledAt == nil {
			return crm.Errorf(crm.CodeConflict, "2-step verification is already off")
		}
		ok, err := s.checkSecondFactor(ctx, tx, user, code)
		if err != nil {
			return err
		}
		if !ok {
			return crm.InvalidInput("code", "the code is wrong or was already used")
		}
		if _, err := tx.Exec(ctx, `
			UPDATE users SET totp_secret = NULL, totp_key_id = NULL, totp_enabled_at = NULL, totp_pending = NULL,
				totp_pending_key_id = NULL, totp_last_step = NULL
			WHERE id = $1`, user.ID); err != nil {
			return fmt.Errorf("disable totp: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, user.ID); err != nil {
			return fmt.Errorf("clear recovery codes: %w", err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM login_challenges WHERE user_id = $1`, user.ID)
		return err
	})
}

// ChangePassword implements crm.IdentityService.
func (s *IdentityService) ChangePassword(ctx context.Context, p *crm.Principal, current, next string, c crm.Client) (*crm.AuthResult, error) {
	if err := s.cfg.Policy.Check("newPassword", next); err != nil {
		return nil, err
	}
	if current == next {
		return nil, crm.InvalidInput("newPassword", "choose a password different from the current one")
	}
	if _, err := s.checkPassword(ctx, p, current, c); err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return nil, err
	}
	token := secrets.NewToken(secrets.PrefixSession)
	var result *crm.AuthResult
	err = s.db.inTx(ctx, Scope{UserID: p.User.ID}, func(ctx context.Context, tx *Tx) error {
		user, err := lockUser(ctx, tx, p.User.ID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1`, user.ID, hash, tx.Now); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		// The session carries on with a new token: a copy of the old one,
		// wherever it went, stops working.
		var row sessionRow
		err = tx.Get(ctx, &row, `UPDATE sessions s SET token_hash = $2, last_seen_at = $3 WHERE s.id = $1 AND s.revoked_at IS NULL RETURNING `+sessionColumns,
			p.Session.ID, secrets.HashToken(token), tx.Now)
		if err != nil {
			return crm.Errorf(crm.CodeSessionEvicted, "your session ended while the password changed; sign in again")
		}
		if err := invalidateResets(ctx, tx, user.ID); err != nil {
			return err
		}
		if err := s.cfg.Outbox.Email(ctx, tx.SQL(), passwordChangedNotice(user, c, tx.Now, s.cfg.PublicURL)); err != nil {
			return err
		}
		sess := s.db.sessions.session(&row)
		result = &crm.AuthResult{Token: token, User: user.user(), Session: &sess}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

func invalidateResets(ctx context.Context, tx *Tx, userID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, userID, tx.Now); err != nil {
		return fmt.Errorf("invalidate reset tokens: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM login_challenges WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("invalidate challenges: %w", err)
	}
	return nil
}

func passwordChangedNotice(u *userRow, by crm.Client, at time.Time, publicURL string) crm.Email {
	where := whereFrom(by)
	return crm.Email{
		To:      u.Email,
		Subject: "Your Switchboard password was changed",
		Text: fmt.Sprintf(`Hello %s,

The password of your Switchboard account was changed from %s on %s UTC.

If this was you, there is nothing to do.

If it was not you, reset your password now: %s/reset-password
`, u.Name, where, at.Format("Mon 2 Jan 2006 15:04"), publicURL),
	}
}

// RequestPasswordReset implements crm.IdentityService.
func (s *IdentityService) RequestPasswordReset(ctx context.Context, rawEmail string, c crm.Client) error {
	email, err := crm.NormalizeEmail("email", rawEmail)
	if err != nil {
		return err
	}
	token := secrets.NewToken(secrets.PrefixReset)
	return s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		// Counted per address whether or not it has a login, so the answer
		// says nothing about which emails exist.
		if err := countRequest(ctx, tx, "reset:"+email, resetRequestsPerHr, time.Hour); err != nil {
			return err
		}
		user, err := getUserByEmail(ctx, tx, email)
		if err != nil || user == nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			secrets.HashToken(token), user.ID, tx.Now, tx.Now.Add(resetTTL)); err != nil {
			return fmt.Errorf("store reset token: %w", err)
		}
		return s.cfg.Outbox.Email(ctx, tx.SQL(), crm.Email{
			To:      user.Email,
			Subject: "Reset your Switchboard password",
			Text: fmt.Sprintf(`Hello %s,

Someone (we hope you) asked to reset the password of your Switchboard account from %s.
To choose a new password, open this link within the hour:

%s/reset-password?token=%s

The link works once. If you did not ask for it, ignore this message: your password stays as it is.
`, user.Name, c.Device(), s.cfg.PublicURL, token),
		})
	})
}

// ResetPassword implements crm.IdentityService.
func (s *IdentityService) ResetPassword(ctx context.Context, token, password string, c crm.Client) error {
	if !secrets.WellFormed(token, secrets.PrefixReset) {
		return crm.InvalidInput("token", "this reset link is not valid; ask for a new one")
	}
	if err := s.cfg.Policy.Check("newPassword", password); err != nil {
		return err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	errBadToken := crm.InvalidInput("token", "this reset link has expired or was already used; ask for a new one")
	return s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		var userID uuid.UUID
		err := tx.Get(ctx, &userID, `
			UPDATE password_resets SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
			RETURNING user_id`, secrets.HashToken(token), tx.Now)
		if err != nil {
			if isNoRows(err) {
				return errBadToken
			}
			return fmt.Errorf("spend reset token: %w", err)
		}
		user, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1`, userID, hash, tx.Now); err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		if err := invalidateResets(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := endSessions(ctx, tx, "s.user_id = $1", []any{userID}, crm.EndPasswordReset, &c, uuid.Nil); err != nil {
			return err
		}
		// The reset proves control of the mailbox: clear the failure count
		// so the owner can sign in at once.
		if err := forgiveEmail(ctx, tx, user.Email); err != nil {
			return err
		}
		return s.cfg.Outbox.Email(ctx, tx.SQL(), passwordChangedNotice(user, c, tx.Now, s.cfg.PublicURL))
	})
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// replacePassword sets a login's password from the command line,
// ending its session like a reset does.
func (s *IdentityService) replacePassword(ctx context.Context, tx *Tx, user *userRow, hash string) error {
	if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1`, user.ID, hash, tx.Now); err != nil {
		return err
	}
	if _, err := endSessions(ctx, tx, "s.user_id = $1", []any{user.ID}, crm.EndPasswordReset, nil, uuid.Nil); err != nil {
		return err
	}
	return forgiveEmail(ctx, tx, user.Email)
}
