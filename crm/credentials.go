package crm

import (
	"bufio"
	"bytes"
	_ "embed" // the common-password list
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on identity input.
const (
	MaxEmailLen    = 254
	MinPasswordLen = 12
	MaxPasswordLen = 256
	MaxNameLen     = 200
)

// CleanName trims a person's, a role's or an account's name and checks it
// is present, not too long, and free of control characters and of the
// bidirectional controls that make a name read as another (an override
// turns "Admin\u202enimdA" around). The zero-width joiners stay: names in
// Persian and in Indic scripts need them.
func CleanName(field, raw string) (string, error) {
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		return "", InvalidInput(field, "must not be empty")
	case utf8.RuneCountInString(name) > MaxNameLen:
		return "", InvalidInput(field, "has at most %d characters", MaxNameLen)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || isBidiControl(r) }):
		return "", InvalidInput(field, "contains characters that are not allowed")
	}
	return name, nil
}

// isBidiControl reports the bidirectional embeddings, overrides, isolates
// and marks.
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u200e' || r == '\u200f' || r == '\u061c'
}

//go:embed common-passwords.txt
var commonPasswordList []byte

// PasswordPolicy decides which new passwords are acceptable: 12 to 256
// characters and not in the bundled list of common passwords (compared
// case-insensitively). It is immutable once built.
type PasswordPolicy struct {
	common map[string]struct{}
}

// NewPasswordPolicy loads the bundled list (about 44,000 entries).
func NewPasswordPolicy() *PasswordPolicy {
	p := &PasswordPolicy{common: make(map[string]struct{}, 45000)}
	sc := bufio.NewScanner(bytes.NewReader(commonPasswordList))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			p.common[line] = struct{}{}
		}
	}
	return p
}

// Check returns BAD_USER_INPUT naming field when password is unacceptable.
func (p *PasswordPolicy) Check(field, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return InvalidInput(field, "contains characters that are not allowed")
	case n < MinPasswordLen:
		return InvalidInput(field, "use at least %d characters", MinPasswordLen)
	case n > MaxPasswordLen:
		return InvalidInput(field, "use at most %d characters", MaxPasswordLen)
	}
	if _, common := p.common[strings.ToLower(password)]; common {
		return InvalidInput(field, "this password is too common; choose another")
	}
	return nil
}
