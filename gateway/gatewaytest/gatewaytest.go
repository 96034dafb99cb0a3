// Package gatewaytest starts real gateways for tests, on port 0 against a
// real database, and talks to them the way clients do: GraphQL over HTTP
// POST and GET, WebSocket (graphql-transport-ws and legacy graphql-ws) and
// SSE.
package gatewaytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/app"
	"switchboard/config"
	"switchboard/crm"
	"switchboard/db"
	"switchboard/db/dbtest"
	"switchboard/gateway"
	"switchboard/graph"
	"switchboard/resolvers"
	"switchboard/secrets"
)

// Options adjust a test gateway.
type Options struct {
	// Env overrides environment variables read by config.Load.
	Env map[string]string
	// Database to serve; a fresh clone of the template when empty.
	Database dbtest.Database
	// Root replaces the resolver tree served over GraphQL.
	Root  func(real *resolvers.Resolver) graph.ResolverRoot
	Clock func() time.Time
	// Mailer replaces the configured mailer (by default mail is written to
	// a temporary directory; set SMTP_URL in Env to use a mailtest server).
	Mailer crm.Mailer
	// Logger defaults to one that writes through t.Log.
	Logger     *slog.Logger
	HashParams *secrets.Argon2Params
	// NotReady returns without waiting for /readyz (a database without
	// migrations never gets ready).
	NotReady bool
}

// Server is a running gateway.
type Server struct {
	URL string
	// MetricsURL is where /metrics is served when SWITCHBOARD_METRICS_ADDR
	// is set (use 127.0.0.1:0); empty otherwise.
	MetricsURL string
	Config     config.Config
	App        *app.App
	DB         *db.DB
	Database   dbtest.Database
	// Pid is the gateway's OS process when it runs in one of its own
	// (StartProcess), for measuring it; 0 otherwise.
	Pid int

	stop   func() error
	settle func()
	client *http.Client
}

// CloseIdleConnections closes the test client's idle keep-alive
// connections to the gateway (whose goroutines then end), for tests that
// count goroutines.
func (s *Server) CloseIdleConnections() { s.client.CloseIdleConnections() }

// Settle makes a gateway process (StartProcess) collect its garbage and
// return free memory to the system, and waits until it has, so that what
// a benchmark reads of it is what it holds.
func (s *Server) Settle() {
	if s.settle != nil {
		s.settle()
	}
}

// TestSecretKey is the secret key test gateways share, so that gateways on
// one database (several "processes") can open each other's secrets.
const TestSecretKey = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE="

// Config is the configuration a test gateway runs with: development
// defaults, port 0, fast job polling, a temporary data directory, then
// env's overrides.
func Config(t testing.TB, env map[string]string) config.Config {
	t.Helper()
	all := map[string]string{
		"PORT":                          "0",
		"SWITCHBOARD_LOG_LEVEL":         "debug",
		"SWITCHBOARD_DATA_DIR":          t.TempDir(),
		"SWITCHBOARD_SECRET_KEY":        TestSecretKey,
		"SWITCHBOARD_JOB_POLL_INTERVAL": "50ms",
	}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := config.Load(func(k string) string { return all[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// Start serves a gateway until the test ends (or Stop is called), and
// returns once it is ready (migrated, listening for events).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	cfg := Config(t, opts.Env)
	if opts.Database.URL == "" {
		opts.Database = dbtest.New(t)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg.PublicURL = "http://" + ln.Addr().String()
	if opts.Env["SWITCHBOARD_ALLOWED_ORIGINS"] == "" {
		cfg.AllowedOrigins = []string{cfg.PublicURL}
	}
	cfg.DatabaseMaxOpen = 10
	metricsLn, err := gateway.ListenMetrics(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), app.Options{Config: cfg, DatabaseURL: opts.Database.URL, Logger: logger,
		Clock: opts.Clock, Mailer: opts.Mailer, Root: opts.Root, HashParams: opts.HashParams})
	if err != nil {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		t.Fatalf("app: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := &Server{
		URL: cfg.PublicURL, Config: cfg, App: a, DB: a.DB, Database: opts.Database,
		MetricsURL: metricsURL(metricsLn),
		client:     &http.Client{Timeout: 60 * time.Second},
		stop: func() error {
			cancel()
			return <-done
		},
	}
	go func() { done <- a.Serve(ctx, ln, metricsLn) }()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	if !opts.NotReady {
		s.WaitReady(t)
	}
	return s
}

func metricsURL(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return "http://" + ln.Addr().String()
}

// WaitReady polls /readyz until it answers 200.
func (s *Server) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.client.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway at %s not ready after 30s (last: %v)", s.URL, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the gateway down gracefully and returns what Serve returned.
// Calling it again returns nil.
func (s *Server) Stop() error {
	if s.stop == nil {
		return nil
	}
	stop := s.stop
	s.stop = nil
	err := stop()
	s.client.CloseIdleConnections()
	return err
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Error is one GraphQL error as clients see it.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code.
func (e Error) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// Response is a decoded GraphQL response.
type Response struct {
	Status int         `json:"-"`
	Header http.Header `json:"-"`
	// Body is the response as sent, for answers that are not GraphQL
	// (pages, files).
	Body   []byte          `json:"-"`
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
}

// Codes lists the response's error codes in order.
func (r Response) Codes() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.Code())
	}
	return out
}

// Decode unmarshals data into v, failing the test on errors.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

// Request is one GraphQL request over HTTP.
type Request struct {
	Query     string
	Variables map[string]any
	Header    http.Header
}

// Post sends a GraphQL request as JSON.
func (s *Server) Post(t testing.TB, req Request) Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": req.Query, "variables": req.Variables})
	if err != nil {
		t.Fatal(err)
	}
	return s.Do(t, http.MethodPost, "/graphql", bytes.NewReader(body), withDefault(req.Header, "Content-Type", "application/json"))
}

// Get sends a GraphQL query in the URL.
func (s *Server) Get(t testing.TB, req Request) Response {
	t.Helper()
	q := url.Values{"query": {req.Query}}
	if req.Variables != nil {
		v, _ := json.Marshal(req.Variables)
		q.Set("variables", string(v))
	}
	return s.Do(t, http.MethodGet, "/graphql?"+q.Encode(), nil, req.Header)
}

// Dial opens a bare TCP connection to the gateway, for requests Go's HTTP
// client would not send as written. It is closed when the test ends, and
// gives up after 10 s.
func (s *Server) Dial(t testing.TB) (net.Conn, string) {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return conn, u.Host
}

// Do sends any request to the gateway and decodes a GraphQL-shaped answer.
// A Host in header replaces the request's host (DNS-rebinding tests).
func (s *Server) Do(t testing.TB, method, path string, body io.Reader, header http.Header) Response {
	t.Helper()
	httpReq, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		httpReq.Header[k] = vs
	}
	if host := header.Get("Host"); host != "" {
		httpReq.Host = host
	}
	resp, err := s.client.Do(httpReq)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	out := Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("decode response %q: %v", raw, err)
		}
	}
	return out
}

func withDefault(h http.Header, key, value string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	if out.Get(key) == "" {
		out.Set(key, value)
	}
	return out
}

// SSE is a subscription (or any operation) streamed as server-sent events.
type SSE struct {
	resp   *http.Response
	events chan Response
}

// Stream posts req with Accept: text/event-stream and delivers each "next"
// event's payload; the channel closes when the stream ends.
func (s *Server) Stream(t testing.TB, ctx context.Context, req Request) *SSE {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": req.Query, "variables": req.Variables})
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range req.Header {
		httpReq.Header[k] = vs
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatalf("sse: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("sse: status %d: %s", resp.StatusCode, b)
	}
	sse := &SSE{resp: resp, events: make(chan Response, 16)}
	go sse.read()
	t.Cleanup(func() { resp.Body.Close() })
	return sse
}

func (s *SSE) read() {
	defer close(s.events)
	defer s.resp.Body.Close()
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
			if event == "complete" {
				return
			}
		case strings.HasPrefix(line, "data: ") && event == "next":
			var r Response
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &r); err == nil {
				s.events <- r
			}
		}
	}
}

// Next returns the next event, failing the test after timeout.
func (s *SSE) Next(t testing.TB, timeout time.Duration) Response {
	t.Helper()
	select {
	case r, ok := <-s.events:
		if !ok {
			t.Fatal("sse: stream ended")
		}
		return r
	case <-time.After(timeout):
		t.Fatal("sse: no event in time")
	}
	return Response{}
}

// Ended reports whether the stream ends within timeout (events in between
// are discarded).
func (s *SSE) Ended(timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// WebSocket subprotocols.
const (
	GraphQLTransportWS = "graphql-transport-ws"
	GraphQLWS          = "graphql-ws"
)

// WS is a GraphQL WebSocket client speaking either protocol.
type WS struct {
	t        testing.TB
	conn     *websocket.Conn
	protocol string
	messages chan WSMessage
	closed   chan struct{}
	closeErr error
	// done is closed when the test closes the connection, so that a reader
	// holding a message nobody takes still ends.
	done     chan struct{}
	doneOnce sync.Once
}

// WSMessage is one protocol message from the server.
type WSMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// Received is when the client read the frame (for latency benchmarks).
	Received time.Time `json:"-"`
}

// Response decodes a next/data payload.
func (m WSMessage) Response(t testing.TB) Response {
	t.Helper()
	var r Response
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		t.Fatalf("decode %s payload %s: %v", m.Type, m.Payload, err)
	}
	return r
}

// DialWS opens a WebSocket with protocol and sends connection_init with
// payload. It does not wait for the acknowledgement: use Ack.
func (s *Server) DialWS(t testing.TB, protocol string, header http.Header, payload map[string]any) *WS {
	t.Helper()
	ws, err := s.TryDialWS(t.Context(), protocol, header)
	if err != nil {
		t.Fatalf("dial websocket: %v", err)
	}
	ws.t = t
	t.Cleanup(func() { ws.stop(); ws.conn.CloseNow() })
	ws.Send(WSMessage{Type: "connection_init", Payload: mustJSON(payload)})
	return ws
}

// TryDialWS opens a WebSocket without sending anything, returning the
// handshake error (for origin checks). A Host in header replaces the
// request's host.
func (s *Server) TryDialWS(ctx context.Context, protocol string, header http.Header) (*WS, error) {
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{protocol}, HTTPHeader: header, Host: header.Get("Host")})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(4 << 20)
	ws := &WS{conn: conn, protocol: protocol, messages: make(chan WSMessage, 64), closed: make(chan struct{}), done: make(chan struct{})}
	go ws.read()
	return ws, nil
}

func mustJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (w *WS) read() {
	defer close(w.closed)
	defer close(w.messages)
	for {
		_, data, err := w.conn.Read(context.Background())
		if err != nil {
			w.closeErr = err
			return
		}
		m := WSMessage{Received: time.Now()}
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		if m.Type == "ka" || (m.Type == "ping" && w.protocol == GraphQLTransportWS) {
			if m.Type == "ping" {
				_ = w.conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
			}
			continue
		}
		select {
		case w.messages <- m:
		case <-w.done:
			return
		}
	}
}

func (w *WS) stop() { w.doneOnce.Do(func() { close(w.done) }) }

// Send writes one protocol message.
func (w *WS) Send(m WSMessage) {
	w.t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("websocket write: %v", err)
	}
}

// Next returns the next message other than keep-alives.
func (w *WS) Next(timeout time.Duration) (WSMessage, bool) {
	select {
	case m, ok := <-w.messages:
		return m, ok
	case <-time.After(timeout):
		return WSMessage{}, false
	}
}

// Expect returns the next message and fails unless it has type typ.
func (w *WS) Expect(typ string) WSMessage {
	w.t.Helper()
	m, ok := w.Next(10 * time.Second)
	if !ok {
		w.t.Fatalf("websocket: want %q, connection ended or timed out (%v)", typ, w.closeErr)
	}
	if m.Type != typ {
		w.t.Fatalf("websocket: want %q, got %q %s", typ, m.Type, m.Payload)
	}
	return m
}

// Ack waits for connection_ack.
func (w *WS) Ack() { w.t.Helper(); w.Expect("connection_ack") }

// Subscribe starts an operation with id.
func (w *WS) Subscribe(id string, req Request) {
	w.t.Helper()
	typ := "subscribe"
	if w.protocol == GraphQLWS {
		typ = "start"
	}
	w.Send(WSMessage{Type: typ, ID: id, Payload: mustJSON(map[string]any{"query": req.Query, "variables": req.Variables})})
}

// NextData waits for the next result of operation id ("next" or legacy
// "data").
func (w *WS) NextData(id string) Response {
	w.t.Helper()
	want := "next"
	if w.protocol == GraphQLWS {
		want = "data"
	}
	m := w.Expect(want)
	if m.ID != id {
		w.t.Fatalf("websocket: result for %q, want %q", m.ID, id)
	}
	return m.Response(w.t)
}

// CloseStatus waits for the server to close the connection and returns the
// close code and reason.
func (w *WS) CloseStatus(timeout time.Duration) (websocket.StatusCode, string, error) {
	select {
	case <-w.closed:
	case <-time.After(timeout):
		return -1, "", fmt.Errorf("connection still open after %s", timeout)
	}
	var ce websocket.CloseError
	if errors.As(w.closeErr, &ce) {
		return ce.Code, ce.Reason, nil
	}
	return -1, "", w.closeErr
}

// Close closes the client side normally.
func (w *WS) Close() {
	w.stop()
	_ = w.conn.Close(websocket.StatusNormalClosure, "")
}
