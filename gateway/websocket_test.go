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
