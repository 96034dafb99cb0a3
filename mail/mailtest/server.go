// Package mailtest provides a real, minimal SMTP server for tests.
//
// Tests deliver over real TCP with a real SMTP dialogue instead of mocking the
// mailer, so they cover what production does: dialling, EHLO, dot-stuffing,
// encoding. The server keeps everything in memory and understands just enough
// SMTP (RFC 5321) for net/smtp and similar clients.
package mailtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// maxLine is RFC 5321's limit for a text line including CRLF
	// (§4.5.3.1.6). Enforcing it strictly makes tests catch clients that
	// produce lines relays would reject.
	maxLine = 1000
	// defaultMaxSize bounds a message so a broken client cannot exhaust the
	// test process's memory.
	defaultMaxSize = 10 << 20
	// maxRecipients bounds RCPT TO per message for the same reason.
	maxRecipients = 100
)

// Message is one message the server accepted.
type Message struct {
	From     string   // MAIL FROM address, without angle brackets
	To       []string // RCPT TO addresses, without angle brackets
	Username string   // AUTH PLAIN user, "" without authentication
	TLS      bool     // whether the message arrived over TLS
	Data     []byte   // the message as received, after dot-unstuffing

	// Subject is the Subject header with RFC 2047 encoded words decoded.
	Subject string
	// Text is the body with quoted-printable or base64 transfer encoding
	// decoded and line breaks normalized to "\n". The final line break that
	// terminates the body on the wire is removed, so for messages rendered
	// by switchboard/mail it equals the crm.Email's Text. Subject and Text are
	// empty if Data is not a parseable message; inspect Data then.
	Text string
}

// Server is an in-memory SMTP server listening on 127.0.0.1. Create it with
// NewServer; it shuts down automatically when the test ends.
type Server struct {
	ln          net.Listener
	tlsConfig   *tls.Config // non-nil with WithSTARTTLS or WithImplicitTLS
	implicitTLS bool
	maxSize     int

	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]struct{}
	msgs    []Message
	arrived chan struct{} // closed and replaced whenever a message arrives
	// refuse is how many of the next messages to refuse with a temporary
	// failure (RefuseNext).
	refuse int

	wg sync.WaitGroup // accept loop and sessions, so Close can wait for them
}

// Option configures a Server.
type Option func(*Server)

// WithSTARTTLS makes the server advertise STARTTLS, using a self-signed
// certificate for 127.0.0.1, so tests can exercise the TLS upgrade. Clients
// must skip certificate verification (tls=skip-verify).
func WithSTARTTLS() Option {
	return func(s *Server) { s.tlsConfig = selfSignedConfig() }
}

// WithImplicitTLS makes the server speak TLS from the first byte, like an
// smtps relay on port 465, with a self-signed certificate. URL then returns
// an smtps:// URL.
func WithImplicitTLS() Option {
	return func(s *Server) {
		s.tlsConfig = selfSignedConfig()
		s.implicitTLS = true
	}
}

// NewServer starts a server on 127.0.0.1 with a random port. By default it
// offers no TLS, so clients send in plain text, which net/smtp permits (also
// with AUTH PLAIN) only because the server is on localhost. It accepts AUTH
// PLAIN with any credentials.
//
// t.Cleanup stops the server, closes open connections and waits for all of
// its goroutines, so leak checkers such as goleak stay quiet.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		maxSize: defaultMaxSize,
		conns:   make(map[net.Conn]struct{}),
		arrived: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

// RefuseNext makes the server refuse the next n messages, after reading
// them, with 451 (a temporary failure, as a relay under load answers), so
// tests can see a sender retry.
func (s *Server) RefuseNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = n
}

// URL returns the URL to configure a mailer with, e.g.
// "smtp://127.0.0.1:40123" (or smtps:// with WithImplicitTLS).
func (s *Server) URL() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Messages returns a copy of the messages received so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMessages(s.msgs)
}

// WaitFor blocks until at least n messages have arrived and returns them. It
// fails the test (t.Fatalf) if that does not happen within timeout, so it
// must be called from the test's goroutine. Deliveries are asynchronous from
// the server's point of view, and waiting avoids sleeps in tests.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			msgs := cloneMessages(s.msgs)
			s.mu.Unlock()
			return msgs
		}
		got, arrived := len(s.msgs), s.arrived
		s.mu.Unlock()

		select {
		case <-arrived:
		case <-timer.C:
			t.Fatalf("mailtest: got %d messages after %v, want at least %d", got, timeout, n)
			return nil
		}
	}
}

func cloneMessages(msgs []Message) []Message {
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		m.To = slices.Clone(m.To)
		m.Data = bytes.Clone(m.Data)
		out[i] = m
	}
	return out
}

func (s *Server) close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	_ = s.ln.Close()
	// Closing the raw connection also unblocks sessions inside a TLS read.
	for _, c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. out of file descriptors): back off briefly
			// rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) store(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// session is the state of one SMTP connection.
type session struct {
	srv *Server
	raw net.Conn // the TCP connection, tracked by the server for closing
	r   *bufio.Reader
	w   *bufio.Writer

	tls      bool
	greeted  bool // EHLO/HELO seen (reset by STARTTLS)
	username string

	inTx  bool // MAIL FROM seen
	from  string
	rcpts []string
}

var errLineTooLong = errors.New("line too long")

func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = raw.Close()
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()

	ss := &session{srv: s, raw: raw}
	var conn net.Conn = raw
	if s.implicitTLS {
		conn = tls.Server(raw, s.tlsConfig)
		ss.tls = true
	}
	ss.setConn(conn)
	ss.run()
}

func (ss *session) setConn(c net.Conn) {
	// Room for one maximal line; ReadSlice reports anything longer.
	ss.r = bufio.NewReaderSize(c, maxLine+1)
	ss.w = bufio.NewWriter(c)
}

// reply writes a possibly multi-line response ("250-a", "250 b") and flushes.
func (ss *session) reply(code int, lines ...string) error {
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(ss.w, "%d%s%s\r\n", code, sep, l)
	}
	return ss.w.Flush()
}

// readLine returns the next line including its line ending.
func (ss *session) readLine() ([]byte, error) {
	line, err := ss.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxLine {
		return nil, errLineTooLong
	}
	return line, err
}

func (ss *session) resetTx() {
	ss.inTx, ss.from, ss.rcpts = false, "", nil
}

func (ss *session) run() {
	if ss.reply(220, "mailtest ESMTP ready") != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				// The rest of the line would be read as commands; hang up.
				_ = ss.reply(500, "5.5.2 line too long")
			}
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
		var quit bool
		switch strings.ToUpper(verb) {
		case "EHLO":
			err = ss.ehlo(arg)
		case "HELO":
			ss.greeted = true
			ss.resetTx()
			err = ss.reply(250, "mailtest")
		case "STARTTLS":
			err = ss.startTLS()
		case "AUTH":
			err = ss.auth(arg)
		case "MAIL":
			err = ss.mail(arg)
		case "RCPT":
			err = ss.rcpt(arg)
		case "DATA":
			err = ss.data()
		case "RSET":
			ss.resetTx()
			err = ss.reply(250, "2.0.0 OK")
		case "NOOP":
			err = ss.reply(250, "2.0.0 OK")
		case "QUIT":
			_ = ss.reply(221, "2.0.0 bye")
			quit = true
		default:
			err = ss.reply(502, "5.5.2 command not implemented")
		}
		if err != nil || quit {
			return
		}
	}
}

func (ss *session) ehlo(domain string) error {
	if strings.TrimSpace(domain) == "" {
		return ss.reply(501, "5.5.4 EHLO needs a domain")
	}
	ss.greeted = true
	ss.resetTx()
	lines := []string{"mailtest greets " + domain, fmt.Sprintf("SIZE %d", ss.srv.maxSize)}
	if ss.srv.tlsConfig != nil && !ss.tls {
		lines = append(lines, "STARTTLS")
	}
	lines = append(lines, "AUTH PLAIN")
	return ss.reply(250, lines...)
}

func (ss *session) startTLS() error {
	if ss.srv.tlsConfig == nil || ss.tls {
		return ss.reply(502, "5.5.1 STARTTLS not available")
	}
	if err := ss.reply(220, "2.0.0 ready to start TLS"); err != nil {
		return err
	}
	if ss.r.Buffered() > 0 {
		// Commands pipelined before the handshake could have been injected
		// in plain text (CVE-2011-0411 style); a real server must drop them.
		return errors.New("data after STARTTLS")
	}
	ss.setConn(tls.Server(ss.raw, ss.srv.tlsConfig))
	// RFC 3207: the client must start over with EHLO.
	ss.tls, ss.greeted, ss.username = true, false, ""
	ss.resetTx()
	return nil
}

func (ss *session) auth(arg string) error {
	if !ss.greeted {
		return ss.reply(503, "5.5.1 EHLO first")
	}
	if ss.username != "" || ss.inTx {
		return ss.reply(503, "5.5.1 AUTH not allowed now")
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return ss.reply(504, "5.5.4 only AUTH PLAIN is supported")
	}
	if initial == "" {
		// No initial response: ask for it (RFC 4954).
		if err := ss.reply(334, ""); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		initial = strings.TrimRight(string(line), "\r\n")
		if initial == "*" {
			return ss.reply(501, "5.0.0 authentication cancelled")
		}
	}
	// PLAIN is "authzid NUL user NUL password" (RFC 4616). Any credentials
	// are accepted; tests only care that the client authenticated.
	dec, err := base64.StdEncoding.DecodeString(initial)
	parts := strings.Split(string(dec), "\x00")
	if err != nil || len(parts) != 3 || parts[1] == "" {
		return ss.reply(501, "5.5.2 malformed AUTH PLAIN response")
	}
	ss.username = parts[1]
	return ss.reply(235, "2.7.0 authentication successful")
}

// pathArg parses "FROM:<addr> [params]" / "TO:<addr> [params]". Parameters
// such as BODY=8BITMIME are accepted and ignored.
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	addr, _, ok := strings.Cut(rest[1:], ">")
	return addr, ok
}

func (ss *session) mail(arg string) error {
	if !ss.greeted {
		return ss.reply(503, "5.5.1 EHLO first")
	}
	if ss.inTx {
		return ss.reply(503, "5.5.1 nested MAIL command")
	}
	from, ok := pathArg(arg, "FROM:")
	if !ok {
		return ss.reply(501, "5.5.4 syntax: MAIL FROM:<address>")
	}
	ss.inTx, ss.from = true, from
	return ss.reply(250, "2.1.0 OK")
}

func (ss *session) rcpt(arg string) error {
	if !ss.inTx {
		return ss.reply(503, "5.5.1 MAIL first")
	}
	to, ok := pathArg(arg, "TO:")
	if !ok || to == "" {
		return ss.reply(501, "5.5.4 syntax: RCPT TO:<address>")
	}
	if len(ss.rcpts) >= maxRecipients {
		return ss.reply(452, "4.5.3 too many recipients")
	}
	ss.rcpts = append(ss.rcpts, to)
	return ss.reply(250, "2.1.5 OK")
}

func (ss *session) data() error {
	if len(ss.rcpts) == 0 {
		return ss.reply(503, "5.5.1 RCPT first")
	}
	if err := ss.reply(354, "end data with <CR><LF>.<CR><LF>"); err != nil {
		return err
	}
	var data []byte
	tooBig := false
	for {
		line, err := ss.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				_ = ss.reply(500, "5.5.2 line too long")
			}
			return err
		}
		if string(line) == ".\r\n" || string(line) == ".\n" {
			break
		}
		// Dot-unstuffing (RFC 5321 §4.5.2): the client doubled leading dots.
		if line[0] == '.' {
			line = line[1:]
		}
		if len(data)+len(line) > ss.srv.maxSize {
			// Keep reading to the end of the data so the session stays in
			// sync, but stop buffering.
			tooBig, data = true, nil
		}
		if !tooBig {
			data = append(data, line...)
		}
	}
	defer ss.resetTx()
	if tooBig {
		return ss.reply(552, "5.3.4 message too big")
	}
	ss.srv.mu.Lock()
	refused := ss.srv.refuse > 0
	if refused {
		ss.srv.refuse--
	}
	ss.srv.mu.Unlock()
	if refused {
		return ss.reply(451, "4.3.0 try again later")
	}
	subject, text := decode(data)
	ss.srv.store(Message{
		From:     ss.from,
		To:       slices.Clone(ss.rcpts),
		Username: ss.username,
		TLS:      ss.tls,
		Data:     data,
		Subject:  subject,
		Text:     text,
	})
	return ss.reply(250, "2.0.0 OK queued")
}

// decode extracts the decoded Subject and body text; see Message.
func decode(data []byte) (subject, text string) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return "", ""
	}
	raw := m.Header.Get("Subject")
	subject, err = new(mime.WordDecoder).DecodeHeader(raw)
	if err != nil {
		subject = raw
	}
	var body io.Reader = m.Body
	switch strings.ToLower(strings.TrimSpace(m.Header.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // skips line breaks
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return subject, ""
	}
	text = strings.ReplaceAll(string(b), "\r\n", "\n")
	return subject, strings.TrimSuffix(text, "\n")
}

// selfSignedConfig creates a throwaway certificate for 127.0.0.1/localhost.
// It is generated per server so no key material lives in the repository.
func selfSignedConfig() *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("mailtest: " + err.Error()) // only fails if the system RNG does
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mailtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic("mailtest: " + err.Error())
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}
