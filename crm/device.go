package crm

import (
	"regexp"
	"strings"
)

// MaxUserAgentLen bounds what is stored of a User-Agent header.
const MaxUserAgentLen = 512

var (
	browserPatterns = []struct {
		name string
		re   *regexp.Regexp
	}{
		// Order matters: Edge and Opera also claim Chrome, Chrome claims
		// Safari.
		{"Edge", regexp.MustCompile(`Edg(?:e|A|iOS)?/(\d+)`)},
		{"Opera", regexp.MustCompile(`(?:OPR|Opera)/(\d+)`)},
		{"Firefox", regexp.MustCompile(`(?:Firefox|FxiOS)/(\d+)`)},
		{"Chrome", regexp.MustCompile(`(?:Chrome|CriOS)/(\d+)`)},
		{"Safari", regexp.MustCompile(`Version/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/`)},
	}
	osPatterns = []struct {
		name string
		re   *regexp.Regexp
	}{
		{"iOS", regexp.MustCompile(`iPhone|iPad|iPod`)},
		{"Android", regexp.MustCompile(`Android`)},
		{"Windows", regexp.MustCompile(`Windows`)},
		{"macOS", regexp.MustCompile(`Mac OS X|Macintosh`)},
		{"ChromeOS", regexp.MustCompile(`CrOS`)},
		{"Linux", regexp.MustCompile(`Linux`)},
	}
)

// DescribeDevice turns a User-Agent into what a person recognises in a login
// log or an eviction notice, such as "Firefox 121 on Windows". Anything it
// cannot read is shown by its first word, or "Unknown device".
func DescribeDevice(userAgent string) string {
	ua := TruncateUserAgent(userAgent)
	if strings.TrimSpace(ua) == "" {
		return "Unknown device"
	}
	browser := ""
	for _, b := range browserPatterns {
		if m := b.re.FindStringSubmatch(ua); m != nil {
			browser = b.name + " " + m[1]
			break
		}
	}
	system := ""
	for _, o := range osPatterns {
		if o.re.MatchString(ua) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "Unknown browser on " + system
	}
	// API clients: "curl/8.5.0", "Go-http-client/1.1".
	first, _, _ := strings.Cut(ua, " ")
	return first
}

// TruncateUserAgent bounds a User-Agent to MaxUserAgentLen bytes without
// splitting a character.
func TruncateUserAgent(ua string) string { return truncateUTF8(ua, MaxUserAgentLen) }
