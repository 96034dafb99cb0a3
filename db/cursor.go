package db

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"switchboard/crm"
)

// cursor is a position in a list ordered by (time, id) descending. It is
// opaque to clients: base64url of "u<unix microseconds>:uuid". (Cursors
// of earlier releases held unix nanoseconds, without the u; they are still
// read. Nanoseconds overflow before 1678 and after 2262.)
type cursor struct {
	at *time.Time
	id uuid.UUID
}

func encodeCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte("u" + strconv.FormatInt(at.UnixMicro(), 10) + ":" + id.String()))
}

// decodeCursor reads a cursor; the empty string is the start of the list.
func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, err
	}
	when, id, ok := strings.Cut(string(raw), ":")
	if !ok {
		return cursor{}, errors.New("malformed cursor")
	}
	micros, isMicros := strings.CutPrefix(when, "u")
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return cursor{}, err
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return cursor{}, err
	}
	at := time.Unix(0, n).UTC()
	if isMicros {
		at = time.UnixMicro(n).UTC()
	}
	if !crm.TimeInRange(at) {
		return cursor{}, errors.New("cursor out of range")
	}
	return cursor{at: &at, id: u}, nil
}

// pageOf trims rows read with LIMIT first+1 to one page, and reports
// whether there is another.
func pageOf[T any](rows []T, first int) ([]T, bool) {
	if len(rows) > first {
		return rows[:first], true
	}
	return rows, false
}

// timePage validates a page request over a list ordered by (time, id) and
// decodes its cursor.
func timePage(p crm.PageArgs) (crm.PageArgs, cursor, error) {
	p, err := p.Check()
	if err != nil {
		return p, cursor{}, err
	}
	after, err := decodeCursor(p.After)
	if err != nil {
		return p, cursor{}, crm.InvalidInput("after", "is not a cursor from this list")
	}
	return p, after, nil
}
