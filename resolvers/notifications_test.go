package resolvers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
	"switchboard/gateway/gatewaytest"
)

const notificationFields = `id kind message account { id name } actorId actorName subjectType subjectId readAt cursor`

type notification struct {
	ID, Kind, Message, Cursor string
	Account                   struct{ ID, Name string }
	ActorID, ActorName        *string
	SubjectType, SubjectID    *string
	ReadAt                    *time.Time
}

// liveNotifications subscribes token's connection to its notifications.
func liveNotifications(t testing.TB, srv *gatewaytest.Server, token, after string) *gatewaytest.WS {
	t.Helper()
	ws := srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + token})
	ws.Ack()
	vars := map[string]any{}
	if after != "" {
		vars["after"] = after
	}
	live := liveSubscriptions(t, srv)
	ws.Subscribe("bell", gatewaytest.Request{Query: `subscription($after: String) { notifications(after: $after) { ` + notificationFields + ` } }`, Variables: vars})
	awaitSubscriptions(t, srv, live+1)
	return ws
}

func nextNotification(t testing.TB, ws *gatewaytest.WS) notification {
	t.Helper()
	var out struct{ Notifications notification }
	ws.NextData("bell").Decode(t, &out)
	return out.Notifications
}

// bell is what the viewer's notification bell shows.
type bell struct {
	Me struct {
		UnreadNotificationCount int
		Notifications           struct {
			Nodes    []notification
			PageInfo struct {
				EndCursor   *string
				HasNextPage bool
			}
		}
	}
}

func readBell(t testing.TB, srv *gatewaytest.Server, token string, vars map[string]any) bell {
	t.Helper()
	var b bell
	srv.Post(t, gatewaytest.Request{Query: `query($first: Int, $after: String, $unread: Boolean) { me { unreadNotificationCount
		notifications(first: $first, after: $after, unreadOnly: $unread) { nodes { ` + notificationFields + ` } pageInfo { endCursor hasNextPage } } } }`,
		Variables: vars, Header: bearer(token)}).Decode(t, &b)
	return b
}

// TestNotificationsReachTheirRecipient: an assignment and a mention reach
// the member live, in the bell and by email (one each, with the
// notification's own Message-ID); marking read counts what changed; the
// email preference is the member's.
func TestNotificationsReachTheirRecipient(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	// From the start of the rep's stream (they have no notification yet):
	// without a cursor, a subscription starts wherever its process's
	// follower is when it starts, which a test cannot know.
	ws := liveNotifications(t, w.srv, w.repA.token, crm.StreamCursor{Kind: crm.StreamNotifications, ID: uuid.MustParse(w.repA.id)}.String())

	var task struct{ CreateTask struct{ ID string } }
	w.as(t, w.managerA, w.A, `mutation($a: ID!) { createTask(input: {title: "Call back", assigneeId: $a}) { id } }`,
		map[string]any{"a": w.repA.id}).Decode(t, &task)
	n := nextNotification(t, ws)
	if n.Kind != "TASK_ASSIGNED" || n.Account.ID != w.A || n.Account.Name == "" || n.ActorID == nil || *n.ActorID != w.managerA.id ||
		n.ActorName == nil || *n.ActorName != "Member MANAGER" || n.SubjectType == nil || *n.SubjectType != "TASKS" ||
		n.SubjectID == nil || *n.SubjectID != task.CreateTask.ID || n.ReadAt != nil || !strings.Contains(n.Message, "assigned you a task") {
		t.Fatalf("assignment: %+v", n)
	}
	// Mentioned in a note (the author is not told of their own mention).
	var contact struct{ CreateContact struct{ ID string } }
	w.as(t, w.managerA, w.A, `mutation { createContact(input: {lastName: "Noted"}) { id } }`, nil).Decode(t, &contact)
	w.as(t, w.managerA, w.A, `mutation($c: ID!, $m: [ID!]) { createNote(input: {body: "see this", about: {entity: CONTACTS, id: $c}, mentionIds: $m}) { id } }`,
		map[string]any{"c": contact.CreateContact.ID, "m": []string{w.repA.id, w.managerA.id}}).Decode(t, &struct{}{})
	mention := nextNotification(t, ws)
	if mention.Kind != "MENTIONED" || cursorPos(t, mention.Cursor) != cursorPos(t, n.Cursor)+1 {
		t.Fatalf("mention: %+v after %s", mention, n.Cursor)
	}
	// One email each, each with its notification's Message-ID.
	var ids []string
	for deadline := time.Now().Add(10 * time.Second); len(ids) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ids = ids[:0]
		for _, m := range w.smtp.Messages() {
			if len(m.To) == 1 && m.To[0] == w.repA.email && strings.Contains(string(m.Data), "Message-ID: <notification-") {
				ids = append(ids, string(m.Data))
			}
		}
	}
	if len(ids) != 2 || !strings.Contains(ids[0]+ids[1], "<notification-"+n.ID+"@") || !strings.Contains(ids[0]+ids[1], "<notification-"+mention.ID+"@") {
		t.Fatalf("%d notification mails to the rep, want 2 with their notifications' ids", len(ids))
	}

	b := readBell(t, w.srv, w.repA.token, nil)
	if b.Me.UnreadNotificationCount != 2 || len(b.Me.Notifications.Nodes) != 2 || b.Me.Notifications.Nodes[0].ID != mention.ID {
		t.Fatalf("bell: %+v", b.Me)
	}
	// Pages, newest first.
	page := readBell(t, w.srv, w.repA.token, map[string]any{"first": 1})
	if len(page.Me.Notifications.Nodes) != 1 || !page.Me.Notifications.PageInfo.HasNextPage {
		t.Fatalf("first page: %+v", page.Me.Notifications)
	}
	next := readBell(t, w.srv, w.repA.token, map[string]any{"first": 1, "after": *page.Me.Notifications.PageInfo.EndCursor})
	if len(next.Me.Notifications.Nodes) != 1 || next.Me.Notifications.Nodes[0].ID != n.ID || next.Me.Notifications.PageInfo.HasNextPage {
		t.Fatalf("second page: %+v", next.Me.Notifications)
	}

	// Someone else's id changes nothing; the recipient's own does, once.
	mark := func(who person, vars map[string]any) gatewaytest.Response {
		return w.srv.Post(t, gatewaytest.Request{Query: `mutation($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) }`,
			Variables: vars, Header: bearer(who.token)})
	}
	var marked struct{ MarkNotificationsRead int }
	mark(w.managerA, map[string]any{"ids": []string{n.ID}}).Decode(t, &marked)
	if marked.MarkNotificationsRead != 0 || readBell(t, w.srv, w.repA.token, nil).Me.UnreadNotificationCount != 2 {
		t.Fatalf("another member marked the rep's notification: %d", marked.MarkNotificationsRead)
	}
	mark(w.repA, map[string]any{"ids": []string{n.ID}}).Decode(t, &marked)
	if marked.MarkNotificationsRead != 1 {
		t.Fatalf("marked %d, want 1", marked.MarkNotificationsRead)
	}
	mark(w.repA, map[string]any{"ids": []string{n.ID}}).Decode(t, &marked)
	if marked.MarkNotificationsRead != 0 {
		t.Fatalf("marked again: %d, want 0", marked.MarkNotificationsRead)
	}
	if unread := readBell(t, w.srv, w.repA.token, map[string]any{"unread": true}); unread.Me.UnreadNotificationCount != 1 ||
		len(unread.Me.Notifications.Nodes) != 1 || unread.Me.Notifications.Nodes[0].ID != mention.ID {
		t.Fatalf("unread only: %+v", unread.Me)
	}
	mark(w.repA, map[string]any{"all": true}).Decode(t, &marked)
	if marked.MarkNotificationsRead != 1 || readBell(t, w.srv, w.repA.token, nil).Me.UnreadNotificationCount != 0 {
		t.Fatalf("mark all: %d", marked.MarkNotificationsRead)
	}
	// Bad input changes nothing and says what is wrong.
	for _, vars := range []map[string]any{{}, {"ids": []string{n.ID}, "all": true}, {"ids": make([]string, 1001)}} {
		if ids, ok := vars["ids"].([]string); ok && len(ids) > 1 {
			for i := range ids {
				ids[i] = n.ID
			}
		}
		onlyCode(t, mark(w.repA, vars), "BAD_USER_INPUT")
	}

	// Without email for assignments, the next one is in the app only.
	var pref struct {
		SetNotificationPreference struct {
			Kind  string
			Email bool
		}
	}
	w.srv.Post(t, gatewaytest.Request{Query: `mutation { setNotificationPreference(kind: TASK_ASSIGNED, email: false) { kind email } }`,
		Header: bearer(w.repA.token)}).Decode(t, &pref)
	if pref.SetNotificationPreference.Email {
		t.Fatalf("preference: %+v", pref)
	}
	conn := superuser(t, w.srv)
	before := mailJobs(t, conn, w.repA.email)
	w.as(t, w.managerA, w.A, `mutation($a: ID!) { createTask(input: {title: "Quietly", assigneeId: $a}) { id } }`,
		map[string]any{"a": w.repA.id}).Decode(t, &struct{}{})
	if quiet := nextNotification(t, ws); quiet.Kind != "TASK_ASSIGNED" {
		t.Fatalf("quiet assignment: %+v", quiet)
	}
	if after := mailJobs(t, conn, w.repA.email); after != before {
		t.Fatalf("%d mails queued for an assignment the rep wants in the app only", after-before)
	}
	// A security notice cannot be turned off.
	onlyCode(t, w.srv.Post(t, gatewaytest.Request{Query: `mutation { setNotificationPreference(kind: SESSION_REPLACED, email: false) { kind } }`,
		Header: bearer(w.repA.token)}), "BAD_USER_INPUT")
	var prefs struct {
		Me struct {
			NotificationPreferences []struct {
				Kind          string
				Email, Locked bool
			}
		}
	}
	w.srv.Post(t, gatewaytest.Request{Query: `{ me { notificationPreferences { kind email locked } } }`, Header: bearer(w.repA.token)}).Decode(t, &prefs)
	got := map[string]bool{}
	for _, p := range prefs.Me.NotificationPreferences {
		got[p.Kind] = p.Email
		if p.Kind == "SESSION_REPLACED" && (!p.Email || !p.Locked) {
			t.Fatalf("session notice preference: %+v", p)
		}
	}
	if len(got) != 9 || got["TASK_ASSIGNED"] || !got["MENTIONED"] {
		t.Fatalf("preferences: %+v", got)
	}
}

// TestNotificationsOfAccountChanges: the member hears of a role change, a
// deactivation and a restoration, records given to them, and an invitation
// to another account; a new sign-in's notice waits for the next session.
func TestNotificationsOfAccountChanges(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	// The reader joins B too; their bell's connection works in B, so it
	// outlives what happens to them in A.
	w.accept(t, w.invite(t, w.ownerB, w.B, w.readerA.email, roleID("READ_ONLY")), bearer(w.readerA.token), nil).Decode(t, &struct{}{})
	first := readBell(t, w.srv, w.readerA.token, map[string]any{"first": 1})
	if len(first.Me.Notifications.Nodes) != 1 || first.Me.Notifications.Nodes[0].Kind != "INVITED" || first.Me.Notifications.Nodes[0].Account.ID != w.B {
		t.Fatalf("invitation: %+v", first.Me.Notifications.Nodes)
	}
	subscribe := func(after string) *gatewaytest.WS {
		ws := w.srv.DialWS(t, gatewaytest.GraphQLTransportWS, nil, map[string]any{"Authorization": "Bearer " + w.readerA.token, "accountId": w.B})
		ws.Ack()
		live := liveSubscriptions(t, w.srv)
		ws.Subscribe("bell", gatewaytest.Request{Query: `subscription($after: String) { notifications(after: $after) { ` + notificationFields + ` } }`,
			Variables: map[string]any{"after": after}})
		awaitSubscriptions(t, w.srv, live+1)
		return ws
	}
	ws := subscribe(first.Me.Notifications.Nodes[0].Cursor)
	expect := func(ws *gatewaytest.WS, kind, account string) notification {
		t.Helper()
		n := nextNotification(t, ws)
		if n.Kind != kind || n.Account.ID != account {
			t.Fatalf("got %s in %s, want %s in %s (%s)", n.Kind, n.Account.ID, kind, account, n.Message)
		}
		return n
	}
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $r: ID!) { updateMember(userId: $u, input: {roleId: $r}) { userId } }`,
		map[string]any{"u": w.readerA.id, "r": roleID("MANAGER")}).Decode(t, &struct{}{})
	expect(ws, "ROLE_CHANGED", w.A)
	// The rep leaves; their deal goes to the reader.
	w.as(t, w.repA, w.A, `mutation { createDeal(input: {title: "Handed over"}) { id } }`, nil).Decode(t, &struct{}{})
	w.as(t, w.ownerA, w.A, `mutation($u: ID!, $t: ID!) { removeMember(userId: $u, transferTo: $t) }`,
		map[string]any{"u": w.repA.id, "t": w.readerA.id}).Decode(t, &struct{}{})
	if n := expect(ws, "RECORDS_TRANSFERRED", w.A); !strings.Contains(n.Message, "1 records") {
		t.Fatalf("transfer: %q", n.Message)
	}
	w.as(t, w.ownerA, w.A, `mutation($u: ID!) { deactivateMember(userId: $u) { userId } }`, map[string]any{"u": w.readerA.id}).Decode(t, &struct{}{})
	deactivated := expect(ws, "ACCESS_DEACTIVATED", w.A)
	w.as(t, w.ownerA, w.A, `mutation($u: ID!) { reactivateMember(userId: $u) { userId } }`, map[string]any{"u": w.readerA.id}).Decode(t, &struct{}{})
	expect(ws, "ACCESS_RESTORED", w.A)

	// A reconnecting client resumes after its last cursor.
	ws.Close()
	awaitSubscriptionsDown(t, w.srv, 0)
	expect(subscribe(deactivated.Cursor), "ACCESS_RESTORED", w.A)

	// A new sign-in ends the session; the notice is there after it.
	fresh := login(t, w.srv, w.readerA.email, nil)
	b := readBell(t, w.srv, *fresh.Token, map[string]any{"first": 1})
	if len(b.Me.Notifications.Nodes) != 1 || b.Me.Notifications.Nodes[0].Kind != "SESSION_REPLACED" || b.Me.Notifications.Nodes[0].ActorID != nil {
		t.Fatalf("after a new sign-in: %+v", b.Me.Notifications.Nodes)
	}
}

// TestNotificationEmailRetriesAsOneMessage: the mail server refuses the
// first attempt; the job queue retries, and the recipient gets one message,
// with the notification's own Message-ID, for the one notification.
func TestNotificationEmailRetriesAsOneMessage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	w.smtp.RefuseNext(1)
	var task struct{ CreateTask struct{ ID string } }
	w.as(t, w.managerA, w.A, `mutation($a: ID!) { createTask(input: {title: "Retry me", assigneeId: $a}) { id } }`,
		map[string]any{"a": w.repA.id}).Decode(t, &task)
	conn := superuser(t, w.srv)
	var ids []string
	if err := conn.Select(&ids, `SELECT id::text FROM notifications WHERE recipient_id = $1 AND kind = 'TASK_ASSIGNED'`, w.repA.id); err != nil || len(ids) != 1 {
		t.Fatalf("notifications %v (%v), want one", ids, err)
	}
	var got []string
	for deadline := time.Now().Add(30 * time.Second); len(got) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, m := range w.smtp.Messages() {
			if len(m.To) == 1 && m.To[0] == w.repA.email && strings.Contains(string(m.Data), "Message-ID: <notification-") {
				got = append(got, string(m.Data))
			}
		}
	}
	if len(got) != 1 || !strings.Contains(got[0], "<notification-"+ids[0]+"@") {
		t.Fatalf("%d messages for the notification %s, want one with its Message-ID", len(got), ids[0])
	}
	var attempts int
	if err := conn.Get(&attempts, `SELECT attempt FROM river_job WHERE kind = 'send_email' AND args->>'message_id' LIKE '<notification-' || $1 || '@%'`,
		ids[0]); err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Fatalf("sent in %d attempts, want 2 (one refused, one accepted)", attempts)
	}
}
