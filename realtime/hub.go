// Package realtime carries events from the code that caused them to the
// subscriptions that report them, across every gateway process. A writer
// publishes inside its transaction (pg_notify, so an event exists exactly
// when its change committed) or with Bus.Publish; each process receives
// every event through one connection of its Bus implementation (pgbus:
// LISTEN/NOTIFY; natsbus: a NATS JetStream stream), and the Hub fans each
// event out to the subscribers of its topic through bounded queues. This
// package imports no database driver: the parts that only subscribe and
// publish depend on the Bus interface.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
)

// Channel is the one PostgreSQL notification channel all events use.
const Channel = "switchboard_events"

// Bus delivers every event published anywhere to this process's
// subscribers and watchers.
type Bus interface {
	// Subscribe starts receiving events of topic. Subscribe before reading
	// the state the events change, so that nothing falls between the two.
	Subscribe(topic string) *Subscription
	// Watch calls fn, which must not block, with each event of topic until
	// stop is called.
	Watch(topic string, fn func(Envelope)) (stop func())
	// Deliver hands an event to this process's watchers and subscribers,
	// as if it had arrived; re-checks use it for events they find missed.
	Deliver(e Envelope)
	// OnEvent registers fn to see every event, in order; fn must not block.
	OnEvent(fn func(Envelope))
	// OnConnect registers fn to run each time the bus (re)connects,
	// including the first time: events sent while it was disconnected may
	// be lost to it (pgbus), so fn re-checks whatever state the process
	// watches.
	OnConnect(fn func(ctx context.Context))
	// Ready is closed once the bus first receives.
	Ready() <-chan struct{}
	// Run receives until ctx ends.
	Run(ctx context.Context) error
	// Publish sends events now, in order and tied to no transaction, to the
	// bus of every process, this one included. A caller that needs an event
	// to exist exactly when a PostgreSQL transaction commits calls
	// pg_notify(Channel, ...) in that transaction instead (only pgbus
	// receives it), or calls Publish after the commit and relies on
	// re-checks for what a crash between the commit and Publish loses.
	Publish(ctx context.Context, events ...Envelope) error
}

// Envelope is one event as it travels in a NOTIFY payload or a bus
// message (at most 8000 bytes for NOTIFY, so events carry ids and small
// facts, not documents).
type Envelope struct {
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
}

// ErrOverflow ends a subscription whose consumer fell behind its queue; the
// client resubscribes (and, where events are persisted, resumes from its
// cursor) rather than the process buffering without bound.
var ErrOverflow = errors.New("realtime: subscriber fell behind")

// queueSize bounds what one subscriber may have pending.
const queueSize = 64

// Hub is the in-process half every Bus shares: subscriptions with bounded
// queues, watchers and reconnect hooks. An implementation feeds it with
// Deliver and tells it of (re)connections with Connected.
type Hub struct {
	log *slog.Logger

	mu          sync.Mutex
	subs        map[string]map[*Subscription]struct{}
	handlers    []func(Envelope)
	onReconnect []func(context.Context)

	readyOnce sync.Once
	ready     chan struct{}
}

// NewHub returns an empty hub.
func NewHub(logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{log: logger, subs: map[string]map[*Subscription]struct{}{}, ready: make(chan struct{})}
}

// Ready is closed once the bus first receives.
func (b *Hub) Ready() <-chan struct{} { return b.ready }

// OnEvent registers fn to see every event, in order, on the bus's own
// goroutine; fn must not block.
func (b *Hub) OnEvent(fn func(Envelope)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers = append(b.handlers, fn)
}

// OnConnect registers fn to run each time the bus (re)connects, including
// the first time. Events sent while it was disconnected may be lost (LISTEN
// loses them), so fn re-checks whatever state the process watches.
func (b *Hub) OnConnect(fn func(ctx context.Context)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onReconnect = append(b.onReconnect, fn)
}

// Subscription receives the events of one topic.
type Subscription struct {
	bus   *Hub
	topic string
	ch    chan Envelope
	// fn, for a watch, receives events instead of ch.
	fn func(Envelope)
	// closed and err are guarded by bus.mu.
	closed bool
	err    error
}

// C delivers events; it is closed when the subscription ends.
func (s *Subscription) C() <-chan Envelope { return s.ch }

// Err says why C was closed: nil after Close, ErrOverflow if the consumer
// fell behind.
func (s *Subscription) Err() error {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.err
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.closeLocked(nil)
}

func (s *Subscription) closeLocked(err error) {
	if s.closed {
		return
	}
	s.closed, s.err = true, err
	if set := s.bus.subs[s.topic]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(s.bus.subs, s.topic)
		}
	}
	if s.ch != nil {
		close(s.ch)
	}
}

// Subscribe starts receiving events of topic. Subscribe before reading the
// state the events change, so that nothing falls between the two.
func (b *Hub) Subscribe(topic string) *Subscription {
	return b.add(&Subscription{bus: b, topic: topic, ch: make(chan Envelope, queueSize)})
}

// Watch calls fn with each event of topic until the returned stop is
// called. fn runs on the bus's own goroutine, so it must not block or call
// the hub; it costs a subscriber no goroutine and no queue, which suits a
// subscription that waits, often for hours, for one event.
func (b *Hub) Watch(topic string, fn func(Envelope)) (stop func()) {
	s := b.add(&Subscription{bus: b, topic: topic, fn: fn})
	return s.Close
}

func (b *Hub) add(s *Subscription) *Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.subs[s.topic]
	if set == nil {
		set = map[*Subscription]struct{}{}
		b.subs[s.topic] = set
	}
	set[s] = struct{}{}
	return s
}

// Deliver hands an event to this process's handlers and subscribers, as if
// it had arrived through the bus. Re-checks after a reconnect use it for events
// they find were missed.
func (b *Hub) Deliver(e Envelope) {
	b.mu.Lock()
	handlers := b.handlers
	var targets []*Subscription
	for s := range b.subs[e.Topic] {
		targets = append(targets, s)
	}
	b.mu.Unlock()
	for _, h := range handlers {
		h(e)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range targets {
		if s.closed {
			// Closed while the handlers ran.
			continue
		}
		if s.fn != nil {
			s.fn(e)
			continue
		}
		select {
		case s.ch <- e:
		default:
			b.log.Warn("realtime subscriber fell behind; ending it", "topic", e.Topic)
			s.closeLocked(ErrOverflow)
		}
	}
}

// Connected tells the hub its bus (re)connected: it is ready, and the
// reconnect hooks run (each in its own goroutine, counted in running, since
// they query the database and the receiving loop must not wait for them).
func (b *Hub) Connected(ctx context.Context, running *sync.WaitGroup) {
	b.readyOnce.Do(func() { close(b.ready) })
	b.mu.Lock()
	hooks := b.onReconnect
	b.mu.Unlock()
	for _, fn := range hooks {
		running.Go(func() { fn(ctx) })
	}
}
