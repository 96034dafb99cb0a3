package db

import (
	"context"
	"fmt"
	"time"
)

// pruneAfter is how long spent or expired short-lived secrets and stale
// failure counts are kept before Prune deletes them.
const pruneAfter = 24 * time.Hour

// Prune deletes what has expired and is of no further use: sign-in
// challenges and password-reset tokens a day after they expired or were
// used, and brute-force counts a day after their last failure once they no
// longer block, and notifications older than their retention. Sessions,
// the login log and the activity log stay: they are history. It is
// maintenance, not request work, so it runs as the tables' owner.
func (d *DB) Prune(ctx context.Context) (int64, error) {
	if d.admin == nil {
		return 0, nil
	}
	cutoff := d.now().UTC().Add(-pruneAfter)
	var total int64
	for _, stmt := range []string{
		`DELETE FROM login_challenges WHERE expires_at < $1 OR spent_at < $1`,
		`DELETE FROM password_resets WHERE expires_at < $1 OR used_at < $1`,
		`DELETE FROM login_throttles WHERE last_failure_at < $1 AND (blocked_until IS NULL OR blocked_until < $1)`,
	} {
		res, err := d.admin.ExecContext(ctx, stmt, cutoff)
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	// Notifications past their retention; their streams remember how far
	// they were pruned, so a cursor from before says it expired.
	res, err := d.admin.ExecContext(ctx, `
		WITH gone AS (DELETE FROM notifications WHERE at < $1 RETURNING recipient_id, pos)
		UPDATE notification_streams s SET pruned_through = greatest(s.pruned_through, g.pos)
		FROM (SELECT recipient_id, max(pos) AS pos FROM gone GROUP BY recipient_id) g
		WHERE s.user_id = g.recipient_id`, d.now().UTC().Add(-d.retention))
	if err != nil {
		return total, fmt.Errorf("prune notifications: %w", err)
	}
	n, _ := res.RowsAffected()
	return total + n, nil
}
