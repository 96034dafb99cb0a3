package pgbus_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"switchboard/db/dbtest"
	"switchboard/realtime"
	"switchboard/realtime/pgbus"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func startBus(t *testing.T) (*pgbus.Bus, *sqlx.DB, chan struct{}) {
	t.Helper()
	database := dbtest.New(t)
	bus := pgbus.New(database.URL, nil)
	connected := make(chan struct{}, 4)
	bus.OnConnect(func(context.Context) { connected <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-bus.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("bus never listened")
	}
	conn, err := sqlx.Open("postgres", database.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return bus, conn, connected
}

func publish(t *testing.T, conn *sqlx.DB, topic string) {
	t.Helper()
	payload, _ := json.Marshal(realtime.Envelope{Topic: topic, Type: "test", Data: json.RawMessage(`{}`)})
	if _, err := conn.Exec(`SELECT pg_notify($1, $2)`, realtime.Channel, string(payload)); err != nil {
		t.Fatal(err)
	}
}

func TestDeliversCommittedEventsToTheirTopic(t *testing.T) {
	t.Parallel()
	bus, conn, connected := startBus(t)
	<-connected
	a, b := bus.Subscribe("a"), bus.Subscribe("b")
	defer a.Close()
	defer b.Close()
	var seen []string
	var mu sync.Mutex
	bus.OnEvent(func(e realtime.Envelope) { mu.Lock(); seen = append(seen, e.Topic); mu.Unlock() })

	// An event in a rolled-back transaction never arrives.
	tx := conn.MustBegin()
	payload, _ := json.Marshal(realtime.Envelope{Topic: "a", Type: "phantom"})
	if _, err := tx.Exec(`SELECT pg_notify($1, $2)`, realtime.Channel, string(payload)); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
	publish(t, conn, "a")
	select {
	case e := <-a.C():
		if e.Type != "test" {
			t.Fatalf("got %+v: a rolled-back event arrived", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	select {
	case e := <-b.C():
		t.Fatalf("topic b got %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "a" {
		t.Fatalf("handlers saw %v", seen)
	}
}

func TestSlowSubscriberIsEndedNotBuffered(t *testing.T) {
	t.Parallel()
	bus, _, _ := startBus(t)
	slow := bus.Subscribe("x")
	for range 200 {
		bus.Deliver(realtime.Envelope{Topic: "x", Type: "test", Data: json.RawMessage(`{}`)})
	}
	n := 0
	for range slow.C() {
		n++
	}
	if slow.Err() != realtime.ErrOverflow || n == 0 || n >= 200 {
		t.Fatalf("received %d of 200, err %v", n, slow.Err())
	}
}

func TestReconnectsAndAnnouncesIt(t *testing.T) {
	t.Parallel()
	bus, conn, connected := startBus(t)
	<-connected
	sub := bus.Subscribe("after")
	defer sub.Close()
	var n int
	if err := conn.Get(&n, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`); err != nil || n != 1 {
		t.Fatalf("terminated %d listeners: %v", n, err)
	}
	select {
	case <-connected:
	case <-time.After(15 * time.Second):
		t.Fatal("no reconnect announced")
	}
	publish(t, conn, "after")
	select {
	case <-sub.C():
	case <-time.After(5 * time.Second):
		t.Fatal("no event after reconnecting")
	}
}
