package resolvers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"switchboard/db/dbtest"
	"switchboard/gateway/gatewaytest"
)

// BenchmarkLiveActivity is the dashboard load: N graphql-transport-ws
// clients, split over two gateway processes on one database, each
// subscribed to the live activity of its account (a manager's view: every
// entry is filtered by the subscriber's grant).
//
//   - idle/N: resident memory and goroutines of a gateway per idle
//     subscription, N spread over 100 accounts, a connection each;
//     idle/20000x2 holds 20,000 on 10,000 connections (two panels of one
//     dashboard), since the benchmark's process may open no more than
//     about 19,000 sockets without root's CAP_SYS_RESOURCE;
//   - latency/N: all N in one account; one contact created at a time
//     through the first process; the time from sending the mutation (its
//     commit is a little later) to the entry's arrival at each subscriber,
//     p50 and p99 over every subscriber of 20 changes;
//   - throughput/N: all N in one account; changes at a rising rate, each
//     for 5 s, and the highest rate every subscriber receives with p99
//     under one second.
//
// The clients run in the benchmark's process, on the same two cores as the
// gateways and PostgreSQL. Above about 19,000 connections it raises its
// open-file limit (it must run as root to go past the hard limit).
//
//	make bench BENCH=LiveActivity BENCHTIME=1x BENCHCOUNT=3
func BenchmarkLiveActivity(b *testing.B) {
	raiseFileLimit(b, 1<<16)
	for _, c := range []struct{ n, perConn int }{{1000, 1}, {10000, 1}, {20000, 2}} {
		name := fmt.Sprintf("idle/%d", c.n)
		if c.perConn > 1 {
			name += fmt.Sprintf("x%d", c.perConn)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				liveIdle(b, c.n, c.perConn)
			}
		})
	}
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("latency/%d", n), func(b *testing.B) {
			for range b.N {
				liveLatency(b, n)
			}
		})
	}
	b.Run("throughput/1000", func(b *testing.B) {
		for range b.N {
			liveThroughput(b, 1000)
		}
	})
}

func raiseFileLimit(b *testing.B, want uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= want {
		return
	}
	next := syscall.Rlimit{Cur: want, Max: max(want, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		b.Logf("open-file limit stays %d (%v): the largest runs may fail to connect", lim.Cur, err)
	}
}

// liveWorld is a database with accounts whose members have sessions, and
// two gateway processes on it.
type liveWorld struct {
	procs    []*gatewaytest.Server
	accounts []uuid.UUID
	// owner writes in accounts[0]; tokens[i] is a manager in
	// accounts[i%len(accounts)].
	owner  string
	tokens []string
}

func newLiveWorld(b *testing.B, n, accounts int) *liveWorld {
	database := dbtest.New(b)
	tokens := seedSessions(b, database, n+1)
	conn, err := sqlx.Open("postgres", database.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	w := &liveWorld{owner: tokens[0], tokens: tokens[1:]}
	var users []string
	if err := conn.Select(&users, `SELECT user_id::text FROM sessions ORDER BY id`); err != nil {
		b.Fatal(err)
	}
	// seedSessions made ids in order (v7), so sessions sort as tokens do.
	ids := make([]string, accounts)
	for i := range ids {
		id := uuid.Must(uuid.NewV7())
		w.accounts = append(w.accounts, id)
		ids[i] = id.String()
	}
	conn.MustExec(`INSERT INTO accounts (id, name, created_by, created_at) SELECT a, 'Dashboards ' || a, $2, now() FROM unnest($1::uuid[]) a`,
		pq.Array(ids), users[0])
	roles := make([]string, len(users))
	member := make([]string, len(users))
	for i := range users {
		roles[i], member[i] = "MANAGER", ids[max(0, i-1)%accounts]
	}
	roles[0] = "OWNER"
	conn.MustExec(`INSERT INTO memberships (account_id, user_id, role, created_at) SELECT a, u, r, now() FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS t (a, u, r)`,
		pq.Array(member), pq.Array(users), pq.Array(roles))
	conn.MustExec(`UPDATE sessions s SET current_account_id = m.account_id FROM memberships m WHERE m.user_id = s.user_id`)
	env := map[string]string{"DATABASE_MAX_CONNS": "10", "SWITCHBOARD_LOG_LEVEL": "warn", "SWITCHBOARD_MAX_STREAMS": "100000"}
	for i := range 2 {
		if dir := os.Getenv("SWITCHBOARD_BENCH_PROFILE_DIR"); dir != "" {
			env["SWITCHBOARD_GATEWAYTEST_CPUPROFILE"] = filepath.Join(dir, fmt.Sprintf("%s-%d.cpu", strings.ReplaceAll(b.Name(), "/", "_"), i))
		}
		w.procs = append(w.procs, gatewaytest.StartProcess(b, database, maps.Clone(env)))
	}
	return w
}

// arrival is one live entry reaching one client.
type arrival struct {
	entity string
	at     time.Time
}

// subscribeAll connects a client per token (alternating processes), each
// subscribed perConn times to its account's activity, and returns them
// once all are live; arrivals go to out.
func (w *liveWorld) subscribeAll(b *testing.B, out chan<- arrival, perConn int) []*websocket.Conn {
	ctx := context.Background()
	conns := make([]*websocket.Conn, len(w.tokens))
	errs := make(chan error, len(w.tokens))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	queries := make([][]byte, perConn)
	for i := range queries {
		queries[i], _ = json.Marshal(map[string]any{"type": "subscribe", "id": fmt.Sprint(i), "payload": map[string]any{
			"query": `subscription { activity { entityId cursor } }`}})
	}
	for i, token := range w.tokens {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			srv := w.procs[i%len(w.procs)]
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql",
				&websocket.DialOptions{Subprotocols: []string{gatewaytest.GraphQLTransportWS}})
			if err != nil {
				errs <- err
				return
			}
			init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
			if err := c.Write(ctx, websocket.MessageText, init); err != nil {
				errs <- err
				return
			}
			if _, _, err := c.Read(ctx); err != nil {
				errs <- err
				return
			}
			for _, query := range queries {
				if err := c.Write(ctx, websocket.MessageText, query); err != nil {
					errs <- err
					return
				}
			}
			conns[i] = c
			go readArrivals(c, out)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		live := 0
		for _, p := range w.procs {
			live += liveSubscriptions(b, p)
		}
		if live >= len(w.tokens)*perConn {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscriptions live after 120s", live, len(w.tokens)*perConn)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.CloseNow()
		}
	})
	return conns
}

// readArrivals reads a client's frames, noting when each entry arrived (a
// substring search: the clients share the cores with the gateways).
func readArrivals(c *websocket.Conn, out chan<- arrival) {
	key := []byte(`"entityId":"`)
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		at := time.Now()
		if i := bytes.Index(data, key); i >= 0 && len(data) >= i+len(key)+36 {
			if out != nil {
				out <- arrival{entity: string(data[i+len(key) : i+len(key)+36]), at: at}
			}
		}
	}
}

// change creates a contact in the account through the first process and
// returns its id and when the mutation was sent.
func (w *liveWorld) change(b *testing.B) (string, time.Time) {
	sent := time.Now()
	var out struct{ CreateContact struct{ ID string } }
	w.procs[0].Post(b, gatewaytest.Request{Query: `mutation { createContact(input: {lastName: "Live"}) { id } }`,
		Header: withAccount(bearer(w.owner), w.accounts[0].String())}).Decode(b, &out)
	return out.CreateContact.ID, sent
}

func liveIdle(b *testing.B, n, perConn int) {
	w := newLiveWorld(b, n/perConn, 100)
	before := []processMemory{measureProcess(b, w.procs[0]), measureProcess(b, w.procs[1])}
	w.subscribeAll(b, nil, perConn)
	var rss, goroutines float64
	for i, p := range w.procs {
		after := measureProcess(b, p)
		rss += float64(after.rss - before[i].rss)
		goroutines += after.goroutines - before[i].goroutines
	}
	b.ReportMetric(rss/float64(n)/1024, "rss-KB/sub")
	b.ReportMetric(goroutines/float64(n), "goroutines/sub")
}

func liveLatency(b *testing.B, n int) {
	w := newLiveWorld(b, n, 1)
	arrivals := make(chan arrival, n*4)
	w.subscribeAll(b, arrivals, 1)
	var samples []time.Duration
	for range 20 {
		id, sent := w.change(b)
		got := 0
		timeout := time.After(30 * time.Second)
		for got < n {
			select {
			case a := <-arrivals:
				if a.entity == id {
					samples = append(samples, a.at.Sub(sent))
					got++
				}
			case <-timeout:
				b.Fatalf("%d of %d subscribers got the change within 30s", got, n)
			}
		}
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds())/1000, "p99-ms")
}

func liveThroughput(b *testing.B, n int) {
	w := newLiveWorld(b, n, 1)
	arrivals := make(chan arrival, n*64)
	w.subscribeAll(b, arrivals, 1)
	best := 0.0
	for _, rate := range []int{10, 25, 50, 100, 200, 400} {
		sent := map[string]time.Time{}
		var mu sync.Mutex
		// Arrivals are matched with their changes afterwards: an entry
		// may arrive before its mutation's answer does.
		var got []arrival
		done := make(chan struct{})
		go func() {
			defer close(done)
			for a := range arrivals {
				if a.entity == "" {
					return
				}
				got = append(got, a)
			}
		}()
		const span = 5 * time.Second
		start := time.Now()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		var writers sync.WaitGroup
		for time.Since(start) < span {
			<-tick.C
			writers.Go(func() {
				id, at := w.change(b)
				mu.Lock()
				sent[id] = at
				mu.Unlock()
			})
		}
		tick.Stop()
		writers.Wait()
		elapsed := time.Since(start)
		// Let the last changes arrive (or not, within a second).
		time.Sleep(time.Second)
		arrivals <- arrival{}
		<-done
		mu.Lock()
		events := len(sent)
		var samples []time.Duration
		for _, a := range got {
			if at, ok := sent[a.entity]; ok {
				samples = append(samples, a.at.Sub(at))
			}
		}
		mu.Unlock()
		achieved := float64(events) / elapsed.Seconds()
		complete := len(samples) >= events*n
		slices.Sort(samples)
		var p99 time.Duration
		if len(samples) > 0 {
			p99 = samples[len(samples)*99/100]
		}
		b.Logf("rate %d/s: %.0f changes/s written, %d of %d deliveries, p99 %s", rate, achieved, len(samples), events*n, p99)
		if !complete || p99 > time.Second {
			break
		}
		best = achieved
	}
	b.ReportMetric(best, "events/s")
}
