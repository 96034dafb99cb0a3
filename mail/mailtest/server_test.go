package mailtest

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks that servers stop all their goroutines on cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// client is a raw SMTP client, so tests control every byte.
type client struct {
	t *testing.T
	*textproto.Conn
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(context.Background(), "tcp", strings.TrimPrefix(s.URL(), "smtp://"))
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t, textproto.NewConn(conn)}
	t.Cleanup(func() { _ = c.Close() })
	c.expect(220)
	return c
}

// cmd sends a line and checks the reply code; it returns the reply text.
func (c *client) cmd(code int, format string, args ...any) string {
	c.t.Helper()
	if err := c.PrintfLine(format, args...); err != nil {
		c.t.Fatal(err)
	}
	return c.expect(code)
}

func (c *client) expect(code int) string {
	c.t.Helper()
	_, msg, err := c.ReadResponse(code)
	if err != nil {
		c.t.Fatalf("want %d: %v", code, err)
	}
	return msg
}

func TestProtocol(t *testing.T) {
	s := NewServer(t)
	c := dial(t, s)

	c.cmd(503, "MAIL FROM:<a@example.org>") // before EHLO
	ext := c.cmd(250, "EHLO client.example")
	if !strings.Contains(ext, "AUTH PLAIN") || strings.Contains(ext, "STARTTLS") {
		t.Errorf("EHLO extensions: %q", ext)
	}
	c.cmd(503, "RCPT TO:<b@example.org>") // before MAIL
	c.cmd(503, "DATA")
	c.cmd(501, "MAIL FROM:a@example.org")
	c.cmd(250, "MAIL FROM:<a@example.org> BODY=8BITMIME")
	c.cmd(503, "MAIL FROM:<again@example.org>")
	c.cmd(250, "RCPT TO:<b@example.org>")
	c.cmd(250, "RSET") // forgets the transaction
	c.cmd(503, "DATA")
	c.cmd(250, "NOOP")
	c.cmd(502, "VRFY b@example.org")
	c.cmd(250, "mail from:<a@example.org>")
	c.cmd(250, "rcpt to:<b@example.org>")
	c.cmd(250, "RCPT TO:<c@example.org>")
	c.cmd(354, "DATA")
	w := c.DotWriter() // does the dot-stuffing
	fmt.Fprint(w, "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n.leading dot\r\n..two dots\r\n=E6=9D=B1=E4=BA=AC\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.expect(250)
	c.cmd(221, "QUIT")

	m := s.WaitFor(t, 1, 5*time.Second)[0]
	if m.From != "a@example.org" || !slices.Equal(m.To, []string{"b@example.org", "c@example.org"}) {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	if want := ".leading dot\r\n..two dots\r\n"; !strings.Contains(string(m.Data), want) {
		t.Errorf("Data not dot-unstuffed:\n%q", m.Data)
	}
	if m.Subject != "Grüße" || m.Text != ".leading dot\n..two dots\n東京" {
		t.Errorf("Subject %q, Text %q", m.Subject, m.Text)
	}
}

func TestAuthPlain(t *testing.T) {
	s := NewServer(t)
	c := dial(t, s)
	c.cmd(250, "HELO client.example")
	c.cmd(504, "AUTH LOGIN")
	c.cmd(334, "AUTH PLAIN")                                                       // no initial response
	c.cmd(235, "%s", base64.StdEncoding.EncodeToString([]byte("\x00alice\x00pw"))) // any password
	c.cmd(503, "AUTH PLAIN")                                                       // only once
	c.cmd(250, "MAIL FROM:<>")                                                     // null sender
	c.cmd(250, "RCPT TO:<b@example.org>")
	c.cmd(354, "DATA")
	c.cmd(250, "Subject: plain\r\n\r\nbody\r\n.")
	if m := s.WaitFor(t, 1, 5*time.Second)[0]; m.Username != "alice" || m.From != "" || m.Text != "body" {
		t.Errorf("got %+v", m)
	}
}

func TestLineTooLong(t *testing.T) {
	s := NewServer(t)
	c := dial(t, s)
	c.cmd(250, "EHLO client.example")
	c.cmd(500, "NOOP %s", strings.Repeat("x", maxLine))
	if _, err := c.ReadLine(); err == nil {
		t.Error("connection still open after an overlong line")
	}
}

func TestMessageTooBig(t *testing.T) {
	s := NewServer(t)
	s.maxSize = 100
	c := dial(t, s)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<a@example.org>")
	c.cmd(250, "RCPT TO:<b@example.org>")
	c.cmd(354, "DATA")
	for range 10 {
		if err := c.PrintfLine("%s", strings.Repeat("y", 50)); err != nil {
			t.Fatal(err)
		}
	}
	c.cmd(552, ".")
	c.cmd(250, "NOOP") // the session is still in sync
	if n := len(s.Messages()); n != 0 {
		t.Errorf("stored %d oversized messages", n)
	}
}

// net/smtp, the client the mailer uses, works against the server, also
// concurrently.
func TestNetSMTPConcurrent(t *testing.T) {
	s := NewServer(t)
	addr := strings.TrimPrefix(s.URL(), "smtp://")
	auth := smtp.PlainAuth("", "user", "pw", "127.0.0.1")
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			msg := fmt.Sprintf("Subject: %d\r\n\r\nmessage %d\r\n", i, i)
			errs <- smtp.SendMail(addr, auth, "a@example.org", []string{"b@example.org"}, []byte(msg))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	msgs := s.WaitFor(t, n, 5*time.Second)
	for _, m := range msgs {
		if m.Text != "message "+m.Subject || m.Username != "user" {
			t.Errorf("got %+v", m)
		}
	}
}

// fakeTB records Fatalf instead of stopping the test, to test WaitFor's
// failure path.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestWaitForTimeout(t *testing.T) {
	s := NewServer(t)
	ft := &fakeTB{TB: t}
	start := time.Now()
	if msgs := s.WaitFor(ft, 1, 100*time.Millisecond); msgs != nil {
		t.Errorf("got %v", msgs)
	}
	if !strings.Contains(ft.fatal, "got 0 messages") {
		t.Errorf("Fatalf message %q", ft.fatal)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("returned after %v", d)
	}
}

// Cleanup must close connections clients left open, or their goroutines
// would leak (goleak in TestMain checks).
func TestCleanupClosesIdleConnections(t *testing.T) {
	s := NewServer(t)
	var d net.Dialer
	conn, err := d.DialContext(context.Background(), "tcp", strings.TrimPrefix(s.URL(), "smtp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // runs after the server's cleanup
	if _, err := conn.Read(make([]byte, 100)); err != nil {
		t.Fatal(err) // the greeting: the session goroutine is running
	}
}

func TestMessagesIsASnapshot(t *testing.T) {
	s := NewServer(t)
	c := dial(t, s)
	c.cmd(250, "EHLO client.example")
	c.cmd(250, "MAIL FROM:<a@example.org>")
	c.cmd(250, "RCPT TO:<b@example.org>")
	c.cmd(354, "DATA")
	c.cmd(250, "Subject: x\r\n\r\nbody\r\n.")
	got := s.WaitFor(t, 1, 5*time.Second)
	got[0].To[0] = "changed"
	got[0].Data[0] = '!'
	if m := s.Messages()[0]; m.To[0] != "b@example.org" || m.Data[0] == '!' {
		t.Errorf("caller modified the server's copy: %+v", m)
	}
}
