package gateway_test

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"switchboard/db/dbtest"
	"switchboard/gateway/gatewaytest"
)

// TestOriginsCompareSchemeHostAndPort: a browser request or WebSocket is
// served only from a configured origin, compared by scheme, host and port;
// the Host header proves nothing.
func TestOriginsCompareSchemeHostAndPort(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	otherPort := "1"
	if port == otherPort {
		otherPort = "2"
	}
	cases := []struct {
		name    string
		header  http.Header
		allowed bool
	}{
		{"the public origin", http.Header{"Origin": {srv.URL}}, true},
		{"the public origin, upper case", http.Header{"Origin": {"HTTP://127.0.0.1:" + port}}, true},
		{"no origin (not a browser)", nil, true},
		{"https on the same host and port", http.Header{"Origin": {"https://127.0.0.1:" + port}}, false},
		{"another port", http.Header{"Origin": {"http://127.0.0.1:" + otherPort}}, false},
		{"another host name for the same address", http.Header{"Origin": {"http://localhost:" + port}}, false},
		{"an opaque origin", http.Header{"Origin": {"null"}}, false},
		{"two origins", http.Header{"Origin": {srv.URL, "https://evil.example"}}, false},
		// DNS rebinding: evil.example now resolves to the gateway, and the
		// hostile page's requests name it in both headers.
		{"a matching Host and Origin pair", http.Header{"Host": {"evil.example:" + port}, "Origin": {"http://evil.example:" + port}}, false},
		{"a spoofed Host equal to the Origin's host", http.Header{"Host": {"127.0.0.1:" + otherPort}, "Origin": {"http://127.0.0.1:" + otherPort}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := srv.Post(t, gatewaytest.Request{Query: typename, Header: tc.header})
			if tc.allowed {
				assertTypename(t, r)
			} else if r.Status != http.StatusForbidden || len(r.Codes()) != 1 || r.Codes()[0] != "FORBIDDEN" {
				t.Fatalf("POST: status %d codes %v, want 403 FORBIDDEN", r.Status, r.Codes())
			}
			ws, err := srv.TryDialWS(t.Context(), gatewaytest.GraphQLTransportWS, tc.header)
			switch {
			case tc.allowed && err != nil:
				t.Fatalf("WebSocket refused: %v", err)
			case !tc.allowed && err == nil:
				ws.Close()
				t.Fatal("WebSocket upgrade accepted")
			case !tc.allowed && !strings.Contains(err.Error(), "403"):
				t.Fatalf("WebSocket: %v, want a 403", err)
			case ws != nil:
				ws.Close()
			}
		})
	}
	// CORS answers name the origin only when it is allowed.
	r := srv.Do(t, http.MethodOptions, "/graphql", nil, http.Header{"Origin": {srv.URL}, "Access-Control-Request-Method": {"POST"}})
	if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != srv.URL {
		t.Fatalf("preflight: %d, Access-Control-Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestConfiguredOriginsAreCanonical: a configured origin matches however
// its default port is written, on both sides, for requests and for
// WebSockets (whose library checks origins again).
func TestConfiguredOriginsAreCanonical(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{Env: map[string]string{
		"SWITCHBOARD_ALLOWED_ORIGINS": "HTTPS://Console.Example:443, http://[::1]:80",
	}})
	for origin, allowed := range map[string]bool{
		"https://console.example":     true,
		"https://console.example:443": true,
		"http://[::1]":                true,
		"http://[::1]:80":             true,
		"http://console.example":      false,
		"https://console.example:444": false,
		srv.URL:                       false, // not configured, so not allowed
	} {
		h := http.Header{"Origin": {origin}}
		r := srv.Post(t, gatewaytest.Request{Query: typename, Header: h})
		if got := r.Status == http.StatusOK; got != allowed {
			t.Errorf("POST from %s: status %d, want allowed=%v", origin, r.Status, allowed)
		}
		ws, err := srv.TryDialWS(t.Context(), gatewaytest.GraphQLTransportWS, h)
		if got := err == nil; got != allowed {
			t.Errorf("WebSocket from %s: %v, want allowed=%v", origin, err, allowed)
		}
		if ws != nil {
			ws.Close()
		}
	}
}

// TestProductionServesOnlyThePublicHost: in production a request for
// another host is refused 421 (DNS rebinding), except the health checks
// load balancers send by address; in development Host is not checked.
func TestProductionServesOnlyThePublicHost(t *testing.T) {
	t.Parallel()
	database := dbtest.New(t)
	var logs syncBuffer
	prod := gatewaytest.Start(t, gatewaytest.Options{Database: database, Env: map[string]string{
		"SWITCHBOARD_ENV": "production",
		"DATABASE_URL":    database.URL,
	}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	u, _ := url.Parse(prod.URL)
	foreign := http.Header{"Host": {"evil.example:" + u.Port()}}

	r := prod.Post(t, gatewaytest.Request{Query: typename, Header: foreign})
	if r.Status != http.StatusMisdirectedRequest || len(r.Codes()) != 1 || r.Codes()[0] != "BAD_REQUEST" {
		t.Fatalf("foreign Host: status %d codes %v, want 421 BAD_REQUEST", r.Status, r.Codes())
	}
	if _, err := prod.TryDialWS(t.Context(), gatewaytest.GraphQLTransportWS, foreign); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("WebSocket for a foreign Host: %v, want a 421", err)
	}
	if r := prod.Do(t, http.MethodGet, "/metrics", nil, foreign); r.Status != http.StatusMisdirectedRequest {
		t.Fatalf("/metrics for a foreign Host: %d, want 421", r.Status)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := prod.Do(t, http.MethodGet, path, nil, foreign); r.Status != http.StatusOK {
			t.Fatalf("%s for a foreign Host: %d, want 200", path, r.Status)
		}
	}
	// The public host, however it is written.
	for _, host := range []string{u.Host, strings.ToUpper("127.0.0.1:" + u.Port())} {
		assertTypename(t, prod.Post(t, gatewaytest.Request{Query: typename, Header: http.Header{"Host": {host}}}))
	}
	if !strings.Contains(logs.String(), "set SWITCHBOARD_METRICS_ADDR") {
		t.Errorf("no warning about metrics on the public port in production:\n%s", logs.String())
	}

	dev := gatewaytest.Start(t, gatewaytest.Options{})
	du, _ := url.Parse(dev.URL)
	assertTypename(t, dev.Post(t, gatewaytest.Request{Query: typename,
		Header: http.Header{"Host": {net.JoinHostPort("evil.example", du.Port())}}}))
}
