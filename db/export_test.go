package db

import "context"

// RunInTxForTest exposes inTx to the external tests of this package.
func RunInTxForTest(ctx context.Context, d *DB, fn func(ctx context.Context, tx *Tx) error) error {
	return d.inTx(ctx, Scope{}, fn)
}

// OpenPreparedForTest exposes the request pool's driver (openPrepared).
var OpenPreparedForTest = openPrepared

// IndexAllSQLForTest is the statement that indexes every record of t.
var IndexAllSQLForTest = indexAllSQL
