package realtime

import (
	"encoding/json"
	"fmt"

	"switchboard/crm"
)

// The events the gateway publishes, their topics, and their payloads. Each
// payload is encoded by NewEnvelope and decoded by its function here, the
// one place that knows its shape.

// Session events: every stream of a session listens on its topic.
const TypeSessionEnded = "session.ended"

// SessionTopic is the topic of one session's events.
func SessionTopic(sessionID string) string { return "session:" + sessionID }

// Membership events: a member's streams in one account listen on its topic.
const TypeMembershipChanged = "membership.changed"

// MembershipTopic is the topic of one user's membership in one account.
func MembershipTopic(accountID, userID string) string {
	return "membership:" + accountID + ":" + userID
}

// Account events concern everyone in an account (its IP allowlist).
const TypeAllowlistChanged = "account.allowlist_changed"

// AccountTopic is the topic of one account's own events.
func AccountTopic(accountID string) string { return "account:" + accountID }

// Streams: an account's activity and a user's notifications are persisted
// in commit order; their events only say how far a stream got, and
// followers read the rows.
const TypeStreamAdvanced = "stream.advanced"

// ActivityTopic is the topic of an account's activity stream.
func ActivityTopic(accountID string) string { return "activity:" + accountID }

// NotificationsTopic is the topic of a user's notification stream.
func NotificationsTopic(userID string) string { return "notifications:" + userID }

// StreamAdvance is the data of a TypeStreamAdvanced event: the stream's
// last position (followers read from their own, whatever it says).
type StreamAdvance struct {
	Pos int64 `json:"pos"`
}

// NewEnvelope wraps data as an event of typ on topic.
func NewEnvelope(topic, typ string, data any) (Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s event: %w", typ, err)
	}
	return Envelope{Topic: topic, Type: typ, Data: raw}, nil
}

// SessionEnded decodes a TypeSessionEnded event.
func SessionEnded(e Envelope) (crm.SessionEnd, error) {
	return decode[crm.SessionEnd](e, TypeSessionEnded)
}

// MembershipChanged decodes a TypeMembershipChanged event.
func MembershipChanged(e Envelope) (crm.MembershipChange, error) {
	return decode[crm.MembershipChange](e, TypeMembershipChanged)
}

// AllowlistChanged decodes a TypeAllowlistChanged event.
func AllowlistChanged(e Envelope) (crm.AllowlistChange, error) {
	return decode[crm.AllowlistChange](e, TypeAllowlistChanged)
}

func decode[T any](e Envelope, typ string) (T, error) {
	var v T
	if e.Type != typ {
		return v, fmt.Errorf("event %s is not %s", e.Type, typ)
	}
	if err := json.Unmarshal(e.Data, &v); err != nil {
		return v, fmt.Errorf("decode %s event: %w", typ, err)
	}
	return v, nil
}
