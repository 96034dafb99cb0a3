package graphiql_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"switchboard/gateway/graphiql"
)

func start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(graphiql.New(graphiql.Options{Path: "/graphiql", Endpoint: "/graphql", Title: "Switchboard"}))
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, url string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// reference is a <script> or <link> of the page.
type reference struct {
	tag, rel, url, integrity, nonce string
}

var (
	tagRE  = regexp.MustCompile(`<(script|link)\b[^>]*>`)
	attrRE = regexp.MustCompile(`\b(src|href|rel|integrity|nonce)="([^"]*)"`)
)

func references(page []byte) []reference {
	var refs []reference
	for _, m := range tagRE.FindAllSubmatch(page, -1) {
		r := reference{tag: string(m[1])}
		for _, a := range attrRE.FindAllSubmatch(m[0], -1) {
			// As a browser reads it: html/template writes + as &#43;.
			switch v := html.UnescapeString(string(a[2])); string(a[1]) {
			case "src", "href":
				r.url = v
			case "rel":
				r.rel = v
			case "integrity":
				r.integrity = v
			case "nonce":
				r.nonce = v
			}
		}
		refs = append(refs, r)
	}
	return refs
}

func TestPageReferencesNothingOutside(t *testing.T) {
	t.Parallel()
	srv := start(t)
	r := get(t, srv.URL+"/graphiql", nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store (a nonce is used once; asset URLs change with an upgrade)", cc)
	}
	// Not even a link: offline means nothing outside is ever fetched.
	// (A protocol-relative //host URL fails the reference check below.)
	for _, scheme := range []string{"http://", "https://"} {
		if i := bytes.Index(r.body, []byte(scheme)); i >= 0 {
			t.Errorf("page mentions %q: ...%s...", scheme, r.body[max(0, i-60):min(len(r.body), i+60)])
		}
	}
	// The policy forbids inline code, so the page must have none.
	if bytes.Contains(r.body, []byte("<style")) || regexp.MustCompile(`<script\b[^>]*>[^<]`).Match(r.body) || bytes.Contains(r.body, []byte(" style=")) {
		t.Error("page has an inline script or style, which its policy refuses")
	}
	if !bytes.Contains(r.body, []byte(`data-endpoint="/graphql"`)) {
		t.Error("page does not name the /graphql endpoint")
	}
	scripts := 0
	for _, ref := range references(r.body) {
		if ref.url == "data:," && ref.rel == "icon" {
			continue // no favicon request at all
		}
		if !strings.HasPrefix(ref.url, "/graphiql/assets/") {
			t.Errorf("<%s> references %q, outside the page's assets", ref.tag, ref.url)
		}
		if ref.tag == "script" {
			scripts++
			if ref.integrity == "" {
				t.Errorf("script %s has no integrity", ref.url)
			}
		}
	}
	if scripts != 4 {
		t.Errorf("%d scripts, want React, ReactDOM, GraphiQL and the start script", scripts)
	}
}

// policy is a Content-Security-Policy by directive.
func policy(header string) map[string]string {
	p := map[string]string{}
	for _, d := range strings.Split(header, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		p[name] = value
	}
	return p
}

func TestPolicyAllowsOnlyThisOriginAndOneNonce(t *testing.T) {
	t.Parallel()
	srv := start(t)
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"img-src":         "'self' data:",
		"font-src":        "'self' data:",
		"connect-src":     "'self'",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		"frame-ancestors": "'none'",
	}
	var nonces []string
	for range 2 {
		r := get(t, srv.URL+"/graphiql", nil)
		p := policy(r.header.Get("Content-Security-Policy"))
		for d, v := range want {
			if p[d] != v {
				t.Errorf("%s %q, want %q", d, p[d], v)
			}
		}
		nonce, ok := strings.CutPrefix(p["style-src"], "'self' 'nonce-")
		nonce, ok2 := strings.CutSuffix(nonce, "'")
		if !ok || !ok2 || len(nonce) < 22 {
			t.Fatalf("style-src %q, want 'self' and a nonce of at least 128 bits", p["style-src"])
		}
		if len(p) != len(want)+1 {
			t.Errorf("policy has other directives: %v", p)
		}
		// The start script hands the nonce to GraphiQL.
		handed := false
		for _, ref := range references(r.body) {
			if strings.HasSuffix(ref.url, "/start.js") && ref.nonce == nonce {
				handed = true
			}
		}
		if !handed {
			t.Errorf("start.js does not carry the policy's nonce %s", nonce)
		}
		nonces = append(nonces, nonce)
	}
	if nonces[0] == nonces[1] {
		t.Error("two pages had the same nonce")
	}
}

func TestEveryReferencedAssetIsServed(t *testing.T) {
	t.Parallel()
	srv := start(t)
	page := get(t, srv.URL+"/graphiql", nil)
	want := map[string]string{ // by tag and rel: what a browser expects
		"script":          "text/javascript; charset=utf-8",
		"link stylesheet": "text/css; charset=utf-8",
		"link license":    "text/plain; charset=utf-8",
	}
	for _, ref := range references(page.body) {
		kind := strings.TrimSpace(ref.tag + " " + ref.rel)
		if ref.url == "data:," {
			continue
		}
		t.Run(ref.url, func(t *testing.T) {
			r := get(t, srv.URL+ref.url, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			if ct := r.header.Get("Content-Type"); ct != want[kind] {
				t.Errorf("%s: content type %q, want %q", kind, ct, want[kind])
			}
			if cc := r.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q", cc)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if ref.integrity != "" {
				sum := sha256.Sum256(r.body)
				if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != ref.integrity {
					t.Errorf("integrity %s, body hashes to %s: the browser would refuse it", ref.integrity, got)
				}
			}
			// A revisit costs nothing.
			if again := get(t, srv.URL+ref.url, http.Header{"If-None-Match": {r.header.Get("ETag")}}); again.status != http.StatusNotModified {
				t.Errorf("revalidation status %d, want 304", again.status)
			}
		})
	}
}

func TestOnlyCurrentAssetURLsAnswer(t *testing.T) {
	t.Parallel()
	srv := start(t)
	page := get(t, srv.URL+"/graphiql", nil)
	var js string
	for _, ref := range references(page.body) {
		if strings.HasSuffix(ref.url, "/graphiql.min.js") {
			js = ref.url
		}
	}
	if js == "" {
		t.Fatal("page does not load graphiql.min.js")
	}
	// Another version's URL must not be answered with this version's file,
	// which browsers would then keep for a year.
	for _, path := range []string{
		"/graphiql/assets/0000000000000000/graphiql.min.js",
		"/graphiql/assets/graphiql.min.js",
		"/graphiql/assets/",
		// The bundle names its source map, which is not shipped.
		"/graphiql/assets/" + strings.Split(js, "/")[3] + "/index.umd.js.map",
	} {
		if r := get(t, srv.URL+path, nil); r.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, r.status)
		}
	}
}

func TestLicencesAreEmbedded(t *testing.T) {
	t.Parallel()
	srv := start(t)
	page := get(t, srv.URL+"/graphiql", nil)
	want := map[string]string{
		"graphiql.LICENSE":  "Copyright (c) 2021 GraphQL Contributors",
		"react.LICENSE":     "Copyright (c) Facebook, Inc. and its affiliates.",
		"react-dom.LICENSE": "Copyright (c) Facebook, Inc. and its affiliates.",
	}
	for _, ref := range references(page.body) {
		if ref.rel != "license" {
			continue
		}
		name := ref.url[strings.LastIndex(ref.url, "/")+1:]
		notice, ok := want[name]
		if !ok {
			t.Errorf("unexpected licence %s", ref.url)
			continue
		}
		delete(want, name)
		text := get(t, srv.URL+ref.url, nil).body
		if !bytes.HasPrefix(text, []byte("MIT License")) || !bytes.Contains(text, []byte(notice)) ||
			!bytes.Contains(text, []byte("The above copyright notice and this permission notice shall be included")) {
			t.Errorf("%s is not the MIT licence with %q:\n%s", name, notice, text)
		}
	}
	for name := range want {
		t.Errorf("page does not link %s", name)
	}
}

// TestVendoredFilesAreNpms checks npm/ against SHA256SUMS (which update.sh
// checks against the registry's tarballs) and the README against both, so
// neither a hand edit nor a half-done upgrade goes unnoticed.
func TestVendoredFilesAreNpms(t *testing.T) {
	t.Parallel()
	sums, err := os.ReadFile("SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("npm")
	if err != nil {
		t.Fatal(err)
	}
	unlisted := map[string]bool{}
	for _, e := range entries {
		unlisted[e.Name()] = true
	}
	lines := bufio.NewScanner(bytes.NewReader(sums))
	for lines.Scan() {
		sum, name, ok := strings.Cut(lines.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", lines.Text())
		}
		delete(unlisted, name)
		body, err := os.ReadFile("npm/" + name)
		if err != nil {
			t.Errorf("%s listed but missing: %v", name, err)
			continue
		}
		if got := sha256.Sum256(body); hex.EncodeToString(got[:]) != sum {
			t.Errorf("npm/%s hashes to %x, SHA256SUMS says %s", name, got, sum)
		}
		if !bytes.Contains(readme, []byte(sum)) {
			t.Errorf("README.md does not give the sum of %s (%s)", name, sum)
		}
	}
	for name := range unlisted {
		t.Errorf("npm/%s is not in SHA256SUMS", name)
	}
}
