package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"switchboard/crm"
	"switchboard/realtime"
	"switchboard/resolvers"
)

// sessionWatch ends the streams of a session the moment the session ends,
// whichever process ended it: it hears session events on the bus, and it
// re-reads the sessions of its open streams whenever the bus (re)connects
// and every recheckInterval, so an end it missed while disconnected, or an
// expiry nobody announced, is still enforced. The re-read also counts open
// subscriptions as activity for the idle timeout.
type sessionWatch struct {
	// every bounds how late an unannounced expiry is noticed; it must be
	// well under the idle timeout, so that touching at this pace keeps
	// subscribed sessions alive.
	every    time.Duration
	identity crm.IdentityService
	bus      *realtime.Bus
	streams  *streams
	log      *slog.Logger
}

// holdWait bounds how long a closing stream waits for its final
// SessionEvicted frame to be written.
const holdWait = 2 * time.Second

func newSessionWatch(every time.Duration, identity crm.IdentityService, bus *realtime.Bus, ss *streams, logger *slog.Logger) *sessionWatch {
	w := &sessionWatch{every: every, identity: identity, bus: bus, streams: ss, log: logger}
	bus.OnEvent(w.onEvent)
	bus.OnConnect(w.recheck)
	return w
}

func (w *sessionWatch) onEvent(e realtime.Envelope) {
	if e.Type == realtime.TypeMembershipChanged {
		w.onMembership(e)
		return
	}
	if e.Type != realtime.TypeSessionEnded {
		return
	}
	var end crm.SessionEnd
	if err := json.Unmarshal(e.Data, &end); err != nil {
		w.log.Error("undecodable session event", "err", err)
		return
	}
	for _, s := range w.streams.sessionStreams(end.SessionID) {
		go s.closeAfterHolds(resolvers.CloseUnauthorized, string(end.Reason.Code()), holdWait)
	}
}

// CloseForbidden is the WebSocket close code for a connection whose access
// to its account ended (the graphql-transport-ws convention).
const CloseForbidden = 4403

// onMembership closes a member's streams in an account whose access to it
// ended (deactivated or removed): after any accountEvents subscription has
// written its AccessEnded frame. Their streams in other accounts go on.
func (w *sessionWatch) onMembership(e realtime.Envelope) {
	var c crm.MembershipChange
	if err := json.Unmarshal(e.Data, &c); err != nil {
		w.log.Error("undecodable membership event", "err", err)
		return
	}
	reason := ""
	switch c.Status {
	case crm.MemberDeactivated:
		reason = string(crm.CodeAccountDeactivated)
	case crm.MemberRemoved:
		reason = string(crm.CodeNotFound)
	default:
		return
	}
	for _, s := range w.streams.memberStreams(c.UserID, c.AccountID) {
		go s.closeAfterHolds(CloseForbidden, reason, holdWait)
	}
}

// recheck reads the sessions of this process's streams and delivers the end
// of any that ended, as if its event had just arrived.
func (w *sessionWatch) recheck(ctx context.Context) {
	ids := w.streams.sessions()
	if len(ids) == 0 {
		return
	}
	ends, err := w.identity.CheckSessions(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("re-check sessions", "err", err)
		}
		return
	}
	for _, end := range ends {
		data, err := json.Marshal(end)
		if err != nil {
			continue
		}
		w.bus.Deliver(realtime.Envelope{Topic: realtime.SessionTopic(end.SessionID.String()), Type: realtime.TypeSessionEnded, Data: data})
	}
}

// run re-checks periodically until ctx ends.
func (w *sessionWatch) run(ctx context.Context) {
	ticker := time.NewTicker(w.every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			w.recheck(ctx)
		}
	}
}
