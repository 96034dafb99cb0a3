package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/crm"
	"switchboard/mail/mailtest"
)

const testFrom = "Switchboard <noreply@example.org>"

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		url                           string
		wantErr                       string // substring; "" means success
		addr                          string
		implicit, require, skipVerify bool
		user, pass                    string
	}{
		{url: "smtp://mail.example.org", addr: "mail.example.org:25"},
		{url: "SMTP://mail.example.org/", addr: "mail.example.org:25"},
		{url: "smtp://mail.example.org:2525", addr: "mail.example.org:2525"},
		{url: "smtps://mail.example.org", addr: "mail.example.org:465", implicit: true},
		{url: "smtp://[::1]:2525", addr: "[::1]:2525"},
		{url: "smtp://u:secret@mail.example.org:587?tls=require", addr: "mail.example.org:587", require: true, user: "u", pass: "secret"},
		{url: "smtp://mail.example.org?tls=skip-verify", addr: "mail.example.org:25", skipVerify: true},
		{url: "smtp://mail.example.org?tls=require,skip-verify", addr: "mail.example.org:25", require: true, skipVerify: true},
		{url: "smtp://mail.example.org?tls=require&tls=skip-verify", addr: "mail.example.org:25", require: true, skipVerify: true},
		{url: "smtps://apikey@mail.example.org", addr: "mail.example.org:465", implicit: true, user: "apikey"},
		{url: "smtp://me%40example.org:p%40ss%2Fw%3Ard@mail.example.org", addr: "mail.example.org:25", user: "me@example.org", pass: "p@ss/w:rd"},

		{url: "http://u:secret@mail.example.org", wantErr: "scheme"},
		{url: "mail.example.org:25", wantErr: "scheme"},
		{url: "", wantErr: "scheme"},
		{url: "smtp:mail.example.org", wantErr: "smtp://host"},
		{url: "smtp://", wantErr: "no host"},
		{url: "smtp://u:secret@:25", wantErr: "no host"},
		{url: "smtp://:secret@mail.example.org", wantErr: "no user"},
		{url: "smtp://u:secret@mail.example.org:0", wantErr: "out of range"},
		{url: "smtp://u:secret@mail.example.org:70000", wantErr: "out of range"},
		{url: "smtp://u:secret@mail.example.org:bad", wantErr: "invalid port"},
		{url: "smtp://u:secret@mail example.org", wantErr: "invalid character"},
		{url: "smtp://u:secret@mail.example.org/path", wantErr: "path"},
		{url: "smtp://u:secret@mail.example.org#frag", wantErr: "fragment"},
		{url: "smtp://u:secret@mail.example.org?tls=requir", wantErr: "tls option"},
		{url: "smtp://u:secret@mail.example.org?tls=", wantErr: "tls option"},
		{url: "smtp://u:secret@mail.example.org?timeout=5s", wantErr: "query parameter"},
		{url: "smtp://u:secret@mail.example.org?tls=%zz", wantErr: "malformed query"},
		// Badly encoded passwords: the error must not quote any of them.
		{url: "smtp://u:sec%zzret@mail.example.org", wantErr: "password"},
		{url: "smtp://u:sec ret@mail.example.org", wantErr: "password"},
		{url: "smtp://u:sec/ret@mail.example.org", wantErr: "withheld"},
		{url: "smtp://u:12/secret@mail.example.org", wantErr: "path"},
		{url: "smtp://u:sec#ret@mail.example.org", wantErr: "withheld"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := NewSMTP(tt.url, testFrom)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want one containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "sec") {
					t.Errorf("error leaks the password: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []any{s.addr, s.implicitTLS, s.requireTLS, s.skipVerify, s.username, s.password}
			want := []any{tt.addr, tt.implicit, tt.require, tt.skipVerify, tt.user, tt.pass}
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if tt.pass != "" && strings.Contains(s.String(), tt.pass) {
				t.Errorf("String() leaks the password: %s", s)
			}
		})
	}
}

func TestNewSMTPInvalidFrom(t *testing.T) {
	for _, from := range []string{"", "nobody", "a@example.org\r\nBcc: x@example.net"} {
		if _, err := NewSMTP("smtp://mail.example.org", from); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("from %q: err = %v, want ErrInvalidMessage", from, err)
		}
	}
}

func TestSMTPFormattingRedactsPassword(t *testing.T) {
	s, err := NewSMTP("smtp://user:secret@mail.example.org:587?tls=require", testFrom)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "smtp://user:xxxxx@mail.example.org:587?tls=require"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("mailer", "smtp", s, "value", *s)
	out := logged.String() + fmt.Sprintf("%v %+v %s %#v %v %+v %#v", s, s, s, s, *s, *s, *s)
	if strings.Contains(out, "secret") {
		t.Errorf("password leaked: %s", out)
	}
	if !strings.Contains(logged.String(), `"smtp":"smtp://user:xxxxx@mail.example.org:587?tls=require"`) {
		t.Errorf("log does not show the redacted URL: %s", logged.String())
	}
}

func newTestSMTP(t *testing.T, url string) *SMTP {
	t.Helper()
	s, err := NewSMTP(url, testFrom)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPSend(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, srv.URL())

	emails := []crm.Email{
		{To: "Ann <ann@example.com>", Subject: "Willkommen, Grüße aus 東京", Text: "Grüße — 東京\n.leading dot\nhttps://switchboard.example/invite?token=a=b\n"},
		{To: "bob@example.net", Subject: "Second", Text: "second message"},
	}
	for _, e := range emails {
		if err := s.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.WaitFor(t, 2, 5*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	wantTo := []string{"ann@example.com", "bob@example.net"}
	for i, m := range msgs {
		if m.From != "noreply@example.org" {
			t.Errorf("msg %d: envelope From = %q", i, m.From)
		}
		if !slices.Equal(m.To, []string{wantTo[i]}) {
			t.Errorf("msg %d: envelope To = %q, want %q", i, m.To, wantTo[i])
		}
		if m.Subject != emails[i].Subject {
			t.Errorf("msg %d: Subject = %q, want %q", i, m.Subject, emails[i].Subject)
		}
		if m.Text != emails[i].Text {
			t.Errorf("msg %d: Text = %q, want %q", i, m.Text, emails[i].Text)
		}
		if m.Username != "" || m.TLS {
			t.Errorf("msg %d: Username %q, TLS %v; want neither", i, m.Username, m.TLS)
		}
		if !bytes.HasPrefix(m.Data, []byte("From: \"Switchboard\" <noreply@example.org>\r\n")) {
			t.Errorf("msg %d: From header missing:\n%s", i, m.Data)
		}
	}
}

func TestSMTPAuthOnLocalhost(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, strings.Replace(srv.URL(), "//", "//user:secret@", 1))
	if err := s.Send(context.Background(), crm.Email{To: "ann@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if m := srv.WaitFor(t, 1, 5*time.Second)[0]; m.Username != "user" {
		t.Errorf("Username = %q, want user", m.Username)
	}
}

// Credentials must not be sent in clear text to a host that is not
// localhost. ::ffff:127.0.0.1 reaches the local test server but is not one
// of the names net/smtp treats as localhost.
func TestSMTPAuthRefusedWithoutTLS(t *testing.T) {
	srv := mailtest.NewServer(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL(), "smtp://"))
	s := newTestSMTP(t, "smtp://user:secret@[::ffff:127.0.0.1]:"+port)
	err := s.Send(context.Background(), crm.Email{To: "ann@example.com", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("err = %v, want refusal to authenticate unencrypted", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

func TestSMTPRequireTLS(t *testing.T) {
	srv := mailtest.NewServer(t) // offers no STARTTLS
	s := newTestSMTP(t, srv.URL()+"?tls=require")
	err := s.Send(context.Background(), crm.Email{To: "ann@example.com", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want STARTTLS refusal", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered without TLS", n)
	}
}

func TestSMTPSTARTTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithSTARTTLS())
	authURL := strings.Replace(srv.URL(), "//", "//user:secret@", 1)
	e := crm.Email{To: "ann@example.com", Subject: "über TLS", Text: "encrypted"}

	// The certificate is self-signed: verification must fail by default, and
	// the mailer must not fall back to plain text.
	if err := newTestSMTP(t, authURL).Send(context.Background(), e); err == nil {
		t.Fatal("self-signed certificate accepted without tls=skip-verify")
	} else if !strings.Contains(err.Error(), "starttls") {
		t.Errorf("err = %v, want a starttls error", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages delivered after failed STARTTLS", n)
	}

	if err := newTestSMTP(t, authURL+"?tls=require,skip-verify").Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitFor(t, 1, 5*time.Second)[0]
	if !m.TLS || m.Username != "user" || m.Subject != e.Subject || m.Text != e.Text {
		t.Errorf("got TLS %v, Username %q, Subject %q, Text %q", m.TLS, m.Username, m.Subject, m.Text)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithImplicitTLS())
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("URL = %q", srv.URL())
	}
	s := newTestSMTP(t, strings.Replace(srv.URL(), "//", "//user:secret@", 1)+"?tls=skip-verify")
	if err := s.Send(context.Background(), crm.Email{To: "ann@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if m := srv.WaitFor(t, 1, 5*time.Second)[0]; !m.TLS || m.Username != "user" {
		t.Errorf("TLS %v, Username %q", m.TLS, m.Username)
	}
}

func TestSMTPCancelledContext(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, srv.URL())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := s.Send(ctx, crm.Email{To: "ann@example.com", Subject: "s", Text: "t"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

// silentServer returns the URL of a server that accepts TCP connections (the
// kernel completes the handshake) but never says anything, like a hung relay.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return "smtp://user:secret@" + ln.Addr().String()
}

func TestSMTPHungServer(t *testing.T) {
	e := crm.Email{To: "ann@example.com", Subject: "s", Text: "t"}
	check := func(t *testing.T, err error, want error, start time.Time) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("err = %v, want %v", err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the password: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
	}

	t.Run("ctx deadline", func(t *testing.T) {
		s := newTestSMTP(t, silentServer(t))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		check(t, s.Send(ctx, e), context.DeadlineExceeded, start)
	})
	t.Run("ctx cancelled while waiting", func(t *testing.T) {
		s := newTestSMTP(t, silentServer(t))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		check(t, s.Send(ctx, e), context.Canceled, start)
	})
	t.Run("default timeout", func(t *testing.T) {
		s := newTestSMTP(t, silentServer(t))
		s.timeout = 200 * time.Millisecond // stands in for the 30 s default
		start := time.Now()
		check(t, s.Send(context.Background(), e), os.ErrDeadlineExceeded, start)
	})
}

func TestSMTPUnreachable(t *testing.T) {
	s := newTestSMTP(t, "smtp://user:secret@127.0.0.1:1")
	err := s.Send(context.Background(), crm.Email{To: "ann@example.com", Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not name the host: %v", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestSMTPInvalidMessage(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, srv.URL())
	err := s.Send(context.Background(), crm.Email{To: "ann@example.com\r\nBcc: x@example.net", Subject: "s", Text: "t"})
	if !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("err = %v, want ErrInvalidMessage", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

func TestSMTPConcurrentSends(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, srv.URL())
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.Send(context.Background(), crm.Email{To: fmt.Sprintf("user%d@example.com", i), Subject: "s", Text: "t"})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := len(srv.WaitFor(t, n, 5*time.Second)); got != n {
		t.Errorf("got %d messages, want %d", got, n)
	}
}
