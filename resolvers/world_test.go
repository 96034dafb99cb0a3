package resolvers_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/crm"
	"switchboard/gateway/gatewaytest"
	"switchboard/mail/mailtest"
)

// person is a signed-in user of a test world.
type person struct {
	id, email, token string
}

// world is two accounts with members, on one gateway: A (owner, admin,
// manager, sales rep, reader) and B (owner, member).
type world struct {
	srv  *gatewaytest.Server
	smtp *mailtest.Server
	A, B string

	ownerA, adminA, managerA, repA, readerA person
	ownerB, memberB                         person
}

func roleID(r crm.BuiltInRole) string { return r.Role().ID.String() }

func newWorld(t testing.TB, opts gatewaytest.Options) *world {
	t.Helper()
	w := &world{smtp: mailtest.NewServer(t)}
	// A copy: callers pass shared maps (proxied), which parallel tests read.
	opts.Env = maps.Clone(opts.Env)
	if opts.Env == nil {
		opts.Env = map[string]string{}
	}
	opts.Env["SMTP_URL"] = w.smtp.URL()
	if opts.HashParams == nil {
		opts.HashParams = cheapHash
	}
	w.srv = gatewaytest.Start(t, opts)
	w.ownerA, w.A = w.signUp(t)
	w.ownerB, w.B = w.signUp(t)
	w.adminA = w.join(t, w.ownerA, w.A, crm.RoleAdmin)
	w.managerA = w.join(t, w.ownerA, w.A, crm.RoleManager)
	w.repA = w.join(t, w.ownerA, w.A, crm.RoleSalesRep)
	w.readerA = w.join(t, w.ownerA, w.A, crm.RoleReadOnly)
	w.memberB = w.join(t, w.ownerB, w.B, crm.RoleManager)
	return w
}

func (w *world) signUp(t testing.TB) (person, string) {
	t.Helper()
	email := newEmail(t)
	p := signUp(t, w.srv, email)
	var out struct {
		Me struct {
			Accounts []struct{ Account struct{ ID string } }
		}
	}
	me := w.srv.Post(t, gatewaytest.Request{Query: `{ me { accounts { account { id } } } }`, Header: bearer(*p.Token)})
	me.Decode(t, &out)
	if len(out.Me.Accounts) != 1 {
		t.Fatalf("a new login has %d accounts", len(out.Me.Accounts))
	}
	return person{id: p.User.ID, email: email, token: *p.Token}, out.Me.Accounts[0].Account.ID
}

// as sends a request as who, scoped to account ("" for the session's
// current account).
func (w *world) as(t testing.TB, who person, account, query string, vars map[string]any) gatewaytest.Response {
	t.Helper()
	h := bearer(who.token)
	if account != "" {
		h.Set("X-Account-ID", account)
	}
	return w.srv.Post(t, gatewaytest.Request{Query: query, Variables: vars, Header: h})
}

// invite sends an invitation and returns the link token from the mail.
func (w *world) invite(t testing.TB, inviter person, account, email string, role string) string {
	t.Helper()
	before := len(w.smtp.Messages())
	r := w.as(t, inviter, account, `mutation($e: String!, $r: ID!) { inviteMember(email: $e, roleId: $r) { id status } }`,
		map[string]any{"e": email, "r": role})
	r.Decode(t, &struct{}{})
	return w.tokenFor(t, email, before)
}

// tokenFor waits for a mail to email after the first `after` messages and
// returns the invitation token in it.
func (w *world) tokenFor(t testing.TB, email string, after int) string {
	t.Helper()
	return w.mailedToken(t, email, "sbi_", after)
}

// mailedToken waits for a mail to email after the first `after` messages
// with a token of the kind prefix names (sbi_ invitation, sbr_ reset) and
// returns the token.
func (w *world) mailedToken(t testing.TB, email, prefix string, after int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		msgs := w.smtp.Messages()
		for i := len(msgs) - 1; i >= after; i-- {
			if len(msgs[i].To) == 1 && msgs[i].To[0] == email && strings.Contains(msgs[i].Text, prefix) {
				return extractToken(t, msgs[i].Text, prefix)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail with a %s token to %s", prefix, email)
	return ""
}

func (w *world) accept(t testing.TB, token string, h http.Header, input map[string]any) gatewaytest.Response {
	t.Helper()
	in := map[string]any{"token": token}
	for k, v := range input {
		in[k] = v
	}
	return w.srv.Post(t, gatewaytest.Request{
		Query:     `mutation($in: AcceptInvitationInput!) { acceptInvitation(input: $in) { account { id name } auth { token user { id } } } }`,
		Variables: map[string]any{"in": in}, Header: h,
	})
}

// join invites a new person with role and has them accept, creating their
// login.
func (w *world) join(t testing.TB, inviter person, account string, role crm.BuiltInRole) person {
	t.Helper()
	email := newEmail(t)
	token := w.invite(t, inviter, account, email, roleID(role))
	var out struct {
		AcceptInvitation struct {
			Account struct{ ID string }
			Auth    *authPayload
		}
	}
	w.accept(t, token, nil, map[string]any{"name": "Member " + string(role), "password": password}).Decode(t, &out)
	a := out.AcceptInvitation
	if a.Account.ID != account || a.Auth == nil || a.Auth.Token == nil {
		t.Fatalf("accepting: %+v", a)
	}
	return person{id: a.Auth.User.ID, email: email, token: *a.Auth.Token}
}

// activityCount counts the account's activity log entries with action.
func (w *world) activityCount(t testing.TB, account, action string) int {
	t.Helper()
	var n int
	if err := superuser(t, w.srv).Get(&n, `SELECT count(*) FROM activity_log WHERE account_id = $1 AND action = $2`, account, action); err != nil {
		t.Fatal(err)
	}
	return n
}
