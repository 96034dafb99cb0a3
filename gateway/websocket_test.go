package gateway_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/gateway/gatewaytest"
)

// TestWebSocketsArePingedAndSilentOnesDropped: one loop pings every
// connection; a client that answers stays, one that never answers is
// dropped with 4408, and legacy graphql-ws clients get keep-alives.
func TestWebSocketsArePingedAndSilentOnesDropped(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{Env: map[string]string{"SWITCHBOARD_WS_PING_INTERVAL": "100ms"}})
	// gatewaytest's client answers pings.
	answering := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, nil)
	answering.Ack()

	dial := func(protocol string) (*websocket.Conn, *atomic.Int32) {
		u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
		c, _, err := websocket.Dial(t.Context(), u, &websocket.DialOptions{Subprotocols: []string{protocol}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		init := `{"type":"connection_init"}`
		if err := c.Write(t.Context(), websocket.MessageText, []byte(init)); err != nil {
			t.Fatal(err)
		}
		var keepAlives atomic.Int32
		return c, &keepAlives
	}
	silent, pings := dial(gatewaytest.GraphQLTransportWS)
	legacy, kas := dial(gatewaytest.GraphQLWS)
	closed := make(chan websocket.StatusCode, 1)
	go func() {
		for {
			_, msg, err := silent.Read(context.Background())
			if err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
			if strings.Contains(string(msg), `"ping"`) {
				pings.Add(1) // and never answer
			}
		}
	}()
	go func() {
		for {
			_, msg, err := legacy.Read(context.Background())
			if err != nil {
				return
			}
			if strings.Contains(string(msg), `"ka"`) {
				kas.Add(1)
			}
		}
	}()
	select {
	case code := <-closed:
		if code != 4408 {
			t.Fatalf("the silent client was closed with %d, want 4408", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a client that never answers pings is still connected")
	}
	if pings.Load() < 2 {
		t.Fatalf("the silent client got %d pings before being dropped", pings.Load())
	}
	if kas.Load() == 0 {
		t.Fatal("the graphql-ws client got no keep-alive")
	}
	// The answering client is still there.
	answering.Subscribe("beat", gatewaytest.Request{Query: `subscription { heartbeat(seconds: 1) { time } }`})
	if r := answering.NextData("beat"); len(r.Errors) > 0 {
		t.Fatalf("answering client: %+v", r.Errors)
	}
}

// TestStreamsAtTheirCap: past the cap a stream is refused 503 with a code,
// while ordinary requests go on; a freed place is taken again.
func TestStreamsAtTheirCap(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{Env: map[string]string{"SWITCHBOARD_MAX_STREAMS": "2"}})
	first := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, nil)
	first.Ack()
	second := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, nil)
	second.Ack()
	_, err := srv.TryDialWS(t.Context(), gatewaytest.GraphQLTransportWS, nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a third stream: %v, want 503", err)
	}
	sse := srv.Do(t, "POST", "/graphql", strings.NewReader(`{"query":"subscription { heartbeat(seconds: 1) { time } }"}`),
		map[string][]string{"Content-Type": {"application/json"}, "Accept": {"text/event-stream"}})
	if sse.Status != 503 || len(sse.Errors) != 1 || sse.Errors[0].Code() != "TOO_MANY_STREAMS" || sse.Header.Get("Retry-After") == "" {
		t.Fatalf("an SSE stream past the cap: %d %+v", sse.Status, sse.Errors)
	}
	// Queries and health checks still answer.
	if r := srv.Post(t, gatewaytest.Request{Query: `{ __typename }`}); len(r.Errors) > 0 {
		t.Fatalf("a query at the cap: %+v", r.Errors)
	}
	if r := srv.Do(t, "GET", "/readyz", nil, nil); r.Status != 200 {
		t.Fatalf("/readyz at the cap: %d", r.Status)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws, err := srv.TryDialWS(t.Context(), gatewaytest.GraphQLTransportWS, nil)
		if err == nil {
			ws.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the freed place was not taken again: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
