package db

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// NotificationService is the PostgreSQL implementation of
// crm.NotificationService: a user's notifications in every account, as
// their own (row-level security admits a notification to its recipient
// only).
type NotificationService struct{ db *DB }

var _ crm.NotificationService = (*NotificationService)(nil)

// NewNotificationService returns the notification service on d.
func NewNotificationService(d *DB) *NotificationService { return &NotificationService{db: d} }

// Notifications implements crm.NotificationService: newest first, paged
// by stream position (a page's cursor is its last notification's).
func (s *NotificationService) Notifications(ctx context.Context, a crm.Actor, f crm.NotificationFilter, page crm.PageArgs) (*crm.NotificationPage, error) {
	page, err := page.Check()
	if err != nil {
		return nil, err
	}
	var out *crm.NotificationPage
	err = s.db.readAs(ctx, a, func(ctx context.Context, tx *Tx, p *crm.Principal) error {
		before := int64(-1)
		if page.After != "" {
			pos, err := crm.ParseStreamCursor("after", page.After, crm.StreamNotifications, p.User.ID)
			if err != nil {
				return err
			}
			before = pos
		}
		rows, err := readNotifications(ctx, tx, p.User.ID, `($2 < 0 OR n.pos < $2) AND (NOT $3 OR n.read_at IS NULL)
			ORDER BY n.pos DESC LIMIT $4`, before, f.UnreadOnly, page.First+1)
		out = notificationPage(rows, page.First, func(n crm.FeedNotification) string { return n.Cursor })
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UnreadNotifications implements crm.NotificationService.
func (s *NotificationService) UnreadNotifications(ctx context.Context, a crm.Actor) (int, error) {
	var n int
	err := s.db.readAs(ctx, a, func(ctx context.Context, tx *Tx, p *crm.Principal) error {
		return tx.Get(ctx, &n, `SELECT count(*) FROM notifications WHERE recipient_id = $1 AND read_at IS NULL`, p.User.ID)
	})
	return n, err
}

// MarkNotificationsRead implements crm.NotificationService.
func (s *NotificationService) MarkNotificationsRead(ctx context.Context, a crm.Actor, ids []uuid.UUID, all bool) (int, error) {
	switch {
	case all && len(ids) > 0:
		return 0, crm.InvalidInput("ids", "give ids or all, not both")
	case !all && len(ids) == 0:
		return 0, crm.InvalidInput("ids", "give the notifications to mark read, or all: true")
	case len(ids) > crm.MaxMarkRead:
		return 0, crm.InvalidInput("ids", "at most %d at a time", crm.MaxMarkRead)
	}
	var n int64
	err := s.db.writeAs(ctx, a, func(ctx context.Context, tx *Tx, p *crm.Principal) error {
		res, err := tx.Exec(ctx, `UPDATE notifications SET read_at = $2 WHERE recipient_id = $1 AND read_at IS NULL AND ($3 OR id = ANY ($4))`,
			p.User.ID, tx.Now, all, pq.Array(uuidStrings(ids)))
		if err != nil {
			return fmt.Errorf("mark notifications read: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// NotificationPreferences implements crm.NotificationService.
func (s *NotificationService) NotificationPreferences(ctx context.Context, a crm.Actor) ([]crm.NotificationPreference, error) {
	var out []crm.NotificationPreference
	err := s.db.readAs(ctx, a, func(ctx context.Context, tx *Tx, p *crm.Principal) error {
		var rows []struct {
			Kind  string `db:"kind"`
			Email bool   `db:"email"`
		}
		if err := tx.Select(ctx, &rows, `SELECT kind, email FROM notification_preferences WHERE user_id = $1`, p.User.ID); err != nil {
			return fmt.Errorf("notification preferences: %w", err)
		}
		chosen := map[crm.NotificationKind]bool{}
		for _, r := range rows {
			chosen[crm.NotificationKind(r.Kind)] = r.Email
		}
		out = out[:0]
		for kind, rule := range crm.NotificationKinds {
			email, ok := chosen[kind]
			if !ok || rule.Locked {
				email = rule.Email
			}
			out = append(out, crm.NotificationPreference{Kind: kind, Email: email, Locked: rule.Locked})
		}
		slices.SortFunc(out, func(a, b crm.NotificationPreference) int {
			switch {
			case a.Kind < b.Kind:
				return -1
			case a.Kind > b.Kind:
				return 1
			}
			return 0
		})
		return nil
	})
	return out, err
}

// SetNotificationPreference implements crm.NotificationService.
func (s *NotificationService) SetNotificationPreference(ctx context.Context, a crm.Actor, kind crm.NotificationKind, email bool) (*crm.NotificationPreference, error) {
	rule, ok := crm.NotificationKinds[kind]
	switch {
	case !ok:
		return nil, crm.InvalidInput("kind", "not a kind of notification")
	case rule.Locked && !email:
		return nil, crm.InvalidInput("kind", "%s is a security notice and always goes by email", kind)
	}
	err := s.db.writeAs(ctx, a, func(ctx context.Context, tx *Tx, p *crm.Principal) error {
		_, err := tx.Exec(ctx, `INSERT INTO notification_preferences (user_id, kind, email) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, kind) DO UPDATE SET email = excluded.email`, p.User.ID, string(kind), email)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &crm.NotificationPreference{Kind: kind, Email: email, Locked: rule.Locked}, nil
}

// notificationPage is a page of the first notifications of rows (read one
// further, to know whether there is more), cursor naming where it ends.
func notificationPage(rows []crm.FeedNotification, first int, cursor func(crm.FeedNotification) string) *crm.NotificationPage {
	out := &crm.NotificationPage{}
	rows, out.PageInfo.HasNextPage = pageOf(rows, first)
	for _, r := range rows {
		out.Nodes = append(out.Nodes, r.Notification)
	}
	if n := len(rows); n > 0 {
		out.PageInfo.End = cursor(rows[n-1])
	}
	return out
}

// notificationRetention is how long notifications are kept by default.
const notificationRetention = 90 * 24 * time.Hour
