package db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"switchboard/crm"
	"switchboard/db"
	"switchboard/db/dbtest"
	"switchboard/secrets"
)

// TestGenericPlansStillFilterByAccount: request statements are prepared
// once per connection and PostgreSQL may run them with a generic plan, made
// without the scope's values. Row-level security must still filter such a
// plan by the transaction's account, since its policy reads the scope at
// run time (app_account_id() is STABLE, not folded into the plan).
func TestGenericPlansStillFilterByAccount(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	owner, err := sqlx.Open("postgres", database.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	user := uuid.Must(uuid.NewV7())
	owner.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at) VALUES ($1, 'plans@example.com', 'P', 'x', now(), now())`, user)
	accounts := map[uuid.UUID]int{uuid.Must(uuid.NewV7()): 3, uuid.Must(uuid.NewV7()): 5}
	for a, n := range accounts {
		owner.MustExec(`INSERT INTO accounts (id, name, created_by, created_at) VALUES ($1, 'Plans', $2, now())`, a, user)
		for i := range n {
			owner.MustExec(`INSERT INTO activity_log (account_id, id, at, actor_id, actor_role, action, entity_type, pos) VALUES ($1, $2, now(), $3, 'Owner', 'x', 'SETTINGS', $4)`,
				a, uuid.Must(uuid.NewV7()), user, i+1)
		}
	}

	ctx := context.Background()
	conn, err := owner.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExec(t, conn, `SET ROLE `+db.RuntimeRole)
	mustExec(t, conn, `SET plan_cache_mode = force_generic_plan`)
	// The statement names no account: only the policy can tell them apart.
	mustExec(t, conn, `PREPARE entries (text) AS SELECT count(*) FROM activity_log WHERE action = $1`)
	var plan []string
	rows, err := conn.QueryContext(ctx, `EXPLAIN EXECUTE entries('x')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	rows.Close()
	text := strings.Join(plan, "\n")
	// app_account_id() is inlined as the setting it reads, read at run time.
	if !strings.Contains(text, "current_setting('app.account_id'") || !strings.Contains(text, "$1") {
		t.Fatalf("the generic plan does not keep the policy's run-time check:\n%s", text)
	}
	for round := range 3 {
		for a, want := range accounts {
			mustExec(t, conn, `SELECT set_config('app.account_id', $1, false)`, a.String())
			var n int
			if err := conn.GetContext(ctx, &n, `EXECUTE entries('x')`); err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Fatalf("round %d, account %s: the generic plan saw %d rows, want %d", round, a, n, want)
			}
		}
	}
	mustExec(t, conn, `SELECT set_config('app.account_id', '', false)`)
	var none int
	if err := conn.GetContext(ctx, &none, `EXECUTE entries('x')`); err != nil || none != 0 {
		t.Fatalf("without a scope the generic plan saw %d rows (%v)", none, err)
	}
}

func mustExec(t *testing.T, conn *sqlx.Conn, query string, args ...any) {
	t.Helper()
	if _, err := conn.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestPreparedStatementsKeepAccountsApart: the same member list, prepared
// once per connection and run many times (past the point PostgreSQL
// switches to a generic plan) over two accounts in turn, always lists the
// account asked for.
func TestPreparedStatementsKeepAccountsApart(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	owner, err := sqlx.Open("postgres", database.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	d := database.Open(t, db.Options{MaxOpenConns: 1}) // one connection: every run reuses its statements
	svc := db.NewAccountServices(d, db.AccountConfig{})
	viewer := uuid.Must(uuid.NewV7())
	token := secrets.NewToken(secrets.PrefixSession)
	owner.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at) VALUES ($1, 'viewer@example.com', 'Viewer', 'x', now(), now())`, viewer)
	owner.MustExec(`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, now(), now(), now() + interval '1 hour')`,
		uuid.Must(uuid.NewV7()), viewer, secrets.HashToken(token))
	sizes := map[uuid.UUID]int{uuid.Must(uuid.NewV7()): 2, uuid.Must(uuid.NewV7()): 4}
	for a, others := range sizes {
		owner.MustExec(`INSERT INTO accounts (id, name, created_by, created_at) VALUES ($1, 'Account', $2, now())`, a, viewer)
		owner.MustExec(`INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, 'ADMIN', now())`, a, viewer)
		for i := range others {
			u := uuid.Must(uuid.NewV7())
			owner.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at) VALUES ($1, $2, 'Member', 'x', now(), now())`,
				u, u.String()+"@example.com")
			owner.MustExec(`INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, 'SALES_REP', now() + $3 * interval '1 second')`, a, u, i)
		}
	}
	for round := range 8 {
		for a, others := range sizes {
			page, err := svc.Members.Members(context.Background(), crm.Actor{Token: token, AccountID: a}, crm.MemberFilter{}, crm.PageArgs{First: 50})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Nodes) != others+1 {
				t.Fatalf("round %d: account %s listed %d members, want %d", round, a, len(page.Nodes), others+1)
			}
		}
	}
}
