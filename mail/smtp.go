package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"switchboard/crm"
)

// defaultTimeout bounds a whole delivery when the context has no deadline,
// so a stalled relay cannot pin a worker forever.
const defaultTimeout = 30 * time.Second

// heloName is what we announce in EHLO. It is net/smtp's own default; real
// hostnames inside containers are random IDs and no better for relays.
const heloName = "localhost"

// SMTP is a crm.Mailer that delivers through an SMTP relay. It opens one
// connection per message: mail volume is low, and it avoids managing a pool
// of connections that relays close when idle. It is safe for concurrent use.
//
// The password is kept out of String, LogValue and every error, because those
// end up in logs.
type SMTP struct {
	addr        string // host:port, dialled and named in errors
	host        string // TLS server name and the host PlainAuth checks
	implicitTLS bool   // smtps: TLS from the first byte
	requireTLS  bool   // refuse to send if STARTTLS is unavailable
	skipVerify  bool   // accept self-signed certificates (development only)
	username    string
	password    string
	from        string
	redacted    string // the URL with the password masked, for logging
	timeout     time.Duration
}

var _ crm.Mailer = (*SMTP)(nil)

// NewSMTP configures an SMTP mailer from an SMTP_URL and the From address.
//
// Accepted URLs:
//
//	smtp://[user[:pass]@]host[:port][?tls=...]   port 25, STARTTLS when offered
//	smtps://[user[:pass]@]host[:port][?tls=...]  port 465, implicit TLS
//
// The tls query parameter takes "require" (never send without STARTTLS, to
// stop a man in the middle from stripping it) and/or "skip-verify" (accept
// any certificate, for self-signed development relays); combine them as
// "tls=require,skip-verify" or by repeating the parameter. User and password
// must be percent-encoded. Credentials are sent with AUTH PLAIN, which
// net/smtp only allows over TLS or to localhost.
//
// Everything is validated here, so a bad configuration fails at startup
// rather than on the first email. Errors never contain the password.
func NewSMTP(rawURL string, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, urlParseError(rawURL)
	}
	s := &SMTP{from: from, timeout: defaultTimeout, redacted: u.Redacted()}

	var defaultPort string
	switch u.Scheme { // url.Parse lower-cases the scheme
	case "smtp":
		defaultPort = "25"
	case "smtps":
		defaultPort = "465"
		s.implicitTLS = true
	default:
		return nil, errors.New(`mail: SMTP_URL scheme must be "smtp" or "smtps"`)
	}
	if u.Opaque != "" {
		return nil, errors.New("mail: SMTP_URL must look like smtp://host[:port]")
	}
	// The messages below deliberately do not echo path, fragment or query:
	// a password containing an unescaped '/', '#' or '?' ends up there.
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("mail: SMTP_URL must not have a path")
	}
	if u.Fragment != "" {
		return nil, errors.New("mail: SMTP_URL must not have a fragment")
	}

	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("mail: SMTP_URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("mail: SMTP_URL port %s is out of range", port)
	}
	s.addr = net.JoinHostPort(s.host, port)

	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
		if s.username == "" {
			return nil, errors.New("mail: SMTP_URL has a password but no user")
		}
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("mail: SMTP_URL has a malformed query")
	}
	for key, values := range q {
		if key != "tls" {
			return nil, errors.New(`mail: SMTP_URL: unknown query parameter (only "tls" is supported)`)
		}
		for _, v := range values {
			for opt := range strings.SplitSeq(v, ",") {
				switch strings.TrimSpace(opt) {
				case "require":
					s.requireTLS = true
				case "skip-verify":
					s.skipVerify = true
				default:
					// Fail instead of ignoring: a typo in "require" would
					// otherwise silently allow plain-text delivery.
					return nil, errors.New(`mail: SMTP_URL: unknown tls option (want "require" and/or "skip-verify")`)
				}
			}
		}
	}

	if _, err := parseAddress("From", from); err != nil {
		return nil, err
	}
	return s, nil
}

// urlParseError explains why url.Parse failed without leaking the password:
// *url.Error quotes the whole input. We re-parse a copy with the password
// masked and report that error instead.
func urlParseError(raw string) error {
	masked, found := maskPassword(raw)
	if !found && strings.Contains(raw, "@") {
		// There may be credentials we could not locate; say less.
		return errors.New("mail: SMTP_URL is not a valid URL (details withheld as it may contain a password; percent-encode special characters in user and password)")
	}
	if _, err := url.Parse(masked); err != nil {
		return fmt.Errorf("mail: invalid SMTP_URL: %w", err)
	}
	// Only the password was wrong, so there is nothing safe to quote.
	return errors.New("mail: invalid SMTP_URL: the password is not valid in a URL (percent-encode special characters)")
}

// maskPassword replaces the password in a raw URL with "xxxxx", splitting
// the authority exactly like net/url does (it ends at the first '/', '?' or
// '#'; userinfo ends at the last '@').
func maskPassword(raw string) (string, bool) {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw, false
	}
	prefix := raw[:len(raw)-len(rest)]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return raw, false
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return raw, true
	}
	return prefix + user + ":xxxxx" + rest[at:], true
}

// String returns the SMTP URL with the password masked, so printing or
// logging the mailer is safe. It has a value receiver so that it also applies
// when an SMTP value (not just a pointer) is formatted.
func (s SMTP) String() string { return s.redacted }

// GoString makes %#v safe too; the default would print every field,
// including the password.
func (s SMTP) GoString() string { return "mail.SMTP(" + strconv.Quote(s.redacted) + ")" }

// LogValue makes slog log the redacted URL instead of the struct fields.
func (s SMTP) LogValue() slog.Value { return slog.StringValue(s.redacted) }

// Send delivers e through the relay. It returns nil only once the relay has
// accepted the message (250 after DATA). Errors name the relay's host:port so
// operators can tell which configuration failed, but never the password.
//
// ctx bounds the whole exchange: it is used for dialling, its deadline (or
// 30 s when it has none) becomes the connection deadline, and cancelling it
// interrupts a transfer in progress.
func (s *SMTP) Send(ctx context.Context, e crm.Email) error {
	msg, env, err := render(s.from, e, time.Now())
	if err != nil {
		return err
	}
	if err := s.send(ctx, env, msg); err != nil {
		if ctxErr := contextCause(ctx, err); ctxErr != nil && !errors.Is(err, ctxErr) {
			// The I/O error ("i/o timeout") is only a symptom; make the
			// cause visible to errors.Is.
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return fmt.Errorf("mail: smtp %s: %w", s.addr, err)
	}
	return nil
}

// contextCause reports whether ctx ended the exchange. The connection
// deadline equals ctx's deadline, so an I/O timeout can fire a moment
// before ctx itself reports DeadlineExceeded; count that as the context's
// doing too.
func contextCause(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, env envelope, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err // don't even dial
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.timeout)
	}
	dialCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	conn, err := s.dial(dialCtx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	// A deadline alone does not see cancellation; move it into the past when
	// ctx is done so any blocked read or write returns at once. The deadline
	// is on the raw connection, so it still applies after STARTTLS wraps it.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	// Explicit, because Extension() swallows EHLO errors.
	if err := c.Hello(heloName); err != nil {
		return err
	}

	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			// If the upgrade fails we stop rather than fall back to plain
			// text: a failing handshake may be an attack.
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("starttls: %w", err)
			}
		} else if s.requireTLS {
			return errors.New("server does not offer STARTTLS and the URL has tls=require")
		}
	}

	if s.username != "" {
		// PlainAuth itself refuses unencrypted connections to anything but
		// localhost, so credentials never travel in clear text.
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return fmt.Errorf("auth as %q: %w", s.username, err)
		}
	}
	if err := c.Mail(env.from); err != nil {
		return err
	}
	if err := c.Rcpt(env.to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil { // waits for the relay's verdict
		return err
	}
	// The message is accepted now. A failing QUIT must not turn into an
	// error, or the job queue would retry and deliver a duplicate.
	_ = c.Quit()
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	if s.implicitTLS {
		td := tls.Dialer{NetDialer: &d, Config: s.tlsConfig()}
		return td.DialContext(ctx, "tcp", s.addr)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName: s.host,
		MinVersion: tls.VersionTLS12,
		// Opt-in via tls=skip-verify, for development relays with
		// self-signed certificates only.
		InsecureSkipVerify: s.skipVerify, //nolint:gosec // explicit opt-in
	}
}
