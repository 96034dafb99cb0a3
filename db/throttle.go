package db

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// Brute-force protection. Failed sign-ins are counted in the database, so
// every gateway process sees the same counts, under three keys at once:
//
//   - the email from this address: strict, so guessing one login's
//     password from one address is slow;
//   - the email from anywhere: a higher threshold, for guessing spread over
//     many addresses. An address from which the login signed in
//     successfully in the last knownAddressFor is exempt from it, so a
//     stranger's failures cannot lock the owner out of the places they
//     normally sign in from;
//   - the address, whatever the email: a higher threshold still, for one
//     address trying many logins.
//
// Past a key's threshold each further attempt waits, from 1 s doubling up to
// 15 min. A success clears the first two (not the address's: signing in to
// one's own login must not reset a count of guesses at others). A count
// also lapses after a day without failures.
const (
	perAddressEmailThreshold = 5
	perEmailThreshold        = 20
	perAddressThreshold      = 50
	throttleMaxWait          = 15 * time.Minute
	throttleWindow           = 24 * time.Hour
	knownAddressFor          = 30 * 24 * time.Hour
)

// attempt is what one sign-in attempt (or password check) is counted
// against.
type attempt struct {
	email string
	ip    netip.Addr
	// userID is the login the email belongs to, uuid.Nil when none: only a
	// known login has addresses it signed in from.
	userID uuid.UUID
}

func emailKey(email string) string { return "email:" + email }

// addressEmailPrefix starts every per-address key of an email, so a reset
// can clear them all.
func addressEmailPrefix(email string) string { return "email-from:" + email + "|" }

func (a attempt) addressEmailKey() string {
	if a.email == "" || !a.ip.IsValid() {
		return ""
	}
	return addressEmailPrefix(a.email) + a.ip.String()
}

func addressKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return "ip:" + ip.String()
}

// counted lists the keys a failure counts against, with their thresholds.
func (a attempt) counted() (keys []string, thresholds []int) {
	add := func(k string, n int) {
		if k != "" {
			keys, thresholds = append(keys, k), append(thresholds, n)
		}
	}
	if a.email != "" {
		add(a.addressEmailKey(), perAddressEmailThreshold)
		add(emailKey(a.email), perEmailThreshold)
	}
	add(addressKey(a.ip), perAddressThreshold)
	return keys, thresholds
}

// blockedFor returns how long the attempt must still wait, or 0. The
// email-wide block does not apply from an address the login recently
// signed in from.
func blockedFor(ctx context.Context, tx *Tx, a attempt) (time.Duration, error) {
	var until *time.Time
	err := tx.Get(ctx, &until, `
		SELECT max(t.blocked_until) FROM login_throttles t
		WHERE t.blocked_until > $2 AND (t.key = ANY($1) OR (t.key = $3 AND NOT EXISTS (
			SELECT 1 FROM login_events e
			WHERE e.user_id = $4 AND e.ip = $5::inet AND e.outcome = 'SUCCESS' AND e.at > $6)))`,
		pq.Array([]string{a.addressEmailKey(), addressKey(a.ip)}), tx.Now, emailKey(a.email),
		nullUUID(a.userID), nullIP(a.ip), tx.Now.Add(-knownAddressFor))
	if err != nil {
		return 0, fmt.Errorf("read throttle: %w", err)
	}
	if until == nil {
		return 0, nil
	}
	return until.Sub(tx.Now), nil
}

// recordFailure counts one failure of the attempt against each of its keys
// and blocks a key that reached its threshold. Concurrent failures all
// count: the update is atomic per row.
func recordFailure(ctx context.Context, tx *Tx, a attempt) error {
	keys, thresholds := a.counted()
	_, err := tx.Exec(ctx, `
		INSERT INTO login_throttles AS t (key, threshold, failures, last_failure_at)
		SELECT k.key, k.threshold, 1, $3 FROM unnest($1::text[], $2::int[]) AS k (key, threshold)
		ON CONFLICT (key) DO UPDATE SET
			threshold = EXCLUDED.threshold,
			failures = CASE WHEN t.last_failure_at < $3 - ($4 * interval '1 second') THEN 1 ELSE t.failures + 1 END,
			last_failure_at = $3,
			blocked_until = CASE
				WHEN (CASE WHEN t.last_failure_at < $3 - ($4 * interval '1 second') THEN 1 ELSE t.failures + 1 END) >= EXCLUDED.threshold
				THEN $3 + least(power(2, least((CASE WHEN t.last_failure_at < $3 - ($4 * interval '1 second') THEN 1 ELSE t.failures + 1 END)
					- EXCLUDED.threshold, 20)), $5) * interval '1 second'
			END`,
		pq.Array(keys), pq.Array(thresholds), tx.Now, throttleWindow.Seconds(), throttleMaxWait.Seconds())
	if err != nil {
		return fmt.Errorf("count failure: %w", err)
	}
	return nil
}

// recordSuccess clears the counts of the email, from this address and from
// anywhere; the address's own count stays.
func recordSuccess(ctx context.Context, tx *Tx, a attempt) error {
	if _, err := tx.Exec(ctx, `DELETE FROM login_throttles WHERE key = ANY($1)`,
		pq.Array([]string{emailKey(a.email), a.addressEmailKey()})); err != nil {
		return fmt.Errorf("reset throttle: %w", err)
	}
	return nil
}

// forgiveEmail clears every count of an email, from every address: what a
// password reset does, since it proves control of the mailbox.
func forgiveEmail(ctx context.Context, tx *Tx, email string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM login_throttles WHERE key = $1 OR starts_with(key, $2)`,
		emailKey(email), addressEmailPrefix(email)); err != nil {
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
