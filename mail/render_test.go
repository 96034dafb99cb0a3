package mail

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/crm"
)

var testNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))

// parseRendered checks the invariants every rendered message must satisfy
// (CRLF only, 7-bit, short lines) and parses it.
func parseRendered(t *testing.T, msg []byte) *mail.Message {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\n")) ||
		bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\r")) {
		t.Fatalf("message has bare CR or LF:\n%q", msg)
	}
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Errorf("message does not end with CRLF")
	}
	for i, line := range strings.Split(string(msg), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d longer than 78 characters: %q", i+1, line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Errorf("line %d is not 7-bit: %q", i+1, line)
				break
			}
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, msg)
	}
	return m
}

// decodedBody returns the QP-decoded body with CRLF turned into "\n".
func decodedBody(t *testing.T, m *mail.Message) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestRender(t *testing.T) {
	e := crm.Email{
		To:      "Ann Example <ann@example.com>",
		Subject: "Grüße aus 東京",
		Text: "Grüße — 東京\n" +
			".a line starting with a dot\n" +
			"From the top, with trailing space \n" +
			"a=b, and a long line: " + strings.Repeat("lorem ipsum ", 20) + "\n" +
			"last line without newline",
	}
	msg, err := Render("Switchboard <noreply@example.org>", e, testNow)
	if err != nil {
		t.Fatal(err)
	}
	m := parseRendered(t, msg)

	for name, want := range map[string]string{
		"From":                      `"Switchboard" <noreply@example.org>`,
		"To":                        `"Ann Example" <ann@example.com>`,
		"Date":                      "Fri, 14 Mar 2025 15:09:26 +0100",
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
	} {
		if got := m.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(testNow) {
		t.Errorf("Date parses as %v, %v; want %v", d, err, testNow)
	}
	if id := m.Header.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{32}@example\.org>$`).MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}

	rawSubject := m.Header.Get("Subject")
	if !strings.HasPrefix(rawSubject, "=?utf-8?q?") {
		t.Errorf("non-ASCII Subject not Q-encoded: %q", rawSubject)
	}
	if got, err := new(mime.WordDecoder).DecodeHeader(rawSubject); err != nil || got != e.Subject {
		t.Errorf("Subject decodes to %q, %v; want %q", got, err, e.Subject)
	}
	// The body's final CRLF only terminates the last line.
	if got := decodedBody(t, m); got != e.Text+"\n" {
		t.Errorf("body round trip:\n got %q\nwant %q", got, e.Text+"\n")
	}
}

func TestRenderASCIISubjectUnencoded(t *testing.T) {
	msg, err := Render("noreply@example.org", crm.Email{To: "ann@example.com", Subject: "Your invitation", Text: "hi"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	m := parseRendered(t, msg)
	if got := m.Header.Get("Subject"); got != "Your invitation" {
		t.Errorf("Subject = %q", got)
	}
	if got := m.Header.Get("To"); got != "<ann@example.com>" {
		t.Errorf("To = %q", got)
	}
}

func TestRenderUniqueMessageID(t *testing.T) {
	e := crm.Email{To: "ann@example.com", Subject: "s", Text: "t"}
	ids := map[string]bool{}
	for range 10 {
		msg, err := Render("noreply@example.org", e, testNow)
		if err != nil {
			t.Fatal(err)
		}
		ids[parseRendered(t, msg).Header.Get("Message-ID")] = true
	}
	if len(ids) != 10 {
		t.Errorf("got %d distinct Message-IDs for 10 messages", len(ids))
	}
}

func TestRenderLongSubjectIsFolded(t *testing.T) {
	for _, subject := range []string{
		strings.Repeat("word ", 60) + "end",
		strings.Repeat("Grüße aus Köln ", 20),
		"short then a long token " + strings.Repeat("x", 200) + " and more",
	} {
		msg, err := Render("noreply@example.org", crm.Email{To: "ann@example.com", Subject: subject, Text: "t"}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		// Lines may exceed 78 only when a single token does.
		for _, line := range strings.Split(string(msg), "\r\n") {
			if len(line) > 78 && !strings.Contains(line, strings.Repeat("x", 200)) {
				t.Errorf("unfolded long line %q", line)
			}
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil || got != subject {
			t.Errorf("Subject round trip:\n got %q, %v\nwant %q", got, err, subject)
		}
	}
}

func TestRenderRejects(t *testing.T) {
	good := crm.Email{To: "ann@example.com", Subject: "Hello", Text: "text"}
	tests := []struct {
		name string
		from string
		edit func(*crm.Email)
	}{
		{"To header injection", "", func(e *crm.Email) { e.To = "ann@example.com\r\nBcc: victim@example.net" }},
		{"To with LF", "", func(e *crm.Email) { e.To = "ann@example.com\nBcc: victim@example.net" }},
		{"Subject with CRLF", "", func(e *crm.Email) { e.Subject = "Hi\r\nBcc: victim@example.net" }},
		{"Subject with LF", "", func(e *crm.Email) { e.Subject = "Hi\nthere" }},
		{"Subject with CR", "", func(e *crm.Email) { e.Subject = "Hi\rthere" }},
		{"From with LF", "noreply@example.org\nBcc: x@example.net", nil},
		{"invalid From", "not an address", nil},
		{"empty To", "", func(e *crm.Email) { e.To = "" }},
		{"invalid To", "", func(e *crm.Email) { e.To = "ann at example.com" }},
		{"two recipients", "", func(e *crm.Email) { e.To = "a@example.com, b@example.com" }},
		{"non-ASCII address", "", func(e *crm.Email) { e.To = "jürgen@exämple.org" }},
		{"overlong Subject word", "", func(e *crm.Email) { e.Subject = strings.Repeat("x", 1200) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, from := good, tt.from
			if from == "" {
				from = "noreply@example.org"
			}
			if tt.edit != nil {
				tt.edit(&e)
			}
			msg, err := Render(from, e, testNow)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("err = %v, want ErrInvalidMessage", err)
			}
			if msg != nil {
				t.Errorf("got a message despite the error")
			}
		})
	}
}
