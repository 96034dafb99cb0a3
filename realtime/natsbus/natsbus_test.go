package natsbus_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"switchboard/realtime"
	"switchboard/realtime/bustest"
	"switchboard/realtime/natsbus"
	"switchboard/realtime/natsbus/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the bus suite on a stream of this run alone, each
// bus dialing through a gate that Disrupt shuts.
func TestConformance(t *testing.T) {
	server := testServer(t)
	var mu sync.Mutex
	gates := map[realtime.Bus]*gate{}
	bustest.Run(t, bustest.Harness{
		Open: func(t *testing.T) realtime.Bus {
			g := &gate{}
			bus := server.bus(natsbus.WithDialer(g))
			mu.Lock()
			defer mu.Unlock()
			gates[bus] = g
			return bus
		},
		Disrupt: func(t *testing.T, bus realtime.Bus) func() {
			mu.Lock()
			g := gates[bus]
			mu.Unlock()
			g.shut()
			return g.open
		},
		KeepsEventsAcrossReconnect: true,
	})
}

// TestUndecodableMessagesAreSkipped appends a message that is no event to
// the stream: the bus goes on to the next.
func TestUndecodableMessagesAreSkipped(t *testing.T) {
	t.Parallel()
	server := testServer(t)
	bus := server.bus()
	run(t, bus)
	ready(t, bus)
	sub := bus.Subscribe("a")
	defer sub.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := server.js.Publish(ctx, server.subject, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(ctx, realtime.Envelope{Topic: "a", Type: "after", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-sub.C():
		if e.Type != "after" {
			t.Fatalf("received %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("no event after the undecodable message")
	}
}

// TestStartsBeforeTheServerIsReachable runs a bus that cannot reach the
// server: it keeps trying, and is ready once it can.
func TestStartsBeforeTheServerIsReachable(t *testing.T) {
	t.Parallel()
	server := testServer(t)
	g := &gate{down: true, refused: make(chan struct{}, 1)}
	bus := server.bus(natsbus.WithDialer(g))
	run(t, bus)
	select {
	case <-g.refused:
	case <-time.After(10 * time.Second):
		t.Fatal("the bus never dialed")
	}
	g.open()
	ready(t, bus)
}

// run runs bus until the test ends, then checks that Run returns nil.
func run(t *testing.T, bus realtime.Bus) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run has not returned 10 s after its context ended")
		}
	})
}

func ready(t *testing.T, bus realtime.Bus) {
	t.Helper()
	select {
	case <-bus.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the bus is not ready after 10 s")
	}
}

// server is the NATS server of the tests, with a stream and subject of
// one test alone.
type server struct {
	url, stream, subject string
	js                   jetstream.JetStream
}

// bus returns a bus of the test's stream.
func (s server) bus(opts ...natsbus.Option) *natsbus.Bus {
	return natsbus.New(s.url, nil, append(opts, natsbus.WithStream(s.stream, s.subject))...)
}

// testServer is this test's server and stream.
func testServer(t *testing.T) server {
	t.Helper()
	s := natstest.New(t)
	return server{url: s.URL, stream: s.Stream, subject: s.Subject, js: s.JS}
}

// gate dials for one bus; shut closes its connections and refuses new
// ones until open, as a network partition would.
type gate struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
	// refused, if set, is offered each refused dial.
	refused chan struct{}
}

func (g *gate) Dial(network, address string) (net.Conn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		select {
		case g.refused <- struct{}{}:
		default:
		}
		return nil, errors.New("the test cut this bus off")
	}
	c, err := net.DialTimeout(network, address, 5*time.Second)
	if err == nil {
		g.conns = append(g.conns, c)
	}
	return c, err
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = true
	for _, c := range g.conns {
		_ = c.Close()
	}
	g.conns = nil
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = false
}
