package resolvers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"switchboard/db/dbtest"
	"switchboard/gateway/gatewaytest"
	"switchboard/mail/mailtest"
)

const sessionEventsQuery = `subscription { sessionEvents { __typename ... on SessionEvicted { reason at byIp byDevice } } }`

type evicted struct {
	SessionEvents struct {
		Typename string `json:"__typename"`
		Reason   string
		At       time.Time
		ByIP     *string `json:"byIp"`
		ByDevice *string
	}
}

// subscribeSessionEvents opens a WebSocket with token and subscribes to
// sessionEvents, checking the subscription is live before returning.
func subscribeSessionEvents(t testing.TB, srv *gatewaytest.Server, protocol, token string) *gatewaytest.WS {
	t.Helper()
	ws := srv.DialWS(t, protocol, nil, map[string]any{"Authorization": "Bearer " + token})
	ws.Ack()
	live := liveSubscriptions(t, srv)
	ws.Subscribe("session", gatewaytest.Request{Query: sessionEventsQuery})
	awaitSubscriptions(t, srv, live+1)
	return ws
}

func expectEvicted(t testing.TB, ws *gatewaytest.WS, reason, closeReason string) evicted {
	t.Helper()
	var got evicted
	r := ws.NextData("session")
	if err := json.Unmarshal(r.Data, &got); err != nil || len(r.Errors) > 0 {
		t.Fatalf("sessionEvents payload %s %+v: %v", r.Data, r.Errors, err)
	}
	if got.SessionEvents.Typename != "SessionEvicted" || got.SessionEvents.Reason != reason {
		t.Fatalf("got %+v, want SessionEvicted %s", got.SessionEvents, reason)
	}
	code, why, err := ws.CloseStatus(10 * time.Second)
	if err != nil || code != 4401 || why != closeReason {
		t.Fatalf("close %d %q (%v), want 4401 %q", code, why, err, closeReason)
	}
	return got
}

// TestEvictionAcrossProcesses is the heart of the one-session rule: two
// gateway processes (separate OS processes) on one database; a client
// subscribed on the first learns at once that a sign-in through the second
// ended its session, and its token is dead everywhere.
func TestEvictionAcrossProcesses(t *testing.T) {
	t.Parallel()
	smtp := mailtest.NewServer(t)
	database := dbtest.New(t)
	env := map[string]string{"SMTP_URL": smtp.URL(), "SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.0/8"}
	first := gatewaytest.StartProcess(t, database, env)
	second := gatewaytest.StartProcess(t, database, env)

	email := newEmail(t)
	signUp(t, first, email)
	for _, protocol := range []string{gatewaytest.GraphQLTransportWS, gatewaytest.GraphQLWS} {
		t.Run(protocol, func(t *testing.T) {
			old := *login(t, first, email, nil).Token
			ws := subscribeSessionEvents(t, first, protocol, old)
			// Another subscription on another socket of the same session
			// closes too, though it asked for no session events.
			other := first.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + old})
			other.Ack()
			other.Subscribe("beat", gatewaytest.Request{Query: `subscription { heartbeat(seconds: 60) { time } }`})
			other.NextData("beat")

			ua := "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"
			login(t, second, email, from(http.Header{"User-Agent": {ua}}, "203.0.113.50"))

			got := expectEvicted(t, ws, "NEW_LOGIN", "SESSION_EVICTED")
			if got.SessionEvents.ByIP == nil || *got.SessionEvents.ByIP != "203.0.113.50" ||
				got.SessionEvents.ByDevice == nil || *got.SessionEvents.ByDevice != "Safari 17 on macOS" {
				t.Fatalf("where the new sign-in came from: %+v", got.SessionEvents)
			}
			if code, why, err := other.CloseStatus(10 * time.Second); err != nil || code != 4401 || why != "SESSION_EVICTED" {
				t.Fatalf("other socket: close %d %q (%v)", code, why, err)
			}
			// The old token is dead over HTTP on both processes...
			for _, srv := range []*gatewaytest.Server{first, second} {
				e := onlyCode(t, me(t, srv, old), "SESSION_EVICTED")
				if !strings.Contains(e.Message, "203.0.113.50") {
					t.Errorf("message does not say where from: %q", e.Message)
				}
			}
			// ...and over WebSocket.
			dead := second.DialWS(t, protocol, nil, map[string]any{"Authorization": "Bearer " + old})
			if code, why, err := dead.CloseStatus(10 * time.Second); err != nil || code != 4401 || why != "SESSION_EVICTED" {
				t.Fatalf("WebSocket with the old token: close %d %q (%v)", code, why, err)
			}
		})
	}
	// Each eviction mailed the user where the new sign-in came from (four:
	// each subtest's first sign-in evicted the one before it, too).
	var notices []mailtest.Message
	for _, m := range smtp.WaitFor(t, 4, 20*time.Second) {
		if strings.Contains(m.Subject, "signed out") && strings.Contains(m.Text, "203.0.113.50") {
			notices = append(notices, m)
		}
	}
	if len(notices) != 2 {
		t.Fatalf("%d eviction notices naming the new address, want 2", len(notices))
	}
	if !strings.Contains(notices[0].Text, "Safari 17 on macOS at 203.0.113.50") || !strings.Contains(notices[0].Text, "/reset-password") {
		t.Fatalf("notice does not say where from or what to do:\n%s", notices[0].Text)
	}
}

func TestEvictionEndsSSEStreams(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	email := newEmail(t)
	old := *signUp(t, srv, email).Token
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := srv.Stream(t, ctx, gatewaytest.Request{Query: sessionEventsQuery, Header: bearer(old)})
	beats := srv.Stream(t, ctx, gatewaytest.Request{Query: `subscription { heartbeat(seconds: 60) { time } }`, Header: bearer(old)})
	beats.Next(t, 5*time.Second)
	awaitSubscriptions(t, srv, 2)

	login(t, srv, email, nil)
	var got evicted
	r := events.Next(t, 10*time.Second)
	if err := json.Unmarshal(r.Data, &got); err != nil || got.SessionEvents.Reason != "NEW_LOGIN" {
		t.Fatalf("SSE event %s: %v", r.Data, err)
	}
	if !events.Ended(10*time.Second) || !beats.Ended(10*time.Second) {
		t.Fatal("SSE streams of the evicted session still open")
	}
}

// liveSubscriptions reads the gateway's count of live subscriptions.
func liveSubscriptions(t testing.TB, srv *gatewaytest.Server) int {
	t.Helper()
	const metric = "\nswitchboard_subscriptions_active "
	body := metricsText(t, srv)
	i := strings.Index(body, metric)
	if i < 0 {
		t.Fatal("no subscription gauge")
	}
	value, _, _ := strings.Cut(body[i+len(metric):], "\n")
	n, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// awaitSubscriptions waits until at least n subscriptions are live. A
// subscription counts once it holds its stream for its final event, so
// after this the test may end the session.
func awaitSubscriptions(t testing.TB, srv *gatewaytest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for liveSubscriptions(t, srv) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d live subscriptions after 10s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitSubscriptionsDown waits until srv runs at most n subscriptions.
func awaitSubscriptionsDown(t testing.TB, srv *gatewaytest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for liveSubscriptions(t, srv) > n {
		if time.Now().After(deadline) {
			t.Fatalf("more than %d live subscriptions after 10s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLogoutEndsTheOtherTabs(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	tok := *signUp(t, srv, newEmail(t)).Token
	ws := subscribeSessionEvents(t, srv, gatewaytest.GraphQLTransportWS, tok)
	r := srv.Post(t, gatewaytest.Request{Query: `mutation { logout }`, Header: bearer(tok)})
	var out struct{ Logout bool }
	r.Decode(t, &out)
	if c := r.Header.Get("Set-Cookie"); !strings.Contains(c, "Max-Age=0") {
		t.Errorf("logout does not clear the cookie: %q", c)
	}
	expectEvicted(t, ws, "LOGOUT", "UNAUTHENTICATED")
	onlyCode(t, me(t, srv, tok), "UNAUTHENTICATED")
}

func TestWebSocketRefusesBadTokens(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	for name, token := range map[string]string{
		"garbage":      "not-a-token",
		"unknown":      "sbs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"wrong prefix": "xyz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	} {
		t.Run(name, func(t *testing.T) {
			ws := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + token})
			if code, why, err := ws.CloseStatus(10 * time.Second); err != nil || code != 4401 || why != "UNAUTHENTICATED" {
				t.Fatalf("close %d %q (%v)", code, why, err)
			}
		})
	}
	// Without a token the socket is anonymous: public operations only.
	ws := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, nil)
	ws.Ack()
	ws.Subscribe("me", gatewaytest.Request{Query: `{ me { id } }`})
	onlyCode(t, ws.NextData("me"), "UNAUTHENTICATED")
	ws.Expect("complete")
	ws.Subscribe("events", gatewaytest.Request{Query: sessionEventsQuery})
	m := ws.Expect("next")
	onlyCode(t, m.Response(t), "UNAUTHENTICATED")
}

// TestMissedEventsAreCaughtOnReconnect ends a session without any
// notification (as if it had been sent while the listener was down), then
// cuts the process's LISTEN connection: after reconnecting, the process
// re-reads the sessions of its open streams and still evicts. The end
// commits before the cut, as it would have in production (an end after the
// reconnect is notified); the other order would stage an end that nothing
// ever announces until the periodic re-check.
func TestMissedEventsAreCaughtOnReconnect(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	email := newEmail(t)
	tok := *signUp(t, srv, email).Token
	ws := subscribeSessionEvents(t, srv, gatewaytest.GraphQLTransportWS, tok)
	conn := superuser(t, srv)

	if _, err := conn.Exec(`UPDATE sessions SET revoked_at = now(), revoked_reason = 'NEW_LOGIN', revoked_by_ip = '192.0.2.1'
		WHERE user_id = (SELECT id FROM users WHERE email = $1) AND revoked_at IS NULL`, email); err != nil {
		t.Fatal(err)
	}
	cutListener(t, conn)
	got := expectEvicted(t, ws, "NEW_LOGIN", "SESSION_EVICTED")
	if got.SessionEvents.ByIP == nil || *got.SessionEvents.ByIP != "192.0.2.1" {
		t.Fatalf("event %+v", got.SessionEvents)
	}
}

func TestOpenSubscriptionsKeepSessionsAliveUntilTheAbsoluteLimit(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Clock: clock.Now,
		Env: map[string]string{"SWITCHBOARD_SESSION_RECHECK_INTERVAL": "50ms"}})
	subscribed := *signUp(t, srv, newEmail(t)).Token
	idle := *signUp(t, srv, newEmail(t)).Token
	ws := subscribeSessionEvents(t, srv, gatewaytest.GraphQLTransportWS, subscribed)
	conn := superuser(t, srv)
	lastSeen := func() time.Time {
		var at time.Time
		if err := conn.Get(&at, `SELECT s.last_seen_at FROM sessions s WHERE s.token_hash = sha256($1::bytea)`, subscribed); err != nil {
			t.Fatal(err)
		}
		return at
	}
	// Twenty minutes pass in three steps; after each the process touches
	// the subscribed session.
	for range 3 {
		clock.Advance(20 * time.Minute)
		want := clock.Now().Truncate(time.Microsecond)
		deadline := time.Now().Add(10 * time.Second)
		for !lastSeen().Equal(want) {
			if time.Now().After(deadline) {
				t.Fatalf("last_seen_at %v, want %v: the open subscription did not count as activity", lastSeen(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var out struct{ Me struct{ ID string } }
	me(t, srv, subscribed).Decode(t, &out)
	onlyCode(t, me(t, srv, idle), "SESSION_EXPIRED")

	// The absolute limit still ends it, and the subscriber is told.
	clock.Advance(12 * time.Hour)
	expectEvicted(t, ws, "EXPIRED", "SESSION_EXPIRED")
}

func metricsText(t testing.TB, srv *gatewaytest.Server) string {
	t.Helper()
	body, err := metricsBody(srv)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// metricsBody is metricsText for a goroutine of its own, which may not
// fail the test.
func metricsBody(srv *gatewaytest.Server) (string, error) {
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// cutListener terminates the gateway's LISTEN connection; the bus
// reconnects and re-checks.
func cutListener(t testing.TB, conn *sqlx.DB) {
	t.Helper()
	var n int
	if err := conn.Get(&n, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`); err != nil || n != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", n, err)
	}
}
