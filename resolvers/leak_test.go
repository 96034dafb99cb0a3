package resolvers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/gateway/gatewaytest"
)

// These tests count the process's goroutines, so they do not run in
// parallel with others (Go runs the parallel tests after them). They count
// as goleak does, less the job queue's: River's maintenance services start
// and stop goroutines on their own schedule, which goleak's options (by
// function name) cannot follow; the buses' own tests use goleak itself.

// TestSubscribeUnsubscribeLeaksNothing: a thousand live subscriptions
// started and stopped on one connection leave no goroutine behind.
func TestSubscribeUnsubscribeLeaksNothing(t *testing.T) {
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	token, account := ownAccount(t, srv)
	warmUp(t, srv, token, account)
	before := settledGoroutines(t, srv, -1)

	ws := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + token, "accountId": account})
	ws.Ack()
	for i := range 1000 {
		query := activitySubscription
		if i%2 == 1 {
			query = `subscription { notifications { id } }`
		}
		ws.Subscribe(fmt.Sprint(i), gatewaytest.Request{Query: query})
		if i > 0 {
			ws.Send(gatewaytest.WSMessage{Type: "complete", ID: fmt.Sprint(i - 1)})
		}
	}
	ws.Send(gatewaytest.WSMessage{Type: "complete", ID: "999"})
	awaitSubscriptionsDown(t, srv, 0)
	ws.Close()
	settledGoroutines(t, srv, before)
}

// TestAbruptDisconnectsLeaveNoGoroutines: ten thousand clients that
// subscribe and then drop their TCP connection without a goodbye, over
// WebSocket and over SSE, leave the goroutine count where it was.
func TestAbruptDisconnectsLeaveNoGoroutines(t *testing.T) {
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	token, account := ownAccount(t, srv)
	warmUp(t, srv, token, account)
	before := settledGoroutines(t, srv, -1)

	const clients, workers = 10_000, 32
	run := func(name string, drop func(ctx context.Context) error) {
		jobs := make(chan int)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed error
		for range workers {
			wg.Go(func() {
				for range jobs {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := drop(ctx)
					cancel()
					if err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
					}
				}
			})
		}
		for i := range clients {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		if failed != nil {
			t.Fatalf("%s: %v", name, failed)
		}
		after := settledGoroutines(t, srv, before)
		t.Logf("%s: %d goroutines before, %d after %d abrupt disconnects", name, before, after, clients)
	}

	wsURL := "ws" + srv.URL[len("http"):] + "/graphql"
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token, "accountId": account}})
	subscribe, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": activitySubscription}})
	run("websocket", func(ctx context.Context) error {
		conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{gatewaytest.GraphQLTransportWS}})
		if err != nil {
			return err
		}
		defer conn.CloseNow() // no close frame: the TCP connection just ends
		if err := conn.Write(ctx, websocket.MessageText, init); err != nil {
			return err
		}
		if _, _, err := conn.Read(ctx); err != nil { // connection_ack
			return err
		}
		return conn.Write(ctx, websocket.MessageText, subscribe)
	})

	body, _ := json.Marshal(map[string]any{"query": activitySubscription})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	run("sse", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header = withAccount(bearer(token), account)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close() // mid-stream: the connection is dropped
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		_, err = bufio.NewReader(resp.Body).ReadByte() // the stream has begun
		return err
	})
}

// ownAccount signs a new user up and returns their token and account.
func ownAccount(t testing.TB, srv *gatewaytest.Server) (token, account string) {
	t.Helper()
	token = *signUp(t, srv, newEmail(t)).Token
	var me struct {
		Me struct {
			Accounts []struct{ Account struct{ ID string } }
		}
	}
	srv.Post(t, gatewaytest.Request{Query: `{ me { accounts { account { id } } } }`, Header: bearer(token)}).Decode(t, &me)
	return token, me.Me.Accounts[0].Account.ID
}

// warmUp opens and ends one live subscription, so that what a gateway
// starts once (pools, the pinger) is running before goroutines are counted.
func warmUp(t testing.TB, srv *gatewaytest.Server, token, account string) {
	t.Helper()
	ws := liveActivity(t, srv, token, account, "", nil)
	ws.Close()
	awaitSubscriptionsDown(t, srv, 0)
}

// settledGoroutines waits for the count of the gateway's goroutines to
// settle (at most want, unless want is negative) and returns it. It leaves
// out what comes and goes on its own schedule: the job queue's maintenance
// and the database pools' cleaners; the test client's idle keep-alive
// connections are closed first. On failure it prints the goroutines that
// remain.
func settledGoroutines(t testing.TB, srv *gatewaytest.Server, want int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := -1
	buf := make([]byte, 8<<20)
	for {
		srv.CloseIdleConnections()
		runtime.GC()
		var ours [][]byte
		for _, g := range bytes.Split(buf[:runtime.Stack(buf, true)], []byte("\n\n")) {
			if !bytes.Contains(g, []byte("github.com/riverqueue/river")) && !bytes.Contains(g, []byte("database/sql.(*DB).connectionCleaner")) {
				ours = append(ours, g)
			}
		}
		n := len(ours)
		switch {
		case want >= 0 && n <= want:
			return n
		case want < 0 && n == last:
			return n
		case time.Now().After(deadline):
			if want >= 0 {
				t.Fatalf("%d goroutines, want at most %d:\n%s", n, want, bytes.Join(ours, []byte("\n\n")))
			}
			return n
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSSEStreamsSendKeepalives: an idle SSE subscription hears a comment
// every ping interval, so a client that went away without a word is found
// at the next write (gqlgen's SSE transport sends none unless asked).
func TestSSEStreamsSendKeepalives(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Env: map[string]string{"SWITCHBOARD_WS_PING_INTERVAL": "200ms"}})
	token, account := ownAccount(t, srv)
	body, _ := json.Marshal(map[string]any{"query": activitySubscription})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = withAccount(bearer(token), account)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	pings := 0
	deadline := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	for pings < 3 && lines.Scan() {
		if lines.Text() == ": ping" {
			pings++
		}
	}
	if pings < 3 {
		t.Fatalf("%d keepalives from an idle SSE stream in 10 s at a 200 ms interval", pings)
	}
}
