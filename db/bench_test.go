package db_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"switchboard/crm"
	"switchboard/db"
	"switchboard/db/dbtest"
	"switchboard/secrets"
)

// scopeFixture is a user in 10 accounts, one of which has 50 members.
type scopeFixture struct {
	d       *db.DB
	raw     *sqlx.DB
	svc     db.AccountServices
	userID  uuid.UUID
	token   string
	account uuid.UUID
}

func newScopeFixture(b *testing.B) *scopeFixture {
	b.Helper()
	database := dbtest.New(b)
	d := database.Open(b, db.Options{MaxOpenConns: 4})
	raw := sqlx.NewDb(d.Pool(), "postgres")
	now := time.Now().UTC()
	f := &scopeFixture{d: d, raw: raw, svc: db.NewAccountServices(d, db.AccountConfig{Policy: crm.NewPasswordPolicy()})}
	newUser := func(i int) uuid.UUID {
		id := uuid.Must(uuid.NewV7())
		raw.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at) VALUES ($1, $2, $3, 'x', $4, $4)`,
			id, fmt.Sprintf("bench-%d-%s@example.com", i, id), fmt.Sprintf("Member %03d", i), now)
		return id
	}
	me := newUser(0)
	f.userID = me
	f.token = secrets.NewToken(secrets.PrefixSession)
	raw.MustExec(`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)`,
		uuid.Must(uuid.NewV7()), me, secrets.HashToken(f.token), now, now.Add(24*time.Hour))
	for a := range 10 {
		acct := uuid.Must(uuid.NewV7())
		raw.MustExec(`INSERT INTO accounts (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)`, acct, fmt.Sprintf("Account %d", a), me, now)
		raw.MustExec(`INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, 'ADMIN', $3)`, acct, me, now)
		if a == 0 {
			f.account = acct
			for i := 1; i < 50; i++ {
				raw.MustExec(`INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, 'SALES_REP', $3)`, acct, newUser(i), now)
			}
		}
	}
	return f
}

// measure runs fn b.N times and reports p50 and p99 in microseconds.
func measure(b *testing.B, fn func(ctx context.Context) error) {
	b.Helper()
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := fn(ctx); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	at := func(p float64) float64 {
		return float64(samples[min(int(float64(len(samples)-1)*p+0.5), len(samples)-1)].Microseconds())
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkScopeOverhead compares the service path (a transaction that
// switches to the runtime role, sets the scope, verifies the membership,
// role and allowlist, then reads under row-level security) with the same
// read issued bare, as the tables' owner, with none of that. The
// difference is what isolation costs per request.
//
//	make bench BENCH=ScopeOverhead BENCHTIME=3000x BENCHCOUNT=5
func BenchmarkScopeOverhead(b *testing.B) {
	f := newScopeFixture(b)
	actor := crm.Actor{Token: f.token, AccountID: f.account}
	b.Run("switcher/scoped", func(b *testing.B) {
		measure(b, func(ctx context.Context) error {
			got, err := f.svc.Accounts.Accounts(ctx, actor)
			if err == nil && len(got) != 10 {
				err = fmt.Errorf("%d accounts", len(got))
			}
			return err
		})
	})
	b.Run("switcher/bare", func(b *testing.B) {
		measure(b, func(ctx context.Context) error {
			var rows []struct {
				AccountID uuid.UUID `db:"account_id"`
				Role      *string   `db:"role"`
				Name      string    `db:"name"`
			}
			err := f.raw.SelectContext(ctx, &rows, `
				SELECT m.account_id, m.role, a.name FROM memberships m JOIN accounts a ON a.id = m.account_id
				LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id
				WHERE m.user_id = $1 AND m.status <> 'REMOVED' ORDER BY lower(a.name), a.id`, f.userID)
			if err == nil && len(rows) != 10 {
				err = fmt.Errorf("%d accounts", len(rows))
			}
			return err
		})
	})
	b.Run("members50/scoped", func(b *testing.B) {
		measure(b, func(ctx context.Context) error {
			page, err := f.svc.Members.Members(ctx, actor, crm.MemberFilter{LastSeen: true}, crm.PageArgs{First: 50})
			if err == nil && len(page.Nodes) != 50 {
				err = fmt.Errorf("%d members", len(page.Nodes))
			}
			return err
		})
	})
	b.Run("members50/bare", func(b *testing.B) {
		measure(b, func(ctx context.Context) error {
			var rows []struct {
				UserID     uuid.UUID  `db:"user_id"`
				Name       string     `db:"name"`
				Email      string     `db:"email"`
				Role       *string    `db:"role"`
				LastSeenAt *time.Time `db:"last_seen_at"`
			}
			err := f.raw.SelectContext(ctx, &rows, `
				SELECT m.user_id, coalesce(m.display_name, u.name) AS name, u.email, m.role,
					(SELECT max(s.last_seen_at) FROM sessions s WHERE s.user_id = m.user_id) AS last_seen_at
				FROM memberships m JOIN users u ON u.id = m.user_id
				LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.custom_role_id
				WHERE m.account_id = $1 AND m.status IN ('ACTIVE', 'DEACTIVATED')
				ORDER BY lower(coalesce(m.display_name, u.name)), m.user_id LIMIT 51`, f.account)
			if err == nil && len(rows) != 50 {
				err = fmt.Errorf("%d members", len(rows))
			}
			return err
		})
	})
}

// BenchmarkStreamRecheck is what the gateway's periodic re-check costs a
// process holding 20,000 streams (each its own session, in 1,000 accounts):
// reading every session (and touching those due) and every stream's access.
//
//	make bench BENCH=StreamRecheck BENCHTIME=10x BENCHCOUNT=5
func BenchmarkStreamRecheck(b *testing.B) {
	const streams, accounts = 20000, 1000
	database := dbtest.New(b)
	raw := sqlx.MustOpen("postgres", database.URL)
	defer raw.Close()
	now := time.Now().UTC()
	accountIDs := make([]uuid.UUID, accounts)
	for i := range accountIDs {
		accountIDs[i] = uuid.Must(uuid.NewV7())
	}
	owner := uuid.Must(uuid.NewV7())
	raw.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at) VALUES ($1, 'owner@example.com', 'O', 'x', $2, $2)`, owner, now)
	raw.MustExec(`INSERT INTO accounts (id, name, created_by, created_at) SELECT a, 'Account', $2, $3 FROM unnest($1::uuid[]) AS a`,
		pq.Array(uuidStrings(accountIDs)), owner, now)
	sessions := make([]uuid.UUID, streams)
	scopes := make([]crm.StreamScope, streams)
	users := make([]uuid.UUID, streams)
	for i := range streams {
		users[i], sessions[i] = uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
		scopes[i] = crm.StreamScope{UserID: users[i], AccountID: accountIDs[i%accounts], IP: netip.MustParseAddr("192.0.2.1")}
	}
	raw.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at)
		SELECT u, u::text || '@example.com', 'Streamer', 'x', $2, $2 FROM unnest($1::uuid[]) AS u`, pq.Array(uuidStrings(users)), now)
	raw.MustExec(`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at)
		SELECT s, u, sha256(s::text::bytea), $3, $3, $4 FROM unnest($1::uuid[], $2::uuid[]) AS t (s, u)`,
		pq.Array(uuidStrings(sessions)), pq.Array(uuidStrings(users)), now.Add(-10*time.Minute), now.Add(time.Hour))
	accountsOf := make([]string, streams)
	for i, sc := range scopes {
		accountsOf[i] = sc.AccountID.String()
	}
	raw.MustExec(`INSERT INTO memberships (account_id, user_id, role, created_at) SELECT a, u, 'SALES_REP', $3 FROM unnest($1::uuid[], $2::uuid[]) AS t (a, u)`,
		pq.Array(accountsOf), pq.Array(uuidStrings(users)), now)
	raw.MustExec(`ANALYZE`)

	d := database.Open(b, db.Options{MaxOpenConns: 4})
	identity := db.NewIdentityService(d, db.IdentityConfig{})
	access := db.NewAccountServices(d, db.AccountConfig{}).Accounts
	ctx := context.Background()
	b.Run("sessions", func(b *testing.B) {
		for b.Loop() {
			if ends, err := identity.CheckSessions(ctx, sessions); err != nil || len(ends) != 0 {
				b.Fatalf("%d ended, %v", len(ends), err)
			}
		}
	})
	b.Run("access", func(b *testing.B) {
		for b.Loop() {
			if losses, err := access.CheckAccess(ctx, scopes); err != nil || len(losses) != 0 {
				b.Fatalf("%d lost, %v", len(losses), err)
			}
		}
	})
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
