package db

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/realtime"
)

// Events of a transaction. Activity entries and notifications are rows of
// resumable streams (migration 00013): a transaction collects them and
// writes them as its last statement, app_publish, which gives them their
// positions under the streams' locks until the commit. Other events
// (sessions, memberships, allowlists) are announcements: NOTIFY inside the
// transaction, or, with an outside bus (Options.Publish), sent once the
// transaction committed.

// pending is what a transaction publishes when it commits.
type pending struct {
	activity []activityRow
	notes    []notificationRow
	// after are the announcements for Options.Publish.
	after []realtime.Envelope
}

type activityRow struct {
	Ord        int             `json:"ord"`
	AccountID  uuid.UUID       `json:"account_id"`
	ID         uuid.UUID       `json:"id"`
	At         string          `json:"at"`
	ActorID    uuid.UUID       `json:"actor_id"`
	ActorRole  string          `json:"actor_role"`
	Action     string          `json:"action"`
	EntityType crm.Entity      `json:"entity_type"`
	EntityID   *uuid.UUID      `json:"entity_id"`
	OwnerID    *uuid.UUID      `json:"subject_owner_id"`
	Changes    json.RawMessage `json:"changes"`
}

type notificationRow struct {
	Ord         int                  `json:"ord"`
	AccountID   uuid.UUID            `json:"account_id"`
	ID          uuid.UUID            `json:"id"`
	RecipientID uuid.UUID            `json:"recipient_id"`
	At          string               `json:"at"`
	Kind        crm.NotificationKind `json:"kind"`
	Message     string               `json:"message"`
	SubjectID   *uuid.UUID           `json:"subject_id"`
	SubjectType *crm.Entity          `json:"subject_type"`
	ActorID     *uuid.UUID           `json:"actor_id"`
}

// timestamp is how the event rows carry a time through JSON into
// timestamptz, to the microsecond.
const timestamp = "2006-01-02T15:04:05.999999Z07:00"

// publish writes tx's stream rows; it runs just before the commit (and
// before a change of scope, for rows logged in the old one).
func (tx *Tx) publish(ctx context.Context) error {
	p := &tx.pending
	if len(p.activity) == 0 && len(p.notes) == 0 {
		return nil
	}
	defer func() { p.activity, p.notes = p.activity[:0], p.notes[:0] }()
	activity, err := json.Marshal(orEmpty(p.activity))
	if err != nil {
		return err
	}
	notes, err := json.Marshal(orEmpty(p.notes))
	if err != nil {
		return err
	}
	var heads []struct {
		Topic string `db:"stream_topic"`
		Pos   int64  `db:"stream_pos"`
	}
	wake := tx.db.publishOut == nil
	if err := tx.Select(ctx, &heads, `SELECT stream_topic, stream_pos FROM app_publish($1, $2, $3)`, string(activity), string(notes), wake); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	if !wake {
		for _, h := range heads {
			e, err := realtime.NewEnvelope(h.Topic, realtime.TypeStreamAdvanced, realtime.StreamAdvance{Pos: h.Pos})
			if err != nil {
				return err
			}
			p.after = append(p.after, e)
		}
	}
	return nil
}

// published sends, after the commit, what an outside bus carries.
func (tx *Tx) published(ctx context.Context) {
	if tx.db.publishOut == nil || len(tx.pending.after) == 0 {
		return
	}
	// The change committed: a lost announcement is made good by the
	// subscribers' periodic re-reads, so a failure here is logged only.
	if err := tx.db.publishOut(context.WithoutCancel(ctx), tx.pending.after...); err != nil {
		tx.db.log.WarnContext(ctx, "publish events after commit", "err", err)
	}
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// logActivity appends to the account's activity log in tx (invariant 6).
func logActivity(ctx context.Context, tx *Tx, e *entered, action string, entity crm.Entity, entityID uuid.UUID, changes map[string]crm.Change) error {
	return logActivityAs(ctx, tx, e.account.ID, e.userID(), e.grant.Role.Name, action, entity, entityID, changes)
}

func logActivityAs(_ context.Context, tx *Tx, accountID, actorID uuid.UUID, actorRole, action string, entity crm.Entity, entityID uuid.UUID, changes map[string]crm.Change) error {
	return tx.logEntry(accountID, actorID, actorRole, action, entity, entityID, uuid.Nil, changes)
}

// logEntry queues an activity entry for the commit; owner is the owner of
// the record it concerns, if it is one.
func (tx *Tx) logEntry(accountID, actorID uuid.UUID, actorRole, action string, entity crm.Entity, entityID, owner uuid.UUID, changes map[string]crm.Change) error {
	if changes == nil {
		changes = map[string]crm.Change{}
	}
	raw, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	tx.pending.activity = append(tx.pending.activity, activityRow{
		Ord: len(tx.pending.activity), AccountID: accountID, ID: uuid.Must(uuid.NewV7()), At: tx.Now.Format(timestamp),
		ActorID: actorID, ActorRole: actorRole, Action: action, EntityType: entity, EntityID: nullableID(entityID), OwnerID: nullableID(owner),
		Changes: raw,
	})
	return nil
}

func nullableID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// notifyUsers queues notifications for the commit, and the email of each
// whose recipient wants that kind by email (with a Message-ID of its own,
// so a retried send is one message). A notification to its own actor is
// dropped: nobody is told what they just did.
func notifyUsers(ctx context.Context, tx *Tx, outbox Outbox, publicURL string, notes ...crm.NewNotification) error {
	var recipients []string
	for _, n := range notes {
		if n.RecipientID != n.ActorID {
			recipients = append(recipients, n.RecipientID.String())
		}
	}
	if len(recipients) == 0 {
		return nil
	}
	if len(notes) == 1 && notes[0].Email != nil && notes[0].Email.To != "" && crm.NotificationKinds[notes[0].Kind].Locked {
		// A security notice to a known address: no preference to read.
		n := notes[0]
		return queueNotification(ctx, tx, outbox, publicURL, n, func(id uuid.UUID) crm.Email { return *n.Email })
	}
	var rows []struct {
		ID    uuid.UUID      `db:"id"`
		Email string         `db:"email"`
		Name  string         `db:"name"`
		Kinds pq.StringArray `db:"kinds"`
		Want  pq.BoolArray   `db:"want"`
	}
	if err := tx.Select(ctx, &rows, `
		SELECT u.id, u.email, u.name, coalesce(array_agg(p.kind) FILTER (WHERE p.kind IS NOT NULL), '{}') AS kinds,
			coalesce(array_agg(p.email) FILTER (WHERE p.kind IS NOT NULL), '{}') AS want
		FROM users u LEFT JOIN notification_preferences p ON p.user_id = u.id
		WHERE u.id = ANY($1) GROUP BY u.id`, pq.Array(recipients)); err != nil {
		return fmt.Errorf("notification recipients: %w", err)
	}
	type contact struct {
		email, name string
		prefs       map[crm.NotificationKind]bool
	}
	contacts := map[uuid.UUID]contact{}
	for _, r := range rows {
		c := contact{email: r.Email, name: r.Name, prefs: map[crm.NotificationKind]bool{}}
		for i, k := range r.Kinds {
			c.prefs[crm.NotificationKind(k)] = r.Want[i]
		}
		contacts[r.ID] = c
	}
	for _, n := range notes {
		c, ok := contacts[n.RecipientID]
		if !ok || n.RecipientID == n.ActorID {
			continue
		}
		rule := crm.NotificationKinds[n.Kind]
		want, chosen := c.prefs[n.Kind]
		if !chosen || rule.Locked {
			want = rule.Email
		}
		var mail func(uuid.UUID) crm.Email
		if want {
			mail = func(uuid.UUID) crm.Email {
				if n.Email != nil {
					e := *n.Email
					e.To = c.email
					return e
				}
				return crm.Email{To: c.email, Subject: n.Subject, Text: fmt.Sprintf(
					"Hello %s,\n\n%s\n\nYour notifications: %s/\n\nChoose which notifications reach you by email in your profile.\n",
					c.name, n.Message, strings.TrimRight(publicURL, "/"))}
			}
		}
		if err := queueNotification(ctx, tx, outbox, publicURL, n, mail); err != nil {
			return err
		}
	}
	return nil
}

// queueNotification queues n for the commit and, when mail is not nil, the
// email mail makes for it, whose Message-ID is the notification's own.
func queueNotification(ctx context.Context, tx *Tx, outbox Outbox, publicURL string, n crm.NewNotification, mail func(id uuid.UUID) crm.Email) error {
	id := uuid.Must(uuid.NewV7())
	row := notificationRow{Ord: len(tx.pending.notes), AccountID: n.AccountID, ID: id, RecipientID: n.RecipientID,
		At: tx.Now.Format(timestamp), Kind: n.Kind, Message: n.Message, SubjectID: nullableID(n.SubjectID), ActorID: nullableID(n.ActorID)}
	if n.SubjectType != "" {
		row.SubjectType = &n.SubjectType
	}
	tx.pending.notes = append(tx.pending.notes, row)
	if mail == nil {
		return nil
	}
	domain := "switchboard.invalid"
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
		domain = u.Hostname()
	}
	e := mail(id)
	e.MessageID = "<notification-" + id.String() + "@" + domain + ">"
	return outbox.Email(ctx, tx.SQL(), e)
}
