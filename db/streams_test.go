package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"switchboard/db"
	"switchboard/db/dbtest"
)

// The streams' invariant (migration 00013): positions are 1, 2, 3, ...
// with no gap, in commit order, so that a reader that sees position n has
// seen every position below it. Writers here publish through app_publish,
// as the runtime role, each transaction taking a while before it commits,
// some rolling back; a reader reads all the while.
func TestStreamPositionsFollowCommitOrder(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	conn, err := sqlx.Open("postgres", database.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetMaxOpenConns(16)
	user, account := uuid.New(), uuid.New()
	conn.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at) VALUES ($1, 'streams@example.com', 'S', 'x', now(), now())`, user)
	conn.MustExec(`INSERT INTO accounts (id, name, created_by, created_at) VALUES ($1, 'Streams', $2, now())`, account, user)

	const writers, each = 8, 40
	var committed atomic.Int64
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var reads, holes atomic.Int64
	var reader sync.WaitGroup
	reader.Go(func() {
		for ctx.Err() == nil {
			var pos []int64
			if err := conn.Select(&pos, `SELECT pos FROM activity_log WHERE account_id = $1 ORDER BY pos`, account); err != nil {
				if ctx.Err() == nil {
					t.Error(err)
				}
				return
			}
			reads.Add(1)
			for i, p := range pos {
				if p != int64(i+1) {
					holes.Add(1)
					t.Errorf("a reader saw positions %v: %d before %d", pos[max(0, i-2):min(len(pos), i+2)], pos[max(0, i-1)], p)
					return
				}
			}
		}
	})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				tx, err := conn.BeginTxx(ctx, nil)
				if err != nil {
					t.Error(err)
					return
				}
				tx.MustExec(`SELECT set_config('role', $1, true), set_config('app.account_id', $2, true)`, db.RuntimeRole, account.String())
				tx.MustExec(`SELECT app_publish(jsonb_build_array(jsonb_build_object('ord', 0, 'account_id', $1::uuid, 'id', gen_random_uuid(),
					'at', now(), 'actor_id', $2::uuid, 'actor_role', 'Owner', 'action', $3::text, 'entity_type', 'SETTINGS', 'changes', '{}'::jsonb)),
					'[]', true)`, account, user, fmt.Sprintf("w%d.%d", w, i))
				// Commit late, sometimes not at all.
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				if rand.IntN(5) == 0 {
					_ = tx.Rollback()
					continue
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
					return
				}
				committed.Add(1)
			}
		})
	}
	wg.Wait()
	stop()
	reader.Wait()

	var pos []int64
	if err := conn.Select(&pos, `SELECT pos FROM activity_log WHERE account_id = $1 ORDER BY pos`, account); err != nil {
		t.Fatal(err)
	}
	want := make([]int64, committed.Load())
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(pos, want) {
		t.Fatalf("positions %v, want 1..%d", pos, len(want))
	}
	var last int64
	if err := conn.Get(&last, `SELECT last FROM activity_streams WHERE account_id = $1`, account); err != nil || last != int64(len(want)) {
		t.Fatalf("stream's last %d (%v), want %d", last, err, len(want))
	}
	t.Logf("%d commits, %d rolled back, %d reads, none saw a gap", len(want), writers*each-len(want), reads.Load())
}

// TestNotificationRetention: notifications older than the retention are
// pruned, and their stream says how far, so an older cursor is refused
// rather than replayed with a hole.
func TestNotificationRetention(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	d := database.Open(t, db.Options{Clock: clock, NotificationRetention: 24 * time.Hour})
	conn := sqlx.NewDb(d.Pool(), "postgres")
	user, account := uuid.New(), uuid.New()
	conn.MustExec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at) VALUES ($1, 'kept@example.com', 'K', 'x', now(), now())`, user)
	conn.MustExec(`INSERT INTO accounts (id, name, created_by, created_at) VALUES ($1, 'Kept', $2, now())`, account, user)
	tx := conn.MustBegin()
	tx.MustExec(`SELECT set_config('app.account_id', $1, true)`, account.String())
	tx.MustExec(`SELECT app_publish('[]', (SELECT jsonb_agg(jsonb_build_object('ord', i, 'account_id', $1::uuid, 'id', gen_random_uuid(),
		'recipient_id', $2::uuid, 'at', $3::timestamptz - make_interval(days => 3 - i), 'kind', 'ROLE_CHANGED', 'message', 'm' || i))
		FROM generate_series(0, 3) i), true)`, account, user, now)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Positions 1 and 2 are three and two days old, past the retention; 3
	// is just a day old; 4 is new.
	if _, err := d.Prune(t.Context()); err != nil {
		t.Fatal(err)
	}
	feed := d.NotificationFeed()
	last, floor, err := feed.Head(t.Context(), user)
	if err != nil || last != 4 || floor != 2 {
		t.Fatalf("head %d, floor %d (%v); want 4 and 2", last, floor, err)
	}
	kept, err := feed.Since(t.Context(), user, 0, 10)
	if err != nil || len(kept) != 2 || kept[0].Pos != 3 || kept[1].Pos != 4 {
		t.Fatalf("kept %+v (%v)", kept, err)
	}
}
