package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/realtime"
)

// The streams' readers for live subscriptions (realtime.Source). They read
// as the system, in the stream's own scope, for subscriptions that verified
// their subscriber first; each subscriber's view is filtered by its grant
// in the resolvers.

// ActivityFeed reads accounts' activity streams.
type ActivityFeed struct{ db *DB }

// NotificationFeed reads users' notification streams.
type NotificationFeed struct{ db *DB }

var (
	_ realtime.Source[crm.FeedEntry]        = ActivityFeed{}
	_ realtime.Source[crm.FeedNotification] = NotificationFeed{}
)

// ActivityFeed returns the reader of activity streams.
func (d *DB) ActivityFeed() ActivityFeed { return ActivityFeed{d} }

// NotificationFeed returns the reader of notification streams.
func (d *DB) NotificationFeed() NotificationFeed { return NotificationFeed{d} }

// Head implements realtime.Source: activity is history, so every position
// is kept.
func (f ActivityFeed) Head(ctx context.Context, accountID uuid.UUID) (last, floor int64, err error) {
	err = f.db.inTx(ctx, Scope{AccountID: accountID}, func(ctx context.Context, tx *Tx) error {
		return tx.Get(ctx, &last, `SELECT coalesce((SELECT last FROM activity_streams WHERE account_id = $1), 0)`, accountID)
	})
	return last, 0, err
}

// activityFeedSelect reads activity entries with their actors' names.
const activityFeedSelect = `
	SELECT l.pos, l.id, l.at, l.actor_id, coalesce(m.display_name, u.name) AS actor_name, l.actor_role, l.action, l.entity_type,
		l.entity_id, l.subject_owner_id, l.changes
	FROM activity_log l
	JOIN users u ON u.id = l.actor_id
	LEFT JOIN memberships m ON m.account_id = l.account_id AND m.user_id = l.actor_id`

type activityFeedRow struct {
	Pos        int64      `db:"pos"`
	ID         uuid.UUID  `db:"id"`
	At         time.Time  `db:"at"`
	ActorID    uuid.UUID  `db:"actor_id"`
	ActorName  string     `db:"actor_name"`
	ActorRole  string     `db:"actor_role"`
	Action     string     `db:"action"`
	EntityType string     `db:"entity_type"`
	EntityID   *uuid.UUID `db:"entity_id"`
	OwnerID    *uuid.UUID `db:"subject_owner_id"`
	Changes    []byte     `db:"changes"`
}

func (r *activityFeedRow) entry(accountID uuid.UUID) (crm.FeedEntry, error) {
	e := crm.FeedEntry{Pos: r.Pos, ActivityEntry: crm.ActivityEntry{ID: r.ID, At: r.At.UTC(), ActorID: r.ActorID, ActorName: r.ActorName,
		ActorRole: r.ActorRole, Action: r.Action, EntityType: crm.Entity(r.EntityType),
		Cursor: crm.StreamCursor{Kind: crm.StreamActivity, ID: accountID, Pos: r.Pos}.String()}}
	if r.EntityID != nil {
		e.EntityID = *r.EntityID
	}
	if r.OwnerID != nil {
		e.OwnerID = *r.OwnerID
	}
	if err := json.Unmarshal(r.Changes, &e.Changes); err != nil {
		return e, fmt.Errorf("activity changes: %w", err)
	}
	return e, nil
}

// Since implements realtime.Source.
func (f ActivityFeed) Since(ctx context.Context, accountID uuid.UUID, after int64, limit int) ([]crm.FeedEntry, error) {
	var out []crm.FeedEntry
	err := f.db.inTx(ctx, Scope{AccountID: accountID}, func(ctx context.Context, tx *Tx) error {
		var rows []activityFeedRow
		if err := tx.Select(ctx, &rows, activityFeedSelect+` WHERE l.account_id = $1 AND l.pos > $2 ORDER BY l.pos LIMIT $3`,
			accountID, after, limit); err != nil {
			return fmt.Errorf("activity stream: %w", err)
		}
		out = make([]crm.FeedEntry, len(rows))
		for i := range rows {
			e, err := rows[i].entry(accountID)
			if err != nil {
				return err
			}
			// Encoded once, for every subscriber who may see all of them
			// (resolvers' live view shapes the others).
			e.ChangesJSON = string(rows[i].Changes)
			out[i] = e
		}
		return nil
	})
	return out, err
}

// Grants reads what users may do in an account: an active member's role;
// a member who may no longer act there is left out.
func (f ActivityFeed) Grants(ctx context.Context, accountID uuid.UUID, userIDs []uuid.UUID) (map[uuid.UUID]crm.Grant, error) {
	out := map[uuid.UUID]crm.Grant{}
	err := f.db.inTx(ctx, Scope{AccountID: accountID}, func(ctx context.Context, tx *Tx) error {
		clear(out)
		var rows []memberRow
		if err := tx.Select(ctx, &rows, `
			SELECT m.account_id, m.user_id, m.role, m.custom_role_id, m.status, m.display_name, m.deactivated_until, m.created_at,
				r.name AS custom_name, r.permissions AS custom_permissions, r.hidden_fields AS custom_hidden_fields
			FROM memberships m LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id
			WHERE m.account_id = $1 AND m.user_id = ANY ($2)`, accountID, pq.Array(uuidStrings(userIDs))); err != nil {
			return fmt.Errorf("read grants: %w", err)
		}
		for i := range rows {
			if rows[i].status(tx.Now) != crm.MemberActive {
				continue
			}
			role, err := rows[i].role()
			if err != nil {
				return err
			}
			out[rows[i].UserID] = crm.Grant{UserID: rows[i].UserID, Role: role}
		}
		return nil
	})
	return out, err
}

// Head implements realtime.Source: notifications older than the
// retention are gone.
func (f NotificationFeed) Head(ctx context.Context, userID uuid.UUID) (last, floor int64, err error) {
	err = f.db.inTx(ctx, Scope{UserID: userID}, func(ctx context.Context, tx *Tx) error {
		var row struct {
			Last   int64 `db:"last"`
			Pruned int64 `db:"pruned_through"`
		}
		err := tx.Get(ctx, &row, `SELECT coalesce(max(last), 0) AS last, coalesce(max(pruned_through), 0) AS pruned_through
			FROM notification_streams WHERE user_id = $1`, userID)
		last, floor = row.Last, row.Pruned
		return err
	})
	return last, floor, err
}

// Since implements realtime.Source.
func (f NotificationFeed) Since(ctx context.Context, userID uuid.UUID, after int64, limit int) ([]crm.FeedNotification, error) {
	var out []crm.FeedNotification
	err := f.db.inTx(ctx, Scope{UserID: userID}, func(ctx context.Context, tx *Tx) error {
		var err error
		out, err = readNotifications(ctx, tx, userID, `n.pos > $2 ORDER BY n.pos LIMIT $3`, after, limit)
		return err
	})
	return out, err
}

type notificationRowRead struct {
	Pos         int64      `db:"pos"`
	ID          uuid.UUID  `db:"id"`
	AccountID   uuid.UUID  `db:"account_id"`
	AccountName *string    `db:"account_name"`
	At          time.Time  `db:"at"`
	Kind        string     `db:"kind"`
	Message     string     `db:"message"`
	ActorID     *uuid.UUID `db:"actor_id"`
	ActorName   *string    `db:"actor_name"`
	SubjectType *string    `db:"subject_type"`
	SubjectID   *uuid.UUID `db:"subject_id"`
	ReadAt      *time.Time `db:"read_at"`
}

// readNotifications reads the recipient's notifications where cond holds
// (over n, with $1 the recipient), with their accounts' and actors' names.
// The accounts are the recipient's notifications' own: they are readable
// for this transaction even after the recipient left them.
func readNotifications(ctx context.Context, tx *Tx, userID uuid.UUID, cond string, args ...any) ([]crm.FeedNotification, error) {
	var rows []notificationRowRead
	if err := tx.Select(ctx, &rows, `
		SELECT n.pos, n.id, n.account_id, n.at, n.kind, n.message, n.actor_id, n.subject_type, n.subject_id, n.read_at
		FROM notifications n WHERE n.recipient_id = $1 AND `+cond, append([]any{userID}, args...)...); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	accounts, actors := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	var accountIDs, actorIDs []string
	for _, r := range rows {
		if !accounts[r.AccountID] {
			accounts[r.AccountID] = true
			accountIDs = append(accountIDs, r.AccountID.String())
		}
		if r.ActorID != nil && !actors[*r.ActorID] {
			actors[*r.ActorID] = true
			actorIDs = append(actorIDs, r.ActorID.String())
		}
	}
	var names []struct {
		Kind string    `db:"kind"`
		ID   uuid.UUID `db:"id"`
		Key  uuid.UUID `db:"key"`
		Name string    `db:"name"`
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('app.account_ids', $1, true)`, strings.Join(accountIDs, ",")); err != nil {
		return nil, err
	}
	if err := tx.Select(ctx, &names, `
		SELECT 'account' AS kind, a.id, a.id AS key, a.name FROM accounts a WHERE a.id = ANY ($1)
		UNION ALL
		SELECT 'actor', u.id, coalesce(m.account_id, '00000000-0000-0000-0000-000000000000'), coalesce(m.display_name, u.name)
		FROM users u LEFT JOIN memberships m ON m.user_id = u.id AND m.account_id = ANY ($1)
		WHERE u.id = ANY ($2)`, pq.Array(accountIDs), pq.Array(actorIDs)); err != nil {
		return nil, fmt.Errorf("notification names: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('app.account_ids', '', true)`); err != nil {
		return nil, err
	}
	accountName, actorName := map[uuid.UUID]string{}, map[[2]uuid.UUID]string{}
	for _, n := range names {
		if n.Kind == "account" {
			accountName[n.ID] = n.Name
		} else {
			actorName[[2]uuid.UUID{n.ID, n.Key}] = n.Name
			if _, ok := actorName[[2]uuid.UUID{n.ID, uuid.Nil}]; !ok {
				actorName[[2]uuid.UUID{n.ID, uuid.Nil}] = n.Name
			}
		}
	}
	out := make([]crm.FeedNotification, len(rows))
	for i, r := range rows {
		n := crm.Notification{ID: r.ID, At: r.At.UTC(), Kind: r.Kind, Message: r.Message, AccountID: r.AccountID,
			AccountName: accountName[r.AccountID], ReadAt: r.ReadAt,
			Cursor: crm.StreamCursor{Kind: crm.StreamNotifications, ID: userID, Pos: r.Pos}.String()}
		if r.ActorID != nil {
			n.ActorID = *r.ActorID
			if name, ok := actorName[[2]uuid.UUID{*r.ActorID, r.AccountID}]; ok {
				n.ActorName = name
			} else {
				n.ActorName = actorName[[2]uuid.UUID{*r.ActorID, uuid.Nil}]
			}
		}
		if r.SubjectType != nil {
			n.SubjectType = crm.Entity(*r.SubjectType)
		}
		if r.SubjectID != nil {
			n.SubjectID = *r.SubjectID
		}
		out[i] = crm.FeedNotification{Notification: n, Pos: r.Pos}
	}
	return out, nil
}
