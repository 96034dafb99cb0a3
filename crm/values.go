package crm

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The values record fields hold.

// Decimal is an amount with at most two decimal places, kept as its
// canonical text ("1250.5" is "1250.50") so that no amount goes through a
// float.
type Decimal string

// ParseDecimal reads an amount: digits with an optional sign and at most
// two decimal places.
func ParseDecimal(s string) (Decimal, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 16 || len(frac) > 2 || !allDigits(whole) || !allDigits(frac) {
		return "", fmt.Errorf("%q is not an amount with at most two decimal places", s)
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	frac += strings.Repeat("0", 2-len(frac))
	out := whole + "." + frac
	if neg && out != "0.00" {
		out = "-" + out
	}
	return Decimal(out), nil
}

// Negative reports whether d is below zero.
func (d Decimal) Negative() bool { return strings.HasPrefix(string(d), "-") }

// Float is d as a float, for range checks only.
func (d Decimal) Float() float64 {
	f, _ := strconv.ParseFloat(string(d), 64)
	return f
}

func allDigits(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// Date is a calendar day, "2006-01-02".
type Date string

// ParseDate reads a day in ISO 8601 form.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil || !TimeInRange(t) {
		return "", fmt.Errorf("%q is not a date from 1900 to 2999 (YYYY-MM-DD)", s)
	}
	return Date(t.Format(time.DateOnly)), nil
}

// TimeInRange reports a time (or a date's midnight) from 1900 to 2999 in
// UTC, the range of every time and date a client may give.
func TimeInRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1900 && y <= 2999
}

// OptionalText is an optional part of a value (an address's street, a
// label): "" when not given, which the API shows as null.
type OptionalText string

// EmailAddress is one of a contact's addresses.
type EmailAddress struct {
	Address string       `json:"address"`
	Label   OptionalText `json:"label,omitempty"`
	Primary bool         `json:"primary"`
}

// EmailAddresses are a contact's addresses, the primary one first.
type EmailAddresses []EmailAddress

// Primary is the primary address, or "".
func (e EmailAddresses) Primary() string {
	for _, a := range e {
		if a.Primary {
			return a.Address
		}
	}
	return ""
}

func checkEmails(path string, list []EmailAddress, max int) (any, error) {
	if len(list) > max {
		return nil, InvalidInput(path, "has at most %d addresses", max)
	}
	out := make(EmailAddresses, 0, len(list))
	primaries := 0
	for i, e := range list {
		p := fmt.Sprintf("%s.%d", path, i)
		addr, err := NormalizeEmail(p+".address", e.Address)
		if err != nil {
			return nil, err
		}
		label, err := oneLine(p+".label", string(e.Label), MaxTagLen)
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			if o.Address == addr {
				return nil, InvalidInput(p+".address", "%s is given twice", addr)
			}
		}
		if e.Primary {
			primaries++
		}
		out = append(out, EmailAddress{Address: addr, Label: OptionalText(label), Primary: e.Primary})
	}
	switch {
	case len(out) == 0:
		return nil, nil
	case primaries > 1:
		return nil, InvalidInput(path, "only one address can be the primary one")
	case primaries == 0:
		out[0].Primary = true
	}
	// The primary first, the others as given.
	for i := range out {
		if out[i].Primary && i > 0 {
			p := out[i]
			copy(out[1:i+1], out[:i])
			out[0] = p
		}
	}
	return out, nil
}

// Phone is one phone number, as written, with a label.
type Phone struct {
	Number string       `json:"number"`
	Label  OptionalText `json:"label,omitempty"`
}

// Phones are a record's phone numbers.
type Phones []Phone

// PhoneDigits is a number's digits, what search compares: "+49 30
// 1234-567" is "49301234567".
func PhoneDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func checkPhone(path, s string) (string, error) {
	s, err := oneLine(path, s, 40)
	if err != nil || s == "" {
		return "", err
	}
	if strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789+-()./ ", r) }) >= 0 {
		return "", InvalidInput(path, "a phone number has digits, spaces and + - ( ) . / only")
	}
	if len(PhoneDigits(s)) < 3 {
		return "", InvalidInput(path, "a phone number has at least three digits")
	}
	return s, nil
}

func checkPhones(path string, list []Phone, max int) (any, error) {
	if len(list) > max {
		return nil, InvalidInput(path, "has at most %d numbers", max)
	}
	out := make(Phones, 0, len(list))
	for i, ph := range list {
		p := fmt.Sprintf("%s.%d", path, i)
		n, err := checkPhone(p+".number", ph.Number)
		if err != nil {
			return nil, err
		}
		if n == "" {
			return nil, InvalidInput(p+".number", "enter a number")
		}
		label, err := oneLine(p+".label", string(ph.Label), MaxTagLen)
		if err != nil {
			return nil, err
		}
		out = append(out, Phone{Number: n, Label: OptionalText(label)})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Address is a postal address.
type Address struct {
	Street     OptionalText `json:"street,omitempty"`
	City       OptionalText `json:"city,omitempty"`
	Region     OptionalText `json:"region,omitempty"`
	PostalCode OptionalText `json:"postalCode,omitempty"`
	Country    OptionalText `json:"country,omitempty"`
}

// Text is the address on one line.
func (a Address) Text() string {
	var parts []string
	for _, s := range []OptionalText{a.Street, a.PostalCode, a.City, a.Region, a.Country} {
		if s != "" {
			parts = append(parts, string(s))
		}
	}
	return strings.Join(parts, ", ")
}

func checkAddress(path string, a Address) (any, error) {
	for _, part := range []struct {
		name string
		v    *OptionalText
	}{{"street", &a.Street}, {"city", &a.City}, {"region", &a.Region}, {"postalCode", &a.PostalCode}, {"country", &a.Country}} {
		v, err := oneLine(path+"."+part.name, string(*part.v), MaxTextLen)
		if err != nil {
			return nil, err
		}
		*part.v = OptionalText(v)
	}
	if a == (Address{}) {
		return nil, nil
	}
	return &a, nil
}

// Tags are a record's labels, each once (compared without case).
type Tags []string

func checkTags(path string, list []string, max int) (any, error) {
	if len(list) > max {
		return nil, InvalidInput(path, "has at most %d tags", max)
	}
	out := make(Tags, 0, len(list))
	seen := map[string]bool{}
	for i, raw := range list {
		tag, err := oneLine(fmt.Sprintf("%s.%d", path, i), raw, MaxTagLen)
		if err != nil {
			return nil, err
		}
		if tag == "" || seen[strings.ToLower(tag)] {
			continue
		}
		seen[strings.ToLower(tag)] = true
		out = append(out, tag)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// IDs are record or member ids kept in a JSON column (mentions).
type IDs []uuid.UUID

// Mailbox is one address of a mail message, with its display name.
type Mailbox struct {
	Address string       `json:"address"`
	Name    OptionalText `json:"name,omitempty"`
}

// Mailboxes are a mail message's addresses of one kind (to, cc, bcc).
type Mailboxes []Mailbox

// checkMailbox checks an address of a mail message. Mail comes from
// anywhere, so an address is taken as written, only bounded and checked for
// its shape; it is compared with contacts' addresses without case.
func checkMailbox(path string, m Mailbox) (*Mailbox, error) {
	addr, err := oneLine(path+".address", m.Address, MaxEmailLen)
	if err != nil {
		return nil, err
	}
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(addr, " \t<>,;") || strings.Count(addr, "@") != 1 {
		return nil, InvalidInput(path+".address", "%q is not an email address", addr)
	}
	name, err := oneLine(path+".name", string(m.Name), MaxTextLen)
	if err != nil {
		return nil, err
	}
	return &Mailbox{Address: local + "@" + strings.ToLower(domain), Name: OptionalText(name)}, nil
}

// NormalizeDomain checks a domain name and returns it in lower case, in
// its Unicode form ("Bücher.example" is "bücher.example"); a scheme or a
// path around it ("https://acme.example/") is taken off.
func NormalizeDomain(path, s string) (string, error) {
	s, err := oneLine(path, s, 253)
	if err != nil || s == "" {
		return "", err
	}
	s = strings.ToLower(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	s, _, _ = strings.Cut(s, "/")
	s = strings.TrimPrefix(strings.TrimSuffix(s, "."), "www.")
	ascii, err := domainNames.ToASCII(s)
	if err != nil || !strings.Contains(ascii, ".") {
		return "", InvalidInput(path, "%q is not a domain name", s)
	}
	unicodeForm, err := domainNames.ToUnicode(ascii)
	if err != nil {
		return "", InvalidInput(path, "%q is not a domain name", s)
	}
	return unicodeForm, nil
}
