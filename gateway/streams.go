package gateway

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/crm"
	"switchboard/resolvers"
)

// streams keeps every long-lived GraphQL request (WebSocket or SSE) so that
// the gateway can end them on purpose: all of them at shutdown, and later a
// session's own when it is signed out. gqlgen's transports end a stream when
// its context is cancelled; a WebSocket then closes with the code set here
// rather than gqlgen's fixed 1000.
type streams struct {
	mu        sync.Mutex
	live      map[*stream]struct{}
	bySession map[uuid.UUID]map[*stream]struct{}
	byMember  map[member]map[*stream]struct{}
	byAccount map[uuid.UUID]map[*stream]struct{}
	closed    bool
	// max caps the live streams (0: no cap).
	max int
	// ended counts the streams End closed, by reason (nil: not counted).
	ended *prometheus.CounterVec
	// handlers counts stream handlers still running, so shutdown can wait
	// for hijacked connections that http.Server no longer tracks.
	handlers sync.WaitGroup
}

// stream is one WebSocket connection or SSE request.
type stream struct {
	registry *streams
	cancel   context.CancelFunc

	mu      sync.Mutex
	code    websocket.StatusCode // close code to send instead of 1000; 0 for none
	reason  string
	session uuid.UUID
	member  member
	ip      netip.Addr
	// ws is the stream's WebSocket, once accepted; nil for SSE.
	ws    *wsConn
	holds int
	// released is closed (and replaced) whenever holds drops to zero.
	released chan struct{}
}

// member is a user in an account: the scope a stream acts in.
type member struct{ user, account uuid.UUID }

func newStreams(max int) *streams {
	return &streams{max: max, live: map[*stream]struct{}{}, bySession: map[uuid.UUID]map[*stream]struct{}{},
		byMember: map[member]map[*stream]struct{}{}, byAccount: map[uuid.UUID]map[*stream]struct{}{}}
}

// index adds or removes s under key in set.
func index[K comparable](set map[K]map[*stream]struct{}, key K, s *stream, add bool) {
	if add {
		if set[key] == nil {
			set[key] = map[*stream]struct{}{}
		}
		set[key][s] = struct{}{}
		return
	}
	if m := set[key]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(set, key)
		}
	}
}

type streamKey struct{}

func streamFrom(ctx context.Context) *stream {
	s, _ := ctx.Value(streamKey{}).(*stream)
	return s
}

// isStream reports a WebSocket upgrade or an SSE request.
func isStream(r *http.Request) bool {
	return isWebSocketUpgrade(r) || wantsEventStream(r)
}

// track wraps the GraphQL handler: a streaming request gets a cancellable
// context and a place in the registry for as long as its handler runs.
// Once the registry is closed (shutdown), refused answers new streams;
// while it holds its cap, full does.
func (ss *streams) track(next http.Handler, refused, full http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		s := &stream{registry: ss, cancel: cancel, released: make(chan struct{})}
		switch ss.add(s) {
		case streamShutdown:
			refused(w, r)
			return
		case streamOverCap:
			full(w, r)
			return
		}
		defer ss.remove(s)
		ctx = resolvers.WithStream(context.WithValue(ctx, streamKey{}, s), s)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Outcomes of streams.add.
const (
	streamAdded = iota
	streamShutdown
	streamOverCap
)

func (ss *streams) add(s *stream) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.closed:
		return streamShutdown
	case ss.max > 0 && len(ss.live) >= ss.max:
		return streamOverCap
	}
	ss.live[s] = struct{}{}
	ss.handlers.Add(1)
	return streamAdded
}

func (ss *streams) remove(s *stream) {
	ss.mu.Lock()
	delete(ss.live, s)
	s.mu.Lock()
	session, m := s.session, s.member
	s.mu.Unlock()
	index(ss.bySession, session, s, false)
	index(ss.byMember, m, s, false)
	index(ss.byAccount, m.account, s, false)
	ss.mu.Unlock()
	ss.handlers.Done()
}

// Bind implements resolvers.Stream: the stream now belongs to a session
// and acts in an account from an address, and ends with either.
func (s *stream) Bind(sessionID, userID, accountID uuid.UUID, ip netip.Addr) {
	ss := s.registry
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.mu.Lock()
	oldSession, oldMember := s.session, s.member
	s.session, s.member, s.ip = sessionID, member{user: userID, account: accountID}, ip
	s.mu.Unlock()
	index(ss.bySession, oldSession, s, false)
	index(ss.byMember, oldMember, s, false)
	index(ss.byAccount, oldMember.account, s, false)
	if _, live := ss.live[s]; !live {
		return
	}
	index(ss.bySession, sessionID, s, true)
	if accountID != uuid.Nil {
		index(ss.byMember, s.member, s, true)
		index(ss.byAccount, accountID, s, true)
	}
}

// Hold implements resolvers.Stream.
func (s *stream) Hold() (release func()) {
	s.mu.Lock()
	s.holds++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.holds--
			if s.holds == 0 {
				close(s.released)
				s.released = make(chan struct{})
			}
		})
	}
}

// CloseTryAgainLater is the WebSocket close code of a stream cut off for
// falling behind (RFC 6455's 1013): it reconnects and resumes from its
// cursors.
const CloseTryAgainLater websocket.StatusCode = 1013

// End implements resolvers.Stream.
func (s *stream) End(reason crm.Code) {
	if s.registry.ended != nil {
		s.registry.ended.WithLabelValues(string(reason)).Inc()
	}
	code := websocket.StatusCode(CloseForbidden)
	if reason == crm.CodeSlowConsumer {
		code = CloseTryAgainLater
	}
	s.close(code, string(reason))
}

// closeAfterHolds closes the stream once no operation holds it open, or
// after wait at the latest.
func (s *stream) closeAfterHolds(code websocket.StatusCode, reason string, wait time.Duration) {
	s.mu.Lock()
	holds, released := s.holds, s.released
	s.mu.Unlock()
	if holds > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-released:
		case <-timer.C:
		}
		timer.Stop()
	}
	s.close(code, reason)
}

// sessionStreams returns the live streams of a session.
func (ss *streams) sessionStreams(id uuid.UUID) []*stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]*stream, 0, len(ss.bySession[id]))
	for s := range ss.bySession[id] {
		out = append(out, s)
	}
	return out
}

// memberStreams returns the live streams of a user acting in an account.
func (ss *streams) memberStreams(userID, accountID uuid.UUID) []*stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	key := member{user: userID, account: accountID}
	out := make([]*stream, 0, len(ss.byMember[key]))
	for s := range ss.byMember[key] {
		out = append(out, s)
	}
	return out
}

func (s *stream) setWebsocket(c *wsConn) {
	s.registry.mu.Lock()
	defer s.registry.mu.Unlock()
	s.ws = c
}

// websockets returns the live streams that are WebSockets.
func (ss *streams) websockets() []*stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]*stream, 0, len(ss.live))
	for s := range ss.live {
		if s.ws != nil {
			out = append(out, s)
		}
	}
	return out
}

// accountScopes returns what the live streams acting in an account act
// as.
func (ss *streams) accountScopes(accountID uuid.UUID) []crm.StreamScope {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]crm.StreamScope, 0, len(ss.byAccount[accountID]))
	for s := range ss.byAccount[accountID] {
		out = append(out, crm.StreamScope{UserID: s.member.user, AccountID: accountID, IP: s.ip})
	}
	return out
}

// scopes returns what the live streams act as, each once.
func (ss *streams) scopes() []crm.StreamScope {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	seen := map[crm.StreamScope]bool{}
	var out []crm.StreamScope
	for s := range ss.live {
		sc := crm.StreamScope{UserID: s.member.user, AccountID: s.member.account, IP: s.ip}
		if sc.AccountID != uuid.Nil && !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out
}

// scopeStreams returns the live streams acting as sc.
func (ss *streams) scopeStreams(sc crm.StreamScope) []*stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []*stream
	for s := range ss.byMember[member{user: sc.UserID, account: sc.AccountID}] {
		if s.ip == sc.IP {
			out = append(out, s)
		}
	}
	return out
}

// sessions returns the sessions with live streams in this process.
func (ss *streams) sessions() []uuid.UUID {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]uuid.UUID, 0, len(ss.bySession))
	for id := range ss.bySession {
		if id != uuid.Nil {
			out = append(out, id)
		}
	}
	return out
}

// closeAll ends every stream with code and refuses new ones.
func (ss *streams) closeAll(code websocket.StatusCode, reason string) {
	ss.mu.Lock()
	ss.closed = true
	all := make([]*stream, 0, len(ss.live))
	for s := range ss.live {
		all = append(all, s)
	}
	ss.mu.Unlock()
	for _, s := range all {
		s.close(code, reason)
	}
}

// wait returns when every stream handler has returned, or ctx ends.
func (ss *streams) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		ss.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close ends the stream: a WebSocket closes with code and reason, an SSE
// response completes.
func (s *stream) close(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	if s.code == 0 {
		s.code, s.reason = code, reason
	}
	s.mu.Unlock()
	s.cancel()
}

func (s *stream) closeStatus() (websocket.StatusCode, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code, s.reason
}
