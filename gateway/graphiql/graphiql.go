// Package graphiql serves GraphiQL, the in-browser GraphQL IDE, from files
// embedded in the binary. The page references no other origin, so it works
// offline and under a Content-Security-Policy that allows only this one.
//
// npm/ holds files copied unchanged from the npm registry's tarballs by
// update.sh (GraphiQL 4.1.2, React and ReactDOM 18.2.0; README.md says where
// each file comes from, SHA256SUMS what it must hash to); static/ holds the
// page's own script and style.
package graphiql

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed page.html npm static
var files embed.FS

// contentSecurityPolicy is the page's policy. The page has no inline script
// or style, and GraphiQL needs no eval; beyond 'self' it needs:
//   - data: fonts and images, which its stylesheet embeds;
//   - one <style> element, which react-remove-scroll (in GraphiQL's dialogs)
//     adds to lock the page's scrolling: it carries the nonce the page hands
//     it (__webpack_nonce__), so no other inline style is allowed;
//   - nothing for the WebSocket: CSP 3 lets 'self' match ws: and wss: on the
//     page's host, so connect-src 'self' covers /graphql over HTTP and WS.
//
// Scripts may still set element styles through the DOM (React's style props,
// CodeMirror), which no policy restricts.
func contentSecurityPolicy(nonce string) string {
	return "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-" + nonce + "'; " +
		"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// Options say where the page lives and what it talks to.
type Options struct {
	// Path is the page's URL path, for example /graphiql; its files are
	// served under Path/assets/.
	Path string
	// Endpoint is the GraphQL endpoint's path, for example /graphql; the
	// page derives its HTTP and WebSocket URLs from its own location.
	Endpoint string
	Title    string
}

// Handler serves the page at Options.Path and its files under
// Options.Path/assets/.
type Handler struct {
	opts   Options
	page   *template.Template
	assets map[string]file // by URL path
}

// pageData is what the page template sees.
type pageData struct {
	Options
	Nonce string
}

type file struct {
	body        []byte
	contentType string
	etag        string
}

func newFile(body []byte, contentType string) file {
	sum := sha256.Sum256(body)
	return file{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// contentTypes are the types of the files the page uses, by extension; a
// file of any other kind makes New panic, so each new kind is chosen here.
var contentTypes = map[string]string{
	".js":      "text/javascript; charset=utf-8",
	".css":     "text/css; charset=utf-8",
	".LICENSE": "text/plain; charset=utf-8",
}

// New builds the page and indexes its files. It panics only if the embedded
// files are inconsistent (a name the page uses is missing, a file has an
// unknown kind), which the package's tests rule out.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, assets: map[string]file{}}
	urls := map[string]string{}        // file name -> URL path
	integrities := map[string]string{} // file name -> subresource integrity
	for _, dir := range []string{"npm", "static"} {
		entries, err := fs.ReadDir(files, dir)
		if err != nil {
			panic(fmt.Sprintf("graphiql: %v", err))
		}
		for _, e := range entries {
			name := e.Name()
			body, err := files.ReadFile(dir + "/" + name)
			if err != nil {
				panic(fmt.Sprintf("graphiql: %v", err))
			}
			ct, ok := contentTypes[path.Ext(name)]
			if !ok {
				panic(fmt.Sprintf("graphiql: no content type for %s/%s", dir, name))
			}
			if _, dup := urls[name]; dup {
				panic(fmt.Sprintf("graphiql: two files named %s", name))
			}
			sum := sha256.Sum256(body)
			// The content's hash in the URL lets browsers keep each file
			// for good: a new version is a new URL, and an old URL stops
			// answering rather than serving other content.
			u := opts.Path + "/assets/" + hex.EncodeToString(sum[:8]) + "/" + name
			urls[name] = u
			integrities[name] = "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
			h.assets[u] = newFile(body, ct)
		}
	}
	lookup := func(m map[string]string) func(string) (string, error) {
		return func(name string) (string, error) {
			if v, ok := m[name]; ok {
				return v, nil
			}
			return "", fmt.Errorf("no embedded file %s", name)
		}
	}
	page, err := template.New("page.html").Funcs(template.FuncMap{
		"asset":     lookup(urls),
		"integrity": lookup(integrities),
	}).ParseFS(files, "page.html")
	if err != nil {
		panic(fmt.Sprintf("graphiql: %v", err))
	}
	// Once here, so that a file the page names but the binary lacks fails
	// at start rather than on a request.
	if err := page.Execute(io.Discard, pageData{Options: opts, Nonce: rand.Text()}); err != nil {
		panic(fmt.Sprintf("graphiql: %v", err))
	}
	h.page = page
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	header := w.Header()
	header.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path == h.opts.Path {
		h.servePage(w, r)
		return
	}
	f, ok := h.assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	header.Set("Cache-Control", "public, max-age=31536000, immutable")
	f.serve(w, r)
}

// servePage renders the page with a new nonce, so that no one can know it
// in advance; it is never stored, so an upgrade's new asset URLs are seen at
// once.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	nonce := rand.Text()
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, pageData{Options: h.opts, Nonce: nonce}); err != nil {
		// New executed the same template, so this does not happen.
		http.Error(w, "could not render GraphiQL", http.StatusInternalServerError)
		return
	}
	header := w.Header()
	header.Set("Content-Type", "text/html; charset=utf-8")
	header.Set("Content-Security-Policy", contentSecurityPolicy(nonce))
	header.Set("Cache-Control", "no-store")
	header.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(buf.Bytes())
}

// serve answers conditional, range and HEAD requests too.
func (f file) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
