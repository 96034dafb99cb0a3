package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
)

// streams keeps every long-lived GraphQL request (WebSocket or SSE) so that
// the gateway can end them on purpose: all of them at shutdown, and later a
// session's own when it is signed out. gqlgen's transports end a stream when
// its context is cancelled; a WebSocket then closes with the code set here
// rather than gqlgen's fixed 1000.
type streams struct {
	mu     sync.Mutex
	live   map[*stream]struct{}
	closed bool
	// handlers counts stream handlers still running, so shutdown can wait
	// for hijacked connections that http.Server no longer tracks.
	handlers sync.WaitGroup
}

// stream is one WebSocket connection or SSE request.
type stream struct {
	cancel context.CancelFunc

	mu     sync.Mutex
	code   websocket.StatusCode // close code to send instead of 1000; 0 for none
	reason string
}

func newStreams() *streams {
	return &streams{live: map[*stream]struct{}{}}
}

type streamKey struct{}

func streamFrom(ctx context.Context) *stream {
	s, _ := ctx.Value(streamKey{}).(*stream)
	return s
}

// isStream reports a WebSocket upgrade or an SSE request.
func isStream(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// track wraps the GraphQL handler: a streaming request gets a cancellable
// context and a place in the registry for as long as its handler runs.
func (ss *streams) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		s := &stream{cancel: cancel}
		if !ss.add(s) {
			http.Error(w, "server shutting down", http.StatusServiceUnavailable)
			return
		}
		defer ss.remove(s)
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, streamKey{}, s)))
	})
}

func (ss *streams) add(s *stream) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	ss.live[s] = struct{}{}
	ss.handlers.Add(1)
	return true
}

func (ss *streams) remove(s *stream) {
	ss.mu.Lock()
	delete(ss.live, s)
	ss.mu.Unlock()
	ss.handlers.Done()
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

// trackedWebsocket accepts WebSockets with coder/websocket (gqlgen's own
// adapter) and lets the stream choose the close code.
type trackedWebsocket struct {
	accept  websocket.AcceptOptions
	metrics *metrics
}

func (t trackedWebsocket) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := transport.CoderWebsocketImplementation{AcceptOptions: t.accept}.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	t.metrics.websockets.Inc()
	return &trackedConn{WebsocketConn: conn, stream: streamFrom(r.Context()), metrics: t.metrics}, nil
}

// trackedConn substitutes the stream's close code for the one gqlgen sends
// when a connection's context is cancelled.
type trackedConn struct {
	transport.WebsocketConn
	stream  *stream
	metrics *metrics
	once    sync.Once
}

func (c *trackedConn) WriteClose(code int, message string) error {
	if c.stream != nil {
		if override, reason := c.stream.closeStatus(); override != 0 {
			code, message = int(override), reason
		}
	}
	return c.WebsocketConn.WriteClose(code, message)
}

func (c *trackedConn) Close() error {
	c.once.Do(c.metrics.websockets.Dec)
	return c.WebsocketConn.Close()
}

// SetReadLimit and SetReadDeadline pass through, so gqlgen's payload limit
// and pong deadline still apply to the wrapped connection.
func (c *trackedConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}
