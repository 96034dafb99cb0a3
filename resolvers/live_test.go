package resolvers_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/db/dbtest"
	"switchboard/gateway/gatewaytest"
	"switchboard/realtime/natsbus/natstest"
)

// The live subscriptions, as dashboards and notification bells use them.

const activitySubscription = `subscription($after: String, $f: ActivityFilter) {
	activity(after: $after, filter: $f) { id cursor action entityType entityId actorName changes } }`

type liveEntry struct {
	ID, Cursor, Action, EntityType, ActorName, Changes string
	EntityID                                           *string
}

// cursorPos reads the position in a stream cursor (the test knows its
// shape; clients treat it as opaque).
func cursorPos(t testing.TB, cursor string) int64 {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	parts := strings.Split(string(raw), ":")
	pos, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	return pos
}

// latestActivityCursor is the cursor of an account's newest activity entry,
// read by someone who may read the log.
func latestActivityCursor(t testing.TB, srv *gatewaytest.Server, token, account string) string {
	t.Helper()
	var out struct {
		Account struct {
			Activity struct{ Nodes []struct{ Cursor string } }
		}
	}
	srv.Post(t, gatewaytest.Request{Query: `{ account { activity(first: 1) { nodes { cursor } } } }`,
		Header: withAccount(bearer(token), account)}).Decode(t, &out)
	if len(out.Account.Activity.Nodes) != 1 {
		t.Fatal("the account has no activity yet")
	}
	return out.Account.Activity.Nodes[0].Cursor
}

// liveActivity subscribes token's connection in account to its activity
// (after a cursor, if not "") and waits until the subscription is open.
func liveActivity(t testing.TB, srv *gatewaytest.Server, token, account, after string, filter map[string]any) *gatewaytest.WS {
	t.Helper()
	ws := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + token, "accountId": account})
	ws.Ack()
	vars := map[string]any{"f": filter}
	if after != "" {
		vars["after"] = after
	}
	live := liveSubscriptions(t, srv)
	ws.Subscribe("live", gatewaytest.Request{Query: activitySubscription, Variables: vars})
	awaitSubscriptions(t, srv, live+1)
	return ws
}

// nextEntry reads the next activity entry of a live subscription.
func nextEntry(t testing.TB, ws *gatewaytest.WS) liveEntry {
	t.Helper()
	var out struct{ Activity liveEntry }
	ws.NextData("live").Decode(t, &out)
	return out.Activity
}

// createContacts creates n contacts as token in account, from several
// writers at once.
func createContacts(t testing.TB, srv *gatewaytest.Server, token, account, prefix string, n, writers int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				r := srv.Post(t, gatewaytest.Request{Query: `mutation($n: String!) { createContact(input: {lastName: $n}) { id } }`,
					Variables: map[string]any{"n": fmt.Sprintf("%s %d", prefix, i)}, Header: withAccount(bearer(token), account)})
				if len(r.Errors) > 0 {
					t.Errorf("create contact: %+v", r.Errors)
				}
			}
		})
	}
	wg.Wait()
}

// expectContiguous reads n entries and fails unless their positions are
// after+1 ... after+n, each once, in order; it returns the last cursor.
func expectContiguous(t testing.TB, ws *gatewaytest.WS, after int64, n int) string {
	t.Helper()
	var last string
	for i := 1; i <= n; i++ {
		e := nextEntry(t, ws)
		if got := cursorPos(t, e.Cursor); got != after+int64(i) {
			t.Fatalf("entry %d of %d has position %d, want %d (%s)", i, n, got, after+int64(i), e.Action)
		}
		last = e.Cursor
	}
	return last
}

// TestActivityResumesWithoutGapOrDuplicate: a dashboard resumes from a
// cursor while writers commit from several connections; it gets every
// entry after the cursor once, in commit order, across the switch from
// replay to live.
func TestActivityResumesWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	start := latestActivityCursor(t, w.srv, w.ownerA.token, w.A)
	const n = 60
	done := make(chan struct{})
	go func() {
		defer close(done)
		createContacts(t, w.srv, w.ownerA.token, w.A, "Racing", n, 3)
	}()
	// Subscribe while the writers are under way: part replays, part is live.
	ws := liveActivity(t, w.srv, w.ownerA.token, w.A, start, nil)
	last := expectContiguous(t, ws, cursorPos(t, start), n)
	<-done
	// Nothing was held back to come twice: the next entry is the next one.
	createContacts(t, w.srv, w.ownerA.token, w.A, "After", 1, 1)
	last = expectContiguous(t, ws, cursorPos(t, last), 1)

	// An empty cursor is no cursor, as in lists: live from now on.
	empty := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + w.ownerA.token, "accountId": w.A})
	empty.Ack()
	live := liveSubscriptions(t, w.srv)
	empty.Subscribe("live", gatewaytest.Request{Query: activitySubscription, Variables: map[string]any{"after": ""}})
	awaitSubscriptions(t, w.srv, live+1)
	createContacts(t, w.srv, w.ownerA.token, w.A, "Empty", 1, 1)
	expectContiguous(t, empty, cursorPos(t, last), 1)

	// Another's cursor, a made-up one and a far future one are refused.
	for _, bad := range []string{
		latestActivityCursor(t, w.srv, w.ownerB.token, w.B),
		"not a cursor",
		crm.StreamCursor{Kind: crm.StreamActivity, ID: uuid.MustParse(w.A), Pos: 1 << 40}.String(),
	} {
		ws := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + w.ownerA.token, "accountId": w.A})
		ws.Ack()
		ws.Subscribe("bad", gatewaytest.Request{Query: activitySubscription, Variables: map[string]any{"after": bad}})
		if e := onlyCode(t, ws.NextData("bad"), "BAD_USER_INPUT"); e.Extensions["field"] != "after" {
			t.Fatalf("cursor %q: %+v", bad, e)
		}
	}
}

// TestActivityCursorTooFarBehind: more than 10,000 entries behind, a
// cursor is refused with CURSOR_EXPIRED (the client reloads).
func TestActivityCursorTooFarBehind(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	start := latestActivityCursor(t, w.srv, w.ownerA.token, w.A)
	// 10,001 entries in one transaction, through the function every write
	// publishes with.
	conn := superuser(t, w.srv)
	tx := conn.MustBegin()
	tx.MustExec(`SELECT set_config('app.account_id', $1, true)`, w.A)
	tx.MustExec(`SELECT app_publish((SELECT jsonb_agg(jsonb_build_object('ord', i, 'account_id', $1::uuid, 'id', gen_random_uuid(), 'at', now(),
		'actor_id', $2::uuid, 'actor_role', 'Owner', 'action', 'bulk.test', 'entity_type', 'SETTINGS', 'changes', '{}'::jsonb))
		FROM generate_series(1, 10001) i), '[]', true)`, w.A, w.ownerA.id)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	ws := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + w.ownerA.token, "accountId": w.A})
	ws.Ack()
	ws.Subscribe("old", gatewaytest.Request{Query: activitySubscription, Variables: map[string]any{"after": start}})
	onlyCode(t, ws.NextData("old"), "CURSOR_EXPIRED")
	// 10,000 behind still replays, from the first after it.
	recent := crm.StreamCursor{Kind: crm.StreamActivity, ID: uuid.MustParse(w.A), Pos: cursorPos(t, start) + 1}.String()
	ws = liveActivity(t, w.srv, w.ownerA.token, w.A, recent, nil)
	expectContiguous(t, ws, cursorPos(t, recent), 3)
}

// TestActivityAcrossProcesses: two gateway processes on one database. An
// entry written through one reaches subscribers on both, and a client that
// moves from one process to the other with its cursor gets every entry
// once.
func TestActivityAcrossProcesses(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	first := gatewaytest.StartProcess(t, database, nil)
	second := gatewaytest.StartProcess(t, database, nil)
	owner := signUp(t, first, newEmail(t))
	token := *owner.Token
	var me struct {
		Me struct {
			Accounts []struct{ Account struct{ ID string } }
		}
	}
	first.Post(t, gatewaytest.Request{Query: `{ me { accounts { account { id } } } }`, Header: bearer(token)}).Decode(t, &me)
	account := me.Me.Accounts[0].Account.ID
	start := latestActivityCursor(t, first, token, account)

	onFirst := liveActivity(t, first, token, account, start, nil)
	onSecond := liveActivity(t, second, token, account, start, nil)
	createContacts(t, first, token, account, "Both", 10, 2)
	moved := expectContiguous(t, onFirst, cursorPos(t, start), 10)
	expectContiguous(t, onSecond, cursorPos(t, start), 10)

	// The first client leaves, entries are written while it is away, and
	// it comes back to the other process with its cursor.
	onFirst.Close()
	createContacts(t, second, token, account, "Away", 5, 1)
	back := liveActivity(t, second, token, account, moved, nil)
	createContacts(t, first, token, account, "Back", 5, 1)
	expectContiguous(t, back, cursorPos(t, moved), 10)
}

// TestActivitySurvivesALostListener: the LISTEN connection dies while
// clients are subscribed and entries are being written; every client still
// ends with every entry once.
func TestActivitySurvivesALostListener(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	start := latestActivityCursor(t, w.srv, w.ownerA.token, w.A)
	clients := make([]*gatewaytest.WS, 3)
	for i := range clients {
		clients[i] = liveActivity(t, w.srv, w.ownerA.token, w.A, start, nil)
	}
	conn := superuser(t, w.srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		createContacts(t, w.srv, w.ownerA.token, w.A, "Before", 15, 1)
		cutListener(t, conn)
		createContacts(t, w.srv, w.ownerA.token, w.A, "After", 15, 1)
	}()
	for _, ws := range clients {
		expectContiguous(t, ws, cursorPos(t, start), 30)
	}
	<-done
}

// TestLiveActivityFollowsTheRole: a subscriber sees what their role lets
// them view, and a role change applies at once; a deactivation ends the
// subscription.
func TestLiveActivityFollowsTheRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	// From a cursor: a subscription without one starts wherever its
	// process's follower is when it starts, which a test cannot know.
	ws := liveActivity(t, w.srv, w.managerA.token, w.A, latestActivityCursor(t, w.srv, w.ownerA.token, w.A), nil)
	var deal struct{ CreateDeal struct{ ID string } }
	w.as(t, w.ownerA, w.A, `mutation { createDeal(input: {title: "Seen"}) { id } }`, nil).Decode(t, &deal)
	if e := nextEntry(t, ws); e.Action != "deal.created" || e.EntityID == nil || *e.EntityID != deal.CreateDeal.ID {
		t.Fatalf("first entry %+v", e)
	}
	// A role without deals.
	var role struct{ CreateRole struct{ ID string } }
	w.as(t, w.ownerA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"name": "No deals", "permissions": []map[string]any{
			{"entity": "CONTACTS", "action": "VIEW", "scope": "ALL"}, {"entity": "MEMBERS", "action": "VIEW", "scope": "ALL"}},
	}}).Decode(t, &role)
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.managerA.id, "r": role.CreateRole.ID}).Decode(t, &struct{}{})
	w.as(t, w.ownerA, w.A, `mutation { createDeal(input: {title: "Unseen"}) { id } }`, nil).Decode(t, &struct{}{})
	w.as(t, w.ownerA, w.A, `mutation { createContact(input: {lastName: "Seen too"}) { id } }`, nil).Decode(t, &struct{}{})
	for {
		e := nextEntry(t, ws)
		if e.EntityType == "DEALS" {
			t.Fatalf("a deal reached a role that no longer views deals: %+v", e)
		}
		if e.Action == "contact.created" {
			break
		}
	}
	// The rep views only their own deals.
	rep := liveActivity(t, w.srv, w.repA.token, w.A, latestActivityCursor(t, w.srv, w.ownerA.token, w.A), map[string]any{"entityType": "DEALS"})
	w.as(t, w.ownerA, w.A, `mutation { createDeal(input: {title: "The owner's"}) { id } }`, nil).Decode(t, &struct{}{})
	var mine struct{ CreateDeal struct{ ID string } }
	w.as(t, w.repA, w.A, `mutation { createDeal(input: {title: "The rep's"}) { id } }`, nil).Decode(t, &mine)
	if e := nextEntry(t, rep); e.EntityID == nil || *e.EntityID != mine.CreateDeal.ID {
		t.Fatalf("the rep's feed: %+v, want only their own deal", e)
	}

	// Deactivated, the manager's connection ends with the reason.
	w.as(t, w.ownerA, w.A, `mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`, map[string]any{"u": w.managerA.id}).Decode(t, &struct{}{})
	if code, why, err := ws.CloseStatus(10 * time.Second); err != nil || code != 4403 || why != "ACCOUNT_DEACTIVATED" {
		t.Fatalf("close %d %q (%v), want 4403 ACCOUNT_DEACTIVATED", code, why, err)
	}
}

// TestLiveActivityHidesHiddenFields: a role that hides deal amounts never
// sees them in a live entry's changes; one that does not, does.
func TestLiveActivityHidesHiddenFields(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	var role struct{ CreateRole struct{ ID string } }
	w.as(t, w.ownerA, w.A, `mutation($in: RoleInput!) { createRole(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"name": "Deals without amounts", "permissions": []map[string]any{{"entity": "DEALS", "action": "VIEW", "scope": "ALL"}},
		"hiddenFields": []string{"deals.amount"},
	}}).Decode(t, &role)
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.readerA.id, "r": role.CreateRole.ID}).Decode(t, &struct{}{})
	start := latestActivityCursor(t, w.srv, w.ownerA.token, w.A)
	hidden := liveActivity(t, w.srv, w.readerA.token, w.A, start, nil)
	shown := liveActivity(t, w.srv, w.managerA.token, w.A, start, map[string]any{"entityType": "DEALS"})

	var deal struct{ CreateDeal struct{ ID string } }
	w.as(t, w.ownerA, w.A, `mutation { createDeal(input: {title: "Big one", amount: "987654.32", currency: "EUR"}) { id } }`, nil).Decode(t, &deal)
	w.as(t, w.ownerA, w.A, `mutation($id: ID!) { updateDeal(id: $id, input: {amount: "123456.78"}) { id } }`, map[string]any{"id": deal.CreateDeal.ID}).Decode(t, &struct{}{})
	w.as(t, w.ownerA, w.A, `mutation($id: ID!) { deleteDeal(id: $id) }`, map[string]any{"id": deal.CreateDeal.ID}).Decode(t, &struct{}{})
	for _, action := range []string{"deal.created", "deal.updated", "deal.deleted"} {
		e := nextEntry(t, hidden)
		if e.Action != action || strings.Contains(e.Changes, "amount") || strings.Contains(e.Changes, "987654") || strings.Contains(e.Changes, "123456") {
			t.Fatalf("%s as a role that hides amounts: %+v", action, e)
		}
		if e := nextEntry(t, shown); e.Action != action || (action != "deal.deleted" && !strings.Contains(e.Changes, "amount")) {
			t.Fatalf("%s as a manager: %+v", action, e)
		}
	}
}

// TestSlowConsumerIsCutOff: a burst far bigger than a subscriber's queue
// reaches a client that keeps reading, whole and in order (it reads the
// rest from the stream at its own pace); a client that stops reading is
// closed with SLOW_CONSUMER once it took nothing for the stall timeout.
func TestSlowConsumerIsCutOff(t *testing.T) {
	t.Parallel()
	// The fast client reads as fast as this test's goroutine decodes, which
	// on a loaded machine can pause for half a second: the stall timeout
	// stays well above that.
	w := newWorld(t, gatewaytest.Options{Env: map[string]string{"SWITCHBOARD_STREAM_STALL_TIMEOUT": "2s"}})
	start := latestActivityCursor(t, w.srv, w.ownerA.token, w.A)
	// The slow client reads nothing until the server gave up on it.
	slow := liveActivity(t, w.srv, w.ownerA.token, w.A, start, nil)
	fast := liveActivity(t, w.srv, w.ownerA.token, w.A, start, nil)
	// Enough entries (big ones) to fill the socket's buffers and the
	// subscriber's queue, in one transaction.
	const n = 3000
	conn := superuser(t, w.srv)
	tx := conn.MustBegin()
	tx.MustExec(`SELECT set_config('app.account_id', $1, true)`, w.A)
	tx.MustExec(`SELECT app_publish((SELECT jsonb_agg(jsonb_build_object('ord', i, 'account_id', $1::uuid, 'id', gen_random_uuid(), 'at', now(),
		'actor_id', $2::uuid, 'actor_role', 'Owner', 'action', 'bulk.test', 'entity_type', 'SETTINGS',
		'changes', jsonb_build_object('note', jsonb_build_object('to', repeat('x', 4000)))))
		FROM generate_series(1, $3::int) i), '[]', true)`, w.A, w.ownerA.id, n)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// The slow client reads again as soon as the server has given up on
	// it, while the fast one reads its burst: the close frame waits behind
	// the data already in its socket, and a write that waits longer than
	// the write timeout (10 s) drops the connection without it.
	cut := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			v, err := metricSample(w.srv, `switchboard_streams_ended_total{reason="SLOW_CONSUMER"}`)
			if err != nil || v >= 1 {
				cut <- err
				break
			}
			if time.Now().After(deadline) {
				cut <- errors.New("the slow client was never cut off")
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		for {
			if _, ok := slow.Next(time.Minute); !ok {
				return
			}
		}
	}()
	expectContiguous(t, fast, cursorPos(t, start), n)
	if err := <-cut; err != nil {
		t.Fatal(err)
	}
	if code, why, err := slow.CloseStatus(30 * time.Second); err != nil || code != 1013 || why != "SLOW_CONSUMER" {
		t.Fatalf("the slow client: close %d %q (%v), want 1013 SLOW_CONSUMER", code, why, err)
	}
}

// metricSample reads one sample of the gateway's metrics (0 when absent).
// It returns its error, for a goroutine that may not fail the test.
func metricSample(srv *gatewaytest.Server, sample string) (float64, error) {
	body, err := metricsBody(srv)
	if err != nil {
		return 0, err
	}
	i := strings.Index(body, "\n"+sample+" ")
	if i < 0 {
		return 0, nil
	}
	value, _, _ := strings.Cut(body[i+len(sample)+2:], "\n")
	return strconv.ParseFloat(strings.TrimSpace(value), 64)
}

// TestLiveSubscriptionCaps: a connection holds at most 16 live
// subscriptions and a user at most 64 (in each process); one more is
// refused with TOO_MANY_SUBSCRIPTIONS, and ending one makes room. (A
// connection's subscriptions start concurrently, so which one of them is
// refused is not known in advance: exactly one is.)
func TestLiveSubscriptionCaps(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	dial := func() *gatewaytest.WS {
		ws := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + w.managerA.token, "accountId": w.A})
		ws.Ack()
		return ws
	}
	subscribe := func(ws *gatewaytest.WS, n int) {
		for i := range n {
			query := activitySubscription
			if i%2 == 1 {
				query = `subscription { notifications { id } }`
			}
			ws.Subscribe(fmt.Sprint(i), gatewaytest.Request{Query: query})
		}
	}
	// refusals reads what comes until the connections are quiet, and
	// counts the refusals (each followed by its complete).
	refusals := func(want string, conns ...*gatewaytest.WS) int {
		n := 0
		for _, ws := range conns {
			for {
				m, ok := ws.Next(time.Second)
				if !ok {
					break
				}
				switch {
				case m.Type == "next" && strings.Contains(string(m.Payload), "TOO_MANY_SUBSCRIPTIONS") && strings.Contains(string(m.Payload), want):
					n++
				case m.Type == "complete":
				default:
					t.Fatalf("unexpected %s %s", m.Type, m.Payload)
				}
			}
		}
		return n
	}
	first := dial()
	subscribe(first, 17)
	if n := refusals("per connection", first); n != 1 {
		t.Fatalf("17 on one connection: %d refused, want 1", n)
	}
	conns := []*gatewaytest.WS{dial(), dial(), dial(), dial()}
	for _, ws := range conns[:3] {
		subscribe(ws, 16)
	}
	subscribe(conns[3], 1)
	if n := refusals("per user", conns...); n != 1 {
		t.Fatalf("65 for one user: %d refused, want 1", n)
	}
	// Another user is not affected.
	liveActivity(t, w.srv, w.ownerA.token, w.A, "", nil)
	// A connection ends: there is room again.
	conns[0].Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		conns[3].Subscribe("again", gatewaytest.Request{Query: activitySubscription})
		m, ok := conns[3].Next(500 * time.Millisecond)
		if !ok {
			break // no answer: it is live
		}
		if !strings.Contains(string(m.Payload), "TOO_MANY_SUBSCRIPTIONS") || time.Now().After(deadline) {
			t.Fatalf("after one ended: %s %s", m.Type, m.Payload)
		}
		conns[3].Expect("complete")
	}
}

// TestNATSBusAcrossProcesses: with SWITCHBOARD_NATS_URL, two gateway
// processes share events through NATS JetStream instead of LISTEN/NOTIFY,
// with the same semantics: a live entry written through one reaches a
// subscriber on the other, a client moving between them with its cursor
// gets every entry once, and a sign-in through one evicts a session
// subscribed on the other (an announcement sent after its commit).
func TestNATSBusAcrossProcesses(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	nats := natstest.New(t)
	env := map[string]string{"SWITCHBOARD_NATS_URL": nats.URL, "SWITCHBOARD_NATS_STREAM": nats.Stream}
	first := gatewaytest.StartProcess(t, database, env)
	second := gatewaytest.StartProcess(t, database, env)
	email := newEmail(t)
	token, account := ownAccount(t, first)
	start := latestActivityCursor(t, first, token, account)

	onSecond := liveActivity(t, second, token, account, start, nil)
	createContacts(t, first, token, account, "Over NATS", 5, 1)
	moved := expectContiguous(t, onSecond, cursorPos(t, start), 5)
	onSecond.Close()
	createContacts(t, second, token, account, "Away", 3, 1)
	back := liveActivity(t, first, token, account, moved, nil)
	createContacts(t, second, token, account, "Back", 3, 1)
	expectContiguous(t, back, cursorPos(t, moved), 6)

	signUp(t, first, email)
	old := *login(t, first, email, nil).Token
	ws := subscribeSessionEvents(t, first, gatewaytest.GraphQLTransportWS, old)
	login(t, second, email, nil)
	expectEvicted(t, ws, "NEW_LOGIN", "SESSION_EVICTED")

	// It all went through the test's stream.
	stream, err := nats.JS.Stream(t.Context(), nats.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil || info.State.Msgs == 0 {
		t.Fatalf("the stream carried %+v (%v)", info, err)
	}
}

// TestTheActivityListShowsWhatTheFeedShows: account.activity lists, for
// each viewer, the entries the live feed would send them: a Sales Rep sees
// contacts and members, only their own deals, no settings; an owner sees
// everything. The feed's cursors come from it, so a dashboard of any role
// can start from its last entry.
func TestTheActivityListShowsWhatTheFeedShows(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	var theirs, mine struct{ CreateDeal struct{ ID string } }
	w.as(t, w.ownerA, w.A, `mutation { createDeal(input: {title: "The owner's"}) { id } }`, nil).Decode(t, &theirs)
	w.as(t, w.repA, w.A, `mutation { createDeal(input: {title: "The rep's"}) { id } }`, nil).Decode(t, &mine)
	w.as(t, w.ownerA, w.A, `mutation { createContact(input: {lastName: "Everyone's"}) { id } }`, nil).Decode(t, &struct{}{})
	w.as(t, w.ownerA, w.A, `mutation { renameAccount(name: "Renamed for the test") { id } }`, nil).Decode(t, &struct{}{})
	list := func(who person) (actions map[string]int, dealIDs []string) {
		var out struct {
			Account struct {
				Activity struct {
					Nodes []struct {
						Action   string
						EntityID *string
						Cursor   string
					}
				}
			}
		}
		w.as(t, who, w.A, `{ account { activity(first: 100) { nodes { action entityId cursor } } } }`, nil).Decode(t, &out)
		actions = map[string]int{}
		for _, n := range out.Account.Activity.Nodes {
			actions[n.Action]++
			if n.Action == "deal.created" && n.EntityID != nil {
				dealIDs = append(dealIDs, *n.EntityID)
			}
		}
		return actions, dealIDs
	}
	actions, deals := list(w.repA)
	if fmt.Sprint(deals) != fmt.Sprint([]string{mine.CreateDeal.ID}) {
		t.Fatalf("the rep lists the deals %v, want only their own %s", deals, mine.CreateDeal.ID)
	}
	if actions["contact.created"] == 0 || actions["account.renamed"] != 0 {
		t.Fatalf("the rep lists %v: want contacts, no settings", actions)
	}
	actions, deals = list(w.ownerA)
	if len(deals) != 2 || actions["account.renamed"] != 1 {
		t.Fatalf("the owner lists %v and deals %v: want everything", actions, deals)
	}
	// The rep's dashboard starts from the rep's latest entry.
	rep := liveActivity(t, w.srv, w.repA.token, w.A, latestActivityCursor(t, w.srv, w.repA.token, w.A), nil)
	w.as(t, w.repA, w.A, `mutation { createContact(input: {lastName: "Live"}) { id } }`, nil).Decode(t, &struct{}{})
	if e := nextEntry(t, rep); e.Action != "contact.created" {
		t.Fatalf("the rep's feed from their cursor: %+v", e)
	}
}
