package pgbus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/goleak"

	"switchboard/db/dbtest"
	"switchboard/realtime"
	"switchboard/realtime/bustest"
	"switchboard/realtime/pgbus"
)

// No test here uses dbtest.Tx, so dbtest.Main has nothing to drop.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the bus suite on one database, each bus connecting
// with an application_name of its own so that Disrupt can end its
// listening connection.
func TestConformance(t *testing.T) {
	database := dbtest.New(t)
	conn := open(t, database.URL)
	var mu sync.Mutex
	names := map[realtime.Bus]string{}
	var n atomic.Int64
	bustest.Run(t, bustest.Harness{
		Open: func(t *testing.T) realtime.Bus {
			name := fmt.Sprintf("pgbus_test_%d", n.Add(1))
			u, err := url.Parse(database.URL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("application_name", name)
			u.RawQuery = q.Encode()
			bus := pgbus.New(u.String(), nil)
			mu.Lock()
			defer mu.Unlock()
			names[bus] = name
			return bus
		},
		// pq reconnects at once, so the disruption lasts until then.
		Disrupt: func(t *testing.T, bus realtime.Bus) func() {
			mu.Lock()
			name := names[bus]
			mu.Unlock()
			var ended int
			if err := conn.Get(&ended, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND query LIKE 'LISTEN %'`, name); err != nil || ended != 1 {
				t.Fatalf("ended %d listening connections of %s: %v", ended, name, err)
			}
			return func() {}
		},
	})
}

// TestNotificationsArriveWhenTheirTransactionCommits publishes as writers
// do, with pg_notify in their transactions: a rolled-back transaction's
// event never arrives, a committed one's does.
func TestNotificationsArriveWhenTheirTransactionCommits(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	bus := pgbus.New(database.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	wait(t, bus.Ready(), "the bus to be ready")
	sub := bus.Subscribe("a")
	defer sub.Close()

	conn := open(t, database.URL)
	for _, commit := range []bool{false, true} {
		tx := conn.MustBegin()
		payload, _ := json.Marshal(realtime.Envelope{Topic: "a", Type: fmt.Sprint("committed=", commit)})
		if _, err := tx.Exec(`SELECT pg_notify($1, $2)`, realtime.Channel, string(payload)); err != nil {
			t.Fatal(err)
		}
		if !commit {
			_ = tx.Rollback()
		} else if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case e := <-sub.C():
		if e.Type != "committed=true" {
			t.Fatalf("got %+v: a rolled-back event arrived", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
}

func open(t *testing.T, dsn string) *sqlx.DB {
	t.Helper()
	conn, err := sqlx.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRunLeavesNoListenerBehind ends Run while notifications it no longer
// reads are still coming: the listener's goroutines end all the same
// (goleak in TestMain checks).
func TestRunLeavesNoListenerBehind(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	bus := pgbus.New(database.URL, nil)
	// Holds the bus on its first event, so that the others queue up.
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	bus.OnEvent(func(realtime.Envelope) {
		select {
		case held <- struct{}{}:
			<-release
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx) }()
	wait(t, bus.Ready(), "the bus to be ready")
	events := make([]realtime.Envelope, 100)
	for i := range events {
		events[i] = realtime.Envelope{Topic: "a", Type: fmt.Sprint(i), Data: json.RawMessage(`{}`)}
	}
	if err := bus.Publish(ctx, events...); err != nil {
		t.Fatal(err)
	}
	wait(t, held, "the first event")
	cancel()
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run has not returned 10 s after its context ended")
	}
}

func wait[T any](t *testing.T, c <-chan T, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10 s for %s", what)
	}
}
