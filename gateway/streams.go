package gateway

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
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
	log      *slog.Logger
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
	// accepted is closed when the stream's WebSocket is accepted (nil for
	// SSE).
	accepted chan struct{}
}

// member is a user in an account: the scope a stream acts in.
type member struct{ user, account uuid.UUID }

func newStreams(max int, log *slog.Logger) *streams {
	return &streams{max: max, log: log, live: map[*stream]struct{}{}, bySession: map[uuid.UUID]map[*stream]struct{}{},
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
// context and a place in the registry for as long as it is served.
// Once the registry is closed (shutdown), refused answers new streams;
// while it holds its cap, full does.
//
// A WebSocket is served in a goroutine of its own (handOff), so its
// context is not the request's: net/http cancels that one when the handler
// returns, and the stream ends only when its connection does.
func (ss *streams) track(next http.Handler, refused, full http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		websocket := isWebSocketUpgrade(r)
		base := r.Context()
		if websocket {
			base = context.WithoutCancel(base)
		}
		ctx, cancel := context.WithCancel(base)
		s := &stream{registry: ss, cancel: cancel, released: make(chan struct{})}
		if websocket {
			s.accepted = make(chan struct{})
		}
		switch ss.add(s) {
		case streamShutdown:
			cancel()
			refused(w, r)
			return
		case streamOverCap:
			cancel()
			full(w, r)
			return
		}
		r = r.WithContext(resolvers.WithStream(context.WithValue(ctx, streamKey{}, s), s))
		if websocket {
			ss.handOff(next, w, r, s)
			return
		}
		defer ss.remove(s)
		defer cancel()
		next.ServeHTTP(w, r)
	})
}

// handOff serves a WebSocket, next's, in a goroutine of its own, and
// returns once the connection is accepted (or the handshake was answered
// without one). net/http's goroutine for the request then ends, and with
// it what it would hold for the connection's life: a stack grown through
// the middleware, the connection's state and its 8 KB of buffers (the
// handler's writer lets go of them: detachedWriter). Until handOff
// returns, its caller does nothing with the request, so the two
// goroutines never use it at once. A panic before the connection is
// accepted is raised again here, for the middleware to answer.
func (ss *streams) handOff(next http.Handler, w http.ResponseWriter, r *http.Request, s *stream) {
	done := make(chan any, 1)
	go ss.serveWebsocket(next, &detachedWriter{w: w}, r, s, done)
	select {
	case <-s.accepted:
	case v := <-done:
		if v != nil {
			panic(v)
		}
	}
}

// serveWebsocket is the goroutine of a WebSocket's life: gqlgen's read
// loop runs on it, idle for hours on a dashboard. It starts without the
// frames of net/http and the middleware below it, which an idle
// connection's stack would otherwise keep.
func (ss *streams) serveWebsocket(next http.Handler, w *detachedWriter, r *http.Request, s *stream, done chan<- any) {
	defer ss.endWebsocket(r.Context(), s, done)
	next.ServeHTTP(w, r)
}

// endWebsocket ends a WebSocket's stream and tells handOff. A panic after
// the connection was accepted has no middleware left to answer it: it is
// logged here, where it would otherwise end the process.
func (ss *streams) endWebsocket(ctx context.Context, s *stream, done chan<- any) {
	v := recover()
	s.cancel()
	ss.remove(s)
	select {
	case <-s.accepted:
		if v != nil {
			ss.log.ErrorContext(ctx, "panic in a websocket", "request_id", resolvers.RequestID(ctx), "panic", v)
		}
		done <- nil
	default:
		done <- v
	}
}

// Buffer sizes of an accepted WebSocket. coder/websocket keeps the
// hijacked connection's buffers for the connection's life, and net/http's
// are 4 KB each: 8 KB of every idle dashboard's memory. Reading, a message
// larger than the buffer goes straight into the message; writing, a
// message larger than the buffer costs one more write call. Clients send
// small messages (subscribe, pong), and most events fit in 1 KB.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 1024
)

// detachedWriter is a WebSocket handler's ResponseWriter. Its Hijack
// hands over the connection with buffers of wsReadBuffer and
// wsWriteBuffer bytes and then lets go of net/http's writer: gqlgen's
// handler keeps its writer for the connection's life (to answer a
// panic), and net/http's holds the whole connection's state. After the
// hijack, writes fail as net/http's would.
type detachedWriter struct {
	w      http.ResponseWriter // nil once hijacked
	header http.Header
	idle   *idleReader // the hijacked connection's, when it has a socket
}

func (d *detachedWriter) Header() http.Header {
	if d.w == nil {
		return d.header
	}
	return d.w.Header()
}

func (d *detachedWriter) Write(b []byte) (int, error) {
	if d.w == nil {
		return 0, http.ErrHijacked
	}
	return d.w.Write(b)
}

func (d *detachedWriter) WriteHeader(status int) {
	if d.w != nil {
		d.w.WriteHeader(status)
	}
}

func (d *detachedWriter) Unwrap() http.ResponseWriter { return d.w }

func (d *detachedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if d.w == nil {
		return nil, nil, http.ErrHijacked
	}
	conn, brw, err := http.NewResponseController(d.w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	d.header, d.w = d.w.Header(), nil
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	// What the client sent after its handshake is already in net/http's
	// buffer: the connection hands it over before what the socket holds.
	var rest net.Conn = conn
	var pending *pendingConn
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		pending = &pendingConn{Conn: conn, pending: bytes.Clone(b)}
		rest = pending
	}
	r := bufio.NewReaderSize(rest, wsReadBuffer)
	d.idle = newIdleReader(conn, r, pending)
	return rest, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, wsWriteBuffer)), nil
}

// pendingConn is a hijacked connection that reads first what net/http had
// already read of it.
type pendingConn struct {
	net.Conn
	pending []byte
	drained atomic.Bool
}

func (c *pendingConn) Read(b []byte) (int, error) {
	if len(c.pending) == 0 {
		return c.Conn.Read(b)
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
		c.drained.Store(true)
	}
	return n, nil
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
	s.ws = c
	s.registry.mu.Unlock()
	if s.accepted != nil {
		close(s.accepted)
	}
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
