package dbtest_test

import (
	"testing"

	"github.com/jmoiron/sqlx"

	"switchboard/db"
	"switchboard/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestTxRollsBack writes in one test transaction and checks a second one
// cannot see it, and that it is gone after rollback.
func TestTxRollsBack(t *testing.T) {
	t.Parallel()
	_, tx := dbtest.Tx(t, db.Options{})
	if _, err := tx.Exec(`CREATE TABLE dbtest_probe (n int)`); err != nil {
		t.Fatal(err)
	}
	_, other := dbtest.Tx(t, db.Options{})
	var n int
	if err := other.Get(&n, `SELECT count(*) FROM pg_tables WHERE tablename = 'dbtest_probe'`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("another test's transaction sees an uncommitted table")
	}
}

// TestNewIsMigratedAndPrivate checks a cloned database has every migration
// and is not shared with other tests.
func TestNewIsMigratedAndPrivate(t *testing.T) {
	t.Parallel()
	a, b := dbtest.New(t), dbtest.New(t)
	if a.Name == b.Name {
		t.Fatal("two tests got the same database")
	}
	d := a.Open(t, db.Options{})
	pending, err := db.PendingMigrations(t.Context(), d.Pool())
	if err != nil || pending != 0 {
		t.Fatalf("clone has %d pending migrations (%v)", pending, err)
	}
	conn := sqlx.NewDb(d.Pool(), "postgres")
	if _, err := conn.Exec(`CREATE TABLE only_in_a (n int)`); err != nil {
		t.Fatal(err)
	}
	other := sqlx.NewDb(b.Open(t, db.Options{}).Pool(), "postgres")
	var n int
	if err := other.Get(&n, `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`); err != nil || n != 0 {
		t.Fatalf("table leaked across test databases (n=%d, %v)", n, err)
	}
}
