package db_test

import (
	"strings"
	"testing"
	"time"

	"switchboard/crm"
)

// TestOneSessionPerUser: a sign-in ends the user's previous session, which
// then answers SESSION_EVICTED naming where the new one came from, and
// mails the user.
func TestOneSessionPerUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.signUp()
	second := first.from("203.0.113.9")
	f.signIn(&second)

	_, err := f.ident.Authenticate(f.ctx, first.Token)
	wantCode(t, err, crm.CodeSessionEvicted)
	if !strings.Contains(err.Error(), "203.0.113.9") {
		t.Fatalf("message %q does not say where the new sign-in came from", err)
	}
	_, err = f.ident.Authenticate(f.ctx, second.Token)
	noErr(t, err)
	mail := f.mail.to(first.Email)
	if len(mail) != 1 || !strings.Contains(mail[0].Subject, "signed out") || !strings.Contains(mail[0].Text, "203.0.113.9") {
		t.Fatalf("eviction notice %+v", mail)
	}
}

// TestIdleTimeout: a session unused for 30 minutes expires, and stays so.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.signUp()
	f.clock.Advance(29 * time.Minute)
	noErr(t, f.enter(m))
	f.clock.Advance(30 * time.Minute)
	wantCode(t, f.enter(m), crm.CodeSessionExpired)
	f.clock.Set(testStart) // ended, not only judged by the clock
	wantCode(t, f.enter(m), crm.CodeSessionExpired)
}

// TestUseKeepsASessionAlive: reads touch the session, so one used every
// twenty minutes outlives the thirty-minute idle timeout (until the
// absolute one); a touch less than a minute old is not repeated.
func TestUseKeepsASessionAlive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.signUp()
	for range 5 {
		f.clock.Advance(20 * time.Minute)
		noErr(t, f.enter(m))
	}
	var seen time.Time
	noErr(t, f.raw.Get(&seen, `SELECT last_seen_at FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, m.ID))
	if !seen.Equal(f.clock.Now()) {
		t.Errorf("last seen %s, want the last use %s", seen, f.clock.Now())
	}
	f.clock.Advance(30 * time.Second)
	noErr(t, f.enter(m))
	noErr(t, f.raw.Get(&seen, `SELECT last_seen_at FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, m.ID))
	if want := f.clock.Now().Add(-30 * time.Second); !seen.Equal(want) {
		t.Errorf("a use 30 s after a touch moved last seen to %s, want it kept at %s", seen, want)
	}
}

// TestAbsoluteTimeout: a session in use expires 12 hours after sign-in all
// the same.
func TestAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.signUp()
	for f.clock.Now().Before(testStart.Add(12 * time.Hour)) {
		noErr(t, f.enter(m))
		f.clock.Advance(20 * time.Minute)
	}
	f.clock.Set(testStart.Add(12*time.Hour - time.Microsecond))
	noErr(t, f.enter(m))
	f.clock.Set(testStart.Add(12 * time.Hour))
	wantCode(t, f.enter(m), crm.CodeSessionExpired)
}

// TestSignInNeedsAnAccountToWorkIn: a login whose every membership is
// deactivated is refused; one with no account left (removed) may sign in,
// to create one.
func TestSignInNeedsAnAccountToWorkIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.signUp()
	rep, gone := f.join(owner, roleID(crm.RoleSalesRep)), f.join(owner, roleID(crm.RoleSalesRep))
	noErr(t, f.deactivate(owner, rep.ID))
	noErr(t, f.Members.RemoveMember(f.ctx, owner.Actor, gone.ID, owner.ID))

	_, err := f.ident.Login(f.ctx, crm.LoginInput{Email: rep.Email, Password: testPassword}, rep.Client)
	wantCode(t, err, crm.CodeAccountDeactivated)
	_, err = f.ident.Authenticate(f.ctx, rep.Token)
	noErr(t, err) // the refused sign-in changed no session
	f.signIn(&gone)
	_, err = f.Accounts.CreateAccount(f.ctx, gone.Actor, "A fresh start")
	noErr(t, err)

	noErr(t, f.reactivate(owner, rep.ID))
	f.signIn(&rep)
}
