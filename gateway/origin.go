package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"switchboard/config"
)

// origins decides which browser origins and which hosts the gateway
// serves. Origins compare by scheme, host and port (config.CanonicalOrigin):
// https://host:port is another site than http://host:port, and a browser
// keeps their cookies and storage apart.
type origins struct {
	allowed map[string]bool
	// publicScheme and publicHost are the public URL's, in canonical form;
	// checkHost is set in production (see hostAllowed).
	publicScheme, publicHost string
	checkHost                bool
}

func newOrigins(cfg config.Config) (origins, error) {
	o := origins{allowed: map[string]bool{}, checkHost: cfg.IsProduction()}
	for _, s := range cfg.AllowedOrigins {
		canonical, err := config.CanonicalOrigin(s)
		if err != nil {
			return origins{}, fmt.Errorf("allowed origin %q: %w", s, err)
		}
		o.allowed[canonical] = true
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Host == "" {
		return origins{}, fmt.Errorf("public URL %q is not an absolute URL", cfg.PublicURL)
	}
	o.publicScheme, o.publicHost = u.Scheme, config.CanonicalHost(u.Scheme, u.Host)
	return o, nil
}

// originAllowed implements the CSRF half of the wire contract: a browser
// request (one with an Origin) is served only when its origin is
// configured. The Host header proves nothing: after a DNS rebinding, a
// hostile page's requests carry its own name in both Host and Origin.
// Requests without Origin come from non-browser clients (or are a
// browser's same-origin GETs, which run queries only).
func (o origins) originAllowed(r *http.Request) bool {
	values := r.Header.Values("Origin")
	if len(values) == 0 || (len(values) == 1 && values[0] == "") {
		return true
	}
	if len(values) > 1 {
		return false
	}
	canonical, err := config.CanonicalOrigin(values[0])
	return err == nil && o.allowed[canonical]
}

// hostAllowed refuses, in production, a request for another host than the
// public URL's: a DNS-rebinding page's requests reach the gateway with
// their own name as Host. /healthz and /readyz answer any Host, since load
// balancers probe instances by address; they tell nothing about anyone.
// In development the gateway is reached as localhost, 127.0.0.1 or a LAN
// address alike, so Host is not checked there (the origin check still
// is).
func (o origins) hostAllowed(r *http.Request) bool {
	if !o.checkHost || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		return true
	}
	return config.CanonicalHost(o.publicScheme, r.Host) == o.publicHost
}

// websocketPatterns are coder/websocket's OriginPatterns for the allowed
// origins: its own check is a second line behind originAllowed. A pattern
// with "://" makes it compare the scheme too; each origin is listed with
// and without its default port, because coder/websocket compares the
// Origin header as sent.
func (o origins) websocketPatterns() []string {
	var patterns []string
	for origin := range o.allowed {
		patterns = append(patterns, quotePattern(origin))
		u, _ := url.Parse(origin)
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			patterns = append(patterns, quotePattern(origin+":"+port))
		}
	}
	return patterns
}

// quotePattern escapes path.Match's special characters (an IPv6 host has
// brackets).
func quotePattern(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}
