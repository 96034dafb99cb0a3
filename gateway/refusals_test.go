package gateway_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"switchboard/gateway/gatewaytest"
)

// secret is a password that must never reach a log line.
const secret = "Tr0ub4dor&3-never-logged"

const loginMutation = `mutation($in: LoginInput!) { login(input: $in) { token } }`

var loginVariables = `{"in":{"email":"someone@example.com","password":"` + secret + `"}}`

// refusal is one request the gateway answers itself, before GraphQL.
type refusal struct {
	name   string
	method string
	path   string
	header http.Header
	body   string
	status int
	code   string
	allow  string // the Allow header of a 405
}

func jsonHeader(extra ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func refusals() []refusal {
	login := `{"query":"` + strings.ReplaceAll(loginMutation, `"`, `\"`) + `","variables":` + loginVariables + `}`
	return []refusal{
		{name: "trailing comma", method: "POST", header: jsonHeader(), body: strings.TrimSuffix(login, "}") + ",}", status: 400, code: "BAD_REQUEST"},
		{name: "truncated JSON", method: "POST", header: jsonHeader(), body: login[:len(login)/2], status: 400, code: "BAD_REQUEST"},
		{name: "batch", method: "POST", header: jsonHeader(), body: "[" + login + "," + login + "]", status: 400, code: "BAD_REQUEST"},
		{name: "malformed batch", method: "POST", header: jsonHeader(), body: "[" + login + ",]", status: 400, code: "BAD_REQUEST"},
		{name: "batch over SSE", method: "POST", header: jsonHeader("Accept", "text/event-stream"), body: "[" + login + "]", status: 400, code: "BAD_REQUEST"},
		{name: "malformed over SSE", method: "POST", header: jsonHeader("Accept", "text/event-stream"), body: login + "}", status: 400, code: "BAD_REQUEST"},
		{name: "data after the object", method: "POST", header: jsonHeader(), body: login + ` {"query":"{ __typename }"}`, status: 400, code: "BAD_REQUEST"},
		{name: "JSON string", method: "POST", header: jsonHeader(), body: `"` + secret + `"`, status: 400, code: "BAD_REQUEST"},
		{name: "JSON null", method: "POST", header: jsonHeader(), body: `null`, status: 400, code: "BAD_REQUEST"},
		{name: "empty body", method: "POST", header: jsonHeader(), body: ``, status: 400, code: "BAD_REQUEST"},
		{name: "not UTF-8", method: "POST", header: jsonHeader(), body: "{\"query\":\"{ __typename }\",\"variables\":{\"p\":\"\xff\xfe\"}}", status: 400, code: "BAD_REQUEST"},
		{name: "no query", method: "POST", header: jsonHeader(), body: `{"variables":` + loginVariables + `}`, status: 400, code: "BAD_REQUEST"},
		{name: "numeric query", method: "POST", header: jsonHeader(), body: `{"query":1,"variables":` + loginVariables + `}`, status: 400, code: "BAD_REQUEST"},
		{name: "list variables", method: "POST", header: jsonHeader(), body: `{"query":"{ __typename }","variables":["` + secret + `"]}`, status: 400, code: "BAD_REQUEST"},
		{name: "string extensions", method: "POST", header: jsonHeader(), body: `{"query":"{ __typename }","extensions":"` + secret + `"}`, status: 400, code: "BAD_REQUEST"},
		{name: "object operationName", method: "POST", header: jsonHeader(), body: `{"query":"{ __typename }","operationName":{"p":"` + secret + `"}}`, status: 400, code: "BAD_REQUEST"},
		{name: "form post", method: "POST", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			body: "query=" + url.QueryEscape(loginMutation) + "&variables=" + url.QueryEscape(loginVariables), status: 415, code: "BAD_REQUEST"},
		{name: "multipart form", method: "POST", header: http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, body: "--x--", status: 415, code: "BAD_REQUEST"},
		{name: "text/plain", method: "POST", header: http.Header{"Content-Type": {"text/plain"}}, body: login, status: 415, code: "BAD_REQUEST"},
		{name: "no content type", method: "POST", body: login, status: 415, code: "BAD_REQUEST"},
		{name: "latin-1 JSON", method: "POST", header: http.Header{"Content-Type": {"application/json; charset=iso-8859-1"}}, body: login, status: 415, code: "BAD_REQUEST"},
		{name: "PUT", method: "PUT", header: jsonHeader(), body: login, status: 405, code: "BAD_REQUEST", allow: "GET, POST, OPTIONS"},
		{name: "DELETE", method: "DELETE", status: 405, code: "BAD_REQUEST", allow: "GET, POST, OPTIONS"},
		{name: "mutation over GET", method: "GET", path: "/graphql?query=" + url.QueryEscape(loginMutation) + "&variables=" + url.QueryEscape(loginVariables),
			status: 405, code: "BAD_REQUEST", allow: "POST"},
		{name: "GET without query", method: "GET", path: "/graphql?variables=" + url.QueryEscape(loginVariables), status: 400, code: "BAD_REQUEST"},
		{name: "GET with list variables", method: "GET", path: "/graphql?query=%7B__typename%7D&variables=" + url.QueryEscape(`["`+secret+`"]`), status: 400, code: "BAD_REQUEST"},
		{name: "GET with query twice", method: "GET", path: "/graphql?query=%7B__typename%7D&query=%7B__typename%7D", status: 400, code: "BAD_REQUEST"},
		{name: "Accept text/html", method: "POST", header: jsonHeader("Accept", "text/html"), body: login, status: 406, code: "BAD_REQUEST"},
		{name: "Accept json with q=0", method: "POST", header: jsonHeader("Accept", "application/json;q=0, application/graphql-response+json;q=0"), body: login, status: 406, code: "BAD_REQUEST"},
		{name: "GET Accept text/event-stream", method: "GET", path: "/graphql?query=%7B__typename%7D", header: http.Header{"Accept": {"text/event-stream"}}, status: 406, code: "BAD_REQUEST"},
		{name: "WebSocket handshake without key", method: "GET", header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-WebSocket-Version": {"13"}}, status: 400, code: "BAD_REQUEST"},
		{name: "WebSocket handshake of version 8", method: "GET", header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-WebSocket-Version": {"8"}, "Sec-WebSocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}, status: 400, code: "BAD_REQUEST"},
		{name: "WebSocket handshake by POST", method: "POST", header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, status: 405, code: "BAD_REQUEST", allow: "GET"},
		{name: "unknown path", method: "GET", path: "/nope", status: 404, code: "NOT_FOUND"},
		{name: "POST to /healthz", method: "POST", path: "/healthz", status: 405, code: "BAD_REQUEST", allow: "GET, HEAD"},
	}
}

// TestMalformedEnvelopesAreRefusedWithACode: every request the gateway
// refuses before GraphQL answers in the GraphQL error shape, with its
// status and code, without quoting what the client sent; it is counted in
// switchboard_graphql_errors_total.
func TestMalformedEnvelopesAreRefusedWithACode(t *testing.T) {
	t.Parallel()
	srv := gatewaytest.Start(t, gatewaytest.Options{})
	badRequests := 0
	for _, tc := range refusals() {
		if tc.code == "BAD_REQUEST" {
			badRequests++
		}
		t.Run(tc.name, func(t *testing.T) {
			status, header, body := send(t, srv, tc)
			if status != tc.status {
				t.Errorf("status %d, want %d (body %s)", status, tc.status, body)
			}
			if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("content type %q", ct)
			}
			var shape struct {
				Errors []struct {
					Message    string         `json:"message"`
					Extensions map[string]any `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(body, &shape); err != nil || len(shape.Errors) != 1 || shape.Errors[0].Message == "" {
				t.Fatalf("not the error shape: %s (%v)", body, err)
			}
			if code := shape.Errors[0].Extensions["code"]; code != tc.code {
				t.Errorf("code %v, want %s (body %s)", code, tc.code, body)
			}
			if tc.allow != "" && header.Get("Allow") != tc.allow {
				t.Errorf("Allow %q, want %q", header.Get("Allow"), tc.allow)
			}
			if strings.Contains(string(body), secret) || strings.Contains(string(body), "someone@example.com") {
				t.Errorf("the answer quotes the request: %s", body)
			}
		})
	}
	metrics := fetchOK(t, srv.URL+"/metrics")
	if want := `switchboard_graphql_errors_total{code="BAD_REQUEST"} ` + strconv.Itoa(badRequests); !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %q", want)
	}
}

// TestPasswordsInMalformedRequestsAreNeverLogged: a login whose envelope is
// broken is refused 400 BAD_REQUEST, and its password appears in no log
// line at any level (gqlgen's own transports quote the whole body in an
// error that used to be logged as internal).
func TestPasswordsInMalformedRequestsAreNeverLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := gatewaytest.Start(t, gatewaytest.Options{
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	for _, tc := range refusals() {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := send(t, srv, tc)
			if status != tc.status {
				t.Errorf("status %d, want %d (body %s)", status, tc.status, body)
			}
		})
	}
	for _, name := range []string{"trailing comma", "batch"} {
		for _, tc := range refusals() {
			if tc.name == name && (tc.status != http.StatusBadRequest || tc.code != "BAD_REQUEST" || !strings.Contains(tc.body, secret)) {
				t.Fatalf("%s: the case no longer sends a password with a 400 BAD_REQUEST answer", name)
			}
		}
	}
	out := logs.String()
	if strings.Contains(out, secret) {
		t.Fatalf("the password was logged:\n%s", out)
	}
	// The capture works: refusals are logged at debug, with their reason...
	if !strings.Contains(out, `"level":"DEBUG","msg":"refused"`) || !strings.Contains(out, "batched requests are not supported") {
		t.Fatalf("no debug line for the refusals:\n%s", out)
	}
	// ...and none of them as an error.
	if strings.Contains(out, `"level":"ERROR"`) {
		t.Fatalf("a refusal was logged as an error:\n%s", out)
	}
}

func send(t *testing.T, srv *gatewaytest.Server, tc refusal) (int, http.Header, []byte) {
	t.Helper()
	path := tc.path
	if path == "" {
		path = "/graphql"
	}
	var body io.Reader
	if tc.body != "" {
		body = strings.NewReader(tc.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tc.header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func fetchOK(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}
