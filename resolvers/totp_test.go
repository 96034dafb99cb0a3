package resolvers_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/gateway/gatewaytest"
	"switchboard/mail/mailtest"
	"switchboard/secrets"
)

// totpUser is a signed-up user with 2-step verification on.
type totpUser struct {
	email, token, secret string
	recovery             []string
}

func enableTOTP(t testing.TB, srv *gatewaytest.Server, clock *fakeClock) totpUser {
	t.Helper()
	u := totpUser{email: newEmail(t)}
	u.token = *signUp(t, srv, u.email).Token
	var setup struct{ EnableTotp struct{ Secret, URI string } }
	srv.Post(t, gatewaytest.Request{Query: `mutation { enableTotp { secret uri } }`, Header: bearer(u.token)}).Decode(t, &setup)
	u.secret = setup.EnableTotp.Secret
	if !strings.HasPrefix(setup.EnableTotp.URI, "otpauth://totp/Switchboard:") || !strings.Contains(setup.EnableTotp.URI, "secret="+u.secret) {
		t.Fatalf("uri %q", setup.EnableTotp.URI)
	}
	// A wrong code does not turn it on.
	onlyCode(t, srv.Post(t, gatewaytest.Request{Query: `mutation { confirmTotp(code: "000000") { codes } }`, Header: bearer(u.token)}), "BAD_USER_INPUT")
	var confirmed struct{ ConfirmTotp struct{ Codes []string } }
	srv.Post(t, gatewaytest.Request{Query: `mutation($c: String!) { confirmTotp(code: $c) { codes } }`,
		Variables: map[string]any{"c": code(t, u.secret, clock, 0)}, Header: bearer(u.token)}).Decode(t, &confirmed)
	u.recovery = confirmed.ConfirmTotp.Codes
	if len(u.recovery) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(u.recovery))
	}
	return u
}

// code is what the authenticator app shows drift steps away from now.
func code(t testing.TB, secret string, clock *fakeClock, drift int64) string {
	t.Helper()
	c, err := secrets.TOTPCode(secret, secrets.TOTPStep(clock.Now())+drift)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// challenge signs in with the password and returns the second-step
// challenge.
func challenge(t testing.TB, srv *gatewaytest.Server, email string) string {
	t.Helper()
	p := login(t, srv, email, nil)
	if !p.SecondFactorRequired || p.Challenge == nil || p.Token != nil || p.Session != nil {
		t.Fatalf("password alone: %+v", p)
	}
	return *p.Challenge
}

func secondStep(srv *gatewaytest.Server, t testing.TB, ch, c string) gatewaytest.Response {
	return srv.Post(t, loginRequest("", "", map[string]any{"challenge": ch, "totpCode": c}, nil))
}

func TestSecondFactor(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Clock: clock.Now})
	u := enableTOTP(t, srv, clock)
	conn := superuser(t, srv)

	t.Run("a correct password alone changes no session", func(t *testing.T) {
		challenge(t, srv, u.email)
		var got struct{ Me struct{ Email string } }
		me(t, srv, u.token).Decode(t, &got)
		if activeSessions(t, conn, u.email) != 1 {
			t.Fatal("a half sign-in touched sessions")
		}
	})
	t.Run("the confirming code cannot sign in", func(t *testing.T) {
		onlyCode(t, secondStep(srv, t, challenge(t, srv, u.email), code(t, u.secret, clock, 0)), "SECOND_FACTOR_REQUIRED")
	})
	t.Run("a code works once", func(t *testing.T) {
		clock.Advance(5 * time.Minute)
		c := code(t, u.secret, clock, 0)
		var ok struct{ Login authPayload }
		secondStep(srv, t, challenge(t, srv, u.email), c).Decode(t, &ok)
		if ok.Login.Token == nil {
			t.Fatal("no session")
		}
		onlyCode(t, me(t, srv, u.token), "SESSION_EVICTED") // eviction only after full authentication
		u.token = *ok.Login.Token
		onlyCode(t, secondStep(srv, t, challenge(t, srv, u.email), c), "SECOND_FACTOR_REQUIRED")
	})
	t.Run("password and code in one request", func(t *testing.T) {
		clock.Advance(5 * time.Minute)
		var ok struct{ Login authPayload }
		srv.Post(t, loginRequest(u.email, password, map[string]any{"totpCode": code(t, u.secret, clock, 0)}, nil)).Decode(t, &ok)
		if ok.Login.Token == nil {
			t.Fatal("no session")
		}
	})
	t.Run("two concurrent submissions of one code", func(t *testing.T) {
		clock.Advance(5 * time.Minute)
		c := code(t, u.secret, clock, 0)
		chs := []string{challenge(t, srv, u.email), challenge(t, srv, u.email)}
		var wg sync.WaitGroup
		results := make([]gatewaytest.Response, 2)
		for i := range 2 {
			wg.Go(func() { results[i] = secondStep(srv, t, chs[i], c) })
		}
		wg.Wait()
		wins := 0
		for _, r := range results {
			switch {
			case len(r.Errors) == 0:
				wins++
			case r.Errors[0].Code() != "SECOND_FACTOR_REQUIRED":
				t.Fatalf("loser answered %+v", r.Errors)
			}
		}
		if wins != 1 {
			t.Fatalf("%d of 2 concurrent submissions succeeded, want exactly 1", wins)
		}
	})
	t.Run("one step of drift either way, not two", func(t *testing.T) {
		for _, tc := range []struct {
			drift int64
			ok    bool
		}{{-1, true}, {1, true}, {-2, false}, {2, false}} {
			clock.Advance(5 * time.Minute)
			r := secondStep(srv, t, challenge(t, srv, u.email), code(t, u.secret, clock, tc.drift))
			if tc.ok && len(r.Errors) > 0 {
				t.Fatalf("drift %d refused: %+v", tc.drift, r.Errors)
			}
			if !tc.ok {
				onlyCode(t, r, "SECOND_FACTOR_REQUIRED")
			}
		}
	})
	t.Run("a recovery code works once", func(t *testing.T) {
		rc := strings.ToLower(strings.ReplaceAll(u.recovery[3], "-", " ")) // as a person might type it
		var ok struct{ Login authPayload }
		secondStep(srv, t, challenge(t, srv, u.email), rc).Decode(t, &ok)
		if ok.Login.Token == nil {
			t.Fatal("recovery code refused")
		}
		u.token = *ok.Login.Token
		onlyCode(t, secondStep(srv, t, challenge(t, srv, u.email), u.recovery[3]), "SECOND_FACTOR_REQUIRED")
	})
	t.Run("five attempts per challenge", func(t *testing.T) {
		// A full sign-in first clears the failures earlier cases counted.
		clock.Advance(5 * time.Minute)
		var ok struct{ Login authPayload }
		secondStep(srv, t, challenge(t, srv, u.email), code(t, u.secret, clock, 0)).Decode(t, &ok)
		ch := challenge(t, srv, u.email)
		for range 5 {
			onlyCode(t, secondStep(srv, t, ch, "000000"), "SECOND_FACTOR_REQUIRED")
		}
		clock.Advance(time.Hour) // past any lockout the wrong codes caused
		r := secondStep(srv, t, ch, code(t, u.secret, clock, 0))
		if e := onlyCode(t, r, "SECOND_FACTOR_REQUIRED"); !strings.Contains(e.Message, "expired") {
			t.Fatalf("spent challenge: %q", e.Message)
		}
	})
	t.Run("a challenge expires", func(t *testing.T) {
		ch := challenge(t, srv, u.email)
		clock.Advance(6 * time.Minute)
		onlyCode(t, secondStep(srv, t, ch, code(t, u.secret, clock, 0)), "SECOND_FACTOR_REQUIRED")
	})
	t.Run("turning it off needs the password and a code", func(t *testing.T) {
		clock.Advance(5 * time.Minute)
		ch := challenge(t, srv, u.email)
		var ok struct{ Login authPayload }
		secondStep(srv, t, ch, code(t, u.secret, clock, 0)).Decode(t, &ok)
		tok := *ok.Login.Token
		disable := func(pw, c string) gatewaytest.Response {
			return srv.Post(t, gatewaytest.Request{Query: `mutation($p: String!, $c: String!) { disableTotp(password: $p, code: $c) }`,
				Variables: map[string]any{"p": pw, "c": c}, Header: bearer(tok)})
		}
		clock.Advance(time.Minute)
		onlyCode(t, disable("wrong password here", code(t, u.secret, clock, 0)), "UNAUTHENTICATED")
		onlyCode(t, disable(password, "123456"), "BAD_USER_INPUT")
		var off struct{ DisableTotp bool }
		disable(password, code(t, u.secret, clock, 0)).Decode(t, &off)
		if p := login(t, srv, u.email, nil); p.Token == nil {
			t.Fatal("password alone does not sign in after 2-step verification is off")
		}
	})
}

// TestNoSecretAtRest walks every column of every table after a full tour of
// identity (sessions, 2-step verification, recovery codes, a reset link,
// queued mail) and finds none of the secrets handed out in it.
func TestNoSecretAtRest(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	smtp := mailtest.NewServer(t)
	srv := gatewaytest.Start(t, gatewaytest.Options{HashParams: cheapHash, Clock: clock.Now, Env: map[string]string{"SMTP_URL": smtp.URL()}})
	u := enableTOTP(t, srv, clock)
	handedOut := []string{u.token, u.secret}
	handedOut = append(handedOut, u.recovery...)
	clock.Advance(time.Minute)
	ch := challenge(t, srv, u.email)
	handedOut = append(handedOut, ch)
	var ok struct{ Login authPayload }
	secondStep(srv, t, ch, code(t, u.secret, clock, 0)).Decode(t, &ok)
	handedOut = append(handedOut, *ok.Login.Token)
	srv.Post(t, gatewaytest.Request{Query: `mutation($e: String!) { requestPasswordReset(email: $e) }`, Variables: map[string]any{"e": u.email}}).Decode(t, &struct{}{})
	var reset string
	for _, m := range smtp.WaitFor(t, 2, 10*time.Second) {
		if strings.Contains(m.Text, "sbr_") {
			reset = extractToken(t, m.Text, "sbr_")
		}
	}
	if reset == "" {
		t.Fatal("no reset mail")
	}
	handedOut = append(handedOut, reset)

	conn := superuser(t, srv)
	var tables []string
	if err := conn.Select(&tables, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`); err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, table := range tables {
		var rows []string
		if err := conn.Select(&rows, `SELECT row_to_json(t)::text FROM "`+table+`" t`); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			dump.WriteString(r)
			dump.WriteByte('\n')
		}
	}
	if !strings.Contains(dump.String(), u.email) {
		t.Fatal("the dump holds nothing: the test would prove nothing")
	}
	for _, secret := range handedOut {
		for _, form := range []string{secret, strings.ReplaceAll(secret, "-", "")} {
			if strings.Contains(dump.String(), form) {
				t.Errorf("a secret is stored in the clear: %.12s…", form)
			}
		}
	}
}
