package crm

import (
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"  Pat@Example.COM ", "pat@example.com", true},
		{"pat.o'neil+crm@mail.example.co.uk", "pat.o'neil+crm@mail.example.co.uk", true},
		{"", "", false},
		{"pat", "", false},
		{"pat@localhost", "", false},
		{"pat@example.", "", false},
		// Domains as DNS allows them: no empty label, none over 63.
		{"pat@example..com", "", false},
		{"pat@" + strings.Repeat("a", 64) + ".example", "", false},
		{"pat@" + strings.Repeat("a", 63) + ".example", "pat@" + strings.Repeat("a", 63) + ".example", true},
		{"Pat <pat@example.com>", "", false},
		{"pat@@example.com", "", false},
		{"pat @example.com", "", false},
		{strings.Repeat("a", 243) + "@example.com", "", false}, // 255 characters
		{strings.Repeat("a", 242) + "@example.com", strings.Repeat("a", 242) + "@example.com", true},
		// Look-alikes of pat@example.com are either the same login or
		// refused.
		{"ｐａｔ@example.com", "pat@example.com", true},                // full-width forms fold
		{"pat@EXAMPLE.com", "pat@example.com", true},                // domains compare in lower case
		{"p\u0430t@example.com", "", false},                         // Cyrillic а among Latin letters
		{"pat@ex\u0430mple.com", "", false},                         // the same in the domain
		{"\u0440\u0430\u0455@example.com", "", false},               // all Cyrillic, imitating "pas"
		{"p\u200bat@example.com", "", false},                        // zero-width space
		{"\u202etap@example.com", "", false},                        // right-to-left override
		{"pat\u2066@example.com", "", false},                        // bidirectional isolate
		{"e\u0301lise@example.com", "\u00e9lise@example.com", true}, // decomposed é composes
		{"\u00c9lise@example.com", "\u00e9lise@example.com", true},
		{"\u0438\u0432\u0430\u043d@example.com", "\u0438\u0432\u0430\u043d@example.com", true}, // Cyrillic name, not an imitation
		{"pat@b\u00fccher.example", "pat@xn--bcher-kva.example", true},                         // IDN domains in their ASCII form
		{"\"pat\"@example.com", "", false},
		{"pat.@example.com", "", false},
		{"pat\x00@example.com", "", false},
		{"pat\xff@example.com", "", false},
	} {
		got, err := NormalizeEmail("email", tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if !tc.ok && (err == nil || ErrorCode(err) != CodeBadUserInput) {
			t.Errorf("%q: accepted as %q", tc.in, got)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	p := NewPasswordPolicy()
	if len(p.common) < 40000 {
		t.Fatalf("common list has %d entries", len(p.common))
	}
	for pw, ok := range map[string]bool{
		"correct horse battery staple": true,
		"tiny":                         false,
		"elevenchars":                  false,
		"twelve chars":                 true,
		"ünïcödé pässwörd":             true, // characters, not bytes
		strings.Repeat("x", 256):       true,
		strings.Repeat("x", 257):       false,
		"1q2w3e4r5t6y":                 false, // in the list
		"1Q2W3E4R5T6Y":                 false, // in any case
		"\xff\xfe invalid utf8 bytes":  false,
	} {
		err := p.Check("password", pw)
		if ok != (err == nil) {
			t.Errorf("%.20q: %v", pw, err)
		}
		if err != nil {
			if e := err.(*Error); e.Field != "password" || e.Code != CodeBadUserInput {
				t.Errorf("%.20q: %+v", pw, e)
			}
		}
	}
}

func TestCleanName(t *testing.T) {
	if got, err := CleanName("name", "  Ada Lovelace "); err != nil || got != "Ada Lovelace" {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("é", 201), "line\nbreak", "nul\x00", "tab\there", "Admin\u202enimdA", "isolate\u2067x\u2069"} {
		if _, err := CleanName("name", bad); err == nil {
			t.Errorf("%.20q accepted", bad)
		}
	}
	// Joiners belong to names in several scripts (Persian, here).
	for _, good := range []string{"Zoë Ødegård", "علی\u200cرضا"} {
		if _, err := CleanName("name", good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
}

func TestDescribeDevice(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36":                         "Chrome 120 on Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91":       "Edge 120 on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15":                      "Safari 17 on macOS",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1": "Safari 17 on iOS",
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0":                                                                  "Firefox 121 on Linux",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36":              "Chrome 120 on Android",
		"curl/8.5.0":        "curl/8.5.0",
		"":                  "Unknown device",
		"Mozilla/5.0 (X11)": "Mozilla/5.0",
	} {
		if got := DescribeDevice(ua); got != want {
			t.Errorf("%.40q: %q, want %q", ua, got, want)
		}
	}
	if got := TruncateUserAgent(strings.Repeat("é", 400)); len(got) > MaxUserAgentLen || !strings.HasSuffix(got, "é") {
		t.Errorf("truncation split a character or kept %d bytes", len(got))
	}
}
