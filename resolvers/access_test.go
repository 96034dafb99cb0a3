package resolvers_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"switchboard/gateway/gatewaytest"
)

const accountEventsQuery = `subscription { accountEvents { __typename ... on AccessEnded { status reason } } }`

// subscribeAccountEvents opens a WebSocket for who in account, from ip
// (through the trusted proxy), and subscribes to accountEvents.
func subscribeAccountEvents(t testing.TB, w *world, who person, account, ip string) *gatewaytest.WS {
	t.Helper()
	ws := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, http.Header{"X-Forwarded-For": {ip}},
		map[string]any{"Authorization": "Bearer " + who.token, "accountId": account})
	ws.Ack()
	live := liveSubscriptions(t, w.srv)
	ws.Subscribe("acct", gatewaytest.Request{Query: accountEventsQuery})
	awaitSubscriptions(t, w.srv, live+1)
	return ws
}

func expectAccessEnded(t testing.TB, ws *gatewaytest.WS, status, reason string) {
	t.Helper()
	var got struct {
		AccountEvents struct {
			Typename string `json:"__typename"`
			Status   string
			Reason   string
		}
	}
	r := ws.NextData("acct")
	if err := json.Unmarshal(r.Data, &got); err != nil || len(r.Errors) > 0 {
		t.Fatalf("accountEvents payload %s %+v: %v", r.Data, r.Errors, err)
	}
	if e := got.AccountEvents; e.Typename != "AccessEnded" || e.Status != status || e.Reason != reason {
		t.Fatalf("got %+v, want AccessEnded %s %s", e, status, reason)
	}
	code, why, err := ws.CloseStatus(10 * time.Second)
	if err != nil || code != 4403 || why != reason {
		t.Fatalf("close %d %q (%v), want 4403 %q", code, why, err, reason)
	}
}

// TestStreamsEndWhenAccessWasLostUnannounced: a deactivation nobody
// announced (as if while the process's listener was down) still ends the
// member's streams in that account, when the listener reconnects and when
// the periodic re-check runs.
func TestStreamsEndWhenAccessWasLostUnannounced(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"reconnect", "periodic re-check"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SWITCHBOARD_TRUSTED_PROXIES": proxied["SWITCHBOARD_TRUSTED_PROXIES"]}
			if how == "periodic re-check" {
				env["SWITCHBOARD_SESSION_RECHECK_INTERVAL"] = "200ms"
			}
			w := newWorld(t, gatewaytest.Options{Env: env})
			ws := subscribeAccountEvents(t, w, w.repA, w.A, "192.0.2.10")
			conn := superuser(t, w.srv)
			conn.MustExec(`UPDATE memberships SET status = 'DEACTIVATED' WHERE account_id = $1 AND user_id = $2`, w.A, w.repA.id)
			if how == "reconnect" {
				cutListener(t, conn)
			}
			expectAccessEnded(t, ws, "DEACTIVATED", "ACCOUNT_DEACTIVATED")
		})
	}
}

// TestAllowlistChangeEndsStreamsFromExcludedAddresses: streams from
// addresses the new list excludes end; others go on.
func TestAllowlistChangeEndsStreamsFromExcludedAddresses(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{Env: proxied})
	office := "198.51.100.7"
	w.ownerA.token = *login(t, w.srv, w.ownerA.email, from(nil, office)).Token // a recent sign-in, for the allowlist
	outside := subscribeAccountEvents(t, w, w.repA, w.A, "203.0.113.9")
	inside := subscribeAccountEvents(t, w, w.readerA, w.A, office)
	w.srv.Post(t, gatewaytest.Request{Query: `mutation { setIpAllowlist(cidrs: ["198.51.100.0/24"]) { id } }`,
		Header: from(withAccount(bearer(w.ownerA.token), w.A), office)}).Decode(t, &struct{}{})
	expectAccessEnded(t, outside, "ACTIVE", "IP_NOT_ALLOWED")
	// The stream from the office is still there: it still answers.
	inside.Subscribe("beat", gatewaytest.Request{Query: `subscription { heartbeat(seconds: 1) { time } }`})
	if r := inside.NextData("beat"); len(r.Errors) > 0 {
		t.Fatalf("the allowed stream: %+v", r.Errors)
	}
}

func withAccount(h http.Header, account string) http.Header {
	h.Set("X-Account-ID", account)
	return h
}
