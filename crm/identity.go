package crm

import (
	"context"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Client is who is calling, as the gateway saw it: the address (after
// trusted proxies) and the User-Agent.
type Client struct {
	IP        netip.Addr
	UserAgent string
}

// Device is the readable form of the client's User-Agent.
func (c Client) Device() string { return DescribeDevice(c.UserAgent) }

// User is one login: one person, one email.
type User struct {
	ID          uuid.UUID
	Email       string
	Name        string
	TOTPEnabled bool
	CreatedAt   time.Time
}

// Session is a signed-in browser or client. A user has at most one active
// session: a new sign-in ends the previous one.
type Session struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the absolute end; IdleExpiresAt moves with activity.
	ExpiresAt     time.Time
	IdleExpiresAt time.Time
	IP            netip.Addr
	UserAgent     string
	Device        string
	// AccountID is the session's current account (switchAccount), or
	// uuid.Nil before one is chosen.
	AccountID uuid.UUID
}

// Principal is an authenticated caller: the user and the session their
// token belongs to, re-validated against the database on every request.
type Principal struct {
	User    User
	Session Session
}

// SignUpInput creates a login and its first account.
type SignUpInput struct {
	Email       string
	Password    string
	Name        string
	AccountName string
}

// LoginInput signs in with email and password, adding TOTPCode (or a
// recovery code) when 2-step verification is on. The second step may send
// Challenge (from the first answer) and TOTPCode instead of the password.
type LoginInput struct {
	Email     string
	Password  string
	TOTPCode  string
	Challenge string
}

// AuthResult is the answer to a sign-in. Either Token, User and Session are
// set, or SecondFactorRequired with a Challenge.
type AuthResult struct {
	Token                string
	SecondFactorRequired bool
	Challenge            string
	ChallengeExpiresAt   time.Time
	User                 *User
	Session              *Session
}

// SessionEndReason says why a session ended.
type SessionEndReason string

// Reasons a session ends.
const (
	EndNewLogin        SessionEndReason = "NEW_LOGIN"
	EndLogout          SessionEndReason = "LOGOUT"
	EndExpired         SessionEndReason = "EXPIRED"
	EndPasswordChanged SessionEndReason = "PASSWORD_CHANGED"
	EndPasswordReset   SessionEndReason = "PASSWORD_RESET"
)

// Code is what a later use of the ended session's token answers.
func (r SessionEndReason) Code() Code {
	switch r {
	case EndLogout:
		return CodeUnauthenticated
	case EndExpired:
		return CodeSessionExpired
	default:
		return CodeSessionEvicted
	}
}

// SessionEnd is the event announcing that a session ended, committed with
// the change that ended it. By* describe the sign-in that caused it, if any.
type SessionEnd struct {
	SessionID uuid.UUID        `json:"sessionId"`
	UserID    uuid.UUID        `json:"userId"`
	Reason    SessionEndReason `json:"reason"`
	At        time.Time        `json:"at"`
	ByIP      string           `json:"byIp,omitempty"`
	ByDevice  string           `json:"byDevice,omitempty"`
}

// LoginOutcome is how a sign-in attempt ended, for the login log.
type LoginOutcome string

// Login outcomes.
const (
	LoginSucceeded            LoginOutcome = "SUCCESS"
	LoginWrongPassword        LoginOutcome = "WRONG_PASSWORD"
	LoginUnknownEmail         LoginOutcome = "UNKNOWN_EMAIL"
	LoginSecondFactorRequired LoginOutcome = "SECOND_FACTOR_REQUIRED"
	LoginSecondFactorFailed   LoginOutcome = "SECOND_FACTOR_FAILED"
	LoginRateLimited          LoginOutcome = "RATE_LIMITED"
	LoginDeactivated          LoginOutcome = "DEACTIVATED"
	LoginIPNotAllowed         LoginOutcome = "IP_NOT_ALLOWED"
)

// LoginEvent is one row of the login log.
type LoginEvent struct {
	ID        uuid.UUID
	At        time.Time
	UserID    uuid.UUID // uuid.Nil for an unknown email
	Email     string
	IP        netip.Addr
	UserAgent string
	Device    string
	Outcome   LoginOutcome
	SessionID uuid.UUID // the session created or involved, if any
	AccountID uuid.UUID // the account concerned (IP allowlist refusals)
}

// PageArgs asks for one page of a list, newest first.
type PageArgs struct {
	First int
	After string
}

// Page limits.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Check validates the page size; first of 0 means the default.
func (p PageArgs) Check() (PageArgs, error) {
	switch {
	case p.First == 0:
		p.First = DefaultPageSize
	case p.First < 0 || p.First > MaxPageSize:
		return p, InvalidInput("first", "must be from 1 to %d", MaxPageSize)
	}
	if len(p.After) > 200 {
		return p, InvalidInput("after", "is not a cursor from this list")
	}
	return p, nil
}

// TOTPSetup is a pending authenticator secret, shown once.
type TOTPSetup struct {
	Secret string
	URI    string
}

// IdentityService signs people up and in, keeps their one session, their
// second factor and their login log.
type IdentityService interface {
	// SignUp creates a login, its first account (the user owns it) and a
	// session. Errors: BAD_USER_INPUT, CONFLICT (email taken),
	// RATE_LIMITED.
	SignUp(ctx context.Context, in SignUpInput, c Client) (*AuthResult, error)

	// Login signs in. On success every other session of the user ends with
	// NEW_LOGIN, in the same transaction. With 2-step verification on and
	// no valid code it answers SecondFactorRequired and changes no session.
	// Errors: BAD_USER_INPUT, UNAUTHENTICATED (wrong email or password, the
	// same for both), SECOND_FACTOR_REQUIRED (wrong code or spent
	// challenge), RATE_LIMITED.
	Login(ctx context.Context, in LoginInput, c Client) (*AuthResult, error)

	// Authenticate checks a session token against the database and records
	// activity. Errors: UNAUTHENTICATED (unknown or logged out),
	// SESSION_EVICTED, SESSION_EXPIRED.
	Authenticate(ctx context.Context, token string) (*Principal, error)

	// Logout ends the caller's session.
	Logout(ctx context.Context, p *Principal, c Client) error

	// EnableTOTP creates a pending authenticator secret. Errors: CONFLICT
	// (already on).
	EnableTOTP(ctx context.Context, p *Principal) (*TOTPSetup, error)

	// ConfirmTOTP turns 2-step verification on with a code from the
	// pending secret and returns ten single-use recovery codes, shown once.
	// Errors: BAD_USER_INPUT (wrong code, no pending secret).
	ConfirmTOTP(ctx context.Context, p *Principal, code string) ([]string, error)

	// DisableTOTP turns 2-step verification off. Errors: UNAUTHENTICATED
	// (wrong password), BAD_USER_INPUT (wrong code), RATE_LIMITED.
	DisableTOTP(ctx context.Context, p *Principal, password, code string, c Client) error

	// ChangePassword replaces the password and rotates the session's token.
	// Errors: UNAUTHENTICATED (wrong current password), BAD_USER_INPUT,
	// RATE_LIMITED.
	ChangePassword(ctx context.Context, p *Principal, current, next string, c Client) (*AuthResult, error)

	// RequestPasswordReset mails a single-use reset link when the email
	// belongs to a login. It answers the same either way. Errors:
	// BAD_USER_INPUT, RATE_LIMITED.
	RequestPasswordReset(ctx context.Context, email string, c Client) error

	// ResetPassword sets a new password with a reset token and ends the
	// user's session. Errors: BAD_USER_INPUT (bad, used or expired token;
	// unacceptable password).
	ResetPassword(ctx context.Context, token, password string, c Client) error

	// LoginEvents lists the caller's own login log, newest first.
	LoginEvents(ctx context.Context, p *Principal, page PageArgs) (*LoginEventPage, error)

	// CheckSessions re-reads the given sessions: it returns the ones that
	// have ended (ending those found expired) and records activity on the
	// rest, whose open subscriptions count as use.
	CheckSessions(ctx context.Context, ids []uuid.UUID) ([]SessionEnd, error)
}
