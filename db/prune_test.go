package db_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"switchboard/db"
	"switchboard/db/dbtest"
)

func TestPruneKeepsWhatIsStillUseful(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	d := database.Open(t, db.Options{})
	conn := sqlx.NewDb(d.Pool(), "postgres")
	now := time.Now().UTC()
	user := uuid.New()
	conn.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at) VALUES ($1, 'prune@example.com', 'P', 'x', $2, $2)`, user, now)
	hash := func(b byte) []byte { h := make([]byte, 32); h[0] = b; return h }
	old, fresh := now.Add(-48*time.Hour), now.Add(-time.Hour)
	conn.MustExec(`INSERT INTO login_challenges (id, token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $4), ($5, $6, $3, $7, $8)`,
		uuid.New(), hash(1), user, old, uuid.New(), hash(2), fresh, now.Add(time.Minute))
	conn.MustExec(`INSERT INTO password_resets (token_hash, user_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $3, $3), ($4, $2, $5, $6, NULL)`,
		hash(3), user, old, hash(4), fresh, now.Add(time.Hour))
	conn.MustExec(`INSERT INTO login_throttles (key, failures, last_failure_at, blocked_until) VALUES
		('email:old', 3, $1, NULL), ('email:recent', 6, $2, NULL), ('email:blocked', 20, $1, $3)`, old, fresh, now.Add(time.Hour))

	n, err := d.Prune(t.Context())
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want 3", n, err)
	}
	for table, want := range map[string]int{"login_challenges": 1, "password_resets": 1, "login_throttles": 2} {
		var got int
		if err := conn.Get(&got, `SELECT count(*) FROM `+table); err != nil || got != want {
			t.Errorf("%s: %d rows left (%v), want %d", table, got, err, want)
		}
	}
}
