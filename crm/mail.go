package crm

import "context"

// Email is one outgoing message. Bodies are plain text; links in them are
// absolute URLs built from the configured public base URL.
type Email struct {
	To      string
	Subject string
	Text    string
	// MessageID, when set, is the message's Message-ID ("<id@domain>"), so
	// that a send retried after a crash is the same message; otherwise a
	// fresh one is made.
	MessageID string
}

// Mailer delivers outgoing email. Implementations: SMTP (SMTP_URL) and, in
// development, a directory of .eml files. Send returns an error only when the
// message was not accepted for delivery; callers retry through the job queue.
type Mailer interface {
	Send(ctx context.Context, e Email) error
}
