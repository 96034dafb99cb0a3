package db

import (
	"context"
	"strings"

	"switchboard/crm"
)

// RunInTxForTest exposes inTx to the external tests of this package.
func RunInTxForTest(ctx context.Context, d *DB, fn func(ctx context.Context, tx *Tx) error) error {
	return d.inTx(ctx, Scope{}, fn)
}

// OpenPreparedForTest exposes the request pool's driver (openPrepared).
var OpenPreparedForTest = openPrepared

// IndexAllSQLForTest is the statement that indexes every record of t.
var IndexAllSQLForTest = indexAllSQL

// ExplainSearchForTest runs a search under EXPLAIN (ANALYZE, BUFFERS) and
// returns the plan.
func ExplainSearchForTest(ctx context.Context, d *DB, a crm.Actor, sq crm.SearchQuery) (string, error) {
	sq, err := sq.Check()
	if err != nil {
		return "", err
	}
	var plan []string
	err = d.searching(ctx, a, crm.RecordTypes, parseSearch(sq.Text), nil, nil, sq.Page.First,
		func(ctx context.Context, tx *Tx, stmt string, args []any, _ []searchAccess) error {
			if stmt == "" {
				return nil
			}
			return tx.Select(ctx, &plan, "EXPLAIN (ANALYZE, BUFFERS) "+stmt, args...)
		})
	return strings.Join(plan, "\n"), err
}

// AccountSettingForTest returns the account the transaction's settings
// name (app.account_id) during a read: in a's account, or (own) of the
// user's own.
func AccountSettingForTest(ctx context.Context, d *DB, a crm.Actor, own bool) (string, error) {
	var setting string
	get := func(ctx context.Context, tx *Tx) error {
		return tx.Get(ctx, &setting, `SELECT coalesce(current_setting('app.account_id', true), '')`)
	}
	if own {
		err := d.readAs(ctx, a, func(ctx context.Context, tx *Tx, _ *crm.Principal) error { return get(ctx, tx) })
		return setting, err
	}
	err := d.read(ctx, a, func(ctx context.Context, tx *Tx, _ *entered) error { return get(ctx, tx) })
	return setting, err
}
