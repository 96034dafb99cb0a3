package db_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"switchboard/crm"
	"switchboard/db"
	"switchboard/db/dbtest"
	"switchboard/secrets"
)

// The service-level tests: the db services called directly, each test on a
// transaction of its own that is rolled back at the end (dbtest.Tx), so
// they run in parallel and leave nothing behind. Users get unique emails:
// logins are global rows, and two open transactions inserting one email
// would wait for each other.

// testPolicy is shared: its list of common passwords is read once, and it
// is never written.
var testPolicy = sync.OnceValue(crm.NewPasswordPolicy)

const testPassword = "a fixture password, long enough"

// testStart is when every fixture's clock starts: a Wednesday morning, UTC.
var testStart = time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)

// homeIP is where fixture members call from unless a test says otherwise.
var homeIP = netip.MustParseAddr("198.51.100.10")

// fixture is one test's world: the services on a rolled-back transaction,
// a clock the test moves, and the mail the services sent.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	d     *db.DB
	raw   *sqlx.Tx // the outer transaction, as the tables' owner: no row-level security
	clock *testClock
	mail  *mailbox
	ident *db.IdentityService
	db.AccountServices
	records crm.Records
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := &testClock{now: testStart}
	d, raw := dbtest.Tx(t, db.Options{Clock: clock.Now})
	box, err := secrets.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	mail := &mailbox{}
	ident := db.NewIdentityService(d, db.IdentityConfig{
		PublicURL: "https://switchboard.test",
		Hasher:    secrets.NewHasher(secrets.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, 64),
		Box:       box,
		Policy:    testPolicy(),
		Outbox:    mail,
	})
	cfg := db.AccountConfig{PublicURL: "https://switchboard.test", Policy: testPolicy(), Outbox: mail, Identity: ident}
	return &fixture{
		t: t, ctx: t.Context(), d: d, raw: raw, clock: clock, mail: mail, ident: ident,
		AccountServices: db.NewAccountServices(d, cfg),
		records:         db.NewRecordServices(d, cfg),
	}
}

// member is a signed-in person acting in one account: the actor their
// requests carry, and who they are.
type member struct {
	crm.Actor
	ID    uuid.UUID
	Email string
}

// from is the member calling from another address.
func (m member) from(ip string) member {
	m.Client = crm.Client{IP: netip.MustParseAddr(ip)}
	return m
}

// in is the member asking to act in another account.
func (m member) in(account uuid.UUID) member {
	m.AccountID = account
	return m
}

// signUp creates a login and its account; the member is its owner.
func (f *fixture) signUp() member {
	f.t.Helper()
	email := newEmail("owner")
	res, err := f.ident.SignUp(f.ctx, crm.SignUpInput{Email: email, Password: testPassword, Name: "Owner", AccountName: "Acme"},
		crm.Client{IP: homeIP})
	noErr(f.t, err)
	return member{Actor: crm.Actor{Token: res.Token, AccountID: res.Session.AccountID, Client: crm.Client{IP: homeIP}},
		ID: res.User.ID, Email: email}
}

// join brings a new person into by's account with role, the way people
// arrive: by's invitation, accepted from the mailed link with a new login.
func (f *fixture) join(by member, role uuid.UUID) member {
	f.t.Helper()
	email := newEmail("member")
	_, err := f.Invitations.InviteMember(f.ctx, by.Actor, email, role)
	noErr(f.t, err)
	acc, err := f.Invitations.AcceptInvitation(f.ctx, f.mail.invitationLink(f.t, email), crm.Actor{Client: crm.Client{IP: homeIP}},
		crm.NewLogin{Name: strings.Split(email, "@")[0], Password: testPassword})
	noErr(f.t, err)
	return member{Actor: crm.Actor{Token: acc.Auth.Token, AccountID: acc.Account.ID, Client: crm.Client{IP: homeIP}},
		ID: acc.Auth.User.ID, Email: email}
}

// signIn signs m in again (after the clock moved past their session, or
// for a fresh sign-in); their previous session ends.
func (f *fixture) signIn(m *member) {
	f.t.Helper()
	res, err := f.ident.Login(f.ctx, crm.LoginInput{Email: m.Email, Password: testPassword}, m.Client)
	noErr(f.t, err)
	m.Token = res.Token
}

// customRole creates a custom role as by and returns its id.
func (f *fixture) customRole(by member, name string, perms []crm.Permission, hidden ...string) uuid.UUID {
	f.t.Helper()
	r, err := f.Roles.CreateRole(f.ctx, by.Actor, crm.RoleInput{Name: name, Permissions: perms, HiddenFields: hidden})
	noErr(f.t, err)
	return r.ID
}

// cells is a built-in role's matrix as role input, plus more cells.
func cells(r crm.BuiltInRole, more ...crm.Permission) []crm.Permission {
	var out []crm.Permission
	for _, p := range r.Role().Matrix.Permissions() {
		if p.Scope != crm.ScopeNone {
			out = append(out, p)
		}
	}
	return append(out, more...)
}

func roleID(r crm.BuiltInRole) uuid.UUID { return r.Role().ID }

func newEmail(kind string) string { return kind + "-" + uuid.NewString() + "@example.com" }

// testClock is the fixture's time, moved by the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// mailbox is an Outbox that keeps what it is given. Mail queued by a
// transaction that then rolled back is kept too: tests read the latest
// message to an address.
type mailbox struct {
	mu   sync.Mutex
	sent []crm.Email
}

func (m *mailbox) Email(_ context.Context, _ *sql.Tx, e crm.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, e)
	return nil
}

// to lists the messages sent to address, oldest first.
func (m *mailbox) to(address string) []crm.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []crm.Email
	for _, e := range m.sent {
		if e.To == address {
			out = append(out, e)
		}
	}
	return out
}

var invitationLink = regexp.MustCompile(`accept-invitation\?token=(` + secrets.PrefixInvitation + `[A-Za-z0-9_-]+)`)

// invitationLink returns the token of the latest invitation mailed to
// address.
func (m *mailbox) invitationLink(t testing.TB, address string) string {
	t.Helper()
	msgs := m.to(address)
	for i := len(msgs) - 1; i >= 0; i-- {
		if match := invitationLink.FindStringSubmatch(msgs[i].Text); match != nil {
			return match[1]
		}
	}
	t.Fatalf("no invitation mailed to %s", address)
	return ""
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err carries code.
func wantCode(t testing.TB, err error, code crm.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("succeeded, want %s", code)
	}
	if got := crm.ErrorCode(err); got != code {
		t.Fatalf("got %s (%v), want %s", got, err, code)
	}
}

// wantInput fails unless err is BAD_USER_INPUT naming field.
func wantInput(t testing.TB, err error, field string) {
	t.Helper()
	wantCode(t, err, crm.CodeBadUserInput)
	var e *crm.Error
	if !errors.As(err, &e) || e.Field != field {
		t.Fatalf("BAD_USER_INPUT names %q (%v), want %q", e.Field, err, field)
	}
}
