package crm

import (
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// NormalizeEmail checks an address and returns the one form it is stored
// and compared in, so that two addresses which look the same are the same
// login:
//   - the local part goes through the PRECIS UsernameCaseMapped profile
//     (RFC 8265): Unicode NFC, full-width forms folded ("ａ" is "a"), lower
//     case, and control, invisible and direction-changing characters
//     refused;
//   - the domain is converted to its ASCII (punycode) form with the IDNA
//     lookup profile;
//   - a part that mixes scripts ("pаypal" with a Cyrillic "а") or is written
//     entirely in letters that imitate Latin ones ("асе" in Cyrillic) is
//     refused: it can only be meant to look like another address.
//
// The result is one plain addr-spec (no display name, no quotes), at most
// 254 characters, with a dot in the domain.
// domainNames is IDNA's lookup profile (idna.Lookup) that also checks the
// lengths DNS allows: no empty label ("a..b"), none over 63 octets, 253 in
// all.
var domainNames = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.CheckHyphens(true), idna.CheckJoiners(true),
	idna.BidiRule(), idna.VerifyDNSLength(true))

func NormalizeEmail(field, raw string) (string, error) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return "", InvalidInput(field, "enter an email address")
	case len(s) > 4*MaxEmailLen:
		return "", InvalidInput(field, "an email address has at most %d characters", MaxEmailLen)
	}
	if err := CheckText(field, s); err != nil {
		return "", err
	}
	if strings.ContainsFunc(s, isInvisible) {
		return "", InvalidInput(field, "contains invisible or direction-changing characters")
	}
	notEmail := InvalidInput(field, "%s is not an email address", quoteField(s))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", notEmail
	}
	local, err := precis.UsernameCaseMapped.String(s[:at])
	if err != nil || !dotAtom(local) {
		return "", notEmail
	}
	domain, err := domainNames.ToASCII(s[at+1:])
	if err != nil || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", notEmail
	}
	unicodeDomain, err := domainNames.ToUnicode(domain)
	if err != nil {
		return "", notEmail
	}
	for _, part := range append([]string{local}, strings.Split(unicodeDomain, ".")...) {
		if lookalike(part) {
			return "", InvalidInput(field, "mixes alphabets or imitates Latin letters; type the address in one alphabet")
		}
	}
	email := local + "@" + domain
	if len(email) > MaxEmailLen {
		return "", InvalidInput(field, "an email address has at most %d characters", MaxEmailLen)
	}
	return email, nil
}

// dotAtom reports an unquoted local part (RFC 5322 dot-atom, with the
// non-ASCII letters of RFC 6531): no quotes, spaces or brackets, no empty
// dot-separated piece.
func dotAtom(local string) bool {
	if local == "" || len(local) > 64*4 {
		return false
	}
	for piece := range strings.SplitSeq(local, ".") {
		if piece == "" {
			return false
		}
	}
	return !strings.ContainsAny(local, "\"(),:;<>@[\\] ")
}

// lookalike reports a label that mixes scripts (Han with the Japanese and
// Korean scripts excepted) or consists, beyond digits and punctuation, only
// of Cyrillic or Greek letters that look like Latin ones.
func lookalike(label string) bool {
	scripts := map[string]bool{}
	imitation, foreign := true, false
	for _, r := range label {
		if !unicode.IsLetter(r) {
			continue
		}
		name := scriptOf(r)
		scripts[name] = true
		if name != "Latin" {
			foreign = true
			if _, ok := latinLookalikes[r]; !ok {
				imitation = false
			}
		}
	}
	delete(scripts, "Han")
	if scripts["Hiragana"] || scripts["Katakana"] {
		delete(scripts, "Hiragana")
		delete(scripts, "Katakana")
		scripts["Japanese"] = true
	}
	return len(scripts) > 1 || (foreign && imitation)
}

// checkedScripts are the scripts letters are attributed to; a letter of
// any other script counts as its own "Other" script.
var checkedScripts = []string{"Latin", "Cyrillic", "Greek", "Armenian", "Georgian", "Cherokee", "Hebrew", "Arabic",
	"Han", "Hiragana", "Katakana", "Hangul", "Thai", "Devanagari", "Bengali", "Tamil"}

func scriptOf(r rune) string {
	for _, name := range checkedScripts {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	return "Other"
}

// latinLookalikes are the lower-case Cyrillic and Greek letters that are
// drawn like a Latin letter (from Unicode's confusables data, UTS #39).
var latinLookalikes = map[rune]rune{
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x', 'ѕ': 's', 'і': 'i', 'ј': 'j',
	'ԁ': 'd', 'һ': 'h', 'ӏ': 'l', 'ԛ': 'q', 'ԝ': 'w', 'ү': 'y', 'ё': 'e', 'ї': 'i',
	'α': 'a', 'ο': 'o', 'ρ': 'p', 'ν': 'v', 'ι': 'i', 'κ': 'k', 'υ': 'u', 'χ': 'x', 'ϲ': 'c', 'ϳ': 'j',
}

// quoteField quotes input for a message, shortened.
func quoteField(s string) string {
	const n = 80
	if len(s) > n {
		return `"` + truncateUTF8(s, n) + `…"`
	}
	return `"` + s + `"`
}
