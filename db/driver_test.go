package db_test

import (
	"context"
	"database/sql"
	"testing"

	"switchboard/db"
	"switchboard/db/dbtest"
)

// TestTransactionsBeginWithTheirFirstStatement: the request pool's driver
// sends BEGIN with a transaction's first statement, and the transaction is
// one all the same, whatever its first statement (with parameters or
// without, a query or not, failing or not), and whatever its end.
func TestTransactionsBeginWithTheirFirstStatement(t *testing.T) {
	t.Parallel()
	pool, err := db.OpenPreparedForTest(dbtest.New(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pool.SetMaxOpenConns(1) // every transaction on the same connection
	ctx := context.Background()
	setting := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) string {
		var v string
		if err := q.QueryRowContext(ctx, `SELECT current_setting('test.v', true)`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	begin := func() *sql.Tx {
		tx, err := pool.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}

	for name, first := range map[string]func(tx *sql.Tx) error{
		"query without parameters": func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, `SELECT set_config('test.v', 'in', true)`).Scan(new(string))
		},
		"query with parameters": func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, `SELECT set_config('test.v', $1, true)`, "in").Scan(new(string))
		},
		"exec without parameters": func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `SELECT set_config('test.v', 'in', true)`)
			return err
		},
		"exec with parameters": func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `SELECT set_config('test.v', $1, true)`, "in")
			return err
		},
	} {
		tx := begin()
		if err := first(tx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// A setting local to the transaction lasts until its end, and no
		// further.
		if v := setting(tx); v != "in" {
			t.Errorf("%s: a local setting reads %q in its transaction, want it kept", name, v)
		}
		if err := tx.Commit(); err != nil {
			t.Fatalf("%s: commit: %v", name, err)
		}
		if v := setting(pool); v != "" {
			t.Errorf("%s: a local setting reads %q after the commit", name, v)
		}
	}

	// A rollback undoes the first statement's work.
	if _, err := pool.ExecContext(ctx, `CREATE TEMP TABLE t (n int)`); err != nil {
		t.Fatal(err)
	}
	tx := begin()
	if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after a rollback the table holds %d rows (%v), want 0", n, err)
	}

	// A first statement that fails leaves a transaction to roll back, and
	// the connection usable.
	tx = begin()
	if _, err := tx.ExecContext(ctx, `SELECT 1/0`); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback after a failed first statement: %v", err)
	}
	if err := pool.QueryRowContext(ctx, `SELECT 1`).Scan(&n); err != nil {
		t.Fatalf("the connection after a failed transaction: %v", err)
	}

	// A transaction that sent nothing ends without a word to the server.
	for _, end := range []func(*sql.Tx) error{(*sql.Tx).Commit, (*sql.Tx).Rollback} {
		if err := end(begin()); err != nil {
			t.Fatal(err)
		}
	}
	if err := pool.QueryRowContext(ctx, `SELECT 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var state string
	if err := pool.QueryRowContext(ctx, `SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&state); err != nil || state != "active" {
		t.Errorf("after empty transactions the connection is %q (%v), want outside any transaction", state, err)
	}
	var inTx bool
	if err := pool.QueryRowContext(ctx, `SELECT now() <> statement_timestamp()`).Scan(&inTx); err != nil || inTx {
		t.Errorf("a statement after empty transactions runs in a transaction begun earlier (%v)", err)
	}
}
