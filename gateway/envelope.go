package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
)

// The envelope of a GraphQL request is everything around the document: the
// method, the media types and the JSON (or URL) that carries query,
// operationName, variables and extensions. The gateway reads it itself,
// before gqlgen: gqlgen's transports answer a malformed one with an error
// that quotes the whole body (passwords included), which would then be
// logged as an internal error. Every message here is written for the client
// and quotes nothing the client sent.

// Media types of GraphQL over HTTP.
const (
	mediaJSON            = "application/json"
	mediaGraphQL         = "application/graphql"
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaEventStream     = "text/event-stream"
)

// envelopeError refuses a request before GraphQL runs: its HTTP status and
// a message for the client. Its code is always BAD_REQUEST.
type envelopeError struct {
	status  int
	message string
	// header is set on the response (Allow for a 405).
	header map[string]string
}

func (e *envelopeError) Error() string { return e.message }

func badRequest(format string, args ...any) *envelopeError {
	return &envelopeError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

// allowedMethods are the methods /graphql answers.
const allowedMethods = "GET, POST, OPTIONS"

// requestMediaType is the media type of a POST body: application/json or
// application/graphql, in UTF-8. Form types are refused above all: a
// browser sends them cross-site without a preflight, so accepting one
// would let any page post as a signed-in user (CSRF).
func requestMediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	unsupported := &envelopeError{status: http.StatusUnsupportedMediaType,
		message: "send the request as application/json (or application/graphql)"}
	if ct == "" {
		return "", unsupported
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || (mediaType != mediaJSON && mediaType != mediaGraphQL) {
		return "", unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", &envelopeError{status: http.StatusUnsupportedMediaType, message: "send the request body in UTF-8"}
	}
	return mediaType, nil
}

// negotiate picks the response's media type from Accept, as RFC 9110
// says: the highest quality wins, then the most specific range, then the
// one listed first. Without Accept, or for */* and application/*, the
// answer is application/json, which every client understands (the audit's
// 80D8 and 47DE). Server-sent events are offered only to a POST (stream),
// and only when asked for by name. Nothing acceptable is a 406, as the
// GraphQL-over-HTTP spec recommends.
func negotiate(accept []string, stream bool) (string, error) {
	ranges := parseAccept(strings.Join(accept, ","))
	if len(ranges) == 0 {
		return mediaJSON, nil
	}
	offers := []string{mediaJSON, mediaGraphQLResponse}
	if stream {
		offers = append(offers, mediaEventStream)
	}
	best, bestRank := "", acceptRank{}
	for _, offer := range offers {
		rank, ok := rankOffer(offer, ranges)
		if !ok || rank.q == 0 || (offer == mediaEventStream && rank.specificity < 2) {
			continue
		}
		if best == "" || rank.better(bestRank) {
			best, bestRank = offer, rank
		}
	}
	if best == "" {
		return "", &envelopeError{status: http.StatusNotAcceptable,
			message: "this endpoint answers application/graphql-response+json or application/json (and text/event-stream to a POST)"}
	}
	return best, nil
}

// acceptRange is one entry of an Accept header.
type acceptRange struct {
	typ, subtype string
	q            int // thousandths
	charsetOK    bool
}

func parseAccept(header string) []acceptRange {
	var out []acceptRange
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mediaType, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		if mediaType == "*" {
			mediaType = "*/*" // what some old clients (Java's) send for */*
		}
		typ, subtype, ok := strings.Cut(mediaType, "/")
		if !ok {
			continue
		}
		q, ok := parseQuality(params["q"])
		if !ok {
			continue
		}
		cs, hasCharset := params["charset"]
		out = append(out, acceptRange{typ: typ, subtype: subtype, q: q, charsetOK: !hasCharset || strings.EqualFold(cs, "utf-8")})
	}
	return out
}

// parseQuality reads a qvalue ("0" to "1" with up to three decimals); an
// absent one is 1.
func parseQuality(s string) (int, bool) {
	if s == "" {
		return 1000, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, false
	}
	return int(f*1000 + 0.5), true
}

// acceptRank is how well an Accept header takes one offer.
type acceptRank struct {
	q, specificity, index int
}

func (a acceptRank) better(b acceptRank) bool {
	if a.q != b.q {
		return a.q > b.q
	}
	if a.specificity != b.specificity {
		return a.specificity > b.specificity
	}
	return a.index < b.index
}

// rankOffer finds the most specific range that matches offer: its quality
// is the offer's (RFC 9110, 12.5.1).
func rankOffer(offer string, ranges []acceptRange) (acceptRank, bool) {
	typ, subtype, _ := strings.Cut(offer, "/")
	best, found := acceptRank{}, false
	for i, r := range ranges {
		var specificity int
		switch {
		case r.typ == typ && r.subtype == subtype:
			specificity = 2
		case r.typ == typ && r.subtype == "*":
			specificity = 1
		case r.typ == "*" && r.subtype == "*":
			specificity = 0
		default:
			continue
		}
		if !r.charsetOK {
			continue
		}
		rank := acceptRank{q: r.q, specificity: specificity, index: i}
		if !found || specificity > best.specificity {
			best, found = rank, true
		}
	}
	return best, found
}

// jsonEnvelope reads a POST body of application/json: one JSON object
// (never an array: batches are not supported, see the README).
func jsonEnvelope(body []byte) (*graphql.RawParams, error) {
	if !utf8.Valid(body) {
		return nil, badRequest("the request body is not UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, badRequest(`the request body is empty: send a JSON object with a "query"`)
	}
	if trimmed[0] == '[' {
		return nil, badRequest("batched requests are not supported: send one operation per request")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return nil, jsonError("the request body", err)
	}
	if fields == nil {
		return nil, badRequest(`the request body must be a JSON object with a "query"`)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("the request body has more after its JSON object")
	}
	params := &graphql.RawParams{}
	query, ok, err := jsonString(fields, "query")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badRequest(`the request has no "query": send the GraphQL document as a string`)
	}
	params.Query = query
	if params.OperationName, _, err = jsonString(fields, "operationName"); err != nil {
		return nil, err
	}
	if params.Variables, err = jsonObject(fields["variables"], `"variables"`); err != nil {
		return nil, err
	}
	if params.Extensions, err = jsonObject(fields["extensions"], `"extensions"`); err != nil {
		return nil, err
	}
	return params, nil
}

// jsonError describes a JSON decoding failure by position only: the
// decoder's own message quotes the offending character.
func jsonError(what string, err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return badRequest("%s is not valid JSON (at byte %d)", what, se.Offset)
	}
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return badRequest("%s must be a JSON object", what)
	}
	return badRequest("%s is not valid JSON (it ends early)", what)
}

// jsonString reads an optional string field; null is the same as absent.
func jsonString(fields map[string]json.RawMessage, name string) (string, bool, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, badRequest("%q must be a string", name)
	}
	return s, true, nil
}

// jsonObject reads an optional JSON object; null is the same as absent.
// Numbers stay json.Number, as gqlgen's own decoding keeps them, so that
// Int and Float coercion sees what the client wrote.
func jsonObject(raw []byte, what string) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("%s has more after its JSON object", what)
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("%s must be a JSON object", what)
	}
	return m, nil
}

// graphqlEnvelope reads a POST body of application/graphql: the document
// itself.
func graphqlEnvelope(body []byte) (*graphql.RawParams, error) {
	if !utf8.Valid(body) {
		return nil, badRequest("the request body is not UTF-8")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("the request body is empty: send the GraphQL document")
	}
	return &graphql.RawParams{Query: string(body)}, nil
}

// urlEnvelope reads a GET's parameters from the URL query, where
// variables and extensions are JSON text.
func urlEnvelope(rawQuery string) (*graphql.RawParams, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("the URL query is malformed")
	}
	one := func(name string) (string, error) {
		v := values[name]
		if len(v) > 1 {
			return "", badRequest("the URL gives %q more than once", name)
		}
		if len(v) == 0 {
			return "", nil
		}
		if !utf8.ValidString(v[0]) {
			return "", badRequest("the URL's %q is not UTF-8", name)
		}
		return v[0], nil
	}
	params := &graphql.RawParams{}
	if params.Query, err = one("query"); err != nil {
		return nil, err
	}
	if params.Query == "" {
		return nil, badRequest(`the request has no "query": send the GraphQL document in the URL's query parameter`)
	}
	if params.OperationName, err = one("operationName"); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &params.Variables}, {"extensions", &params.Extensions}} {
		v, err := one(p.name)
		if err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		if *p.dst, err = jsonObject([]byte(v), strconv.Quote(p.name)); err != nil {
			return nil, err
		}
	}
	return params, nil
}

// isWebSocketUpgrade reports a request that asks for a WebSocket. Other
// Upgrade values (h2c...) are ignored, as HTTP allows.
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Upgrade", "websocket")
}

// handshakeError checks a WebSocket handshake the way coder/websocket will
// (RFC 6455, 4.2.1), so that a bad one is refused here, in the error shape:
// coder/websocket would answer in plain text and gqlgen would log its
// message, which quotes the client's headers.
func handshakeError(r *http.Request) error {
	if r.Method != http.MethodGet {
		return &envelopeError{status: http.StatusMethodNotAllowed, message: "a WebSocket handshake is a GET", header: map[string]string{"Allow": http.MethodGet}}
	}
	if !r.ProtoAtLeast(1, 1) || !headerHasToken(r.Header, "Connection", "upgrade") {
		return badRequest("a WebSocket handshake needs HTTP/1.1 and Connection: Upgrade")
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return &envelopeError{status: http.StatusBadRequest, message: "only WebSocket version 13 is supported", header: map[string]string{"Sec-WebSocket-Version": "13"}}
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return badRequest("a WebSocket handshake needs one Sec-WebSocket-Key")
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return badRequest("the Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
