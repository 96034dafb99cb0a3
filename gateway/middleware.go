package gateway

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"switchboard/crm"
	"switchboard/resolvers"
)

// middleware wraps every route: it names the request, learns the client's
// address, refuses foreign hosts and origins and oversized bodies, logs the
// outcome and turns a panic outside GraphQL into a 500 with the request id.
func (g *Gateway) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header().Set("X-Request-ID", id)
		req := resolvers.Request{ID: id, IP: g.clientIP(r), UserAgent: r.UserAgent()}
		rec := &statusRecorder{ResponseWriter: w}
		ctx := resolvers.WithRequest(r.Context(), req)
		ctx = resolvers.WithToken(ctx, requestToken(r))
		if account := r.Header.Get("X-Account-ID"); account != "" {
			ctx = resolvers.WithAccountScope(ctx, account)
		}
		if !isStream(r) {
			ctx = resolvers.WithSessionCookie(ctx, &sessionCookie{w: rec, secure: g.secureCookies()})
		}
		r = r.WithContext(ctx)

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				g.log.ErrorContext(r.Context(), "panic in handler", "request_id", id, "panic", v)
				if rec.status == 0 {
					g.writeError(rec, r, http.StatusInternalServerError, string(crm.CodeInternal), "internal error")
				}
			}
			level := slog.LevelInfo
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
				level = slog.LevelDebug
			}
			g.log.Log(r.Context(), level, "request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration", time.Since(start), "ip", req.IP.String())
		}()

		if !g.origins.hostAllowed(r) {
			g.refuse(rec, r, http.StatusMisdirectedRequest, string(crm.CodeBadRequest), "this server does not answer for that host")
			return
		}
		if !g.origins.originAllowed(r) {
			g.refuse(rec, r, http.StatusForbidden, string(crm.CodeForbidden), "origin not allowed")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			h := rec.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Account-ID")
				h.Set("Access-Control-Max-Age", "600")
			}
		}
		if r.URL.Path == "/graphql" && !g.readBody(rec, r) {
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// readBody buffers a GraphQL request body up to the limit, so an oversized
// request is refused with its own code before anything parses it.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) bool {
	limit := g.cfg.Limits.MaxBodyBytes
	tooLarge := func() bool {
		g.refuse(w, r, http.StatusRequestEntityTooLarge, resolvers.CodeRequestTooLarge, "request is larger than the limit")
		return false
	}
	if int64(len(r.URL.RawQuery)) > limit {
		return tooLarge()
	}
	if r.Body == nil || r.Method == http.MethodGet || isWebSocketUpgrade(r) {
		return true
	}
	if r.ContentLength > limit {
		return tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		g.refuse(w, r, http.StatusBadRequest, string(crm.CodeBadRequest), "could not read the request body")
		return false
	}
	if int64(len(body)) > limit {
		return tooLarge()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// clientIP is the address of the client: the peer's, unless the peer is a
// configured trusted proxy, in which case X-Forwarded-For is read from the
// right, skipping trusted proxies, and the first other address is the
// client. Nothing a client writes in that header is believed otherwise.
func (g *Gateway) clientIP(r *http.Request) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !g.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr := parseAddr(strings.TrimSpace(hops[i]))
		if !addr.IsValid() {
			break
		}
		peer = addr
		if !g.trusted(addr) {
			break
		}
	}
	return peer
}

func (g *Gateway) trusted(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseAddr reads "ip", "ip:port" or "[ip]:port".
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

// CookieName is the session cookie.
const CookieName = "sb_session"

// requestToken is the session token a request presents: the Authorization
// header first, else the session cookie.
func requestToken(r *http.Request) string {
	if t := resolvers.BearerToken(r.Header.Get("Authorization")); t != "" {
		return t
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value
	}
	return ""
}

// secureCookies is false only for a plain-HTTP localhost public URL in
// development, where browsers would otherwise drop the cookie.
func (g *Gateway) secureCookies() bool {
	if g.cfg.IsProduction() {
		return true
	}
	u, err := url.Parse(g.cfg.PublicURL)
	if err != nil || u.Scheme != "http" {
		return true
	}
	switch host := u.Hostname(); host {
	case "localhost", "127.0.0.1", "::1":
		return false
	default:
		return !strings.HasSuffix(host, ".localhost")
	}
}

// sessionCookie writes the session cookie: HttpOnly (scripts cannot read
// it), SameSite=Lax (not sent on cross-site POSTs) and Secure.
type sessionCookie struct {
	w      http.ResponseWriter
	secure bool
}

func (c *sessionCookie) Set(token string, expires time.Time) {
	http.SetCookie(c.w, &http.Cookie{Name: CookieName, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
}

func (c *sessionCookie) Clear() {
	http.SetCookie(c.w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// refuse answers a request the gateway will not serve: the client's
// mistake, not the server's. It is counted by code and logged at debug
// with the gateway's own reason only, never with the body, the variables
// or a header value.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	g.log.DebugContext(r.Context(), "refused", "request_id", resolvers.RequestID(r.Context()), "status", status, "code", code, "reason", message)
	g.writeError(w, r, status, code, message)
}

// internalError answers the gateway's own fault: logged with the request
// id, shown as INTERNAL with that id.
func (g *Gateway) internalError(w http.ResponseWriter, r *http.Request, err error) {
	g.log.ErrorContext(r.Context(), "internal error", "request_id", resolvers.RequestID(r.Context()), "err", err)
	g.writeError(w, r, http.StatusInternalServerError, string(crm.CodeInternal), "internal error")
}

// writeError answers outside GraphQL execution in the GraphQL error shape,
// so clients handle every refusal the same way; it is counted in
// switchboard_graphql_errors_total like the errors of GraphQL execution.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	g.metrics.ErrorReturned(code)
	ext := map[string]any{"code": code}
	if id := resolvers.RequestID(r.Context()); id != "" && status >= 500 {
		ext["requestId"] = id
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": message, "extensions": ext}},
	})
}

// statusRecorder remembers the status for the log line. It passes Flush and
// Hijack through, which SSE and WebSocket need.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(s.ResponseWriter).Hijack()
}
