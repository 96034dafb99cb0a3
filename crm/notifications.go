package crm

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// NotificationKind names what a notification is about.
type NotificationKind string

// The kinds of notification.
const (
	NotifyMentioned          NotificationKind = "MENTIONED"
	NotifyTaskAssigned       NotificationKind = "TASK_ASSIGNED"
	NotifyRecordsTransferred NotificationKind = "RECORDS_TRANSFERRED"
	NotifyInvited            NotificationKind = "INVITED"
	NotifyRoleChanged        NotificationKind = "ROLE_CHANGED"
	NotifyAccessDeactivated  NotificationKind = "ACCESS_DEACTIVATED"
	NotifyAccessRestored     NotificationKind = "ACCESS_RESTORED"
	NotifyActivityLimit      NotificationKind = "ACTIVITY_LIMIT_REACHED"
	NotifySessionReplaced    NotificationKind = "SESSION_REPLACED"
)

// KindRule is how a kind of notification goes by email.
type KindRule struct {
	// Email is the default: whether it also goes by email until the user
	// chooses.
	Email bool
	// Locked kinds always go by email (a security notice).
	Locked bool
}

// NotificationKinds are every kind, with its email rule.
var NotificationKinds = map[NotificationKind]KindRule{
	NotifyMentioned:          {Email: true},
	NotifyTaskAssigned:       {Email: true},
	NotifyRecordsTransferred: {Email: false},
	NotifyInvited:            {Email: false}, // the invitation itself is mailed
	NotifyRoleChanged:        {Email: false},
	NotifyAccessDeactivated:  {Email: true},
	NotifyAccessRestored:     {Email: false},
	NotifyActivityLimit:      {Email: true},
	NotifySessionReplaced:    {Email: true, Locked: true},
}

// NewNotification is a notification to write: to one user, in one
// account, about a subject, by an actor (uuid.Nil: the system).
type NewNotification struct {
	Kind        NotificationKind
	AccountID   uuid.UUID
	RecipientID uuid.UUID
	ActorID     uuid.UUID
	SubjectType Entity
	SubjectID   uuid.UUID
	// Message is the text shown; Subject the email's subject line.
	Message, Subject string
	// Email, when set, is the email sent for it instead of one made from
	// Message (its To and Message-ID are filled in).
	Email *Email
}

// NotificationPreference is whether a kind also goes by email.
type NotificationPreference struct {
	Kind   NotificationKind
	Email  bool
	Locked bool
}

// NotificationFilter narrows the viewer's notifications.
type NotificationFilter struct {
	UnreadOnly bool
}

// MaxMarkRead bounds the ids one markNotificationsRead names.
const MaxMarkRead = 1000

// NotificationService is the viewer's notifications, in every account.
type NotificationService interface {
	// Notifications lists the actor's notifications in every account, newest first.
	Notifications(ctx context.Context, a Actor, f NotificationFilter, page PageArgs) (*NotificationPage, error)
	// UnreadNotifications counts the unread ones.
	UnreadNotifications(ctx context.Context, a Actor) (int, error)
	// MarkNotificationsRead marks the given ones (or all) read and says how
	// many changed. Errors: BAD_USER_INPUT.
	MarkNotificationsRead(ctx context.Context, a Actor, ids []uuid.UUID, all bool) (int, error)
	// NotificationPreferences lists every kind with its email choice.
	NotificationPreferences(ctx context.Context, a Actor) ([]NotificationPreference, error)
	// SetNotificationPreference chooses whether a kind also goes by email.
	// Errors: BAD_USER_INPUT (a kind that always goes by email).
	SetNotificationPreference(ctx context.Context, a Actor, kind NotificationKind, email bool) (*NotificationPreference, error)
}

// StreamKind names a resumable stream: an account's activity or a user's
// notifications.
type StreamKind byte

// The streams.
const (
	StreamActivity      StreamKind = 'a'
	StreamNotifications StreamKind = 'n'
)

// StreamCursor is a position in one stream: the opaque cursor of an event.
type StreamCursor struct {
	Kind StreamKind
	ID   uuid.UUID // the account or the user
	Pos  int64
}

// String encodes the cursor.
func (c StreamCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(c.Kind) + ":" + c.ID.String() + ":" + strconv.FormatInt(c.Pos, 10)))
}

// ParseStreamCursor reads a cursor of stream kind k of id; a cursor of
// another stream, or no cursor at all, is the field's bad input.
func ParseStreamCursor(field, s string, k StreamKind, id uuid.UUID) (int64, error) {
	bad := InvalidInput(field, "not a cursor of this stream")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 200 {
		return 0, bad
	}
	parts := strings.SplitN(string(raw), ":", 3)
	if len(parts) != 3 || parts[0] != string(k) || parts[1] != id.String() {
		return 0, bad
	}
	pos, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || pos < 0 {
		return 0, bad
	}
	return pos, nil
}

// CursorExpired is the error of a cursor that can no longer be replayed.
func CursorExpired() error {
	return Errorf(CodeCursorExpired, "this cursor can no longer be resumed: load the latest, then subscribe without after")
}

// FeedEntry is one entry of an account's activity stream as a live feed
// carries it: the activity entry, its position, and the owner of the record
// it concerns (for roles that view only their own).
type FeedEntry struct {
	ActivityEntry
	Pos     int64
	OwnerID uuid.UUID
}

// FeedNotification is one notification of a user's stream.
type FeedNotification struct {
	Notification
	Pos int64
}

// Position implements realtime.Item.
func (e FeedEntry) Position() int64 { return e.Pos }

// Position implements realtime.Item.
func (n FeedNotification) Position() int64 { return n.Pos }
