package db

import (
	"errors"
	"strings"

	"github.com/lib/pq"
)

// redacted is a database error whose text names what failed (SQLSTATE,
// constraint, table, column) but not the server's message, which can quote
// the values a statement was given ("invalid input syntax for type uuid:
// \"…\""). Errors leave the package this way, so a log line never carries a
// client's data. The original stays in the chain for errors.As.
type redacted struct {
	err  error
	text string
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }

// redact replaces the message of any PostgreSQL error in err's text.
func redact(err error) error {
	pqErr, ok := errors.AsType[*pq.Error](err)
	if !ok {
		return err
	}
	if _, done := errors.AsType[*redacted](err); done {
		return err
	}
	return &redacted{err: err, text: strings.ReplaceAll(err.Error(), pqErr.Error(), describePQ(pqErr))}
}

func describePQ(e *pq.Error) string {
	var b strings.Builder
	b.WriteString("postgres error ")
	b.WriteString(string(e.Code))
	b.WriteString(" (")
	b.WriteString(e.Code.Name())
	for _, part := range []struct{ name, value string }{
		{"table", e.Table}, {"column", e.Column}, {"constraint", e.Constraint}, {"routine", e.Routine},
	} {
		if part.value != "" {
			b.WriteString(", ")
			b.WriteString(part.name)
			b.WriteString(" ")
			b.WriteString(part.value)
		}
	}
	b.WriteString(")")
	return b.String()
}
