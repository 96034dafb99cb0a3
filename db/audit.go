package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
)

// Activity implements crm.AccountService.
func (s *AuditService) Activity(ctx context.Context, a crm.Actor, f crm.ActivityFilter, page crm.PageArgs) (*crm.ActivityPage, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	page, after, err := timePage(page)
	if err != nil {
		return nil, err
	}
	var out *crm.ActivityPage
	err = s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.View, uuid.Nil); err != nil {
			return err
		}
		var rows []struct {
			ID         uuid.UUID  `db:"id"`
			Pos        int64      `db:"pos"`
			At         time.Time  `db:"at"`
			ActorID    uuid.UUID  `db:"actor_id"`
			ActorName  string     `db:"actor_name"`
			ActorRole  string     `db:"actor_role"`
			Action     string     `db:"action"`
			EntityType string     `db:"entity_type"`
			EntityID   *uuid.UUID `db:"entity_id"`
			Changes    []byte     `db:"changes"`
		}
		err := tx.Select(ctx, &rows, `
			SELECT l.id, l.pos, l.at, l.actor_id, coalesce(m.display_name, u.name) AS actor_name, l.actor_role, l.action, l.entity_type, l.entity_id, l.changes
			FROM activity_log l
			JOIN users u ON u.id = l.actor_id
			LEFT JOIN memberships m ON m.account_id = l.account_id AND m.user_id = l.actor_id
			WHERE l.account_id = $1
				AND ($2::uuid IS NULL OR l.actor_id = $2)
				AND ($3 = '' OR l.action = $3)
				AND ($4::timestamptz IS NULL OR l.at >= $4)
				AND ($5::timestamptz IS NULL OR l.at < $5)
				AND ($6::timestamptz IS NULL OR (l.at, l.id) < ($6, $7))
				AND ($9 = '' OR l.entity_type = $9)
			ORDER BY l.at DESC, l.id DESC
			LIMIT $8`,
			e.account.ID, nullUUID(f.ActorID), f.Action, f.Since, f.Until, after.at, after.id, page.First+1, string(f.EntityType))
		if err != nil {
			return fmt.Errorf("activity log: %w", err)
		}
		out = &crm.ActivityPage{}
		rows, out.PageInfo.HasNextPage = pageOf(rows, page.First)
		for _, r := range rows {
			entry := crm.ActivityEntry{ID: r.ID, At: r.At.UTC(), ActorID: r.ActorID, ActorName: r.ActorName, ActorRole: r.ActorRole,
				Action: r.Action, EntityType: crm.Entity(r.EntityType),
				Cursor: crm.StreamCursor{Kind: crm.StreamActivity, ID: e.account.ID, Pos: r.Pos}.String()}
			if r.EntityID != nil {
				entry.EntityID = *r.EntityID
			}
			if err := json.Unmarshal(r.Changes, &entry.Changes); err != nil {
				return fmt.Errorf("activity changes: %w", err)
			}
			out.Nodes = append(out.Nodes, entry)
		}
		if n := len(rows); n > 0 {
			out.PageInfo.End = encodeCursor(rows[n-1].At, rows[n-1].ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LoginEvents implements crm.AccountService: sign-ins of the account's
// members since they joined, and the account's allowlist refusals.
func (s *AuditService) LoginEvents(ctx context.Context, a crm.Actor, page crm.PageArgs) (*crm.LoginEventPage, error) {
	page, after, err := timePage(page)
	if err != nil {
		return nil, err
	}
	var out *crm.LoginEventPage
	err = s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		if err := e.grant.Require(crm.Settings, crm.View, uuid.Nil); err != nil {
			return err
		}
		var rows []loginEventRow
		err := tx.Select(ctx, &rows, `
			SELECT e.id, e.at, e.user_id, e.email, host(e.ip) AS ip, e.user_agent, e.device, e.outcome, e.session_id, e.concerns_account_id
			FROM login_events e
			WHERE (e.concerns_account_id = $1 OR (e.concerns_account_id IS NULL AND EXISTS (
					SELECT 1 FROM memberships m WHERE m.account_id = $1 AND m.user_id = e.user_id AND m.status <> 'REMOVED' AND e.at >= m.created_at)))
				AND ($2::timestamptz IS NULL OR (e.at, e.id) < ($2, $3))
			ORDER BY e.at DESC, e.id DESC
			LIMIT $4`, e.account.ID, after.at, after.id, page.First+1)
		if err != nil {
			return fmt.Errorf("account login events: %w", err)
		}
		out = loginEventPage(rows, page.First)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Notifications implements crm.AccountService.
func (s *AuditService) Notifications(ctx context.Context, a crm.Actor, page crm.PageArgs) (*crm.NotificationPage, error) {
	page, after, err := timePage(page)
	if err != nil {
		return nil, err
	}
	var out *crm.NotificationPage
	err = s.db.read(ctx, a, func(ctx context.Context, tx *Tx, e *entered) error {
		rows, err := readNotifications(ctx, tx, e.userID(), `n.account_id = $2 AND ($3::timestamptz IS NULL OR (n.at, n.id) < ($3, $4))
			ORDER BY n.at DESC, n.id DESC LIMIT $5`, e.account.ID, after.at, after.id, page.First+1)
		if err != nil {
			return err
		}
		out = &crm.NotificationPage{}
		rows, out.PageInfo.HasNextPage = pageOf(rows, page.First)
		for _, r := range rows {
			out.Nodes = append(out.Nodes, r.Notification)
		}
		if n := len(rows); n > 0 {
			out.PageInfo.End = encodeCursor(rows[n-1].At, rows[n-1].ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
