package resolvers_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"switchboard/gateway/gatewaytest"
	"switchboard/jobs"
	"switchboard/secrets"
)

func TestMain(m *testing.M) { gatewaytest.Main(m) }

// cheapHash keeps sign-ups fast in tests that are not about hashing; the
// hashing tests use the real parameters.
var cheapHash = &secrets.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const password = "correct horse battery staple"

var emailSeq atomic.Int64

// newEmail returns an address no other test uses.
func newEmail(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return fmt.Sprintf("%s-%d@example.com", strings.Trim(name, "-"), emailSeq.Add(1))
}

// bearer is the header of a signed-in client.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// from pretends the request came through a trusted proxy from ip.
func from(h http.Header, ip string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	out.Set("X-Forwarded-For", ip)
	return out
}

type authPayload struct {
	Token                *string
	SecondFactorRequired bool
	Challenge            *string
	User                 *struct{ ID, Email, Name string }
	Session              *struct{ ID string }
}

const authFields = `token secondFactorRequired challenge user { id email name } session { id }`

func signUp(t testing.TB, srv *gatewaytest.Server, email string) authPayload {
	t.Helper()
	r := srv.Post(t, gatewaytest.Request{
		Query: `mutation($in: SignUpInput!) { signUp(input: $in) { ` + authFields + ` } }`,
		Variables: map[string]any{"in": map[string]any{
			"email": email, "password": password, "name": "Pat Example", "accountName": "Example Sales",
		}},
	})
	var out struct{ SignUp authPayload }
	r.Decode(t, &out)
	if out.SignUp.Token == nil {
		t.Fatalf("signUp returned no token: %+v", out.SignUp)
	}
	return out.SignUp
}

func loginRequest(email, pw string, extra map[string]any, h http.Header) gatewaytest.Request {
	in := map[string]any{"email": email, "password": pw}
	for k, v := range extra {
		in[k] = v
	}
	return gatewaytest.Request{
		Query:     `mutation($in: LoginInput!) { login(input: $in) { ` + authFields + ` } }`,
		Variables: map[string]any{"in": in},
		Header:    h,
	}
}

func login(t testing.TB, srv *gatewaytest.Server, email string, h http.Header) authPayload {
	t.Helper()
	var out struct{ Login authPayload }
	srv.Post(t, loginRequest(email, password, nil, h)).Decode(t, &out)
	return out.Login
}

// onlyCode fails unless r carries exactly one error, with code.
func onlyCode(t testing.TB, r gatewaytest.Response, code string) gatewaytest.Error {
	t.Helper()
	if len(r.Errors) != 1 || r.Errors[0].Code() != code {
		t.Fatalf("want one %s error, got %+v (data %s)", code, r.Errors, r.Data)
	}
	return r.Errors[0]
}

// me asks who the token belongs to.
func me(t testing.TB, srv *gatewaytest.Server, token string) gatewaytest.Response {
	t.Helper()
	return srv.Post(t, gatewaytest.Request{Query: `{ me { id email session { id } } }`, Header: bearer(token)})
}

// superuser opens the test database as its owner, for assertions about
// what is stored.
func superuser(t testing.TB, srv *gatewaytest.Server) *sqlx.DB {
	t.Helper()
	conn, err := sqlx.Open("postgres", srv.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// mailJobs counts the mail queued to the address to ("" for every
// address): River jobs of kind send_email. Each is inserted in the
// transaction of the change that sends it (jobs.Queue.Email), so once that
// change has answered, the count is all the mail it will ever send: "no
// mail" is an equality after the change, without waiting for a worker.
func mailJobs(t testing.TB, conn *sqlx.DB, to string) int {
	t.Helper()
	var n int
	if err := conn.Get(&n, `SELECT count(*) FROM river_job WHERE kind = $1 AND ($2 = '' OR args->>'to' = $2)`, jobs.EmailArgs{}.Kind(), to); err != nil {
		t.Fatal(err)
	}
	return n
}

func activeSessions(t testing.TB, conn *sqlx.DB, email string) int {
	t.Helper()
	var n int
	if err := conn.Get(&n, `SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1 AND s.revoked_at IS NULL`, email); err != nil {
		t.Fatal(err)
	}
	return n
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// proxied is the env of a gateway that trusts loopback as a proxy, so tests
// can set the client address with X-Forwarded-For.
var proxied = map[string]string{"SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.0/8,::1/128"}
