package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"switchboard/crm"
)

// ErrInvalidMessage is wrapped by every error caused by the message itself
// (bad address, header injection attempt, oversized header). Retrying such a
// message can never succeed, so callers can use errors.Is to drop it instead
// of re-queueing it.
var ErrInvalidMessage = errors.New("mail: invalid message")

const (
	// foldAt is the line length RFC 5322 §2.1.1 recommends; longer header
	// lines are folded at spaces so strict relays do not reject them.
	foldAt = 78
	// maxHeaderLine is the hard limit of RFC 5322 §2.1.1 (998 + CRLF).
	maxHeaderLine = 998
)

// envelope holds the SMTP envelope addresses (bare addr-specs), which the
// SMTP mailer needs in addition to the rendered message.
type envelope struct {
	from, to string
}

// Render formats e as a complete RFC 5322 message from the given sender,
// dated now. It is shared by all mailers so every transport sends the same
// bytes.
//
// The body is text/plain in UTF-8, quoted-printable encoded: that keeps every
// line 7-bit and at most 76 characters, so the message survives relays that
// neither support 8BITMIME nor long lines. Lines end in CRLF, and the body
// always ends with one extra CRLF that terminates its last line (so a Text
// ending in "\n" keeps that newline when decoded).
//
// Render refuses CR or LF in the To, From and Subject values instead of
// escaping them: they can only come from a bug or an attacker trying to inject
// headers (e.g. a Bcc), and silently "fixing" them would hide either.
func Render(from string, e crm.Email, now time.Time) ([]byte, error) {
	msg, _, err := render(from, e, now)
	return msg, err
}

func render(from string, e crm.Email, now time.Time) ([]byte, envelope, error) {
	fromAddr, err := parseAddress("From", from)
	if err != nil {
		return nil, envelope{}, err
	}
	toAddr, err := parseAddress("To", e.To)
	if err != nil {
		return nil, envelope{}, err
	}
	if err := noLineBreaks("Subject", e.Subject); err != nil {
		return nil, envelope{}, err
	}
	id := e.MessageID
	if id == "" {
		if id, err = messageID(fromAddr.Address); err != nil {
			return nil, envelope{}, err
		}
	} else if err := noLineBreaks("Message-ID", id); err != nil {
		return nil, envelope{}, err
	}

	var b bytes.Buffer
	// mail.Address.String quotes and RFC 2047-encodes the display name as
	// needed, so the header stays valid ASCII.
	headers := [][2]string{
		{"From", fromAddr.String()},
		{"To", toAddr.String()},
		// QEncoding leaves plain ASCII untouched and keeps umlauts readable
		// in raw form, unlike base64 (BEncoding).
		{"Subject", mime.QEncoding.Encode("utf-8", e.Subject)},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", id},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	}
	for _, h := range headers {
		if err := writeHeader(&b, h[0], h[1]); err != nil {
			return nil, envelope{}, err
		}
	}
	b.WriteString("\r\n")

	// The quoted-printable writer turns "\n", "\r\n" and lone "\r" into CRLF
	// hard line breaks, so callers may use Go's usual "\n".
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(e.Text)); err != nil {
		return nil, envelope{}, err
	}
	if err := qp.Close(); err != nil {
		return nil, envelope{}, err
	}
	b.WriteString("\r\n")

	return b.Bytes(), envelope{from: fromAddr.Address, to: toAddr.Address}, nil
}

// parseAddress validates a single mailbox ("a@b" or "Name <a@b>").
func parseAddress(field, value string) (*mail.Address, error) {
	if err := noLineBreaks(field, value); err != nil {
		return nil, err
	}
	addr, err := mail.ParseAddress(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %s address %q: %v", ErrInvalidMessage, field, value, err)
	}
	// net/mail accepts UTF-8 addresses (RFC 6532), but putting them on the
	// wire requires SMTPUTF8, which we neither negotiate nor can assume from
	// every relay. Refuse early with a clear error instead of a bounce later.
	for i := 0; i < len(addr.Address); i++ {
		if addr.Address[i] >= 0x80 {
			return nil, fmt.Errorf("%w: %s address %q: internationalized addresses are not supported", ErrInvalidMessage, field, value)
		}
	}
	return addr, nil
}

func noLineBreaks(field, value string) error {
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("%w: %s contains a line break (possible header injection)", ErrInvalidMessage, field)
	}
	return nil
}

// messageID returns a fresh, globally unique Message-ID. The right-hand side
// is the sender's domain, as RFC 5322 §3.6.4 suggests, so the ID points to
// the domain that generated it; the random left-hand side needs no state or
// hostname.
func messageID(fromAddr string) (string, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("mail: message id: %w", err)
	}
	domain := fromAddr[strings.LastIndexByte(fromAddr, '@')+1:]
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
}

// writeHeader writes one header field with CRLF, folding it at spaces so
// lines stay within the recommended 78 characters where possible. Folding
// before a space is lossless: unfolding only removes the CRLF. Between
// RFC 2047 encoded words it is lossless too, as decoders ignore the
// whitespace there.
func writeHeader(b *bytes.Buffer, name, value string) error {
	line := name + ": " + value
	// Folding right after the colon is allowed (the value may start on a
	// continuation line); it is needed when the first token does not fit,
	// e.g. a 75-character encoded word, which RFC 2047 limits to lines of
	// 76 characters.
	minBreak := len(name)
	for len(line) > foldAt {
		i := strings.LastIndexByte(line[:foldAt+1], ' ')
		if i <= minBreak {
			// No space within the soft limit: take the next one, the line
			// may still be under the hard limit.
			j := strings.IndexByte(line[foldAt+1:], ' ')
			if j < 0 {
				break
			}
			i = foldAt + 1 + j
		}
		if i > maxHeaderLine {
			break
		}
		b.WriteString(line[:i])
		b.WriteString("\r\n")
		line = line[i:] // continuation starts with the space: valid folding
		minBreak = 0
	}
	if len(line) > maxHeaderLine {
		return fmt.Errorf("%w: %s header has a word longer than %d characters", ErrInvalidMessage, name, maxHeaderLine)
	}
	b.WriteString(line)
	b.WriteString("\r\n")
	return nil
}
