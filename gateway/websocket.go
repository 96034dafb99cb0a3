package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
)

// WebSockets are gqlgen's transport (protocols, subscriptions) over
// coder/websocket, through an adapter of our own instead of gqlgen's, for
// three reasons:
//   - the stream, not gqlgen, chooses the close code (gqlgen always sends
//     1000 when a connection's context ends; a session end is 4401);
//   - every write has a deadline, so a client that stops reading cannot
//     hold a writer forever;
//   - one goroutine pings every connection (pinger below) where gqlgen
//     runs a ticker and a goroutine per connection: an idle dashboard
//     connection costs less.

// Protocols and their keep-alive messages.
const (
	protocolTransportWS = "graphql-transport-ws"
	protocolGraphQLWS   = "graphql-ws"
)

// wsImplementation accepts WebSockets for gqlgen's transport.
type wsImplementation struct {
	accept       websocket.AcceptOptions
	metrics      *metrics
	writeTimeout time.Duration
}

var _ transport.WebsocketImplementation = wsImplementation{}

func (t wsImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for key, values := range opts.ResponseHeader {
		for _, v := range values {
			w.Header().Add(key, v)
		}
	}
	accept := t.accept
	for _, p := range opts.Subprotocols {
		if !slices.Contains(accept.Subprotocols, p) {
			accept.Subprotocols = append(accept.Subprotocols, p)
		}
	}
	conn, err := websocket.Accept(w, r, &accept)
	if err != nil {
		return nil, err
	}
	t.metrics.websockets.Inc()
	c := &wsConn{conn: conn, stream: streamFrom(r.Context()), metrics: t.metrics, writeTimeout: t.writeTimeout, idle: idleReaderOf(w)}
	if c.stream != nil {
		c.stream.setWebsocket(c)
	}
	return c, nil
}

// wsConn is one accepted WebSocket.
type wsConn struct {
	conn         *websocket.Conn
	stream       *stream
	metrics      *metrics
	writeTimeout time.Duration
	idle         *idleReader // nil: wait inside coder/websocket's Read
	closeOnce    sync.Once

	mu sync.Mutex
	// pingsUnanswered counts the pinger's pings since the last pong.
	pingsUnanswered int
	closing         bool
}

var (
	_ transport.WebsocketConn        = (*wsConn)(nil)
	_ transport.WebsocketReadLimiter = (*wsConn)(nil)
)

// NextReader reads the next message, noting pongs for the pinger.
func (c *wsConn) NextReader() (int, io.Reader, error) {
	c.awaitMessage()
	typ, data, err := c.conn.Read(context.Background())
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	if bytes.Contains(data, []byte(`"pong"`)) {
		var m struct{ Type string }
		if json.Unmarshal(data, &m) == nil && m.Type == "pong" {
			c.mu.Lock()
			c.pingsUnanswered = 0
			c.mu.Unlock()
		}
	}
	return int(typ), bytes.NewReader(data), nil
}

// awaitMessage returns once the connection has something to read. gqlgen's
// read loop spends an idle connection's life waiting for the next message,
// and inside coder/websocket's Read that wait is 1.3 KB of frames deeper:
// the loop's goroutine needs a 16 KB stack there and 8 KB here (the
// runtime halves a stack only while it uses less than a quarter of it, 800
// bytes of guard included). The wait is on the socket itself, so it is
// skipped while bytes already read wait in the connection's buffers, and
// once the close handshake may read (it starts only after closing is set,
// under mu).
func (c *wsConn) awaitMessage() {
	if c.idle == nil {
		return
	}
	c.mu.Lock()
	read := c.closing || c.idle.holdsData()
	c.mu.Unlock()
	if !read {
		c.idle.wait()
	}
}

// idleReader waits for a hijacked connection's socket to be readable
// without reading it.
type idleReader struct {
	raw     syscall.RawConn
	br      *bufio.Reader         // the WebSocket's read buffer
	pending *pendingConn          // what net/http had read, if anything
	ready   func(fd uintptr) bool // readable, bound once: a wait allocates nothing
	peek    [1]byte
}

// newIdleReader returns nil for a connection without a socket of its own
// (TLS, say, whose records the socket's readiness says nothing of).
func newIdleReader(conn net.Conn, br *bufio.Reader, pending *pendingConn) *idleReader {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	ir := &idleReader{raw: raw, br: br, pending: pending}
	ir.ready = ir.readable
	return ir
}

// idleReaderOf finds the idleReader of the connection that w hijacked.
func idleReaderOf(w http.ResponseWriter) *idleReader {
	for w != nil {
		if d, ok := w.(*detachedWriter); ok {
			return d.idle
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// holdsData reports bytes read from the socket and not consumed yet. The
// caller makes sure that nobody reads meanwhile.
func (ir *idleReader) holdsData() bool {
	return ir.br.Buffered() > 0 || (ir.pending != nil && !ir.pending.drained.Load())
}

// wait parks until the socket is readable, has closed or failed; the read
// that follows reports what it was.
func (ir *idleReader) wait() { _ = ir.raw.Read(ir.ready) }

// readable looks at the socket without consuming or blocking: anything but
// "nothing yet" (data, end of stream, an error) ends the wait.
func (ir *idleReader) readable(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), ir.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN
}

// WriteJSON writes one message, within the write timeout.
func (c *wsConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(data)
}

func (c *wsConn) write(data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.writeTimeout)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, data)
}

// WriteClose closes with the stream's code when it chose one. coder's
// close handshake waits up to five seconds for the peer; it runs in the
// background so gqlgen's teardown does not wait for it.
func (c *wsConn) WriteClose(code int, message string) error {
	if c.stream != nil {
		if override, reason := c.stream.closeStatus(); override != 0 {
			code, message = int(override), reason
		}
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.mu.Unlock()
	go func() { _ = c.conn.Close(websocket.StatusCode(code), message) }()
	return nil
}

// Close drops the connection (after WriteClose, its handshake does).
func (c *wsConn) Close() error {
	c.closeOnce.Do(c.metrics.websockets.Dec)
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return nil
	}
	return c.conn.CloseNow()
}

func (c *wsConn) Subprotocol() string { return c.conn.Subprotocol() }

// SetReadLimit implements transport.WebsocketReadLimiter: gqlgen's payload
// limit.
func (c *wsConn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }

// ping sends the protocol's keep-alive and reports whether the peer still
// answers: under graphql-transport-ws a ping it must pong, and two pings
// without a pong mean it is gone; the legacy graphql-ws protocol has no
// pong, only a keep-alive message that keeps proxies from closing an idle
// socket.
func (c *wsConn) ping() (alive bool) {
	msg := []byte(`{"type":"ka"}`)
	if c.Subprotocol() == protocolTransportWS {
		c.mu.Lock()
		c.pingsUnanswered++
		missed := c.pingsUnanswered > 2
		c.mu.Unlock()
		if missed {
			return false
		}
		msg = []byte(`{"type":"ping"}`)
	}
	return c.write(msg) == nil
}

// closePingTimeout is the close code for a client that stopped answering
// pings (like HTTP 408, in the application's range).
const closePingTimeout = 4408

// pingLoop pings every live WebSocket every interval from one goroutine
// (and a few short-lived ones for the writes), and ends the streams whose
// peers stopped answering.
func (ss *streams) pingLoop(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	sem := make(chan struct{}, 32) // writes at once
	var writes sync.WaitGroup
	defer writes.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		for _, s := range ss.websockets() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			writes.Go(func() {
				defer func() { <-sem }()
				if !s.ws.ping() {
					s.close(closePingTimeout, "PING_TIMEOUT")
				}
			})
		}
	}
}
