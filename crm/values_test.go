package crm

import (
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"Acme.example":                       "acme.example",
		"https://www.acme.example/about":     "acme.example",
		"Bücher.example":                     "bücher.example",
		strings.Repeat("a", 63) + ".example": strings.Repeat("a", 63) + ".example",
	} {
		if got, err := NormalizeDomain("domain", in); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	// As DNS allows them: no empty label, none over 63 octets.
	for _, bad := range []string{"acme", "a..b", "acme..example", strings.Repeat("a", 64) + ".example", "acme .example"} {
		if got, err := NormalizeDomain("domain", bad); err == nil {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
}
