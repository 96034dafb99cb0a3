package graph

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"switchboard/crm"
)

// The scalars here replace gqlgen's lenient built-ins. The GraphQL spec
// requires a request error for an input of the wrong kind (a number for a
// String, a string for an Int), and gqlgen's own unmarshalers convert
// instead: `{"n": 42}` for a String became the name "42". Every input goes
// through one of these, so this is also the one place where text from a
// client is made safe to store: invalid UTF-8 and NUL are refused here.
//
// Errors are crm.InvalidInput without a field name; the error presenter
// names the field from the error's path (the argument or input field).

// MarshalUUID writes an id.
func MarshalUUID(id uuid.UUID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(id.String()))
	})
}

// UnmarshalUUID reads an id; anything that is not one is bad input, not an
// internal error.
func UnmarshalUUID(v any) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, crm.InvalidInput("", "an id is a string")
	}
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, crm.InvalidInput("", "%s is not an id", quoteShort(s))
	}
	// The nil id is no one's: resolvers read it as "not given" (the
	// current account, say), which a client must not be able to say so.
	if id == uuid.Nil {
		return uuid.Nil, crm.InvalidInput("", "%s is no one's id", quoteShort(s))
	}
	return id, nil
}

// MarshalString writes a string.
func MarshalString(s string) graphql.Marshaler { return graphql.MarshalString(s) }

// UnmarshalString accepts a JSON or GraphQL string only, and only valid
// UTF-8 without NUL characters (PostgreSQL cannot store NUL in text, and a
// string that is not UTF-8 is not text).
func UnmarshalString(v any) (string, error) {
	s, ok := v.(string) // json.Number is a distinct type, so 42 is refused
	if !ok {
		return "", crm.InvalidInput("", "must be a string, not %s", kindOf(v))
	}
	if err := crm.CheckText("", s); err != nil {
		return "", err
	}
	return s, nil
}

// MarshalOptionalText writes an optional part of a value, null when it
// was not given.
func MarshalOptionalText(s crm.OptionalText) graphql.Marshaler {
	if s == "" {
		return graphql.Null
	}
	return graphql.MarshalString(string(s))
}

// UnmarshalOptionalText reads an optional part of a value as a String;
// null is "", not given.
func UnmarshalOptionalText(v any) (crm.OptionalText, error) {
	if v == nil {
		return "", nil
	}
	s, err := UnmarshalString(v)
	return crm.OptionalText(s), err
}

// MarshalInt writes an Int.
func MarshalInt(n int) graphql.Marshaler { return graphql.MarshalInt(n) }

// UnmarshalInt accepts a whole number within GraphQL's 32-bit Int range.
// Strings are refused, even "42".
func UnmarshalInt(v any) (int, error) {
	var n int64
	switch v := v.(type) {
	case int:
		n = int64(v)
	case int32:
		n = int64(v)
	case int64:
		n = v
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			return 0, crm.InvalidInput("", "must be a whole number")
		}
		n = i
	case float64:
		if v != math.Trunc(v) || math.IsInf(v, 0) {
			return 0, crm.InvalidInput("", "must be a whole number")
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return 0, crm.InvalidInput("", "must be from %d to %d", math.MinInt32, math.MaxInt32)
		}
		n = int64(v)
	default:
		return 0, crm.InvalidInput("", "must be a whole number, not %s", kindOf(v))
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, crm.InvalidInput("", "must be from %d to %d", math.MinInt32, math.MaxInt32)
	}
	return int(n), nil
}

// MarshalFloat writes a Float.
func MarshalFloat(f float64) graphql.Marshaler { return graphql.MarshalFloat(f) }

// UnmarshalFloat accepts a finite number; strings are refused.
func UnmarshalFloat(v any) (float64, error) {
	var f float64
	switch v := v.(type) {
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case float64:
		f = v
	case json.Number:
		x, err := v.Float64()
		if err != nil {
			return 0, crm.InvalidInput("", "must be a number")
		}
		f = x
	default:
		return 0, crm.InvalidInput("", "must be a number, not %s", kindOf(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, crm.InvalidInput("", "must be a finite number")
	}
	return f, nil
}

// MarshalBoolean writes a Boolean.
func MarshalBoolean(b bool) graphql.Marshaler { return graphql.MarshalBoolean(b) }

// UnmarshalBoolean accepts true or false only.
func UnmarshalBoolean(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, crm.InvalidInput("", "must be true or false, not %s", kindOf(v))
	}
	return b, nil
}

// MarshalTime writes a time in UTC, RFC 3339 with fractional seconds.
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t.UTC()) }

// UnmarshalTime accepts an RFC 3339 time from 1900 to 2999 in UTC, the
// range of a date (crm.ParseDate): nothing a CRM records lies outside it,
// and at its edges a time went wrong (Go's zero time, year 1, is written
// back as null; PostgreSQL keeps year 0, which it writes as "1 BC", and
// JSON and Go refuse years past 9999). The year is checked in UTC, where
// the time is kept: an offset moves it across a year.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, crm.InvalidInput("", "a time is a string like 2026-12-01T09:30:00Z")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !crm.TimeInRange(t) {
		return time.Time{}, crm.InvalidInput("", "%s is not a time like 2026-12-01T09:30:00Z (RFC 3339, from 1900 to 2999 in UTC)", quoteShort(s))
	}
	return t.UTC(), nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int32, int64, float64, json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// quoteShort quotes s for an error message, shortened, and safe to show
// even when s is not valid UTF-8.
func quoteShort(s string) string {
	const n = 60
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(strings.ToValidUTF8(s[:cut], "\uFFFD")) + "…"
	}
	return strconv.Quote(strings.ToValidUTF8(s, "\uFFFD"))
}

// MarshalDecimal writes an amount as a string, so that no client reads it
// through a float.
func MarshalDecimal(d crm.Decimal) graphql.Marshaler { return graphql.MarshalString(string(d)) }

// UnmarshalDecimal reads an amount from a string ("1250.50"); a number is
// refused, since a JSON number may already have lost cents on the way.
func UnmarshalDecimal(v any) (crm.Decimal, error) {
	s, ok := v.(string)
	if !ok {
		return "", crm.InvalidInput("", "an amount is a string such as \"1250.50\", not %s", kindOf(v))
	}
	d, err := crm.ParseDecimal(s)
	if err != nil {
		return "", crm.InvalidInput("", "%s is not an amount with at most two decimal places", quoteShort(s))
	}
	return d, nil
}

// MarshalDate writes a calendar day.
func MarshalDate(d crm.Date) graphql.Marshaler { return graphql.MarshalString(string(d)) }

// UnmarshalDate reads a calendar day, "2026-06-30".
func UnmarshalDate(v any) (crm.Date, error) {
	s, ok := v.(string)
	if !ok {
		return "", crm.InvalidInput("", "a date is a string such as \"2026-06-30\", not %s", kindOf(v))
	}
	d, err := crm.ParseDate(s)
	if err != nil {
		return "", crm.InvalidInput("", "%s is not a date from 1900 to 2999 (YYYY-MM-DD)", quoteShort(s))
	}
	return d, nil
}
