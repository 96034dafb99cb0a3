package db_test

import (
	"context"
	"testing"

	"switchboard/db"
	"switchboard/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestRequestWorkRunsAsRuntimeRole proves invariant 3's premise: request
// transactions do not run as the (superuser) URL user.
func TestRequestWorkRunsAsRuntimeRole(t *testing.T) {
	t.Parallel()
	d, _ := dbtest.Tx(t, db.Options{})
	var user string
	err := db.RunInTxForTest(t.Context(), d, func(ctx context.Context, tx *db.Tx) error {
		return tx.Get(ctx, &user, `SELECT current_user`)
	})
	if err != nil {
		t.Fatal(err)
	}
	if user != db.RuntimeRole {
		t.Fatalf("transaction runs as %q, want %q", user, db.RuntimeRole)
	}
	var role struct {
		Super  bool `db:"rolsuper"`
		Bypass bool `db:"rolbypassrls"`
	}
	if err := db.RunInTxForTest(t.Context(), d, func(ctx context.Context, tx *db.Tx) error {
		return tx.Get(ctx, &role, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`)
	}); err != nil {
		t.Fatal(err)
	}
	if role.Super || role.Bypass {
		t.Fatalf("runtime role: superuser %v, bypassrls %v", role.Super, role.Bypass)
	}
}

// TestAWriteInsideAnOperationKeepsItsReadsUnderTheRuntimeRole: on a
// rolled-back test transaction, a write during an operation is a savepoint
// inside the operation's; when it ends, the operation's reads must still
// run as the runtime role, under row-level security, as on a real pool.
func TestAWriteInsideAnOperationKeepsItsReadsUnderTheRuntimeRole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	ctx, end := f.d.BeginOperation(f.ctx, owner.Actor, true)
	defer end()
	_, err := f.ident.Authenticate(ctx, owner.Token) // begins the operation's transaction
	noErr(t, err)
	_, err = f.Accounts.RenameAccount(ctx, owner.Actor, "Renamed")
	noErr(t, err)
	var user string
	noErr(t, f.raw.Get(&user, `SELECT current_user`)) // the same connection, inside the operation's transaction
	if user != db.RuntimeRole {
		t.Fatalf("after a write, the operation's reads run as %q", user)
	}
}
