// Package pgbus is the realtime.Bus over PostgreSQL: writers call pg_notify
// inside their transactions (so an event exists exactly when its change
// committed) or Publish, and each process holds one LISTEN connection whose
// notifications feed a realtime.Hub.
package pgbus

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"

	"switchboard/realtime"
)

// Bus listens on realtime.Channel.
type Bus struct {
	*realtime.Hub
	dsn string
	log *slog.Logger

	mu sync.Mutex
	// publisher is Publish's pool, opened by the first Publish and closed
	// when Run returns (stopped, after which Publish fails).
	publisher *sql.DB
	stopped   bool
}

var _ realtime.Bus = (*Bus)(nil)

// New returns a bus that will listen through its own connection to dsn
// once Run starts.
func New(dsn string, logger *slog.Logger) *Bus {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{Hub: realtime.NewHub(logger), dsn: dsn, log: logger}
}

// Run listens until ctx ends, reconnecting with backoff (100 ms up to 10 s)
// whenever the connection drops. When it returns it closes Publish's
// connection.
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
	defer func() {
		listener.Close()
		// The listener's goroutine may be blocked handing over a
		// notification that came after ctx ended: it closes Notify once it
		// ends (at worst after its current reconnection wait, up to 10 s).
		for range listener.Notify {
		}
	}()
	defer b.stop()
	var hooks sync.WaitGroup
	defer hooks.Wait()
	if err := listener.Listen(realtime.Channel); err != nil {
		return err
	}

	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-firstConnect:
			b.Connected(ctx, &hooks)
		case n := <-listener.Notify:
			if n == nil {
				// lib/pq sends nil after a reconnect: notifications may
				// have been lost, so watchers re-check.
				b.Connected(ctx, &hooks)
				continue
			}
			var e realtime.Envelope
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

// Publish notifies every process's bus of events, in order, one statement
// (and so one transaction: PostgreSQL would fold identical notifications
// of one transaction into one) per event. It works before Run starts and
// fails once Run has returned.
func (b *Bus) Publish(ctx context.Context, events ...realtime.Envelope) error {
	pool, err := b.pool()
	if err != nil {
		return err
	}
	for _, e := range events {
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("pgbus: encode %s event: %w", e.Type, err)
		}
		if _, err := pool.ExecContext(ctx, `SELECT pg_notify($1, $2)`, realtime.Channel, string(payload)); err != nil {
			return fmt.Errorf("pgbus: publish %s event: %w", e.Type, err)
		}
	}
	return nil
}

// pool returns Publish's pool: one connection, opened when first needed and
// closed after a minute unused.
func (b *Bus) pool() (*sql.DB, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil, errors.New("pgbus: publish after Run returned")
	}
	if b.publisher == nil {
		pool, err := sql.Open("postgres", b.dsn)
		if err != nil {
			return nil, fmt.Errorf("pgbus: %w", err)
		}
		pool.SetMaxOpenConns(1)
		pool.SetConnMaxIdleTime(time.Minute)
		b.publisher = pool
	}
	return b.publisher, nil
}

// stop closes Publish's pool for good.
func (b *Bus) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.publisher != nil {
		_ = b.publisher.Close()
	}
}
