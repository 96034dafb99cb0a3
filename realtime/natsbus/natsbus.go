// Package natsbus is the realtime.Bus over NATS JetStream: Publish appends
// each event to one stream, and each process reads the stream with an
// ordered consumer that feeds a realtime.Hub. The consumer starts at the
// events published after Run started and, across reconnections, resumes
// after the last event it received, so events published while a process
// was disconnected still reach it (as long as the stream keeps them). It
// does not receive pg_notify: with this bus, writers call Publish after
// their commit.
package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"switchboard/realtime"
)

// The production stream and its subject. One subject carries every topic:
// each process needs every event anyway, and topics (with their ':') need
// not be subject tokens.
const (
	DefaultStream  = "SWITCHBOARD_EVENTS"
	DefaultSubject = "switchboard.events"
)

// The stream keeps events long enough to bridge a reconnection, bounded in
// size; a process away longer re-checks on reconnecting, as with pgbus.
const (
	maxAge   = 5 * time.Minute
	maxBytes = 256 << 20
)

// Bus reads one JetStream stream.
type Bus struct {
	*realtime.Hub
	url     string
	log     *slog.Logger
	stream  string
	subject string
	// dialer, when set, opens the connections (tests cut a bus off with
	// it).
	dialer nats.CustomDialer

	// js is set before Ready closes; Publish uses it after.
	js jetstream.JetStream
}

var _ realtime.Bus = (*Bus)(nil)

// Option changes a Bus.
type Option func(*Bus)

// WithStream makes the bus use stream and subject instead of DefaultStream
// and DefaultSubject, so that buses of separate deployments (or test runs)
// on one NATS server do not see each other's events.
func WithStream(stream, subject string) Option {
	return func(b *Bus) { b.stream, b.subject = stream, subject }
}

// New returns a bus that will connect to the NATS server at url (which may
// carry credentials; they are never logged) once Run starts.
func New(url string, logger *slog.Logger, opts ...Option) *Bus {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{Hub: realtime.NewHub(logger), url: url, log: logger, stream: DefaultStream, subject: DefaultSubject}
	for _, opt := range opts {
		opt(b)
	}
	return b
}

// Run receives until ctx ends. It connects (retrying every 2 s, forever, as
// it does after losing the connection), creates or updates the stream, and
// consumes it from its end. Call it once per bus.
func (b *Bus) Run(ctx context.Context) error {
	reconnected := make(chan struct{}, 1)
	opts := []nats.Option{
		nats.Name("switchboard"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(2 * time.Second),
		// A half-open TCP connection would otherwise go unnoticed for
		// minutes.
		nats.PingInterval(20 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			// Close reports no error.
			if err != nil {
				b.log.Warn("realtime: NATS connection lost; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn("realtime: NATS error", "err", err)
		}),
	}
	if b.dialer != nil {
		opts = append(opts, nats.SetCustomDialer(b.dialer))
	}
	nc, err := nats.Connect(b.url, opts...)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error would echo the URL, which may carry a password.
			return errors.New("natsbus: the NATS URL does not parse")
		}
		return fmt.Errorf("natsbus: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("natsbus: %w", err)
	}

	received := make(chan []byte)
	consuming, err := b.consume(ctx, js, received)
	if err != nil {
		// ctx ended first.
		return nil
	}
	defer consuming.Stop()
	var hooks sync.WaitGroup
	defer hooks.Wait()
	b.js = js
	b.Connected(ctx, &hooks)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-reconnected:
			// The consumer resumes by itself; watchers re-check all the
			// same, as they do for every bus.
			b.Connected(ctx, &hooks)
		case data := <-received:
			var e realtime.Envelope
			if err := json.Unmarshal(data, &e); err != nil {
				b.log.Error("realtime: undecodable event", "err", err)
				continue
			}
			b.Deliver(e)
		}
	}
}

// consume starts reading the stream into received, retrying with backoff
// (100 ms up to 10 s) until it can or ctx ends.
func (b *Bus) consume(ctx context.Context, js jetstream.JetStream, received chan<- []byte) (jetstream.ConsumeContext, error) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		consuming, err := b.startConsumer(ctx, js, received)
		if err == nil {
			return consuming, nil
		}
		if ctx.Err() == nil {
			b.log.Warn("realtime: cannot consume the NATS stream; retrying", "stream", b.stream, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// startConsumer creates or updates the stream and consumes it from the
// event after its last. File storage, so that the stream and its sequence
// survive a restart of the server, which consumers resume by.
func (b *Bus) startConsumer(ctx context.Context, js jetstream.JetStream, received chan<- []byte) (jetstream.ConsumeContext, error) {
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      b.stream,
		Subjects:  []string{b.subject},
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxAge:    maxAge,
		MaxBytes:  maxBytes,
		Storage:   jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", b.stream, err)
	}
	// A start sequence rather than DeliverNew: the consumer resets from it
	// if it reconnects before receiving anything.
	consumer, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   stream.CachedInfo().State.LastSeq + 1,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer of %s: %w", b.stream, err)
	}
	return consumer.Consume(func(m jetstream.Msg) {
		select {
		case received <- m.Data():
		case <-ctx.Done():
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		b.log.Warn("realtime: NATS consumer", "stream", b.stream, "err", err)
	}))
}

// Publish appends events to the stream, in order, each once the server
// has stored the one before. It waits for Run to be ready.
func (b *Bus) Publish(ctx context.Context, events ...realtime.Envelope) error {
	select {
	case <-b.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, e := range events {
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("natsbus: encode %s event: %w", e.Type, err)
		}
		if _, err := b.js.Publish(ctx, b.subject, payload); err != nil {
			return fmt.Errorf("natsbus: publish %s event: %w", e.Type, err)
		}
	}
	return nil
}
