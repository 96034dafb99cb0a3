package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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

// TestAWebSocketThatSpeaksFirst: a client may send its first messages in
// the same packet as its handshake, before the 101 arrives. They wait in
// net/http's buffer when the connection is hijacked and must reach the
// WebSocket: here a connection_init and a subscribe larger than the
// WebSocket's buffers, whose answer is larger too; once larger than
// net/http's buffer too, so that the socket still holds the rest, and once
// small enough that net/http's buffer holds all of it and the socket
// nothing.
func TestAWebSocketThatSpeaksFirst(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})
	for _, fields := range []int{300, 100} {
		t.Run(fmt.Sprint(fields), func(t *testing.T) {
			t.Parallel()
			speakFirst(t, srv, fields)
		})
	}
}

func speakFirst(t *testing.T, srv *gatewaytest.Server, fields int) {
	conn, host := srv.Dial(t) // with a deadline of its own
	var aliases strings.Builder
	for i := range fields {
		fmt.Fprintf(&aliases, " a%d: __typename", i)
	}
	subscribe, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{" + aliases.String() + " }"}})
	var packet bytes.Buffer
	packet.Write(handshake(host))
	packet.Write(clientFrame([]byte(`{"type":"connection_init"}`)))
	packet.Write(clientFrame(subscribe))
	if len(subscribe) <= 1024 {
		t.Fatalf("the subscribe message is %d bytes: make it larger than the WebSocket's buffers", len(subscribe))
	}
	if _, err := conn.Write(packet.Bytes()); err != nil {
		t.Fatal(err)
	}
	r := switched(t, conn)
	var got []map[string]any
	for len(got) < 3 {
		msg := serverFrame(t, r)
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			t.Fatalf("frame %q: %v", msg, err)
		}
		if m["type"] == "ping" {
			continue
		}
		got = append(got, m)
		if m["type"] == "next" && len(msg) <= 1024 {
			t.Fatalf("the answer is %d bytes: make it larger than the WebSocket's buffers", len(msg))
		}
	}
	if got[0]["type"] != "connection_ack" || got[1]["type"] != "next" || got[2]["type"] != "complete" {
		t.Fatalf("messages: %v", got)
	}
	data := got[1]["payload"].(map[string]any)["data"].(map[string]any)
	if last := fmt.Sprintf("a%d", fields-1); len(data) != fields || data[last] != "Query" {
		t.Fatalf("the answer has %d fields, %s: %v", len(data), last, data[last])
	}
}

// TestAnIdleWebSocketReadsWhatArrivesTogether: an idle connection waits for
// its next message on the socket (wsConn.awaitMessage), so messages that
// arrive in one packet, and so wait in its buffer once the first is read,
// are answered all the same, as are a message split over two packets and
// one larger than the buffer.
func TestAnIdleWebSocketReadsWhatArrivesTogether(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})
	conn, host := srv.Dial(t) // with a deadline of its own
	write := func(b []byte) {
		t.Helper()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(handshake(host))
	r := switched(t, conn)
	write(clientFrame([]byte(`{"type":"connection_init"}`)))
	// Each answer is a next and a complete; the ack is one message.
	answers := func(n int) map[string]int {
		t.Helper()
		got := map[string]int{}
		for read := 0; read < n; {
			msg := serverFrame(t, r)
			var m struct{ ID, Type string }
			if err := json.Unmarshal(msg, &m); err != nil {
				t.Fatalf("frame %q: %v", msg, err)
			}
			if m.Type == "ping" { // the pinger's, whenever its tick falls
				continue
			}
			got[m.ID+" "+m.Type]++
			read++
		}
		return got
	}
	if got := answers(1); got[" connection_ack"] != 1 {
		t.Fatalf("want an ack: %v", got)
	}
	subscribe := func(id, query string) []byte {
		b, _ := json.Marshal(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query}})
		return clientFrame(b)
	}
	idle := func() { time.Sleep(100 * time.Millisecond) } // the reader is waiting on the socket

	idle()
	var packet bytes.Buffer
	for _, id := range []string{"1", "2", "3"} {
		packet.Write(subscribe(id, `{ __typename }`))
	}
	write(packet.Bytes())
	if got := answers(6); got["3 next"] != 1 || got["3 complete"] != 1 || len(got) != 6 {
		t.Fatalf("three messages in one packet: %v", got)
	}

	idle()
	split := subscribe("4", `{ __typename }`)
	write(split[:10])
	idle()
	write(split[10:])
	if got := answers(2); got["4 complete"] != 1 {
		t.Fatalf("a message in two packets: %v", got)
	}

	idle()
	var aliases strings.Builder
	for i := range 100 {
		fmt.Fprintf(&aliases, " a%d: __typename", i)
	}
	packet.Reset()
	packet.Write(subscribe("5", `{ __typename }`))
	packet.Write(subscribe("6", "{"+aliases.String()+" }"))
	if packet.Len() <= 1024 {
		t.Fatalf("%d bytes: make the packet larger than the read buffer", packet.Len())
	}
	write(packet.Bytes())
	if got := answers(4); got["6 next"] != 1 || got["6 complete"] != 1 {
		t.Fatalf("a message larger than the buffer after a small one: %v", got)
	}
}

// switched reads the answer to the handshake, which must be 101, and
// returns the reader that reads the frames after it.
func switched(t *testing.T, conn net.Conn) *bufio.Reader {
	t.Helper()
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return r
}

// handshake is a WebSocket upgrade request for graphql-transport-ws.
func handshake(host string) []byte {
	return fmt.Appendf(nil, "GET /graphql HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		host, gatewaytest.GraphQLTransportWS)
}

// clientFrame is one masked text frame, as a client sends it (RFC 6455, 5.2).
func clientFrame(payload []byte) []byte {
	var f bytes.Buffer
	f.WriteByte(0x81)
	switch n := len(payload); {
	case n < 126:
		f.WriteByte(0x80 | byte(n))
	case n <= 0xffff:
		f.WriteByte(0x80 | 126)
		f.Write(binary.BigEndian.AppendUint16(nil, uint16(n)))
	default:
		f.WriteByte(0x80 | 127)
		f.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	f.Write(mask[:])
	for i, b := range payload {
		f.WriteByte(b ^ mask[i%4])
	}
	return f.Bytes()
}

// serverFrame reads one unmasked, unfragmented text frame.
func serverFrame(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		t.Fatal(err)
	}
	if head[0] != 0x81 || head[1]&0x80 != 0 {
		t.Fatalf("frame header % x: want a final, unmasked text frame", head)
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			t.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			t.Fatal(err)
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		t.Fatalf("a frame of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	return payload
}
