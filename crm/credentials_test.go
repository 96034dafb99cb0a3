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
		{"Pat <pat@example.com>", "", false},
		{"pat@@example.com", "", false},
		{"pat @example.com", "", false},
		{strings.Repeat("a", 243) + "@example.com", "", false}, // 255 characters
		{strings.Repeat("a", 242) + "@example.com", strings.Repeat("a", 242) + "@example.com", true},
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
	for _, bad := range []string{"", "   ", strings.Repeat("é", 201), "line\nbreak", "nul\x00"} {
		if _, err := CleanName("name", bad); err == nil {
			t.Errorf("%.20q accepted", bad)
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
