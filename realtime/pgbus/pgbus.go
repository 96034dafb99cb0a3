// Package pgbus is the realtime.Bus over PostgreSQL: writers call pg_notify
// inside their transactions (so an event exists exactly when its change
// committed), and each process holds one LISTEN connection whose
// notifications feed a realtime.Hub.
package pgbus

import (
	"context"
	"encoding/json"
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
