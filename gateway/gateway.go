// Package gateway is Switchboard's HTTP surface: the routes, the middleware
// every request passes (request id, client address, origin check, body
// limit), the GraphQL transports, the lifecycle of WebSocket and SSE streams,
// health and metrics endpoints, and graceful shutdown.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/coder/websocket"

	"switchboard/config"
	"switchboard/crm"
	"switchboard/db"
	"switchboard/graph"
	"switchboard/resolvers"
)

// Options are the gateway's dependencies.
type Options struct {
	Config config.Config
	DB     *db.DB
	Logger *slog.Logger
	// Resolver is the resolver tree with its services; its event bus must
	// be running (the app runs it).
	Resolver *resolvers.Resolver
	// Root replaces the resolver tree served over GraphQL; tests use it to
	// inject faults. Nil means Resolver.
	Root graph.ResolverRoot
}

// Gateway serves Switchboard over HTTP.
type Gateway struct {
	cfg      config.Config
	db       *db.DB
	log      *slog.Logger
	resolver *resolvers.Resolver
	metrics  *metrics
	origins  origins
	streams  *streams
	sessions *sessionWatch
	handler  http.Handler
}

// New assembles the gateway.
func New(opts Options) (*Gateway, error) {
	if opts.DB == nil || opts.Resolver == nil || opts.Resolver.Bus == nil || opts.Resolver.Identity == nil {
		return nil, errors.New("gateway: a database, and a resolver with its identity service and bus, are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	origins, err := newOrigins(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{
		cfg:      opts.Config,
		db:       opts.DB,
		log:      opts.Logger,
		resolver: opts.Resolver,
		metrics:  newMetrics(opts.DB),
		origins:  origins,
		streams:  newStreams(),
	}
	g.sessions = newSessionWatch(opts.Config.SessionRecheckInterval, opts.Resolver.Identity, opts.Resolver.Bus, g.streams, opts.Logger)
	var root graph.ResolverRoot = opts.Resolver
	if opts.Root != nil {
		root = opts.Root
	}
	gql := resolvers.NewServer(root, resolvers.ServerOptions{
		Limits:        opts.Config.Limits,
		Introspection: opts.Config.Introspection,
		Logger:        opts.Logger,
		Observer:      g.metrics,
		Auth:          opts.Resolver,
	})
	g.addTransports(gql)
	g.handler = g.routes(gql)
	return g, nil
}

// addTransports puts the gateway's own HTTP transport first: it takes every
// request but a well-formed WebSocket handshake (transport.go).
func (g *Gateway) addTransports(srv *handler.Server) {
	limits := g.cfg.Limits
	srv.AddTransport(httpTransport{g: g, sse: transport.SSE{KeepAlivePingInterval: limits.WSPingInterval}})
	srv.AddTransport(transport.Websocket{
		Implementation:   trackedWebsocket{accept: websocket.AcceptOptions{OriginPatterns: g.origins.websocketPatterns()}, metrics: g.metrics},
		InitFunc:         g.resolver.WebsocketInit,
		InitTimeout:      limits.WSInitTimeout,
		PingPongInterval: limits.WSPingInterval, // graphql-transport-ws: ping, and drop a client that stops answering
		// The legacy graphql-ws protocol has no pong; a keep-alive message
		// at least keeps proxies from closing an idle socket.
		KeepAlivePingInterval: limits.WSPingInterval,
		PayloadReadLimit:      &limits.WSMaxMessage,
		ErrorFunc: func(ctx context.Context, err error) {
			g.log.DebugContext(ctx, "websocket error", "request_id", resolvers.RequestID(ctx), "err", err)
		},
	})
}

func (g *Gateway) routes(gql http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/graphql", g.streams.track(gql, func(w http.ResponseWriter, r *http.Request) {
		g.refuse(w, r, http.StatusServiceUnavailable, codeShuttingDown, "the server is shutting down: try again")
	}))
	mux.Handle("/healthz", g.only(http.MethodGet, http.HandlerFunc(g.healthz)))
	mux.Handle("/readyz", g.only(http.MethodGet, http.HandlerFunc(g.readyz)))
	mux.Handle("/metrics", g.only(http.MethodGet, g.metrics.handler()))
	if g.cfg.Introspection {
		mux.Handle("/graphiql", g.only(http.MethodGet, playground.Handler("Switchboard", "/graphql")))
		// Until the console lands at /, point newcomers to GraphiQL.
		mux.Handle("/{$}", g.only(http.MethodGet, http.RedirectHandler("/graphiql", http.StatusFound)))
	}
	mux.HandleFunc("/", g.notFound)
	return g.middleware(mux)
}

// codeShuttingDown answers a stream that arrives during shutdown (503):
// the client should reconnect, to another instance.
const codeShuttingDown = "SHUTTING_DOWN"

// only serves h for method (GET also answers HEAD, as http.ServeMux's
// patterns do) and refuses other methods with 405 in the error shape,
// which the mux's own 405 does not have.
func (g *Gateway) only(method string, h http.Handler) http.Handler {
	allow := method
	if method == http.MethodGet {
		allow = "GET, HEAD"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", allow)
		g.refuse(w, r, http.StatusMethodNotAllowed, string(crm.CodeBadRequest), "method not allowed here (allowed: "+allow+")")
	})
}

// notFound answers a path the gateway does not serve, in the error shape.
func (g *Gateway) notFound(w http.ResponseWriter, r *http.Request) {
	g.refuse(w, r, http.StatusNotFound, string(crm.CodeNotFound), "no such endpoint")
}

// Handler is the gateway's root handler, for tests that serve it themselves.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Serve answers on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish, closes every WebSocket with 1001
// (going away) and ends every subscription and SSE stream.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); g.sessions.run(watchCtx) }()
	defer func() { stopWatch(); <-watched }()
	g.log.Info("serving", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	g.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	// Shutdown stops the listener and waits for requests in flight. It does
	// not know hijacked WebSockets and would wait for SSE streams forever,
	// so those are ended here, at the same time.
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- srv.Shutdown(shutdownCtx) }()
	g.streams.closeAll(websocket.StatusGoingAway, "server shutting down")
	waitErr := g.streams.wait(shutdownCtx)
	err := errors.Join(<-shutdownErr, waitErr)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s: %w", g.cfg.ShutdownTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	g.log.Info("shut down")
	return nil
}

// Version is the build's VCS revision when known.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	if info.Main.Version != "" {
		return info.Main.Version
	}
	return "unknown"
}
