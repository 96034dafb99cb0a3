package db

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/lib/pq"

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
		// The entries the viewer's role lets them view, as in the live
		// feed: the entities it views, and of those it views only its own
		// of, the entries about records they own (or about no record).
		all, own := e.grant.Viewable()
		var rows []activityFeedRow
		err := tx.Select(ctx, &rows, activityFeedSelect+`
			WHERE l.account_id = $1
				AND ($2::uuid IS NULL OR l.actor_id = $2)
				AND ($3 = '' OR l.action = $3)
				AND ($4::timestamptz IS NULL OR l.at >= $4)
				AND ($5::timestamptz IS NULL OR l.at < $5)
				AND ($6::timestamptz IS NULL OR (l.at, l.id) < ($6, $7))
				AND ($9 = '' OR l.entity_type = $9)
				AND (l.entity_type = ANY($10) OR (l.entity_type = ANY($11) AND (l.subject_owner_id IS NULL OR l.subject_owner_id = $12)))
			ORDER BY l.at DESC, l.id DESC
			LIMIT $8`,
			e.account.ID, nullUUID(f.ActorID), f.Action, f.Since, f.Until, after.at, after.id, page.First+1, string(f.EntityType),
			pq.Array(entityNames(all)), pq.Array(entityNames(own)), e.userID())
		if err != nil {
			return fmt.Errorf("activity log: %w", err)
		}
		out = &crm.ActivityPage{}
		rows, out.PageInfo.HasNextPage = pageOf(rows, page.First)
		for i := range rows {
			entry, err := rows[i].entry(e.account.ID)
			if err != nil {
				return err
			}
			// The changes field filters them for the viewer's role.
			out.Nodes = append(out.Nodes, entry.ActivityEntry)
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
		out = notificationPage(rows, page.First, func(n crm.FeedNotification) string { return encodeCursor(n.At, n.ID) })
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// entityNames are entities as the log's entity_type holds them.
func entityNames(es []crm.Entity) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e)
	}
	return out
}
