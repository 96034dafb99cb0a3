package crm

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckText refuses text that cannot be stored as text: invalid UTF-8 and
// NUL (PostgreSQL text cannot hold it). Every string a client sends passes
// here (the GraphQL String scalar calls it), so no later layer meets such
// input.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return InvalidInput(field, "is not valid UTF-8 text")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return InvalidInput(field, "contains a NUL character")
	}
	return nil
}

// DisplayText makes a value a client sent in a header, kept only to be
// shown (the User-Agent in the login log), safe to store: invalid bytes
// become U+FFFD and control characters are dropped, instead of refusing
// the request. A header is not the client's to correct the way an argument
// is, and refusing a sign-in over it would let it switch off the
// brute-force count.
func DisplayText(s string, maxBytes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || isInvisible(r) {
			return -1
		}
		return r
	}, s)
	return truncateUTF8(s, maxBytes)
}

// NewClient describes a caller from what the transport saw, with the
// User-Agent made safe to store.
func NewClient(ip netip.Addr, userAgent string) Client {
	return Client{IP: ip, UserAgent: DisplayText(userAgent, MaxUserAgentLen)}
}

// truncateUTF8 bounds s to n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// isInvisible reports format characters that change how text looks without
// showing themselves: zero-width spaces and joiners, bidirectional
// embeddings, overrides and isolates, the byte-order mark.
func isInvisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || r == '\u034f' || (r >= '\u115f' && r <= '\u1160') || r == '\u3164' || r == '\uffa0'
}
