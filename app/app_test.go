package app_test

import (
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"switchboard/app"
	"switchboard/crm"
	"switchboard/db/dbtest"
	"switchboard/gateway/gatewaytest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestSeedDemo: a newcomer can sign in with what seed-demo prints, and
// running it again gives a fresh password that works too.
func TestSeedDemo(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	a, err := app.New(t.Context(), app.Options{Config: gatewaytest.Config(t, nil), DatabaseURL: database.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer a.DB.Close()
	first, err := a.SeedDemo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.SeedDemo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first.Password == second.Password || first.Email != second.Email {
		t.Fatalf("%+v then %+v", first, second)
	}
	if _, err := a.Identity.Login(t.Context(), crm.LoginInput{Email: first.Email, Password: first.Password}, crm.Client{}); !crm.IsCode(err, crm.CodeUnauthenticated) {
		t.Fatalf("old demo password: %v", err)
	}
	// Seeding left no session behind: the first sign-in evicts nobody.
	var sessions int
	if err := a.DB.Pool().QueryRowContext(t.Context(), `SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1`,
		second.Email).Scan(&sessions); err != nil || sessions != 0 {
		t.Fatalf("seeding left %d sessions (%v)", sessions, err)
	}
	res, err := a.Identity.Login(t.Context(), crm.LoginInput{Email: second.Email, Password: second.Password}, crm.Client{})
	if err != nil || res.Token == "" {
		t.Fatalf("demo sign-in: %v", err)
	}
	accounts, err := a.Accounts.Accounts.Accounts(t.Context(), crm.Actor{Token: res.Token})
	if err != nil || len(accounts) != 2 {
		t.Fatalf("the demo login has %d accounts (%v), want 2", len(accounts), err)
	}
}

// TestExpiredRowsArePruned: the job queue's leader prunes expired rows on
// start (and hourly).
func TestExpiredRowsArePruned(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	conn, err := sqlx.Open("postgres", database.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// In place before the process starts, so the prune at start sees it.
	conn.MustExec(`INSERT INTO login_throttles (key, failures, last_failure_at) VALUES ('email:long-ago@example.com', 3, now() - interval '3 days')`)
	gatewaytest.Start(t, gatewaytest.Options{Database: database})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := conn.Get(&n, `SELECT count(*) FROM login_throttles WHERE key = 'email:long-ago@example.com'`); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("expired failure count still there after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
