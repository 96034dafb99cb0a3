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
	"sync"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"switchboard/config"
	"switchboard/crm"
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
	origins  origins
	streams  *streams
	watch    *accessWatch
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
		streams:  newStreams(opts.Config.StreamLimit(openFileLimit()), opts.Logger),
	}
	g.streams.ended = g.metrics.streamsEnded
	g.watch = newAccessWatch(opts.Config.SessionRecheckInterval, opts.Resolver.Identity, opts.Resolver.Access, opts.Resolver.Bus, g.streams, opts.Logger)
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
		Implementation: wsImplementation{
			accept:       websocket.AcceptOptions{OriginPatterns: g.origins.websocketPatterns()},
			metrics:      g.metrics,
			writeTimeout: wsWriteTimeout,
		},
		InitFunc:    g.resolver.WebsocketInit,
		InitTimeout: limits.WSInitTimeout,
		// No per-connection pings: streams.pingLoop pings every connection
		// from one goroutine (websocket.go).
		PayloadReadLimit: &limits.WSMaxMessage,
		ErrorFunc: func(ctx context.Context, err error) {
			g.log.DebugContext(ctx, "websocket error", "request_id", resolvers.RequestID(ctx), "err", err)
		},
	})
}

func (g *Gateway) routes(gql http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/graphql", g.streams.track(gql, func(w http.ResponseWriter, r *http.Request) {
		g.refuse(w, r, http.StatusServiceUnavailable, codeShuttingDown, "the server is shutting down: try again")
	}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		g.refuse(w, r, http.StatusServiceUnavailable, codeTooManyStreams, "this server holds as many streams as it can: try again in a few seconds, or another server")
	}))
	mux.Handle("/healthz", g.only(http.MethodGet, http.HandlerFunc(g.healthz)))
	mux.Handle("/readyz", g.only(http.MethodGet, http.HandlerFunc(g.readyz)))
	if g.cfg.MetricsAddr == "" {
		mux.Handle("/metrics", g.only(http.MethodGet, g.metrics.handler()))
	}
	if g.cfg.Introspection {
		// From files in the binary: gqlgen's playground loads them from a
		// CDN, and stays on "Loading..." without internet.
		ui := graphiql.New(graphiql.Options{Path: "/graphiql", Endpoint: "/graphql", Title: "Switchboard"})
		mux.Handle("/graphiql", g.only(http.MethodGet, ui))
		mux.Handle("/graphiql/assets/", g.only(http.MethodGet, ui))
		// Until the console lands at /, point newcomers to GraphiQL.
		mux.Handle("/{$}", g.only(http.MethodGet, http.RedirectHandler("/graphiql", http.StatusFound)))
	}
	mux.HandleFunc("/", g.notFound)
	return g.middleware(mux)
}

// metricsRoutes are what the metrics address serves: /metrics alone,
// without the public middleware (no origin or host to check there).
func (g *Gateway) metricsRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", g.only(http.MethodGet, g.metrics.handler()))
	mux.HandleFunc("/", g.notFound)
	return mux
}

// wsWriteTimeout bounds one WebSocket write: a client that stops reading
// loses its connection instead of holding a writer.
const wsWriteTimeout = 10 * time.Second

// codeTooManyStreams answers a stream beyond the cap (503, Retry-After):
// the process keeps its remaining file descriptors for HTTP requests and
// the database, so it stays healthy at its limit.
const codeTooManyStreams = "TOO_MANY_STREAMS"

// openFileLimit is the process's open-file limit (Go raises the soft limit
// to the hard one at start), or 0 when it cannot be read.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
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

// ListenMetrics opens the metrics address when one is configured; nil
// otherwise.
func ListenMetrics(cfg config.Config) (net.Listener, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	return ln, nil
}

// Serve answers on ln, and /metrics alone on metricsLn (which must be given
// exactly when SWITCHBOARD_METRICS_ADDR is set; see ListenMetrics), until
// ctx ends or either stops serving. Then it shuts down gracefully: it stops
// accepting, lets in-flight requests finish, closes every WebSocket with
// 1001 (going away) and ends every subscription and SSE stream. Serve
// closes both listeners.
func (g *Gateway) Serve(ctx context.Context, ln, metricsLn net.Listener) error {
	if (metricsLn != nil) != (g.cfg.MetricsAddr != "") {
		_ = ln.Close()
		if metricsLn != nil {
			_ = metricsLn.Close()
		}
		return errors.New("serve: a metrics listener is needed exactly when SWITCHBOARD_METRICS_ADDR is set")
	}
	servers := []served{{name: "serve", ln: ln, srv: g.httpServer(ctx, g.handler)}}
	if metricsLn != nil {
		servers = append(servers, served{name: "serve metrics", ln: metricsLn, srv: g.httpServer(ctx, g.metricsRoutes())})
	}
	done := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				done <- fmt.Errorf("%s: %w", s.name, err)
				return
			}
			done <- nil
		}()
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var loops sync.WaitGroup
		loops.Go(func() { g.watch.run(watchCtx) })
		loops.Go(func() { g.streams.pingLoop(watchCtx, g.cfg.Limits.WSPingInterval) })
		loops.Wait()
	}()
	defer func() { stopWatch(); <-watched }()
	g.log.Info("serving", "addr", ln.Addr().String(), "max_streams", g.streams.max)
	if metricsLn != nil {
		g.log.Info("serving metrics", "addr", metricsLn.Addr().String())
	} else if g.cfg.IsProduction() {
		g.log.Warn("metrics are served on the public port; set SWITCHBOARD_METRICS_ADDR to a private address")
	}

	var errs []error
	pending := len(servers)
	select {
	case err := <-done:
		// One server stopped on its own: stop the other too.
		pending--
		errs = append(errs, err)
	case <-ctx.Done():
	}

	g.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	// Shutdown stops the listeners and waits for requests in flight. It
	// does not know hijacked WebSockets and would wait for SSE streams
	// forever, so those are ended here, at the same time.
	shutdownErrs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { shutdownErrs <- s.srv.Shutdown(shutdownCtx) }()
	}
	g.streams.closeAll(websocket.StatusGoingAway, "server shutting down")
	errs = append(errs, g.streams.wait(shutdownCtx))
	for range servers {
		errs = append(errs, <-shutdownErrs)
	}
	if err := errors.Join(errs...); errors.Is(err, context.DeadlineExceeded) {
		for _, s := range servers {
			_ = s.srv.Close()
		}
		return fmt.Errorf("shutdown: requests still running after %s: %w", g.cfg.ShutdownTimeout, err)
	}
	for range pending {
		errs = append(errs, <-done)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	g.log.Info("shut down")
	return nil
}

// served is one of the gateway's HTTP servers and its listener.
type served struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

func (g *Gateway) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
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
