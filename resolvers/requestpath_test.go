package resolvers_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"switchboard/db"
	"switchboard/gateway/gatewaytest"
)

// statements runs one request and returns how many statements (BEGIN and
// COMMIT included) the database layer sent for it.
func statements(t testing.TB, srv *gatewaytest.Server, req gatewaytest.Request) (int64, gatewaytest.Response) {
	t.Helper()
	before := srv.DB.Statements()
	r := srv.Post(t, req)
	return srv.DB.Statements() - before, r
}

// TestStatementsPerOperation pins what the request path costs, so it
// cannot creep back: a scoped read is BEGIN, at most two statements and
// COMMIT, the session and scope verified once however many fields ask.
func TestStatementsPerOperation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	h := bearer(w.ownerA.token)
	h.Set("X-Account-ID", w.A)
	for _, tc := range []struct {
		name  string
		query string
		vars  map[string]any
		max   int64
	}{
		{"me", `{ me { id email } }`, nil, 3},
		{"members", `{ account { id name members(first: 20) { nodes { userId name email role { name } } } } }`, nil, 4},
		// Several fields of one account: still one verification.
		{"account fields", `{ account { myRole { name } members(first: 5) { nodes { userId } } ipAllowlist } }`, nil, 4},
		// Search: BEGIN, the session, the viewer's accounts, the account
		// set, the search, the set's reset, COMMIT.
		{"search", `{ search(query: "seed renewal") { nodes { title snippet } facets { types { count } } } }`, nil, 7},
		{"member update", `mutation($u: ID!, $n: String!) { updateMember(userId: $u, input: {name: $n}) { userId name email } }`,
			map[string]any{"u": w.repA.id, "n": "Renamed Rep"}, 7},
	} {
		n, r := statements(t, w.srv, gatewaytest.Request{Query: tc.query, Variables: tc.vars, Header: h})
		r.Decode(t, &struct{}{})
		if n > tc.max {
			t.Errorf("%s sent %d statements, want at most %d", tc.name, n, tc.max)
		}
		t.Logf("%s: %d statements", tc.name, n)
	}
	n, r := statements(t, w.srv, loginRequest(w.repA.email, password, nil, nil))
	r.Decode(t, &struct{}{})
	// 18: the sign-in ends the older session, and the notification that
	// tells of it is written as the transaction's last statement.
	if n > 18 {
		t.Errorf("a sign-in sent %d statements, want at most 18", n)
	}
	t.Logf("login: %d statements", n)
}

// TestWritesHoldTheirSessionAndMembership: the session check and the
// write commit together. While a write is under way, ending its session
// or deactivating its member waits for it, so no write lands after either
// (before, the check ran in a transaction of its own and both went
// through in the wrong order).
func TestWritesHoldTheirSessionAndMembership(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	conn := superuser(t, w.srv)
	// Hold the target's membership so the admin's write stops halfway,
	// after its checks.
	hold, err := conn.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	hold.MustExec(`SELECT 1 FROM memberships WHERE account_id = $1 AND user_id = $2 FOR UPDATE`, w.A, w.repA.id)

	done := make(chan gatewaytest.Response, 1)
	go func() {
		done <- w.as(t, w.adminA, w.A, `mutation($u: ID!) { updateMember(userId: $u, input: {name: "Held"}) { name } }`,
			map[string]any{"u": w.repA.id})
	}()
	awaitLockWait(t, conn)
	// Signing the admin out, or deactivating them, must wait for the write.
	for name, stmt := range map[string]string{
		"end the session":     `UPDATE sessions SET revoked_at = now(), revoked_reason = 'LOGOUT' WHERE user_id = $1 AND revoked_at IS NULL`,
		"deactivate the user": `UPDATE memberships SET status = 'DEACTIVATED' WHERE user_id = $1 AND account_id = '` + w.A + `'`,
	} {
		tx, err := conn.BeginTxx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		tx.MustExec(`SET LOCAL lock_timeout = '300ms'`)
		_, err = tx.Exec(stmt, w.adminA.id)
		_ = tx.Rollback()
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "55P03" {
			t.Fatalf("%s while the write is under way: %v; want it to wait (lock timeout)", name, err)
		}
	}
	if err := hold.Commit(); err != nil {
		t.Fatal(err)
	}
	(<-done).Decode(t, &struct{}{})

	// The other order: ended first, the write is refused and changes
	// nothing.
	conn.MustExec(`UPDATE sessions SET revoked_at = now(), revoked_reason = 'LOGOUT' WHERE user_id = $1 AND revoked_at IS NULL`, w.adminA.id)
	onlyCode(t, w.as(t, w.adminA, w.A, `mutation($u: ID!) { updateMember(userId: $u, input: {name: "Too late"}) { name } }`,
		map[string]any{"u": w.repA.id}), "UNAUTHENTICATED")
	var name string
	if err := conn.Get(&name, `SELECT display_name FROM memberships WHERE account_id = $1 AND user_id = $2`, w.A, w.repA.id); err != nil || name != "Held" {
		t.Fatalf("name %q (%v)", name, err)
	}
}

// TestAClientThatLeavesIsNotAServerFault: a client that hangs up mid-request
// is not logged as an error, costs no database connection, and its
// mutation commits whole.
func TestAClientThatLeavesIsNotAServerFault(t *testing.T) {
	t.Parallel()
	logs := &gatewaytest.Logs{}
	w := newWorld(t, gatewaytest.Options{Logger: logs.Logger()})
	conn := superuser(t, w.srv)
	backends := func() map[int]bool {
		var pids []int
		if err := conn.Select(&pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, db.ApplicationName); err != nil {
			t.Fatal(err)
		}
		out := map[int]bool{}
		for _, p := range pids {
			out[p] = true
		}
		return out
	}
	hold, err := conn.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	hold.MustExec(`SELECT 1 FROM memberships WHERE account_id = $1 AND user_id = $2 FOR UPDATE`, w.A, w.repA.id)
	before := backends()

	ctx, cancel := context.WithCancel(t.Context())
	body := strings.NewReader(`{"query": "mutation($u: ID!) { updateMember(userId: $u, input: {name: \"Left\"}) { name } }", "variables": {"u": "` + w.repA.id + `"}}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.srv.URL+"/graphql", body)
	req.Header = bearer(w.adminA.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Account-ID", w.A)
	var wg sync.WaitGroup
	wg.Go(func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	})
	awaitLockWait(t, conn) // the write is under way, waiting for the held row
	cancel()
	wg.Wait() // the client has left
	if err := hold.Commit(); err != nil {
		t.Fatal(err)
	}
	// The write finishes on its own, whole: the change and its log entry.
	deadline := time.Now().Add(5 * time.Second)
	for w.activityCount(t, w.A, "member.updated") == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var name string
	if err := conn.Get(&name, `SELECT coalesce(display_name, '') FROM memberships WHERE account_id = $1 AND user_id = $2`, w.A, w.repA.id); err != nil {
		t.Fatal(err)
	}
	if name != "Left" || w.activityCount(t, w.A, "member.updated") != 1 {
		t.Fatalf("after the client left: name %q, %d log entries; want the change and its entry", name, w.activityCount(t, w.A, "member.updated"))
	}
	// No connection was thrown away: the next requests use the same ones.
	for range 5 {
		w.as(t, w.adminA, w.A, `{ account { members(first: 5) { nodes { userId } } } }`, nil).Decode(t, &struct{}{})
	}
	for pid := range backends() {
		if !before[pid] {
			t.Errorf("a new database connection (pid %d) replaced one the cancelled request used", pid)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a client leaving was logged as an error:\n%s", logs.String())
	}
}

// awaitLockWait waits until a statement of the test's database waits for a
// lock: a request has got as far as a row the test holds.
func awaitLockWait(t testing.TB, conn *sqlx.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := conn.Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no request reached the held row")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMemberListShowsLastSeenWhenAsked: the member list reads last-seen
// times only when the operation asks for them, so asking must find them,
// however the field is reached (directly, through a named or an inline
// fragment), and a list that does not ask still answers.
func TestMemberListShowsLastSeenWhenAsked(t *testing.T) {
	t.Parallel()
	w := newWorld(t, gatewaytest.Options{})
	for name, query := range map[string]string{
		"direct":          `{ account { members(first: 50) { nodes { userId lastSeenAt } } } }`,
		"named fragment":  `{ account { members(first: 50) { ...M } } } fragment M on MemberConnection { nodes { userId lastSeenAt } }`,
		"inline fragment": `{ account { members(first: 50) { nodes { userId ... on Member { lastSeenAt } } } } }`,
		"aliased":         `{ account { members(first: 50) { people: nodes { userId seen: lastSeenAt } } } }`,
	} {
		var out struct {
			Account struct {
				Members struct {
					Nodes, People []struct {
						UserID           string
						LastSeenAt, Seen *time.Time
					}
				}
			}
		}
		w.as(t, w.ownerA, w.A, query, nil).Decode(t, &out)
		nodes := append(out.Account.Members.Nodes, out.Account.Members.People...)
		seen := 0
		for _, n := range nodes {
			if n.LastSeenAt != nil || n.Seen != nil {
				seen++
			}
		}
		// Everyone in the fixture has signed in.
		if len(nodes) < 5 || seen != len(nodes) {
			t.Errorf("%s: %d of %d members with a last-seen time", name, seen, len(nodes))
		}
	}
	var out struct {
		Account struct {
			Members struct{ Nodes []struct{ UserID string } }
		}
	}
	w.as(t, w.ownerA, w.A, `{ account { members(first: 50) { nodes { userId } } } }`, nil).Decode(t, &out)
	if len(out.Account.Members.Nodes) < 5 {
		t.Errorf("a list without last-seen times answered %d members", len(out.Account.Members.Nodes))
	}
}

// TestAWriteAfterTheSessionsTouchDoesNotWaitForItself: a session used
// after a minute is touched by the operation's first read (its
// last_seen_at), and the touch locks the session's row until that read's
// transaction ends. A write of the same operation runs in a transaction of
// its own that holds the session too: it must not wait for its own
// operation's read. Before, sign-out, password change and the 2-step
// mutations on a session idle for a minute hung until the operation's
// time limit (two pool connections each all the while).
func TestAWriteAfterTheSessionsTouchDoesNotWaitForItself(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// A short time limit, so that a write that waits fails fast.
	w := newWorld(t, gatewaytest.Options{Clock: clock.Now, Env: map[string]string{"SWITCHBOARD_OPERATION_TIMEOUT": "3s"}})
	for _, m := range []struct {
		who   person
		query string
	}{
		{w.ownerA, `mutation { enableTotp { secret } }`},
		{w.repA, `mutation { logout }`},
		{w.adminA, `mutation($u: ID!) { updateMember(userId: $u, input: {name: "After a minute"}) { name } }`},
	} {
		clock.Advance(2 * time.Minute)
		var vars map[string]any
		if strings.Contains(m.query, "$u") {
			vars = map[string]any{"u": w.readerA.id}
		}
		w.as(t, m.who, w.A, m.query, vars).Decode(t, &struct{}{})
	}
}
