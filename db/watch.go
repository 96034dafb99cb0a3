package db

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"switchboard/crm"
)

// checkBatch bounds the pairs one statement of CheckAccess reads.
const checkBatch = 1000

// CheckAccess implements crm.AccessChecker: for each live stream's scope,
// whether its user may still act in its account from its address. It reads
// every account involved in one transaction, over the set of those
// accounts (app_account_ids), a statement per thousand pairs.
func (s *AccountService) CheckAccess(ctx context.Context, scopes []crm.StreamScope) ([]crm.AccessLoss, error) {
	type pair struct{ user, account uuid.UUID }
	seen := map[pair]bool{}
	var pairs []pair
	for _, sc := range scopes {
		p := pair{sc.UserID, sc.AccountID}
		if sc.AccountID != uuid.Nil && !seen[p] {
			seen[p] = true
			pairs = append(pairs, p)
		}
	}
	type state struct {
		status    crm.MembershipStatus
		until     *time.Time
		allowlist []string
	}
	// By account, so that a batch spans as few accounts as it can: each
	// batch reads the memberships of its accounts.
	slices.SortFunc(pairs, func(a, b pair) int { return bytes.Compare(a.account[:], b.account[:]) })
	states := map[pair]state{}
	err := s.db.inTx(ctx, Scope{}, func(ctx context.Context, tx *Tx) error {
		clear(states)
		for start := 0; start < len(pairs); start += checkBatch {
			batch := pairs[start:min(start+checkBatch, len(pairs))]
			users, accounts := make([]string, len(batch)), make([]string, len(batch))
			for i, p := range batch {
				users[i], accounts[i] = p.user.String(), p.account.String()
			}
			if _, err := tx.Exec(ctx, `SELECT set_config('app.account_ids', $1, true)`, strings.Join(slices.Compact(slices.Clone(accounts)), ",")); err != nil {
				return err
			}
			var rows []struct {
				UserID           uuid.UUID      `db:"user_id"`
				AccountID        uuid.UUID      `db:"account_id"`
				Status           string         `db:"status"`
				DeactivatedUntil *time.Time     `db:"deactivated_until"`
				Allowlist        pq.StringArray `db:"ip_allowlist"`
			}
			err := tx.Select(ctx, &rows, `
				SELECT p.user_id, p.account_id, coalesce(m.status, 'REMOVED') AS status, m.deactivated_until,
					coalesce(a.ip_allowlist::text[], '{}') AS ip_allowlist
				FROM unnest($1::uuid[], $2::uuid[]) AS p (user_id, account_id)
				LEFT JOIN memberships m ON m.account_id = p.account_id AND m.user_id = p.user_id
				LEFT JOIN accounts a ON a.id = p.account_id`, pq.Array(users), pq.Array(accounts))
			if err != nil {
				return fmt.Errorf("check access: %w", err)
			}
			for _, r := range rows {
				m := memberRow{Status: r.Status, DeactivatedUntil: r.DeactivatedUntil}
				states[pair{r.UserID, r.AccountID}] = state{status: m.status(tx.Now), until: r.DeactivatedUntil, allowlist: r.Allowlist}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []crm.AccessLoss
	for _, sc := range scopes {
		st, ok := states[pair{sc.UserID, sc.AccountID}]
		if !ok {
			continue
		}
		loss := crm.AccessLoss{Scope: sc, Status: st.status}
		switch st.status {
		case crm.MemberActive:
			allow, err := parsePrefixes(st.allowlist)
			if err != nil {
				return nil, err
			}
			if crm.AllowedFrom(allow, sc.IP) {
				continue
			}
			loss.Code = crm.CodeIPNotAllowed
		case crm.MemberDeactivated:
			loss.Code, loss.Until = crm.CodeAccountDeactivated, st.until
		default:
			loss.Code = crm.CodeNotFound
		}
		out = append(out, loss)
	}
	return out, nil
}
