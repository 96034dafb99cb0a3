// Package realtime carries events from the transaction that caused them to
// the subscriptions that report them, across every gateway process. A
// writer calls pg_notify inside its transaction (so an event exists exactly
// when its change committed); each process holds one LISTEN connection,
// and the Bus fans each event out to the subscribers of its topic through
// bounded queues.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Channel is the one PostgreSQL notification channel all events use.
const Channel = "switchboard_events"

// Envelope is one event as it travels in a NOTIFY payload (at most 8000
// bytes, so events carry ids and small facts, not documents).
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

// Bus delivers events to subscribers in this process.
type Bus struct {
	dsn string
	log *slog.Logger

	mu          sync.Mutex
	subs        map[string]map[*Subscription]struct{}
	handlers    []func(Envelope)
	onReconnect []func(context.Context)

	readyOnce sync.Once
	ready     chan struct{}
}

// NewBus returns a bus that will listen through its own connection to dsn
// once Run starts.
func NewBus(dsn string, logger *slog.Logger) *Bus {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{dsn: dsn, log: logger, subs: map[string]map[*Subscription]struct{}{}, ready: make(chan struct{})}
}

// Ready is closed once the bus first listens.
func (b *Bus) Ready() <-chan struct{} { return b.ready }

// OnEvent registers fn to see every event, in order, on the bus's own
// goroutine; fn must not block.
func (b *Bus) OnEvent(fn func(Envelope)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers = append(b.handlers, fn)
}

// OnConnect registers fn to run each time the listener (re)connects,
// including the first time. Events sent while it was disconnected are lost
// to LISTEN, so fn re-checks whatever state the process watches.
func (b *Bus) OnConnect(fn func(ctx context.Context)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onReconnect = append(b.onReconnect, fn)
}

// Subscription receives the events of one topic.
type Subscription struct {
	bus   *Bus
	topic string
	ch    chan Envelope
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
	close(s.ch)
}

// Subscribe starts receiving events of topic. Subscribe before reading the
// state the events change, so that nothing falls between the two.
func (b *Bus) Subscribe(topic string) *Subscription {
	s := &Subscription{bus: b, topic: topic, ch: make(chan Envelope, queueSize)}
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.subs[topic]
	if set == nil {
		set = map[*Subscription]struct{}{}
		b.subs[topic] = set
	}
	set[s] = struct{}{}
	return s
}

// Deliver hands an event to this process's handlers and subscribers, as if
// it had arrived by NOTIFY. Re-checks after a reconnect use it for events
// they find were missed.
func (b *Bus) Deliver(e Envelope) {
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
		select {
		case s.ch <- e:
		default:
			b.log.Warn("realtime subscriber fell behind; ending it", "topic", e.Topic)
			s.closeLocked(ErrOverflow)
		}
	}
}

// Run listens until ctx ends, reconnecting with backoff (100 ms up to 10 s)
// whenever the connection drops.
func (b *Bus) Run(ctx context.Context) error {
	// The first connection is announced by an event; reconnections by a
	// nil notification (handled below).
	firstConnect := make(chan struct{}, 1)
	listener := pq.NewListener(b.dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnected:
			firstConnect <- struct{}{}
		case pq.ListenerEventDisconnected:
			b.log.Warn("realtime listener disconnected; reconnecting", "err", err)
		case pq.ListenerEventConnectionAttemptFailed:
			b.log.Warn("realtime listener cannot connect", "err", err)
		}
	})
	defer listener.Close()
	var hooks sync.WaitGroup
	defer hooks.Wait()
	if err := listener.Listen(Channel); err != nil {
		return err
	}

	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-firstConnect:
			b.connected(ctx, &hooks)
		case n := <-listener.Notify:
			if n == nil {
				// lib/pq sends nil after a reconnect: notifications may
				// have been lost, so watchers re-check.
				b.connected(ctx, &hooks)
				continue
			}
			var e Envelope
			if err := json.Unmarshal([]byte(n.Extra), &e); err != nil {
				b.log.Error("realtime: undecodable event", "err", err)
				continue
			}
			b.Deliver(e)
		case <-ping.C:
			// A half-open TCP connection would otherwise go unnoticed.
			if err := listener.Ping(); err != nil {
				b.log.Warn("realtime listener ping failed", "err", err)
			}
		}
	}
}

func (b *Bus) connected(ctx context.Context, running *sync.WaitGroup) {
	b.readyOnce.Do(func() { close(b.ready) })
	b.mu.Lock()
	hooks := b.onReconnect
	b.mu.Unlock()
	// Hooks query the database; the dispatch loop must not wait for them.
	for _, fn := range hooks {
		running.Go(func() { fn(ctx) })
	}
}

// Session events: every stream of a session listens on its topic.
const TypeSessionEnded = "session.ended"

// SessionTopic is the topic of one session's events.
func SessionTopic(sessionID string) string { return "session:" + sessionID }

// Membership events: a member's streams in one account listen on its topic.
const TypeMembershipChanged = "membership.changed"

// MembershipTopic is the topic of one user's membership in one account.
func MembershipTopic(accountID, userID string) string {
	return "membership:" + accountID + ":" + userID
}
