package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/crm"
)

// httpTransport serves GraphQL over HTTP (GET, POST, and server-sent events
// through gqlgen's SSE transport) in place of gqlgen's HTTP transports. It
// reads the envelope itself (envelope.go), and answers with the status
// codes the GraphQL-over-HTTP spec gives each media type:
//
//   - a request error (the document does not parse or validate, a shape
//     limit refuses it, its variables do not coerce) answers 200 under
//     application/json, where clients trust only a 200 to be GraphQL, and
//     400 under application/graphql-response+json; either way without a
//     "data" entry, as nothing ran;
//   - an executed operation answers 200, whatever its field errors;
//   - a malformed envelope answers 4xx with BAD_REQUEST (envelopeError).
type httpTransport struct {
	g   *Gateway
	sse transport.SSE
}

var _ graphql.Transport = httpTransport{}

// Supports takes every request but a well-formed WebSocket handshake, which
// gqlgen's WebSocket transport (registered after this one) accepts.
func (t httpTransport) Supports(r *http.Request) bool {
	return !isWebSocketUpgrade(r) || handshakeError(r) != nil
}

func (t httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if r.Method == http.MethodOptions && !isWebSocketUpgrade(r) {
		// A CORS preflight; the middleware has set its headers.
		w.Header().Set("Allow", allowedMethods)
		w.WriteHeader(http.StatusOK)
		return
	}
	params, media, err := readEnvelope(r)
	if err != nil {
		t.g.refuseEnvelope(w, r, err)
		return
	}
	if media == mediaEventStream {
		body, err := json.Marshal(params)
		if err != nil {
			t.g.internalError(w, r, err)
			return
		}
		// gqlgen's SSE transport reads the body again: give it what was
		// accepted, so that its own decoding (which would log the body on
		// failure) cannot fail.
		r.Body = io.NopCloser(bytes.NewReader(body))
		t.sse.Do(w, r, exec)
		return
	}
	ctx := r.Context()
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: graphql.GetStartTime(ctx), End: graphql.Now()}
	opCtx, requestErrs := exec.CreateOperationContext(ctx, params)
	if requestErrs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), requestErrs)
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		t.write(w, r, media, status, requestErrorResponse{Errors: resp.Errors, Extensions: resp.Extensions})
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		// GET is safe (HTTP's word): it never changes anything, so a link
		// or an image cannot make a signed-in browser mutate.
		t.g.refuseEnvelope(w, r, &envelopeError{status: http.StatusMethodNotAllowed,
			message: "GET runs queries only: send mutations with POST, subscriptions over a WebSocket or server-sent events",
			header:  map[string]string{"Allow": http.MethodPost}})
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	t.write(w, r, media, http.StatusOK, responses(ctx))
}

// requestErrorResponse is a response to a request that did not execute: it
// has no "data" entry at all, as the GraphQL spec wants when an error is
// raised before execution begins (gqlgen would write "data": null).
type requestErrorResponse struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func (t httpTransport) write(w http.ResponseWriter, r *http.Request, media string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.g.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readEnvelope reads the request's GraphQL parameters and the media type
// its answer will use, in the order the refusals should come: method (405),
// content type (415), Accept (406), then the parameters (400).
func readEnvelope(r *http.Request) (*graphql.RawParams, string, error) {
	if isWebSocketUpgrade(r) {
		if err := handshakeError(r); err != nil {
			return nil, "", err
		}
		return nil, "", errors.New("a well-formed WebSocket handshake reached the HTTP transport") // Supports prevents it
	}
	switch r.Method {
	case http.MethodGet:
		media, err := negotiate(r.Header.Values("Accept"), false)
		if err != nil {
			return nil, "", err
		}
		params, err := urlEnvelope(r.URL.RawQuery)
		return params, media, err
	case http.MethodPost:
		requestType, err := requestMediaType(r)
		if err != nil {
			return nil, "", err
		}
		media, err := negotiate(r.Header.Values("Accept"), true)
		if err != nil {
			return nil, "", err
		}
		// The middleware has buffered the body, within the size limit.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, "", badRequest("could not read the request body")
		}
		var params *graphql.RawParams
		if requestType == mediaGraphQL {
			params, err = graphqlEnvelope(body)
		} else {
			params, err = jsonEnvelope(body)
		}
		return params, media, err
	default:
		return nil, "", &envelopeError{status: http.StatusMethodNotAllowed, message: "use GET or POST",
			header: map[string]string{"Allow": allowedMethods}}
	}
}

// wantsEventStream reports a POST whose answer negotiates server-sent
// events, the way httpTransport will decide it.
func wantsEventStream(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	media, err := negotiate(r.Header.Values("Accept"), true)
	return err == nil && media == mediaEventStream
}

// refuseEnvelope answers an envelope error with BAD_REQUEST.
func (g *Gateway) refuseEnvelope(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := errors.AsType[*envelopeError](err)
	if !ok {
		g.internalError(w, r, err)
		return
	}
	for k, v := range e.header {
		w.Header().Set(k, v)
	}
	g.refuse(w, r, e.status, string(crm.CodeBadRequest), e.message)
}
