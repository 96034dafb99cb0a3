package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"switchboard/db"
	"switchboard/db/dbtest"
	"switchboard/gateway"
	"switchboard/gateway/gatewaytest"
	"switchboard/graph"
	"switchboard/graph/model"
	"switchboard/resolvers"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const typename = `{ __typename }`

func TestTypenameOverEveryTransport(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})

	t.Run("POST json", func(t *testing.T) {
		r := srv.Post(t, gatewaytest.Request{Query: typename})
		assertTypename(t, r)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content type %q", ct)
		}
	})
	t.Run("POST graphql-response+json", func(t *testing.T) {
		r := srv.Post(t, gatewaytest.Request{Query: typename, Header: http.Header{"Accept": {"application/graphql-response+json"}}})
		assertTypename(t, r)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/graphql-response+json") {
			t.Errorf("content type %q", ct)
		}
	})
	t.Run("POST application/graphql", func(t *testing.T) {
		r := srv.Do(t, http.MethodPost, "/graphql", strings.NewReader(typename), http.Header{"Content-Type": {"application/graphql"}})
		assertTypename(t, r)
	})
	t.Run("GET", func(t *testing.T) {
		assertTypename(t, srv.Get(t, gatewaytest.Request{Query: typename}))
	})
	for _, protocol := range []string{gatewaytest.GraphQLTransportWS, gatewaytest.GraphQLWS} {
		t.Run("WebSocket "+protocol, func(t *testing.T) {
			ws := srv.DialWS(t, protocol, nil, nil)
			ws.Ack()
			ws.Subscribe("1", gatewaytest.Request{Query: typename})
			assertTypename(t, ws.NextData("1"))
			ws.Expect("complete")
			ws.Close()
		})
	}
	t.Run("SSE", func(t *testing.T) {
		sse := srv.Stream(t, t.Context(), gatewaytest.Request{Query: typename})
		assertTypename(t, sse.Next(t, 5*time.Second))
		if !sse.Ended(5 * time.Second) {
			t.Error("stream did not complete")
		}
	})
}

func assertTypename(t *testing.T, r gatewaytest.Response) {
	t.Helper()
	var got struct {
		Typename string `json:"__typename"`
	}
	r.Decode(t, &got)
	if got.Typename != "Query" {
		t.Fatalf("__typename = %q, want Query", got.Typename)
	}
}

// countingResolvers counts resolver calls, to prove a refused request ran
// none.
type countingResolvers struct {
	*resolvers.Resolver
	calls *atomic.Int64
}

func (r countingResolvers) Query() graph.QueryResolver {
	return countingQuery{r.Resolver.Query(), r.calls}
}

type countingQuery struct {
	graph.QueryResolver
	calls *atomic.Int64
}

func (q countingQuery) ServerInfo(ctx context.Context) (*model.ServerInfo, error) {
	q.calls.Add(1)
	return q.QueryResolver.ServerInfo(ctx)
}

func TestRefusesExpensiveRequestsWithTheirOwnCode(t *testing.T) {
	t.Parallel()
	calls := &atomic.Int64{}
	srv := gatewaytest.Start(t, gatewaytest.Options{Root: func(real *resolvers.Resolver) graph.ResolverRoot { return countingResolvers{real, calls} }})
	// The schema is small so far; tight limits let ordinary queries exceed
	// the depth and complexity budgets.
	tight := gatewaytest.Start(t, gatewaytest.Options{
		Root: func(real *resolvers.Resolver) graph.ResolverRoot { return countingResolvers{real, calls} },
		Env:  map[string]string{"SWITCHBOARD_MAX_DEPTH": "1", "SWITCHBOARD_MAX_COMPLEXITY": "3"},
	})
	var aliases, roots, tokens strings.Builder
	for i := range 31 {
		fmt.Fprintf(&aliases, "v%d: version ", i)
	}
	for i := range 11 {
		fmt.Fprintf(&roots, "r%d: __typename s%d: serverInfo { version } ", i, i)
	}
	tokens.WriteString("{ __typename ")
	for range 6000 {
		tokens.WriteString("__typename ")
	}
	tokens.WriteString("}")

	// A fragment "bomb": 2^24 aliased fields once expanded, in 26 lines.
	var bomb strings.Builder
	bomb.WriteString("query { serverInfo { ...F0 } }\nfragment F24 on ServerInfo { a: version }\n")
	for i := 23; i >= 0; i-- {
		fmt.Fprintf(&bomb, "fragment F%d on ServerInfo { ...F%d ...F%d }\n", i, i+1, i+1)
	}

	cases := []struct {
		name  string
		srv   *gatewaytest.Server
		query string
		code  string
	}{
		{"too deep", tight, `{ serverInfo { version } }`, resolvers.CodeDepthLimit},
		{"too complex", tight, `{ __typename a: __typename b: __typename c: __typename }`, resolvers.CodeComplexityLimit},
		{"alias flood", srv, `{ serverInfo { ` + aliases.String() + ` } }`, resolvers.CodeAliasLimit},
		{"fragment bomb", srv, bomb.String(), resolvers.CodeAliasLimit},
		{"too many root fields", srv, `{ ` + roots.String() + ` }`, resolvers.CodeRootFieldLimit},
		{"too many tokens", srv, tokens.String(), resolvers.CodeTokenLimit},
	}
	// Shape limits are validation rules of the server's own, so they answer
	// as a validation failure does (GraphQL over HTTP): 200 to a client of
	// application/json, which trusts only a 200 to be GraphQL, and 400 to
	// one of application/graphql-response+json; with no data entry.
	for _, tc := range cases {
		for accept, status := range map[string]int{"application/json": http.StatusOK, "application/graphql-response+json": http.StatusBadRequest} {
			t.Run(tc.name+" "+accept, func(t *testing.T) {
				r := tc.srv.Post(t, gatewaytest.Request{Query: tc.query, Header: http.Header{"Accept": {accept}}})
				if codes := r.Codes(); len(codes) != 1 || codes[0] != tc.code {
					t.Fatalf("codes %v, want [%s]; errors %+v", codes, tc.code, r.Errors)
				}
				if r.Status != status {
					t.Errorf("status %d, want %d", r.Status, status)
				}
				if r.Data != nil {
					t.Errorf("data entry %s, want none", r.Data)
				}
			})
		}
	}
	big := `{"query":"{ serverInfo { version } }","variables":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
	for name, body := range map[string]io.Reader{
		"oversized body": strings.NewReader(big),
		// A reader of unknown length is sent chunked, without Content-Length.
		"oversized chunked body": struct{ io.Reader }{strings.NewReader(big)},
	} {
		t.Run(name, func(t *testing.T) {
			r := srv.Do(t, http.MethodPost, "/graphql", body, http.Header{"Content-Type": {"application/json"}})
			if r.Status != http.StatusRequestEntityTooLarge || len(r.Codes()) != 1 || r.Codes()[0] != resolvers.CodeRequestTooLarge {
				t.Fatalf("status %d codes %v, want 413 %s", r.Status, r.Codes(), resolvers.CodeRequestTooLarge)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("resolvers ran %d times for refused requests", n)
	}
	// The same gateway still answers what fits.
	var got struct{ ServerInfo struct{ Version string } }
	srv.Post(t, gatewaytest.Request{Query: `{ serverInfo { version } }`}).Decode(t, &got)
	if got.ServerInfo.Version != gateway.Version() || calls.Load() != 1 {
		t.Fatalf("allowed query: version %q, %d resolver calls", got.ServerInfo.Version, calls.Load())
	}
}

func TestDefaultLimitsAdmitIntrospection(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})
	r := srv.Post(t, gatewaytest.Request{Query: introspectionQuery})
	var got struct {
		Schema struct {
			Types []struct{ Name string } `json:"types"`
		} `json:"__schema"`
	}
	r.Decode(t, &got)
	if len(got.Schema.Types) == 0 {
		t.Fatal("introspection returned no types")
	}
}

func TestProductionHidesSchema(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	srv := gatewaytest.Start(t, gatewaytest.Options{Database: database, Env: map[string]string{
		"SWITCHBOARD_ENV": "production",
		"DATABASE_URL":    database.URL,
	}})
	r := srv.Post(t, gatewaytest.Request{Query: `{ __schema { types { name } } }`})
	if len(r.Errors) == 0 {
		t.Fatalf("introspection answered in production: %s", r.Data)
	}
	r = srv.Post(t, gatewaytest.Request{Query: `{ serverInf { version } }`})
	if len(r.Errors) != 1 || strings.Contains(r.Errors[0].Message, "Did you mean") {
		t.Fatalf("want one error without suggestions, got %+v", r.Errors)
	}
	if resp := srv.Do(t, http.MethodGet, "/graphiql", nil, nil); resp.Status != http.StatusNotFound {
		t.Fatalf("GraphiQL status %d in production, want 404", resp.Status)
	}

	dev := gatewaytest.Start(t, gatewaytest.Options{})
	r = dev.Post(t, gatewaytest.Request{Query: `{ serverInf { version } }`})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "Did you mean") {
		t.Fatalf("development: want a suggestion, got %+v", r.Errors)
	}
	// GraphiQL and every file it loads come from the gateway itself; in
	// production, none of them answers.
	resp := dev.Do(t, http.MethodGet, "/graphiql", nil, nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("GraphiQL status %d in development, want 200", resp.Status)
	}
	page := string(resp.Body)
	assets := regexp.MustCompile(`"(/graphiql/assets/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if strings.Contains(page, "://") {
		t.Errorf("GraphiQL page names another origin:\n%s", page)
	}
	if len(assets) < 4 {
		t.Fatalf("GraphiQL page loads %d files from /graphiql/assets/, want React, ReactDOM, GraphiQL and more", len(assets))
	}
	for _, a := range assets {
		if resp := dev.Do(t, http.MethodGet, a[1], nil, nil); resp.Status != http.StatusOK || len(resp.Body) == 0 {
			t.Errorf("%s: status %d with %d bytes in development, want 200", a[1], resp.Status, len(resp.Body))
		}
		if resp := srv.Do(t, http.MethodGet, a[1], nil, nil); resp.Status != http.StatusNotFound {
			t.Errorf("%s: status %d in production, want 404", a[1], resp.Status)
		}
	}
}

// panickingResolvers panic in serverInfo.
type panickingResolvers struct{ *resolvers.Resolver }

func (r panickingResolvers) Query() graph.QueryResolver { return panickingQuery{r.Resolver.Query()} }

type panickingQuery struct{ graph.QueryResolver }

func (panickingQuery) ServerInfo(context.Context) (*model.ServerInfo, error) {
	var m map[string]int
	//lint:ignore SA5000 a nil-map write is the point: the kind of bug that panics in production
	m["boom"]++
	return nil, nil
}

func TestPanicBecomesInternalWithRequestID(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := gatewaytest.Start(t, gatewaytest.Options{
		Root:   func(real *resolvers.Resolver) graph.ResolverRoot { return panickingResolvers{real} },
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	r := srv.Post(t, gatewaytest.Request{Query: `{ serverInfo { version } }`})
	if len(r.Errors) != 1 || r.Errors[0].Code() != "INTERNAL" {
		t.Fatalf("errors %+v, want one INTERNAL", r.Errors)
	}
	id, _ := r.Errors[0].Extensions["requestId"].(string)
	if id == "" || id != r.Header.Get("X-Request-ID") {
		t.Fatalf("requestId %q, header %q", id, r.Header.Get("X-Request-ID"))
	}
	if strings.Contains(r.Errors[0].Message, "nil map") {
		t.Fatalf("internal detail leaked: %q", r.Errors[0].Message)
	}
	if !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "nil map") {
		t.Fatalf("log lacks the request id or the panic:\n%s", logs.String())
	}
	// The process survived and serves the next request.
	assertTypename(t, srv.Post(t, gatewaytest.Request{Query: typename}))
}

func TestRefusesForeignOrigins(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})
	foreign := http.Header{"Origin": {"https://evil.example"}}
	r := srv.Post(t, gatewaytest.Request{Query: typename, Header: foreign})
	if r.Status != http.StatusForbidden || len(r.Codes()) != 1 || r.Codes()[0] != "FORBIDDEN" {
		t.Fatalf("foreign POST: status %d codes %v", r.Status, r.Codes())
	}
	if _, err := srv.TryDialWS(t.Context(), gatewaytest.GraphQLTransportWS, foreign); err == nil {
		t.Fatal("foreign WebSocket upgrade accepted")
	}
	own := http.Header{"Origin": {srv.URL}}
	r = srv.Post(t, gatewaytest.Request{Query: typename, Header: own})
	assertTypename(t, r)
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != srv.URL {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	// A form post (the classic CSRF vehicle) is not a GraphQL request.
	form := srv.Do(t, http.MethodPost, "/graphql", strings.NewReader("query=%7B__typename%7D"), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if form.Status < 400 {
		t.Fatalf("form post answered %d", form.Status)
	}
}

func TestReadyzWaitsForMigrations(t *testing.T) {
	t.Parallel()
	empty := dbtest.NewEmpty(t)
	database := empty.Open(t, db.Options{})
	srv := gatewaytest.Start(t, gatewaytest.Options{Database: empty, NotReady: true})
	if r := srv.Do(t, http.MethodGet, "/readyz", nil, nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("readyz before migrations: %d, want 503", r.Status)
	}
	if r := srv.Do(t, http.MethodGet, "/healthz", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("healthz: %d", r.Status)
	}
	if err := db.Migrate(t.Context(), database.Pool(), nil); err != nil {
		t.Fatal(err)
	}
	if r := srv.Do(t, http.MethodGet, "/readyz", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("readyz after migrations: %d, want 200", r.Status)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})
	srv.Post(t, gatewaytest.Request{Query: `query Probe { __typename }`})
	srv.Post(t, gatewaytest.Request{Query: `{ nope }`})
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	for _, want := range []string{
		`switchboard_graphql_operations_total{operation="Probe",type="query"} 1`,
		`switchboard_graphql_operation_duration_seconds_count{operation="Probe",type="query"} 1`,
		`switchboard_graphql_errors_total{code="GRAPHQL_VALIDATION_FAILED"} 1`,
		`switchboard_websockets_open 0`,
		`switchboard_subscriptions_active 0`,
		`go_sql_max_open_connections{db_name="switchboard"}`,
	} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestSubscriptionsAreCounted: a subscription counts as active once its
// resolver listens, and no longer once it completes; one its resolver
// refuses never counts, and its error is counted by code.
func TestSubscriptionsAreCounted(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})
	sample := func(name string) string {
		t.Helper()
		r := srv.Do(t, http.MethodGet, "/metrics", nil, nil)
		for line := range strings.SplitSeq(string(r.Body), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				return v
			}
		}
		return ""
	}
	await := func(name, want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); sample(name) != want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s is %q, want %q", name, sample(name), want)
			}
		}
	}
	const active, refused = "switchboard_subscriptions_active", `switchboard_graphql_errors_total{code="BAD_USER_INPUT"}`

	ws := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, nil)
	ws.Ack()
	ws.Subscribe("1", gatewaytest.Request{Query: `subscription { heartbeat(seconds: 60) { time } }`})
	await(active, "1")
	ws.Subscribe("2", gatewaytest.Request{Query: `subscription { heartbeat(seconds: 0) { time } }`})
	for { // heartbeat 1 beats at once
		m, ok := ws.Next(5 * time.Second)
		if !ok {
			t.Fatal("no answer to subscription 2")
		}
		if m.ID == "2" {
			if r := m.Response(t); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
				t.Fatalf("subscription 2: %s %+v, want BAD_USER_INPUT", m.Type, r)
			}
			break
		}
	}
	await(refused, "1")
	if got := sample(active); got != "1" {
		t.Fatalf("with one refused subscription, %s is %s, want 1", active, got)
	}
	ws.Send(gatewaytest.WSMessage{Type: "complete", ID: "1"})
	await(active, "0")
}

// TestMetricsOnTheirOwnAddress: with SWITCHBOARD_METRICS_ADDR, /metrics is
// served there alone, the public port answers 404 for it, and the metrics
// listener stops with the gateway.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{Env: map[string]string{"SWITCHBOARD_METRICS_ADDR": "127.0.0.1:0"}})
	if srv.MetricsURL == "" || srv.MetricsURL == srv.URL {
		t.Fatalf("metrics URL %q, public URL %q", srv.MetricsURL, srv.URL)
	}
	if r := srv.Do(t, http.MethodGet, "/metrics", nil, nil); r.Status != http.StatusNotFound || len(r.Codes()) != 1 || r.Codes()[0] != "NOT_FOUND" {
		t.Fatalf("/metrics on the public port: %d %v, want 404 NOT_FOUND", r.Status, r.Codes())
	}
	srv.Post(t, gatewaytest.Request{Query: `query Probe { __typename }`})
	if body := fetchOK(t, srv.MetricsURL+"/metrics"); !strings.Contains(body, `switchboard_graphql_operations_total{operation="Probe",type="query"} 1`) {
		t.Fatalf("the metrics address does not serve the gateway's metrics:\n%s", body)
	}
	for _, path := range []string{"/graphql", "/healthz", "/"} {
		resp, err := http.Get(srv.MetricsURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s on the metrics address: %d, want 404", path, resp.StatusCode)
		}
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if resp, err := http.Get(srv.MetricsURL + "/metrics"); err == nil {
		resp.Body.Close()
		t.Fatal("the metrics address still answers after shutdown")
	}
}

// blockingResolvers hold serverInfo until released.
type blockingResolvers struct {
	*resolvers.Resolver
	entered chan struct{}
	release chan struct{}
}

func (r blockingResolvers) Query() graph.QueryResolver { return blockingQuery{r.Resolver.Query(), r} }

type blockingQuery struct {
	graph.QueryResolver
	r blockingResolvers
}

func (q blockingQuery) ServerInfo(ctx context.Context) (*model.ServerInfo, error) {
	close(q.r.entered)
	select {
	case <-q.r.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return q.QueryResolver.ServerInfo(ctx)
}

func TestOperationTimeout(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	srv := gatewaytest.Start(t, gatewaytest.Options{
		Env: map[string]string{"SWITCHBOARD_OPERATION_TIMEOUT": "200ms"},
		Root: func(real *resolvers.Resolver) graph.ResolverRoot {
			return blockingResolvers{real, entered, make(chan struct{})} // never released
		},
	})
	r := srv.Post(t, gatewaytest.Request{Query: `{ serverInfo { version } }`})
	if codes := r.Codes(); len(codes) != 1 || codes[0] != resolvers.CodeTimeout {
		t.Fatalf("codes %v, want [%s]", codes, resolvers.CodeTimeout)
	}
}

func TestWebSocketLimits(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{Env: map[string]string{
		"SWITCHBOARD_WS_INIT_TIMEOUT": "200ms",
		"SWITCHBOARD_WS_MAX_MESSAGE":  "1024",
	}})
	// A client that never says connection_init is dropped.
	silent, err := srv.TryDialWS(t.Context(), gatewaytest.GraphQLTransportWS, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, reason, err := silent.CloseStatus(5 * time.Second); err != nil || code != websocket.StatusProtocolError {
		t.Fatalf("silent client: %d %q %v", code, reason, err)
	}
	// A message over the limit closes the socket.
	ws := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, nil)
	ws.Ack()
	ws.Subscribe("big", gatewaytest.Request{Query: `{ __typename }`, Variables: map[string]any{"pad": strings.Repeat("x", 2048)}})
	if code, reason, err := ws.CloseStatus(5 * time.Second); err != nil || code != websocket.StatusMessageTooBig {
		t.Fatalf("oversized message: %d %q %v", code, reason, err)
	}
}

func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var res blockingResolvers
	srv := gatewaytest.Start(t, gatewaytest.Options{Root: func(real *resolvers.Resolver) graph.ResolverRoot {
		res = blockingResolvers{real, entered, release}
		return res
	}})
	answered := make(chan gatewaytest.Response, 1)
	go func() { answered <- srv.Post(t, gatewaytest.Request{Query: `{ serverInfo { version } }`}) }()
	<-res.entered
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("shutdown returned while a request was in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(res.release)
	r := <-answered
	var got struct{ ServerInfo struct{ Version string } }
	r.Decode(t, &got)
	if got.ServerInfo.Version != gateway.Version() {
		t.Fatalf("in-flight request answered %s", r.Data)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestGracefulShutdown is not parallel: it checks that no goroutine is left.
func TestGracefulShutdown(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	database := dbtest.New(t)
	srv := gatewaytest.Start(t, gatewaytest.Options{Database: database, Env: map[string]string{"SWITCHBOARD_METRICS_ADDR": "127.0.0.1:0"}})
	fetchOK(t, srv.MetricsURL+"/metrics") // a kept-alive connection that shutdown must close

	ws := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, nil)
	ws.Ack()
	ws.Subscribe("beat", gatewaytest.Request{Query: `subscription { heartbeat(seconds: 1) { time } }`})
	ws.NextData("beat")
	legacy := srv.DialWS(t, gatewaytest.GraphQLWS, nil, nil)
	legacy.Ack()
	legacy.Subscribe("beat", gatewaytest.Request{Query: `subscription { heartbeat(seconds: 1) { time } }`})
	legacy.NextData("beat")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sse := srv.Stream(t, ctx, gatewaytest.Request{Query: `subscription { heartbeat(seconds: 1) { time } }`})
	sse.Next(t, 5*time.Second)

	if err := srv.Stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for name, c := range map[string]*gatewaytest.WS{"graphql-transport-ws": ws, "graphql-ws": legacy} {
		code, reason, err := c.CloseStatus(5 * time.Second)
		if err != nil || code != websocket.StatusGoingAway {
			t.Errorf("%s: close code %d (%q, %v), want 1001", name, code, reason, err)
		}
	}
	if !sse.Ended(5 * time.Second) {
		t.Error("SSE stream still open after shutdown")
	}
	_ = srv.DB.Close()
	goleak.VerifyNone(t, ignore)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// introspectionQuery is the query GraphiQL sends (graphql-js
// getIntrospectionQuery with descriptions).
const introspectionQuery = `
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
`
