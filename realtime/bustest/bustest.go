// Package bustest is the conformance suite every realtime.Bus passes, run
// by each implementation's tests against its real backend: events reach
// every process in one order and only their topic, Ready and the reconnect
// hooks, events across a disruption, slow subscribers, Close, and Run's
// return.
package bustest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"switchboard/realtime"
)

// Harness opens buses of one implementation on one backend, as separate
// gateway processes would run them.
type Harness struct {
	// Open returns a new bus, not yet running, on the backend that every
	// bus of the harness shares; parallel tests call it. The suite runs
	// the bus and stops it when the test ends.
	Open func(t *testing.T) realtime.Bus
	// Disrupt cuts bus's connection to the backend, and keeps it cut until
	// restore is called where the harness can (otherwise the bus may
	// reconnect at once). After restore the bus reconnects by itself.
	Disrupt func(t *testing.T, bus realtime.Bus) (restore func())
	// KeepsEventsAcrossReconnect says that a bus receives, once it has
	// reconnected, the events published while it was cut off. Without it
	// they may be lost (LISTEN/NOTIFY), and the suite checks only that the
	// bus works again.
	KeepsEventsAcrossReconnect bool
}

// timeout bounds every wait, so that a broken bus fails a test instead of
// hanging it.
const timeout = 10 * time.Second

// Run runs the suite, as parallel subtests of t.
func Run(t *testing.T, h Harness) {
	for _, test := range []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"EventsReachEveryBusInOneOrder", eventsReachEveryBusInOneOrder},
		{"Disruption", disruption},
		{"SlowSubscriberIsEnded", slowSubscriberIsEnded},
		{"CloseStopsDelivery", closeStopsDelivery},
	} {
		t.Run(test.name, func(t *testing.T) {
			t.Parallel()
			test.run(t, h)
		})
	}
}

// eventsReachEveryBusInOneOrder publishes from two buses at once, one in a
// batch and one event per call: every Subscribe and Watch of the topic on
// every bus receives each event once, all in the same order, each
// publisher's in its order, and another topic receives none of them.
func eventsReachEveryBusInOneOrder(t *testing.T, h Harness) {
	topic, other := topicOf(t, "events"), topicOf(t, "other")
	const perPublisher = 5
	type receivers struct {
		sub, other *realtime.Subscription
		watched    chan realtime.Envelope
	}
	buses := []running{start(t, h), start(t, h), start(t, h)}
	var rs []receivers
	for _, bus := range buses {
		// Room for every event and one too many; a watch must not block.
		watched := make(chan realtime.Envelope, 2*perPublisher+1)
		t.Cleanup(bus.Watch(topic, func(e realtime.Envelope) { offer(watched, e) }))
		rs = append(rs, receivers{sub: subscribe(t, bus, topic), other: subscribe(t, bus, other), watched: watched})
	}

	var batch, oneByOne []realtime.Envelope
	for i := range perPublisher {
		batch = append(batch, event(topic, i))
		oneByOne = append(oneByOne, event(topic, perPublisher+i))
	}
	errs := make(chan error, 2)
	go func() { errs <- publish(buses[0], batch...) }()
	go func() {
		for _, e := range oneByOne {
			if err := publish(buses[1], e); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Published after the others, so a bus delivers it after them, and
	// after any of them that wrongly reached its topic.
	marker := event(other, 0)
	if err := publish(buses[2], marker); err != nil {
		t.Fatal(err)
	}

	var order []string
	for i, r := range rs {
		for _, c := range []struct {
			name string
			c    <-chan realtime.Envelope
		}{{"Subscribe", r.sub.C()}, {"Watch", r.watched}} {
			var got []string
			for range 2 * perPublisher {
				got = append(got, key(next(t, c.c, c.name)))
			}
			if order == nil {
				order = got
				if !slices.Equal(only(got, batch), keys(batch)) || !slices.Equal(only(got, oneByOne), keys(oneByOne)) {
					t.Errorf("bus %d, %s: a publisher's events are out of its order: %v", i, c.name, got)
				}
			} else if !slices.Equal(got, order) {
				t.Errorf("bus %d, %s: received %v, bus 0 %v", i, c.name, got, order)
			}
		}
		if got := next(t, r.other.C(), "the other topic"); key(got) != key(marker) {
			t.Errorf("bus %d: the other topic received %s before its own event", i, key(got))
		}
		// Every event of the topic came before the marker: any left now
		// is one too many.
		for _, c := range []<-chan realtime.Envelope{r.sub.C(), r.watched} {
			select {
			case e := <-c:
				t.Errorf("bus %d: received %s twice or unpublished", i, key(e))
			default:
			}
		}
	}
}

// disruption cuts one bus off: its OnConnect hooks run again once it is
// back, the events published meanwhile reach it if the harness says they
// are kept, and it receives new events.
func disruption(t *testing.T, h Harness) {
	topic := topicOf(t, "events")
	publisher, cut := start(t, h), start(t, h)
	waitConnect(t, publisher, "first connection")
	waitConnect(t, cut, "first connection")
	seen, sub := subscribe(t, publisher, topic), subscribe(t, cut, topic)

	restore := h.Disrupt(t, cut.Bus)
	missed := []realtime.Envelope{event(topic, 1), event(topic, 2), event(topic, 3)}
	if err := publish(publisher, missed...); err != nil {
		t.Fatal(err)
	}
	// They are on the backend before the bus may reconnect.
	for _, e := range missed {
		if got := next(t, seen.C(), "the publishing bus"); key(got) != key(e) {
			t.Fatalf("the publishing bus received %s, want %s", key(got), key(e))
		}
	}
	restore()
	waitConnect(t, cut, "reconnection after the disruption")

	after := event(topic, 4)
	if err := publish(publisher, after); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) == 0 || got[len(got)-1] != key(after) {
		got = append(got, key(next(t, sub.C(), "the disrupted bus")))
	}
	want := keys(append(missed, after))
	if h.KeepsEventsAcrossReconnect && !slices.Equal(got, want) {
		t.Errorf("the disrupted bus received %v, want %v", got, want)
	}
	if !h.KeepsEventsAcrossReconnect && !subsequence(got, want) {
		t.Errorf("the disrupted bus received %v, want some of %v in order", got, want)
	}
}

// slowSubscriberIsEnded has one subscriber read every event while another
// of the same topic reads none: the slow one is ended with ErrOverflow
// after the first events, the fast one gets them all.
func slowSubscriberIsEnded(t *testing.T, h Harness) {
	topic := topicOf(t, "events")
	bus := start(t, h)
	slow, fast := subscribe(t, bus, topic), subscribe(t, bus, topic)
	// The fast subscriber reads each round before the next is published,
	// so it never has more than a round pending.
	const rounds, perRound = 8, 32
	var sent []string
	for r := range rounds {
		var round []realtime.Envelope
		for i := range perRound {
			round = append(round, event(topic, r*perRound+i))
		}
		if err := publish(bus, round...); err != nil {
			t.Fatal(err)
		}
		for _, e := range round {
			if got := next(t, fast.C(), "the fast subscriber"); key(got) != key(e) {
				t.Fatalf("the fast subscriber received %s, want %s", key(got), key(e))
			}
			sent = append(sent, key(e))
		}
	}
	var got []string
	for open := true; open; {
		select {
		case e, ok := <-slow.C():
			if open = ok; ok {
				got = append(got, key(e))
			}
		default:
			t.Fatalf("the slow subscriber is still open after %d events", len(sent))
		}
	}
	if !errors.Is(slow.Err(), realtime.ErrOverflow) {
		t.Errorf("the slow subscriber ended with %v, want ErrOverflow", slow.Err())
	}
	if len(got) == 0 || len(got) == len(sent) || !slices.Equal(got, sent[:len(got)]) {
		t.Errorf("the slow subscriber received %d events, want the first of %d", len(got), len(sent))
	}
	if fast.Err() != nil {
		t.Errorf("the fast subscriber ended: %v", fast.Err())
	}
}

// closeStopsDelivery closes a subscription and stops a watch: the
// subscription's channel closes with no error, and neither receives the
// next event, which an open subscription does.
func closeStopsDelivery(t *testing.T, h Harness) {
	topic := topicOf(t, "events")
	bus := start(t, h)
	closed, open := bus.Subscribe(topic), subscribe(t, bus, topic)
	watched := make(chan realtime.Envelope, 1)
	stop := bus.Watch(topic, func(e realtime.Envelope) { offer(watched, e) })
	closed.Close()
	stop()
	if err := publish(bus, event(topic, 1)); err != nil {
		t.Fatal(err)
	}
	next(t, open.C(), "the open subscription")
	select {
	case e, ok := <-closed.C():
		if ok {
			t.Errorf("a closed subscription received %s", key(e))
		}
	default:
		t.Error("a closed subscription's channel is open")
	}
	if closed.Err() != nil {
		t.Errorf("a closed subscription's Err is %v, want nil", closed.Err())
	}
	select {
	case e := <-watched:
		t.Errorf("a stopped watch received %s", key(e))
	default:
	}
}

// running is a bus the suite started, with the runs of its OnConnect
// hooks.
type running struct {
	realtime.Bus
	connects chan struct{}
}

// start runs a new bus until the test ends, checks then that Run returns
// nil, and returns the bus once it is ready.
func start(t *testing.T, h Harness) running {
	t.Helper()
	bus := running{Bus: h.Open(t), connects: make(chan struct{})}
	bus.OnConnect(func(ctx context.Context) {
		select {
		case bus.connects <- struct{}{}:
		case <-ctx.Done():
		}
	})
	select {
	case <-bus.Ready():
		t.Fatal("Ready is closed before Run started")
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runErr = bus.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("Run returned %v when its context ended, want nil", runErr)
			}
		case <-time.After(timeout):
			t.Errorf("Run has not returned %s after its context ended", timeout)
		}
	})
	select {
	case <-bus.Ready():
	case <-done:
		t.Fatalf("Run returned before the bus was ready: %v", runErr)
	case <-time.After(timeout):
		t.Fatalf("the bus is not ready after %s", timeout)
	}
	return bus
}

func waitConnect(t *testing.T, bus running, what string) {
	t.Helper()
	select {
	case <-bus.connects:
	case <-time.After(timeout):
		t.Fatalf("no OnConnect hook ran for the %s within %s", what, timeout)
	}
}

func subscribe(t *testing.T, bus realtime.Bus, topic string) *realtime.Subscription {
	sub := bus.Subscribe(topic)
	t.Cleanup(sub.Close)
	return sub
}

func publish(bus realtime.Bus, events ...realtime.Envelope) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return bus.Publish(ctx, events...)
}

// next returns the next event from c, failing the test if none comes.
func next(t *testing.T, c <-chan realtime.Envelope, who string) realtime.Envelope {
	t.Helper()
	select {
	case e, ok := <-c:
		if !ok {
			t.Fatalf("%s ended", who)
		}
		return e
	case <-time.After(timeout):
		t.Fatalf("%s received nothing within %s", who, timeout)
		return realtime.Envelope{}
	}
}

// offer sends e on c unless c is full.
func offer(c chan<- realtime.Envelope, e realtime.Envelope) {
	select {
	case c <- e:
	default:
	}
}

// topicOf is a topic of this test alone: buses of one backend see every
// test's events.
func topicOf(t *testing.T, name string) string { return t.Name() + ":" + name }

func event(topic string, n int) realtime.Envelope {
	return realtime.Envelope{Topic: topic, Type: "bustest", Data: json.RawMessage(strconv.Itoa(n))}
}

// key names an event in messages and comparisons.
func key(e realtime.Envelope) string { return e.Topic + " " + e.Type + " " + string(e.Data) }

func keys(events []realtime.Envelope) []string {
	var ks []string
	for _, e := range events {
		ks = append(ks, key(e))
	}
	return ks
}

// only keeps the keys of got that belong to events.
func only(got []string, events []realtime.Envelope) []string {
	want := keys(events)
	return slices.DeleteFunc(slices.Clone(got), func(k string) bool { return !slices.Contains(want, k) })
}

// subsequence says whether got is want with some elements left out.
func subsequence(got, want []string) bool {
	for _, k := range got {
		i := slices.Index(want, k)
		if i < 0 {
			return false
		}
		want = want[i+1:]
	}
	return true
}
