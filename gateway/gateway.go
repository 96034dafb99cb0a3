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
	"github.com/coder/websocket"

	"switchboard/config"
	"switchboard/db"
	"switchboard/gateway/graphiql"
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
	g := &Gateway{
		cfg:      opts.Config,
		db:       opts.DB,
		log:      opts.Logger,
		resolver: opts.Resolver,
		metrics:  newMetrics(opts.DB),
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

func (g *Gateway) addTransports(srv *handler.Server) {
	limits := g.cfg.Limits
	srv.AddTransport(transport.Websocket{
		Implementation:   trackedWebsocket{accept: websocket.AcceptOptions{OriginPatterns: originHosts(g.cfg.AllowedOrigins)}, metrics: g.metrics},
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
	srv.AddTransport(transport.SSE{KeepAlivePingInterval: limits.WSPingInterval})
	srv.AddTransport(transport.Options{AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodOptions}})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.GRAPHQL{})
}

func (g *Gateway) routes(gql http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/graphql", g.streams.track(gql))
	mux.HandleFunc("GET /healthz", g.healthz)
	mux.HandleFunc("GET /readyz", g.readyz)
	mux.Handle("GET /metrics", g.metrics.handler())
	if g.cfg.Introspection {
		// From files in the binary: gqlgen's playground loads them from a
		// CDN, and stays on "Loading..." without internet.
		ui := graphiql.New(graphiql.Options{Path: "/graphiql", Endpoint: "/graphql", Title: "Switchboard"})
		mux.Handle("GET /graphiql", ui)
		mux.Handle("GET /graphiql/assets/", ui)
		// Until the console lands at /, point newcomers to GraphiQL.
		mux.Handle("GET /{$}", http.RedirectHandler("/graphiql", http.StatusFound))
	}
	return g.middleware(mux)
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
