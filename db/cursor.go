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
// opaque to clients: base64url of "unix nanoseconds:uuid".
type cursor struct {
	at *time.Time
	id uuid.UUID
}

func encodeCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixNano(), 10) + ":" + id.String()))
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
	nanos, id, ok := strings.Cut(string(raw), ":")
	if !ok {
		return cursor{}, errors.New("malformed cursor")
	}
	n, err := strconv.ParseInt(nanos, 10, 64)
	if err != nil {
		return cursor{}, err
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return cursor{}, err
	}
	at := time.Unix(0, n).UTC()
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
