package resolvers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"switchboard/db/dbtest"
	"switchboard/gateway/gatewaytest"
	"switchboard/secrets"
)

// seedSessions creates n logins, each with an active session, straight in
// the database (signing in n times would measure argon2, not streams), and
// returns their tokens.
func seedSessions(t testing.TB, database dbtest.Database, n int) []string {
	t.Helper()
	conn, err := sqlx.Open("postgres", database.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tokens := make([]string, n)
	now := time.Now().UTC()
	const batch = 2000
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		var users, sessions, emails []string
		var hashes [][]byte
		for i := start; i < end; i++ {
			tokens[i] = secrets.NewToken(secrets.PrefixSession)
			users = append(users, uuid.Must(uuid.NewV7()).String())
			sessions = append(sessions, uuid.Must(uuid.NewV7()).String())
			emails = append(emails, fmt.Sprintf("stream-%d-%s@example.com", i, users[len(users)-1][:8]))
			hashes = append(hashes, secrets.HashToken(tokens[i]))
		}
		if _, err := conn.Exec(`INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at)
			SELECT u, e, 'Streamer', 'x', $3, $3 FROM unnest($1::uuid[], $2::text[]) AS t (u, e)`,
			pq.Array(users), pq.Array(emails), now); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at)
			SELECT s, u, h, $4, $4, $5 FROM unnest($1::uuid[], $2::uuid[], $3::bytea[]) AS t (s, u, h)`,
			pq.Array(sessions), pq.Array(users), pq.ByteaArray(hashes), now, now.Add(12*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}

// processMemory reads a process's resident set and its Go runtime's view
// from /metrics.
type processMemory struct {
	rss        int64 // bytes
	heapInuse  float64
	stackInuse float64
	goroutines float64
}

func measureProcess(t testing.TB, srv *gatewaytest.Server) processMemory {
	t.Helper()
	// An idle process collects garbage at least every two minutes, and
	// each collection halves the stacks of goroutines that use less than a
	// quarter of theirs: three collections bring an idle connection to the
	// size it has after a few minutes.
	for range 3 {
		srv.Settle()
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var m processMemory
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			m.rss = kb << 10
		}
	}
	metrics := metricsText(t, srv)
	gauge := func(name string) float64 {
		i := strings.Index(metrics, "\n"+name+" ")
		if i < 0 {
			t.Fatalf("no %s", name)
		}
		v, _, _ := strings.Cut(metrics[i+len(name)+2:], "\n")
		f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f
	}
	m.heapInuse, m.stackInuse, m.goroutines = gauge("go_memstats_heap_inuse_bytes"), gauge("go_memstats_stack_inuse_bytes"), gauge("go_goroutines")
	return m
}

// BenchmarkIdleSubscriptions opens n WebSocket connections to a gateway in
// a process of its own, each subscribed once and then idle, and reports
// what one costs the gateway: resident memory, heap and stacks, and
// goroutines.
//
//	make bench BENCH=IdleSubscriptions BENCHTIME=1x BENCHCOUNT=3
func BenchmarkIdleSubscriptions(b *testing.B) {
	for _, kind := range []struct{ name, query string }{
		{"sessionEvents", sessionEventsQuery},
		{"heartbeat", `subscription { heartbeat(seconds: 60) { time } }`},
	} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", kind.name, n), func(b *testing.B) {
				for range b.N {
					idleSubscriptions(b, kind.query, n)
				}
			})
		}
	}
}

func idleSubscriptions(b *testing.B, query string, n int) {
	database := dbtest.New(b)
	tokens := seedSessions(b, database, n)
	srv := gatewaytest.StartProcess(b, database, map[string]string{"DATABASE_MAX_CONNS": "10", "SWITCHBOARD_LOG_LEVEL": "warn"})
	// A warm-up connection, so the baseline includes what the first
	// connection sets up once.
	dialIdle(b, srv, tokens[0], query)
	before := measureProcess(b, srv)

	ctx := context.Background()
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := 1; i < n; i++ {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := dialIdleErr(ctx, srv, tokens[i], query)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for liveSubscriptions(b, srv) < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscriptions live after 60s", liveSubscriptions(b, srv), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := measureProcess(b, srv)
	per := float64(n - 1)
	b.ReportMetric(float64(after.rss-before.rss)/per/1024, "rss-KB/sub")
	b.ReportMetric((after.heapInuse-before.heapInuse)/per/1024, "heap-KB/sub")
	b.ReportMetric((after.stackInuse-before.stackInuse)/per/1024, "stack-KB/sub")
	b.ReportMetric((after.goroutines-before.goroutines)/per, "goroutines/sub")
	for _, c := range conns {
		if c != nil {
			c.CloseNow()
		}
	}
}

func dialIdle(t testing.TB, srv *gatewaytest.Server, token, query string) *websocket.Conn {
	t.Helper()
	c, err := dialIdleErr(context.Background(), srv, token, query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// dialIdleErr opens a graphql-transport-ws connection, subscribes with
// query and leaves the connection idle: a goroutine reads (and answers
// pings) as a real client would.
func dialIdleErr(ctx context.Context, srv *gatewaytest.Server, token, query string) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{gatewaytest.GraphQLTransportWS}})
	if err != nil {
		return nil, err
	}
	send := func(v any) error {
		b, _ := json.Marshal(v)
		return c.Write(ctx, websocket.MessageText, b)
	}
	if err := send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		return nil, err
	}
	if _, msg, err := c.Read(ctx); err != nil || !strings.Contains(string(msg), "connection_ack") {
		return nil, fmt.Errorf("no ack: %s %v", msg, err)
	}
	if err := send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": query}}); err != nil {
		return nil, err
	}
	go func() {
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if strings.Contains(string(msg), `"ping"`) {
				_ = c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
			}
		}
	}()
	return c, nil
}
