package gateway

import (
	"context"
	"log/slog"
	"time"

	"switchboard/crm"
	"switchboard/realtime"
	"switchboard/resolvers"
)

// accessWatch ends streams the moment they may no longer go on, whichever
// process made the change: a session that ended (4401), a member
// deactivated or removed in the stream's account, or an allowlist that now
// excludes the stream's address (4403). It hears the changes on the bus,
// and it re-reads, whenever the bus (re)connects and every recheck
// interval, the sessions and the account access of every stream it holds,
// so a change it missed while disconnected, or an expiry nobody announced,
// is still enforced. The re-read also counts open subscriptions as activity
// for the idle timeout.
type accessWatch struct {
	// every bounds how late an unannounced change is noticed; it must be
	// well under the idle timeout, so that touching at this pace keeps
	// subscribed sessions alive.
	every    time.Duration
	identity crm.IdentityService
	access   crm.AccessChecker
	bus      realtime.Bus
	streams  *streams
	log      *slog.Logger
}

// holdWait bounds how long a closing stream waits for its final
// SessionEvicted or AccessEnded frame to be written.
const holdWait = 2 * time.Second

// CloseForbidden is the WebSocket close code for a connection whose access
// to its account ended (the graphql-transport-ws convention).
const CloseForbidden = 4403

func newAccessWatch(every time.Duration, identity crm.IdentityService, access crm.AccessChecker, bus realtime.Bus, ss *streams, logger *slog.Logger) *accessWatch {
	w := &accessWatch{every: every, identity: identity, access: access, bus: bus, streams: ss, log: logger}
	bus.OnEvent(w.onEvent)
	bus.OnConnect(w.recheck)
	return w
}

func (w *accessWatch) onEvent(e realtime.Envelope) {
	switch e.Type {
	case realtime.TypeSessionEnded:
		end, err := realtime.SessionEnded(e)
		if err != nil {
			w.log.Error("session event", "err", err)
			return
		}
		for _, s := range w.streams.sessionStreams(end.SessionID) {
			go s.closeAfterHolds(resolvers.CloseUnauthorized, string(end.Reason.Code()), holdWait)
		}
	case realtime.TypeMembershipChanged:
		c, err := realtime.MembershipChanged(e)
		if err != nil {
			w.log.Error("membership event", "err", err)
			return
		}
		w.onMembership(c)
	case realtime.TypeAllowlistChanged:
		c, err := realtime.AllowlistChanged(e)
		if err != nil {
			w.log.Error("allowlist event", "err", err)
			return
		}
		// Each member's streams from an excluded address hear that their
		// access ended (accountEvents says AccessEnded), then close.
		ended := map[crm.StreamScope]bool{}
		for _, sc := range w.streams.accountScopes(c.AccountID) {
			if !crm.AllowedFrom(c.Allowlist, sc.IP) && !ended[sc] {
				ended[sc] = true
				w.deliver(realtime.MembershipTopic(sc.AccountID.String(), sc.UserID.String()), realtime.TypeMembershipChanged,
					crm.MembershipChange{AccountID: sc.AccountID, UserID: sc.UserID, Status: crm.MemberActive, At: c.At,
						Reason: crm.CodeIPNotAllowed, IP: sc.IP})
			}
		}
	}
}

// onMembership closes a member's streams in an account whose access to it
// ended, after any accountEvents subscription has written its AccessEnded
// frame. Their streams in other accounts go on.
func (w *accessWatch) onMembership(c crm.MembershipChange) {
	reason := string(c.Reason)
	switch {
	case reason != "":
	case c.Status == crm.MemberDeactivated:
		reason = string(crm.CodeAccountDeactivated)
	case c.Status == crm.MemberRemoved:
		reason = string(crm.CodeNotFound)
	default:
		return
	}
	targets := w.streams.memberStreams(c.UserID, c.AccountID)
	if c.IP.IsValid() {
		targets = w.streams.scopeStreams(crm.StreamScope{UserID: c.UserID, AccountID: c.AccountID, IP: c.IP})
	}
	for _, s := range targets {
		go s.closeAfterHolds(CloseForbidden, reason, holdWait)
	}
}

// recheck reads the sessions and the access of this process's streams and
// delivers whatever ended, as if its event had just arrived.
func (w *accessWatch) recheck(ctx context.Context) {
	if ids := w.streams.sessions(); len(ids) > 0 {
		ends, err := w.identity.CheckSessions(ctx, ids)
		if err != nil && ctx.Err() == nil {
			w.log.Error("re-check sessions", "err", err)
		}
		for _, end := range ends {
			w.deliver(realtime.SessionTopic(end.SessionID.String()), realtime.TypeSessionEnded, end)
		}
	}
	if scopes := w.streams.scopes(); len(scopes) > 0 {
		losses, err := w.access.CheckAccess(ctx, scopes)
		if err != nil && ctx.Err() == nil {
			w.log.Error("re-check account access", "err", err)
		}
		for _, l := range losses {
			c := crm.MembershipChange{AccountID: l.Scope.AccountID, UserID: l.Scope.UserID, Status: l.Status,
				Until: l.Until, At: time.Now().UTC(), Reason: l.Code}
			if l.Code == crm.CodeIPNotAllowed {
				// Only the streams from the excluded address end.
				c.IP = l.Scope.IP
			}
			w.deliver(realtime.MembershipTopic(l.Scope.AccountID.String(), l.Scope.UserID.String()), realtime.TypeMembershipChanged, c)
		}
	}
}

func (w *accessWatch) deliver(topic, typ string, data any) {
	e, err := realtime.NewEnvelope(topic, typ, data)
	if err != nil {
		w.log.Error("re-check event", "err", err)
		return
	}
	w.bus.Deliver(e)
}

// run re-checks periodically until ctx ends.
func (w *accessWatch) run(ctx context.Context) {
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
