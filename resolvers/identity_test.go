package resolvers_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/db/dbtest"
	"switchboard/gateway"
	"switchboard/gateway/gatewaytest"
	"switchboard/mail/mailtest"
	"switchboard/secrets"
)

func TestSignUpCreatesLoginAccountAndSession(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	email := newEmail(t)
	r := srv.Post(t, gatewaytest.Request{
		Query: `mutation($in: SignUpInput!) { signUp(input: $in) { token user { email name totpEnabled } session { id expiresAt idleExpiresAt device } } }`,
		Variables: map[string]any{"in": map[string]any{
			"email": "  " + strings.ToUpper(email) + " ", "password": password, "name": " Pat ", "accountName": "Acme",
		}},
		Header: http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}},
	})
	var out struct {
		SignUp struct {
			Token string
			User  struct {
				Email, Name string
				TotpEnabled bool
			}
			Session struct {
				ID                       string
				ExpiresAt, IdleExpiresAt time.Time
				Device                   string
			}
		}
	}
	r.Decode(t, &out)
	if !strings.HasPrefix(out.SignUp.Token, "sbs_") || len(out.SignUp.Token) != 47 {
		t.Fatalf("token %q", out.SignUp.Token)
	}
	if out.SignUp.User.Email != email || out.SignUp.User.Name != "Pat" {
		t.Fatalf("user %+v: email not normalised or name not trimmed", out.SignUp.User)
	}
	if got := out.SignUp.Session.ExpiresAt.Sub(out.SignUp.Session.IdleExpiresAt); got < 11*time.Hour {
		t.Fatalf("absolute %v vs idle %v", out.SignUp.Session.ExpiresAt, out.SignUp.Session.IdleExpiresAt)
	}
	if out.SignUp.Session.Device != "Firefox 121 on Linux" {
		t.Fatalf("device %q", out.SignUp.Session.Device)
	}
	// The cookie carries the same session, with the protections it needs.
	cookie := r.Header.Get("Set-Cookie")
	for _, want := range []string{gateway.CookieName + "=" + out.SignUp.Token, "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("cookie is Secure on plain-HTTP localhost in development: %q", cookie)
	}
	viaCookie := srv.Post(t, gatewaytest.Request{Query: `{ me { email } }`, Header: http.Header{"Cookie": {gateway.CookieName + "=" + out.SignUp.Token}}})
	var who struct{ Me struct{ Email string } }
	viaCookie.Decode(t, &who)
	if who.Me.Email != email {
		t.Fatalf("cookie session is %q", who.Me.Email)
	}

	// The same address, in any case, is taken.
	again := srv.Post(t, gatewaytest.Request{
		Query: `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`,
		Variables: map[string]any{"in": map[string]any{
			"email": strings.ToUpper(email), "password": password + "!", "name": "Other", "accountName": "Other",
		}},
	})
	onlyCode(t, again, "CONFLICT")
}

func TestProductionCookiesAreSecure(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Database: database,
		Env: map[string]string{"SWITCHBOARD_ENV": "production", "DATABASE_URL": database.URL}})
	r := srv.Post(t, gatewaytest.Request{
		Query: `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`,
		Variables: map[string]any{"in": map[string]any{
			"email": newEmail(t), "password": password, "name": "Pat", "accountName": "Acme",
		}},
	})
	if c := r.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") {
		t.Fatalf("production cookie %q", c)
	}
}

func TestBadInputNamesTheFieldAndWritesNothing(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	conn := superuser(t, srv)
	valid := map[string]any{"email": "fine@example.com", "password": password, "name": "Pat", "accountName": "Acme"}
	with := func(k string, v any) map[string]any {
		out := map[string]any{}
		for key, val := range valid {
			out[key] = val
		}
		out[k] = v
		return out
	}
	cases := []struct {
		name  string
		input map[string]any
		field string
	}{
		{"malformed email", with("email", "not-an-email"), "email"},
		{"email with display name", with("email", "Pat <pat@example.com>"), "email"},
		{"email without domain dot", with("email", "pat@localhost"), "email"},
		{"over-long email", with("email", strings.Repeat("a", 250)+"@example.com"), "email"},
		{"empty email", with("email", "   "), "email"},
		{"short password", with("password", "short pass"), "password"},
		{"long password", with("password", strings.Repeat("x", 257)), "password"},
		{"common password", with("password", "1qaz2wsx3edc"), "password"},
		{"common password in other case", with("password", "1QAZ2WSX3EDC"), "password"},
		{"empty name", with("name", "  "), "name"},
		{"over-long name", with("name", strings.Repeat("n", 201)), "name"},
		{"empty account name", with("accountName", ""), "accountName"},
		{"over-long account name", with("accountName", strings.Repeat("a", 201)), "accountName"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := srv.Post(t, gatewaytest.Request{
				Query:     `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`,
				Variables: map[string]any{"in": tc.input},
			})
			e := onlyCode(t, r, "BAD_USER_INPUT")
			if e.Extensions["field"] != tc.field {
				t.Fatalf("field %v, want %s (%s)", e.Extensions["field"], tc.field, e.Message)
			}
		})
	}
	var users, accounts, sessions int
	if err := conn.QueryRow(`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM accounts), (SELECT count(*) FROM sessions)`).Scan(&users, &accounts, &sessions); err != nil {
		t.Fatal(err)
	}
	if users+accounts+sessions != 0 {
		t.Fatalf("bad input wrote %d users, %d accounts, %d sessions", users, accounts, sessions)
	}
	// Login input is bounded too.
	onlyCode(t, srv.Post(t, loginRequest("nope", password, nil, nil)), "BAD_USER_INPUT")
	onlyCode(t, srv.Post(t, loginRequest("a@example.com", password, map[string]any{"totpCode": strings.Repeat("1", 33)}, nil)), "BAD_USER_INPUT")
	onlyCode(t, srv.Post(t, loginRequest("", "", map[string]any{"challenge": "sbc_nonsense", "totpCode": "123456"}, nil)), "BAD_USER_INPUT")
}

func TestUnknownEmailAndWrongPasswordLookAlike(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	email := newEmail(t)
	signUp(t, srv, email)
	wrong := srv.Post(t, loginRequest(email, "wrong password entirely", nil, nil))
	unknown := srv.Post(t, loginRequest(newEmail(t), "wrong password entirely", nil, nil))
	a, b := onlyCode(t, wrong, "UNAUTHENTICATED"), onlyCode(t, unknown, "UNAUTHENTICATED")
	if a.Message != b.Message || len(a.Extensions) != len(b.Extensions) || string(wrong.Data) != string(unknown.Data) || wrong.Status != unknown.Status {
		t.Fatalf("responses differ:\n%+v %s\n%+v %s", a, wrong.Data, b, unknown.Data)
	}
}

func TestFailedSignInsLeaveTheSessionAlone(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Env: proxied})
	email := newEmail(t)
	tok := *signUp(t, srv, email).Token
	// A wave of failures from many addresses, past the lockout.
	for i := range 8 {
		r := srv.Post(t, loginRequest(email, "not the password", nil, from(nil, "198.51.100."+strconv.Itoa(i+1))))
		if len(r.Errors) != 1 {
			t.Fatalf("attempt %d: %+v", i, r.Errors)
		}
	}
	var got struct{ Me struct{ Email string } }
	me(t, srv, tok).Decode(t, &got)
	if got.Me.Email != email {
		t.Fatal("the legitimate session did not survive failed sign-ins")
	}
}

// TestBruteForcePolicy follows the throttling policy of db/throttle.go:
// strict per email and address, looser per email, looser still per
// address, and never against an address the login recently signed in from.
func TestBruteForcePolicy(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Env: proxied, Clock: clock.Now})
	email := newEmail(t)
	signUp(t, srv, email)
	home := "198.51.100.10"
	login(t, srv, email, from(nil, home)) // an address the owner signs in from

	// Five wrong passwords from one address: the sixth attempt from there
	// waits, even with the right password.
	for range 5 {
		onlyCode(t, srv.Post(t, loginRequest(email, "not the password", nil, from(nil, "203.0.113.1"))), "UNAUTHENTICATED")
	}
	e := onlyCode(t, srv.Post(t, loginRequest(email, password, nil, from(nil, "203.0.113.1"))), "RATE_LIMITED")
	if ra, _ := e.Extensions["retryAfter"].(float64); ra < 1 {
		t.Fatalf("retryAfter %v", e.Extensions["retryAfter"])
	}
	// Another address is not held back by that one.
	login(t, srv, email, from(nil, "192.0.2.1"))

	// Guesses spread over twenty addresses block the email everywhere...
	for i := range 20 {
		onlyCode(t, srv.Post(t, loginRequest(email, "spread guess", nil, from(nil, "203.0.113."+strconv.Itoa(100+i)))), "UNAUTHENTICATED")
	}
	onlyCode(t, srv.Post(t, loginRequest(email, password, nil, from(nil, "192.0.2.77"))), "RATE_LIMITED")
	// ...except where the owner has signed in lately: a stranger cannot
	// lock them out of the places they work from.
	if p := login(t, srv, email, from(nil, home)); p.Token == nil {
		t.Fatal("the owner's usual address was locked out")
	}
	// The owner's success cleared the email's count: a new address may
	// sign in again.
	login(t, srv, email, from(nil, "192.0.2.78"))

	// Backoff doubles: past the threshold, a failure after the first wait
	// blocks for 2 s.
	for range 5 {
		onlyCode(t, srv.Post(t, loginRequest(email, "wrong", nil, from(nil, "203.0.113.2"))), "UNAUTHENTICATED")
	}
	onlyCode(t, srv.Post(t, loginRequest(email, password, nil, from(nil, "203.0.113.2"))), "RATE_LIMITED")
	clock.Advance(1100 * time.Millisecond)
	onlyCode(t, srv.Post(t, loginRequest(email, "still wrong", nil, from(nil, "203.0.113.2"))), "UNAUTHENTICATED")
	clock.Advance(1100 * time.Millisecond)
	onlyCode(t, srv.Post(t, loginRequest(email, password, nil, from(nil, "203.0.113.2"))), "RATE_LIMITED")
	clock.Advance(time.Second)
	if p := login(t, srv, email, from(nil, "203.0.113.2")); p.Token == nil {
		t.Fatal("no session after the wait")
	}
	// Success clears the count: one failure does not block again.
	onlyCode(t, srv.Post(t, loginRequest(email, "wrong again", nil, from(nil, "203.0.113.2"))), "UNAUTHENTICATED")
	login(t, srv, email, from(nil, "203.0.113.2"))

	// One address trying many logins is held back after fifty failures,
	// whatever the emails; other addresses are not.
	clock.Advance(25 * time.Hour) // earlier counts lapse
	other := newEmail(t)
	signUp(t, srv, other)
	for i := range 50 {
		onlyCode(t, srv.Post(t, loginRequest(fmt.Sprintf("stuffing-%d-%s", i, other), "guess", nil, from(nil, "203.0.113.250"))), "UNAUTHENTICATED")
	}
	onlyCode(t, srv.Post(t, loginRequest(other, password, nil, from(nil, "203.0.113.250"))), "RATE_LIMITED")
	login(t, srv, other, from(nil, "192.0.2.200"))
}

func TestEachAliasIsOneAttempt(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	email := newEmail(t)
	signUp(t, srv, email)
	var q strings.Builder
	q.WriteString("mutation {")
	for i := range 7 {
		q.WriteString(" a" + strconv.Itoa(i) + `: login(input: {email: "` + email + `", password: "guess number ` + strconv.Itoa(i) + `"}) { token }`)
	}
	q.WriteString(" }")
	r := srv.Post(t, gatewaytest.Request{Query: q.String()})
	codes := map[string]int{}
	for _, e := range r.Errors {
		codes[e.Code()]++
	}
	if codes["UNAUTHENTICATED"] != 5 || codes["RATE_LIMITED"] != 2 {
		t.Fatalf("7 aliased guesses: %v, want 5 UNAUTHENTICATED then 2 RATE_LIMITED", codes)
	}
}

func TestLoginLog(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Env: proxied})
	email := newEmail(t)
	signUp(t, srv, email)
	srv.Post(t, loginRequest(email, "wrong password here", nil, from(http.Header{"User-Agent": {"curl/8.5.0"}}, "198.51.100.7")))
	tok := *login(t, srv, email, from(nil, "198.51.100.8")).Token

	type event struct {
		Outcome, Device string
		IP, SessionID   *string
	}
	var page struct {
		Me struct {
			Session     struct{ ID string }
			LoginEvents struct {
				Nodes    []event
				PageInfo struct {
					EndCursor   *string
					HasNextPage bool
				}
			}
		}
	}
	srv.Post(t, gatewaytest.Request{Query: `{ me { session { id } loginEvents(first: 2) { nodes { outcome device ip sessionId } pageInfo { endCursor hasNextPage } } } }`, Header: bearer(tok)}).Decode(t, &page)
	got := page.Me.LoginEvents
	if len(got.Nodes) != 2 || got.Nodes[0].Outcome != "SUCCESS" || got.Nodes[1].Outcome != "WRONG_PASSWORD" {
		t.Fatalf("newest first: %+v", got.Nodes)
	}
	if got.Nodes[0].SessionID == nil || *got.Nodes[0].SessionID != page.Me.Session.ID || got.Nodes[1].SessionID != nil {
		t.Fatalf("session ids: %+v, session %s", got.Nodes, page.Me.Session.ID)
	}
	if got.Nodes[1].Device != "curl/8.5.0" || got.Nodes[1].IP == nil || *got.Nodes[1].IP != "198.51.100.7" {
		t.Fatalf("device or address not recorded: %+v", got.Nodes[1])
	}
	if !got.PageInfo.HasNextPage || got.PageInfo.EndCursor == nil {
		t.Fatalf("page info %+v", got.PageInfo)
	}
	var rest struct {
		Me struct{ LoginEvents struct{ Nodes []event } }
	}
	srv.Post(t, gatewaytest.Request{Query: `query($after: String) { me { loginEvents(first: 10, after: $after) { nodes { outcome } } } }`,
		Variables: map[string]any{"after": *got.PageInfo.EndCursor}, Header: bearer(tok)}).Decode(t, &rest)
	if len(rest.Me.LoginEvents.Nodes) != 1 || rest.Me.LoginEvents.Nodes[0].Outcome != "SUCCESS" {
		t.Fatalf("second page (the sign-up): %+v", rest.Me.LoginEvents.Nodes)
	}
	bad := srv.Post(t, gatewaytest.Request{Query: `{ me { loginEvents(first: 1000) { nodes { outcome } } } }`, Header: bearer(tok)})
	if e := onlyCode(t, bad, "BAD_USER_INPUT"); e.Extensions["field"] != "first" {
		t.Fatalf("field %v", e.Extensions["field"])
	}
	onlyCode(t, srv.Post(t, gatewaytest.Request{Query: `{ me { loginEvents(after: "garbage!") { nodes { outcome } } } }`, Header: bearer(tok)}), "BAD_USER_INPUT")
}

func TestTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash}) // trusts no proxy
	email := newEmail(t)
	signUp(t, srv, email)
	tok := *login(t, srv, email, from(nil, "203.0.113.9")).Token
	var out struct {
		Me struct{ Session struct{ IP string } }
	}
	srv.Post(t, gatewaytest.Request{Query: `{ me { session { ip } } }`, Header: bearer(tok)}).Decode(t, &out)
	if out.Me.Session.IP != "127.0.0.1" {
		t.Fatalf("a forged X-Forwarded-For was believed: session ip %q", out.Me.Session.IP)
	}
}

func TestGETCannotMutate(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	email := newEmail(t)
	tok := *signUp(t, srv, email).Token
	r := srv.Get(t, gatewaytest.Request{Query: `mutation { logout }`, Header: bearer(tok)})
	if r.Status < 400 || len(r.Errors) == 0 {
		t.Fatalf("GET ran a mutation: %d %s", r.Status, r.Data)
	}
	var got struct{ Me struct{ Email string } }
	me(t, srv, tok).Decode(t, &got)
}

func TestPasswordChangeAndReset(t *testing.T) {
	t.Parallel()
	smtp := mailtest.NewServer(t)
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Env: map[string]string{"SMTP_URL": smtp.URL()}})
	email := newEmail(t)
	old := *signUp(t, srv, email).Token

	// Change: needs the current password, rotates the token.
	change := func(current, next, token string) gatewaytest.Response {
		return srv.Post(t, gatewaytest.Request{
			Query:     `mutation($in: ChangePasswordInput!) { changePassword(input: $in) { token session { id } } }`,
			Variables: map[string]any{"in": map[string]any{"currentPassword": current, "newPassword": next}},
			Header:    bearer(token),
		})
	}
	onlyCode(t, change("not my password", "a brand new passphrase", old), "UNAUTHENTICATED")
	onlyCode(t, change(password, "123qweasdzxc", old), "BAD_USER_INPUT")
	var changed struct {
		ChangePassword struct {
			Token   string
			Session struct{ ID string }
		}
	}
	change(password, "a brand new passphrase", old).Decode(t, &changed)
	if changed.ChangePassword.Token == old {
		t.Fatal("token not rotated")
	}
	onlyCode(t, me(t, srv, old), "UNAUTHENTICATED")
	var got struct {
		Me struct{ Session struct{ ID string } }
	}
	me(t, srv, changed.ChangePassword.Token).Decode(t, &got)
	if got.Me.Session.ID != changed.ChangePassword.Session.ID {
		t.Fatal("the session did not carry on under the new token")
	}
	smtp.WaitFor(t, 1, 10*time.Second) // "your password was changed"

	// Reset: a mailed single-use token.
	request := func(addr string) gatewaytest.Response {
		return srv.Post(t, gatewaytest.Request{Query: `mutation($e: String!) { requestPasswordReset(email: $e) }`, Variables: map[string]any{"e": addr}})
	}
	var known, unknown struct{ RequestPasswordReset bool }
	request(email).Decode(t, &known)
	stranger := newEmail(t)
	request(stranger).Decode(t, &unknown) // unknown: same answer, no mail
	if !known.RequestPasswordReset || !unknown.RequestPasswordReset {
		t.Fatalf("answers %v and %v, want true for both", known, unknown)
	}
	// Mail is queued in the request's transaction: the unknown address got
	// no job, the known one its password-changed notice and the reset link.
	conn := superuser(t, srv)
	if n, m := mailJobs(t, conn, stranger), mailJobs(t, conn, email); n != 0 || m != 2 {
		t.Fatalf("%d mail jobs to the unknown address (want 0), %d to the login's (want 2)", n, m)
	}
	msgs := smtp.WaitFor(t, 2, 10*time.Second)
	reset := msgs[len(msgs)-1]
	if !strings.Contains(reset.Subject, "Reset") || len(reset.To) != 1 || reset.To[0] != email {
		t.Fatalf("reset mail %+v", reset)
	}
	token := extractToken(t, reset.Text, "sbr_")
	doReset := func(tok, pw string) gatewaytest.Response {
		return srv.Post(t, gatewaytest.Request{
			Query:     `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) }`,
			Variables: map[string]any{"in": map[string]any{"token": tok, "newPassword": pw}},
		})
	}
	onlyCode(t, doReset(token, "short"), "BAD_USER_INPUT")
	var done struct{ ResetPassword bool }
	doReset(token, "the third passphrase").Decode(t, &done)
	if e := onlyCode(t, doReset(token, "the fourth passphrase"), "BAD_USER_INPUT"); e.Extensions["field"] != "token" {
		t.Fatalf("reused token: %+v", e)
	}
	// The reset ended the session; the new password works.
	onlyCode(t, me(t, srv, changed.ChangePassword.Token), "SESSION_EVICTED")
	var in struct{ Login authPayload }
	srv.Post(t, loginRequest(email, "the third passphrase", nil, nil)).Decode(t, &in)
	if in.Login.Token == nil {
		t.Fatal("cannot sign in with the new password")
	}
	// Requests per address are limited.
	request(email)
	request(email)
	onlyCode(t, request(email), "RATE_LIMITED")
}

func extractToken(t testing.TB, text, prefix string) string {
	t.Helper()
	i := strings.Index(text, prefix)
	if i < 0 {
		t.Fatalf("no %s token in %q", prefix, text)
	}
	return text[i : i+len(prefix)+43]
}

func TestConcurrentLoginsLeaveOneSession(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash})
	email := newEmail(t)
	signUp(t, srv, email)
	const n = 50
	var wg sync.WaitGroup
	results := make([]gatewaytest.Response, n)
	for i := range n {
		wg.Go(func() { results[i] = srv.Post(t, loginRequest(email, password, nil, nil)) })
	}
	wg.Wait()
	succeeded := 0
	for i, r := range results {
		for _, e := range r.Errors {
			t.Errorf("login %d: %s %s", i, e.Code(), e.Message)
		}
		if len(r.Errors) == 0 {
			succeeded++
		}
	}
	if succeeded != n {
		t.Fatalf("%d of %d concurrent logins succeeded", succeeded, n)
	}
	if got := activeSessions(t, superuser(t, srv), email); got != 1 {
		t.Fatalf("%d active sessions, want exactly 1", got)
	}
}

func TestIdleAndAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Clock: clock.Now})
	email := newEmail(t)
	tok := *signUp(t, srv, email).Token

	clock.Advance(29 * time.Minute)
	me(t, srv, tok).Decode(t, &struct{}{}) // activity: the idle clock restarts
	clock.Advance(29 * time.Minute)
	me(t, srv, tok).Decode(t, &struct{}{})
	clock.Advance(31 * time.Minute)
	onlyCode(t, me(t, srv, tok), "SESSION_EXPIRED")
	onlyCode(t, me(t, srv, tok), "SESSION_EXPIRED")

	// Absolute: used every 20 minutes, it still ends after 12 hours.
	tok = *login(t, srv, email, nil).Token
	for range 35 {
		clock.Advance(20 * time.Minute)
		me(t, srv, tok).Decode(t, &struct{}{})
	}
	clock.Advance(20 * time.Minute)
	onlyCode(t, me(t, srv, tok), "SESSION_EXPIRED")
}

// TestRehashOnLogin: a password hashed with older parameters is re-hashed
// with the current ones at the next successful sign-in.
func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	old := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Database: database})
	email := newEmail(t)
	signUp(t, old, email)
	stronger := &secrets.Argon2Params{MemoryKiB: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	current := gatewaytest.Start(t, gatewaytest.Options{HashParams: stronger, Database: database})
	hashOf := func() string {
		var h string
		if err := superuser(t, current).Get(&h, `SELECT password_hash FROM users WHERE email = $1`, email); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if !strings.Contains(hashOf(), "m=64,t=1") {
		t.Fatalf("fixture: %s", hashOf())
	}
	login(t, current, email, nil)
	if !strings.Contains(hashOf(), "m=128,t=2,p=1") {
		t.Fatalf("not re-hashed: %s", hashOf())
	}
	login(t, current, email, nil) // and the new hash verifies
}
