package db

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/lib/pq"

	"switchboard/crm"
)

// Brute-force protection. Failed sign-ins are counted per email and per IP
// in the database, so every gateway process sees the same count. After
// throttleThreshold consecutive failures each further attempt must wait,
// from 1 s doubling up to 15 min; a success resets the counts. A count also
// resets after a day without failures.
const (
	throttleThreshold = 5
	throttleMaxWait   = 15 * time.Minute
	throttleWindow    = 24 * time.Hour
)

func emailKey(email string) string { return "email:" + email }

func ipKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return "ip:" + ip.String()
}

func throttleKeys(email string, ip netip.Addr) []string {
	keys := []string{emailKey(email)}
	if k := ipKey(ip); k != "" {
		keys = append(keys, k)
	}
	return keys
}

// blockedFor returns how long any of keys must still wait, or 0.
func blockedFor(ctx context.Context, tx *Tx, keys []string) (time.Duration, error) {
	var until *time.Time
	err := tx.Get(ctx, &until, `
		SELECT max(blocked_until) FROM login_throttles
		WHERE key = ANY($1) AND blocked_until > $2`, pq.Array(keys), tx.Now)
	if err != nil {
		return 0, fmt.Errorf("read throttle: %w", err)
	}
	if until == nil {
		return 0, nil
	}
	return until.Sub(tx.Now), nil
}

// recordFailure counts one failure against each key and blocks a key that
// reached the threshold. Concurrent failures all count: the update is
// atomic per row.
func recordFailure(ctx context.Context, tx *Tx, keys []string) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO login_throttles AS t (key, failures, last_failure_at)
		SELECT k, 1, $2 FROM unnest($1::text[]) AS k
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN t.last_failure_at < $2 - ($3 * interval '1 second') THEN 1 ELSE t.failures + 1 END,
			last_failure_at = $2,
			blocked_until = CASE
				WHEN (CASE WHEN t.last_failure_at < $2 - ($3 * interval '1 second') THEN 1 ELSE t.failures + 1 END) >= $4
				THEN $2 + least(power(2, least((CASE WHEN t.last_failure_at < $2 - ($3 * interval '1 second') THEN 1 ELSE t.failures + 1 END) - $4, 20)), $5) * interval '1 second'
			END`,
		pq.Array(keys), tx.Now, throttleWindow.Seconds(), throttleThreshold, throttleMaxWait.Seconds())
	if err != nil {
		return fmt.Errorf("count failure: %w", err)
	}
	return nil
}

// recordSuccess clears the counts of keys.
func recordSuccess(ctx context.Context, tx *Tx, keys []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM login_throttles WHERE key = ANY($1)`, pq.Array(keys)); err != nil {
		return fmt.Errorf("reset throttle: %w", err)
	}
	return nil
}

// countRequest counts one request against key in a fixed window and
// refuses the one that exceeds limit (password reset mails, for example).
func countRequest(ctx context.Context, tx *Tx, key string, limit int, window time.Duration) error {
	var row struct {
		Count int       `db:"failures"`
		Since time.Time `db:"last_failure_at"`
	}
	err := tx.Get(ctx, &row, `
		INSERT INTO login_throttles AS t (key, failures, last_failure_at) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN t.last_failure_at < $2 - ($3 * interval '1 second') THEN 1 ELSE t.failures + 1 END,
			last_failure_at = CASE WHEN t.last_failure_at < $2 - ($3 * interval '1 second') THEN $2 ELSE t.last_failure_at END
		RETURNING failures, last_failure_at`, key, tx.Now, window.Seconds())
	if err != nil {
		return fmt.Errorf("count request: %w", err)
	}
	if row.Count > limit {
		return crm.RateLimited(row.Since.Add(window).Sub(tx.Now))
	}
	return nil
}
