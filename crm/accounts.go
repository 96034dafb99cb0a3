package crm

import (
	"context"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Actor is who acts, as the request presented itself: the session token
// it carries, the account it asks to act in (X-Account-ID; uuid.Nil for the
// session's current account) and the client. Services verify the token and
// the account inside the transaction that does the work, on every call: a
// session that ended or a membership deactivated a moment earlier gets no
// read or write through. The actor must be an active member there, allowed
// by the account's IP allowlist.
type Actor struct {
	Token     string
	AccountID uuid.UUID
	Client    Client
}

// Operations groups the reads of one GraphQL operation into one
// transaction.
type Operations interface {
	// BeginOperation returns a context whose service calls share one
	// database transaction for their reads (begun at the first, with the
	// request's session verified once), and end, which closes it. a is the
	// operation's actor as the request presented it. inAccount says the
	// operation reads in an account: the membership of the account it asks
	// for is then read with the session, in the same statement. An
	// operation that reads only the user's own (me) has its session
	// verified alone; should it read in an account after all, that account
	// is entered then, with a statement more.
	BeginOperation(ctx context.Context, a Actor, inAccount bool) (context.Context, func())
}

// Account is a tenant: its data is invisible to everyone who is not a
// member of it (or, later, connected to it).
type Account struct {
	ID          uuid.UUID
	Name        string
	CreatedAt   time.Time
	IPAllowlist []netip.Prefix
}

// MembershipStatus is where a member stands in an account.
type MembershipStatus string

// Membership statuses. A removed membership stays, for history.
const (
	MemberActive      MembershipStatus = "ACTIVE"
	MemberDeactivated MembershipStatus = "DEACTIVATED"
	MemberRemoved     MembershipStatus = "REMOVED"
)

// AccessKind says how a user reaches an account.
type AccessKind string

// Access kinds. Connections arrive with the user-connections issue.
const (
	AccessMembership AccessKind = "MEMBERSHIP"
	AccessConnection AccessKind = "CONNECTION"
)

// AccountAccess is one line of the account switcher.
type AccountAccess struct {
	Account Account
	Role    Role
	Kind    AccessKind
	Status  MembershipStatus
	// DeactivatedUntil is when an automatic deactivation (activity limit)
	// ends by itself; nil otherwise.
	DeactivatedUntil *time.Time
	Current          bool
}

// Member is one member of an account as another member sees it.
// HiddenFields lists the fields the viewer's role hides, which responses
// show as null.
type Member struct {
	UserID           uuid.UUID
	Name             string
	Email            string
	Role             Role
	Status           MembershipStatus
	JoinedAt         time.Time
	DeactivatedUntil *time.Time
	LastSeenAt       *time.Time
	HiddenFields     []string
}

// MemberFilter narrows a member list.
type MemberFilter struct {
	// Search matches name, and email unless the viewer's role hides it.
	Search string
	Status MembershipStatus // empty: active and deactivated
	// LastSeen asks for each member's last-seen time (Member.LastSeenAt),
	// which costs a look-up per member; without it the field is nil.
	LastSeen bool
}

// RoleInput creates or replaces a custom role.
type RoleInput struct {
	Name         string
	Permissions  []Permission
	HiddenFields []string
}

// InvitationStatus says where an invitation stands.
type InvitationStatus string

// Invitation statuses.
const (
	InvitationPending  InvitationStatus = "PENDING"
	InvitationAccepted InvitationStatus = "ACCEPTED"
	InvitationRevoked  InvitationStatus = "REVOKED"
	InvitationExpired  InvitationStatus = "EXPIRED"
)

// Invitation asks a person, by email, to join an account with a role.
type Invitation struct {
	ID        uuid.UUID
	Email     string
	Role      Role
	InvitedBy uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
	Status    InvitationStatus
}

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// Limits on what one account holds, so that every list of them is bounded.
const (
	MaxCustomRoles = 100
	// MaxListedInvitations is how many pending invitations an account may
	// have at once (they are listed in one page).
	MaxListedInvitations = 200
)

// NewLogin is what a person without a login gives when accepting an
// invitation: the email comes from the invitation.
type NewLogin struct {
	Name     string
	Password string
}

// Accepted is the outcome of accepting an invitation; Auth is set when it
// created the login (and signed it in).
type Accepted struct {
	Account Account
	Auth    *AuthResult
}

// MemberUpdate edits a member: their role and the name the account knows
// them by. It sends no mail.
type MemberUpdate struct {
	RoleID *uuid.UUID
	Name   *string
}

// LimitPeriod is the window an activity limit counts in (UTC; weeks start
// on Monday).
type LimitPeriod string

// Periods.
const (
	PerDay   LimitPeriod = "DAY"
	PerWeek  LimitPeriod = "WEEK"
	PerMonth LimitPeriod = "MONTH"
)

// Start and End bound the period containing t.
func (p LimitPeriod) Start(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case PerWeek:
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case PerMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return day
}

// End is when the period containing t ends (the next one starts).
func (p LimitPeriod) End(t time.Time) time.Time {
	start := p.Start(t)
	switch p {
	case PerWeek:
		return start.AddDate(0, 0, 7)
	case PerMonth:
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}

// Valid reports a known period.
func (p LimitPeriod) Valid() bool { return p == PerDay || p == PerWeek || p == PerMonth }

// ActivityLimit caps how often each member may do one action: the action
// that reaches the limit succeeds, then the membership is deactivated until
// the next period (or an admin reactivates it) and the admins are told.
// Owners are exempt: an account always keeps someone in charge.
type ActivityLimit struct {
	Entity Entity
	Action Action
	Limit  int
	Period LimitPeriod
}

// MaxActivityLimit bounds a limit.
const MaxActivityLimit = 1_000_000

// Change is one changed field in the activity log.
type Change struct {
	From any `json:"from,omitempty"`
	To   any `json:"to,omitempty"`
}

// ActivityEntry is one line of an account's activity log: who did what, as
// which role, when, to what, with the changed fields.
type ActivityEntry struct {
	ID         uuid.UUID
	At         time.Time
	ActorID    uuid.UUID
	ActorName  string
	ActorRole  string
	Action     string
	EntityType Entity
	EntityID   uuid.UUID
	Changes    map[string]Change
	// Cursor resumes the activity subscription after this entry.
	Cursor string
	// ChangesJSON, when set, is Changes as this entry's viewer may see
	// them, already encoded: a live feed shapes each entry for its
	// subscriber once, and shares the encoding when nothing is hidden.
	ChangesJSON string
}

// ActivityFilter narrows the activity log.
type ActivityFilter struct {
	ActorID    uuid.UUID
	Action     string
	EntityType Entity
	Since      *time.Time
	Until      *time.Time
}

// maxActionFilter bounds the action filter of the activity log.
const maxActionFilter = 100

// Check validates the filter.
func (f ActivityFilter) Check() error {
	if len(f.Action) > maxActionFilter {
		return InvalidInput("action", "at most %d characters", maxActionFilter)
	}
	if f.Since != nil && f.Until != nil && f.Until.Before(*f.Since) {
		return InvalidInput("until", "must not be before since")
	}
	return nil
}

// Notification is a message to one user, from one of their accounts.
type Notification struct {
	ID          uuid.UUID
	At          time.Time
	Kind        string
	Message     string
	AccountID   uuid.UUID
	AccountName string
	// ActorID is who caused it (uuid.Nil: the system), ActorName their name.
	ActorID   uuid.UUID
	ActorName string
	// SubjectType and SubjectID are the record or member concerned, if any.
	SubjectType Entity
	SubjectID   uuid.UUID
	ReadAt      *time.Time
	// Cursor resumes the notifications subscription after this one.
	Cursor string
}

// MembershipChange is the event announcing a change to someone's
// membership, committed with the change.
type MembershipChange struct {
	AccountID uuid.UUID        `json:"accountId"`
	UserID    uuid.UUID        `json:"userId"`
	Status    MembershipStatus `json:"status"`
	RoleID    uuid.UUID        `json:"roleId"`
	At        time.Time        `json:"at"`
	// Until is when an automatic deactivation ends by itself.
	Until *time.Time `json:"until,omitempty"`
	// Reason, when set, is the code streams that lose access end with
	// (IP_NOT_ALLOWED when only the address is refused); IP limits the
	// change to the streams from that address.
	Reason Code       `json:"reason,omitempty"`
	IP     netip.Addr `json:"ip,omitzero"`
}

// AllowedFrom reports whether an IP allowlist admits ip; an empty list
// admits everyone.
func AllowedFrom(list []netip.Prefix, ip netip.Addr) bool {
	if len(list) == 0 {
		return true
	}
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Every service below verifies the actor's scope first: an account where
// the actor is neither a member nor connected answers NOT_FOUND exactly as
// a missing one does; a deactivated membership answers ACCOUNT_DEACTIVATED;
// an address outside the allowlist answers IP_NOT_ALLOWED (and is logged);
// a token that is not a live session answers UNAUTHENTICATED,
// SESSION_EVICTED or SESSION_EXPIRED. Anything in another account answers
// NOT_FOUND.

// AllowlistChange is the event announcing an account's new IP allowlist,
// committed with it: streams from addresses it now excludes end.
type AllowlistChange struct {
	AccountID uuid.UUID      `json:"accountId"`
	Allowlist []netip.Prefix `json:"allowlist"`
	At        time.Time      `json:"at"`
}

// StreamScope is what a live stream (a WebSocket or SSE connection) acts
// as: a user, in an account, from an address.
type StreamScope struct {
	UserID    uuid.UUID
	AccountID uuid.UUID
	IP        netip.Addr
}

// AccessLoss says a stream may no longer act in its account, and why:
// Code is ACCOUNT_DEACTIVATED (Status DEACTIVATED, Until when a pause
// ends), NOT_FOUND (removed) or IP_NOT_ALLOWED (the allowlist now excludes
// its address).
type AccessLoss struct {
	Scope  StreamScope
	Status MembershipStatus
	Code   Code
	Until  *time.Time
}

// AccessChecker re-checks live streams' access, for the gateway, which
// otherwise learns of changes from events and could miss some while its
// bus reconnects.
type AccessChecker interface {
	// CheckAccess returns the scopes that have lost access, in one read
	// however many there are.
	CheckAccess(ctx context.Context, scopes []StreamScope) ([]AccessLoss, error)
}

// AccountService manages accounts themselves: the switcher, creating,
// entering, switching and renaming.
type AccountService interface {
	// Accounts lists the accounts the actor's user can reach, for the
	// switcher (the actor's account is not used).
	Accounts(ctx context.Context, a Actor) ([]AccountAccess, error)
	// CreateAccount makes an account owned by the actor's user. Errors:
	// BAD_USER_INPUT.
	CreateAccount(ctx context.Context, a Actor, name string) (*Account, error)
	// SwitchAccount makes the actor's account the session's current one.
	// Errors: NOT_FOUND, ACCOUNT_DEACTIVATED, IP_NOT_ALLOWED.
	SwitchAccount(ctx context.Context, a Actor) (*Session, error)
	// Enter verifies the actor's scope and returns the account and the
	// actor's grant in it.
	Enter(ctx context.Context, a Actor) (*Account, Grant, error)
	// RenameAccount changes the account's name. Errors: FORBIDDEN,
	// BAD_USER_INPUT.
	RenameAccount(ctx context.Context, a Actor, name string) (*Account, error)
}

// MemberService manages an account's members.
type MemberService interface {
	// Members lists members (members VIEW). Errors: FORBIDDEN,
	// BAD_USER_INPUT.
	Members(ctx context.Context, a Actor, f MemberFilter, page PageArgs) (*MemberPage, error)
	// Member returns one member. Errors: NOT_FOUND, FORBIDDEN.
	Member(ctx context.Context, a Actor, userID uuid.UUID) (*Member, error)
	// LoadMembers returns the members with userIDs the actor may see (their
	// removed ones too: a record's owner or author may have left), in the
	// order of userIDs, nil for the others. Errors: FORBIDDEN.
	LoadMembers(ctx context.Context, a Actor, userIDs []uuid.UUID) ([]*Member, error)
	// UpdateMember changes a member's role or name (members EDIT). The
	// policy is crm.Grant.MayActOn and MayGrant. Errors: NOT_FOUND,
	// FORBIDDEN, BAD_USER_INPUT, CONFLICT (the last owner).
	UpdateMember(ctx context.Context, a Actor, userID uuid.UUID, u MemberUpdate) (*Member, error)
	// DeactivateMember ends a member's access to this account until
	// reactivated; their sessions elsewhere go on. Errors as UpdateMember.
	DeactivateMember(ctx context.Context, a Actor, userID uuid.UUID) (*Member, error)
	// ReactivateMember restores access. Errors as UpdateMember.
	ReactivateMember(ctx context.Context, a Actor, userID uuid.UUID) (*Member, error)
	// RemoveMember removes a member, giving every record they own in this
	// account to transferTo (an active member) in one transaction (members
	// DELETE). History keeps the original actor. Errors: NOT_FOUND,
	// FORBIDDEN, BAD_USER_INPUT (transferTo), CONFLICT (the last owner).
	RemoveMember(ctx context.Context, a Actor, userID, transferTo uuid.UUID) error
}

// RoleService manages an account's custom roles.
type RoleService interface {
	// Roles lists built-in and custom roles (settings VIEW).
	Roles(ctx context.Context, a Actor) ([]Role, error)
	// Role returns one role (anyone may read their own). Errors:
	// NOT_FOUND, FORBIDDEN.
	Role(ctx context.Context, a Actor, id uuid.UUID) (*Role, error)
	// CreateRole adds a custom role (settings EDIT); it may not exceed the
	// creator's own (crm.Grant.MayGrant). Errors: FORBIDDEN,
	// BAD_USER_INPUT, CONFLICT (name, or too many roles).
	CreateRole(ctx context.Context, a Actor, in RoleInput) (*Role, error)
	// UpdateRole replaces a custom role (crm.Grant.MayReshape). Errors:
	// NOT_FOUND, FORBIDDEN, BAD_USER_INPUT, CONFLICT.
	UpdateRole(ctx context.Context, a Actor, id uuid.UUID, in RoleInput) (*Role, error)
	// DeleteRole deletes an unused custom role. Errors: NOT_FOUND,
	// FORBIDDEN, CONFLICT (in use).
	DeleteRole(ctx context.Context, a Actor, id uuid.UUID) error
}

// InvitationService invites people into an account.
type InvitationService interface {
	// InviteMember mails a single-use invitation (members CREATE). Errors:
	// FORBIDDEN, BAD_USER_INPUT, CONFLICT (already a member, already
	// invited, too many pending).
	InviteMember(ctx context.Context, a Actor, email string, roleID uuid.UUID) (*Invitation, error)
	// ResendInvitation mails a fresh link for a pending invitation (the old
	// link stops working). Errors: NOT_FOUND, FORBIDDEN, CONFLICT.
	ResendInvitation(ctx context.Context, a Actor, id uuid.UUID) (*Invitation, error)
	// RevokeInvitation cancels a pending invitation. Errors: NOT_FOUND,
	// FORBIDDEN, CONFLICT.
	RevokeInvitation(ctx context.Context, a Actor, id uuid.UUID) error
	// Invitations lists pending invitations (members VIEW).
	Invitations(ctx context.Context, a Actor) ([]Invitation, error)
	// AcceptInvitation joins the invited account: as the signed-in user of
	// a (whose email must be the invited one), or, when a carries no token
	// and no login exists for the email, by creating one from n. Errors:
	// BAD_USER_INPUT (bad, used, revoked or expired token), FORBIDDEN
	// (signed in as someone else), UNAUTHENTICATED (a login exists: sign
	// in first), CONFLICT (a login for the email appeared meanwhile).
	AcceptInvitation(ctx context.Context, token string, a Actor, n NewLogin) (*Accepted, error)
}

// ProtectionService keeps an account's protections: the IP allowlist and
// activity limits.
type ProtectionService interface {
	// SetIPAllowlist replaces the account's allowlist (settings EDIT). It
	// refuses a list that would exclude the caller, and needs a sign-in
	// within the last 15 minutes. Errors: FORBIDDEN, BAD_USER_INPUT.
	SetIPAllowlist(ctx context.Context, a Actor, cidrs []string) (*Account, error)
	// ActivityLimits lists the account's limits (settings VIEW).
	ActivityLimits(ctx context.Context, a Actor) ([]ActivityLimit, error)
	// SetActivityLimit adds or replaces the limit of one action (settings
	// EDIT). Errors: FORBIDDEN, BAD_USER_INPUT.
	SetActivityLimit(ctx context.Context, a Actor, l ActivityLimit) (*ActivityLimit, error)
	// RemoveActivityLimit removes it. Errors: FORBIDDEN, NOT_FOUND.
	RemoveActivityLimit(ctx context.Context, a Actor, e Entity, act Action) error
}

// AuditService reads what happened in an account.
type AuditService interface {
	// LoginEvents is the login log of the account's members, including IP
	// allowlist refusals (settings VIEW).
	LoginEvents(ctx context.Context, a Actor, page PageArgs) (*LoginEventPage, error)
	// Activity is the account's activity log (settings VIEW).
	Activity(ctx context.Context, a Actor, f ActivityFilter, page PageArgs) (*ActivityPage, error)
	// Notifications lists the actor's notifications in the account.
	Notifications(ctx context.Context, a Actor, page PageArgs) (*NotificationPage, error)
}
