package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestNegotiateFollowsAccept(t *testing.T) {
	cases := []struct {
		accept string
		stream bool
		want   string // "" for 406
	}{
		{"", false, mediaJSON},
		{"*/*", false, mediaJSON},
		{"application/*", false, mediaJSON},
		{"*", false, mediaJSON},
		{"application/json", false, mediaJSON},
		{"application/json; charset=utf-8", false, mediaJSON},
		{"application/graphql-response+json", false, mediaGraphQLResponse},
		{"application/graphql-response+json; charset=utf-8, application/json; charset=utf-8", false, mediaGraphQLResponse},
		{"application/json, application/graphql-response+json", false, mediaJSON},
		{"application/graphql-response+json;q=0.5, application/json", false, mediaJSON},
		{"application/json;q=0.9, application/graphql-response+json", false, mediaGraphQLResponse},
		{"application/json;q=0, */*", false, mediaGraphQLResponse},
		{"text/html, */*;q=0.1", false, mediaJSON},
		{"text/event-stream", true, mediaEventStream},
		{"application/json, text/event-stream;q=0.5", true, mediaJSON},
		{"text/event-stream, application/json", true, mediaEventStream},
		{"*/*", true, mediaJSON},
		{"text/*", true, ""},
		{"text/event-stream", false, ""},
		{"text/html", false, ""},
		{"application/json; charset=iso-8859-1", false, ""},
		{"application/json;q=0", false, ""},
		{"application/json;q=2", false, mediaJSON}, // nothing parsable: as if there were no Accept
		{"application/xml, image/png", false, ""},
	}
	for _, tc := range cases {
		got, err := negotiate([]string{tc.accept}, tc.stream)
		if tc.want == "" {
			if e, ok := err.(*envelopeError); !ok || e.status != http.StatusNotAcceptable {
				t.Errorf("Accept %q (stream %v): %q, %v; want 406", tc.accept, tc.stream, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Accept %q (stream %v): %q, %v; want %q", tc.accept, tc.stream, got, err, tc.want)
		}
	}
	if got, err := negotiate(nil, false); err != nil || got != mediaJSON {
		t.Errorf("no Accept: %q, %v", got, err)
	}
}

func TestJSONEnvelope(t *testing.T) {
	p, err := jsonEnvelope([]byte(` {"query":"query Q($n: Int) { a(n: $n) }","operationName":"Q","variables":{"n":12345678901234567890},"extensions":{"e":true},"unknown":1} `))
	if err != nil {
		t.Fatal(err)
	}
	if p.Query != "query Q($n: Int) { a(n: $n) }" || p.OperationName != "Q" || p.Extensions["e"] != true {
		t.Fatalf("%+v", p)
	}
	// Numbers are kept as written, for Int and Float coercion.
	if n, ok := p.Variables["n"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Fatalf("variable n = %#v", p.Variables["n"])
	}
	p, err = jsonEnvelope([]byte(`{"query":"{ a }","operationName":null,"variables":null,"extensions":null}`))
	if err != nil || p.OperationName != "" || p.Variables != nil || p.Extensions != nil {
		t.Fatalf("nulls: %+v, %v", p, err)
	}
	for body, message := range map[string]string{
		`{"query":"{ a }",}`:                  "not valid JSON (at byte 18)",
		`{"query":"{ a }"`:                    "not valid JSON (it ends early)",
		`[{"query":"{ a }"}]`:                 "batched requests are not supported",
		` [`:                                  "batched requests are not supported",
		`"{ a }"`:                             "must be a JSON object",
		`null`:                                "must be a JSON object",
		``:                                    "the request body is empty",
		`{"query":"{ a }"} {}`:                "more after its JSON object",
		`{}`:                                  `no "query"`,
		`{"query":null}`:                      `no "query"`,
		`{"query":["{ a }"]}`:                 `"query" must be a string`,
		`{"query":"{ a }","variables":"x"}`:   `"variables" must be a JSON object`,
		`{"query":"{ a }","variables":[1]}`:   `"variables" must be a JSON object`,
		`{"query":"{ a }","extensions":0}`:    `"extensions" must be a JSON object`,
		`{"query":"{ a }","operationName":1}`: `"operationName" must be a string`,
		"{\"query\":\"\xff\"}":                "not UTF-8",
	} {
		_, err := jsonEnvelope([]byte(body))
		e, ok := err.(*envelopeError)
		if !ok || e.status != http.StatusBadRequest || !strings.Contains(e.message, message) {
			t.Errorf("body %q: %v, want 400 %q", body, err, message)
		}
	}
}

func TestURLEnvelope(t *testing.T) {
	p, err := urlEnvelope("query=query+Q%28%24n%3A+Int%29+%7B+a+%7D&operationName=Q&variables=%7B%22n%22%3A1%7D&extensions=null")
	if err != nil || p.Query != "query Q($n: Int) { a }" || p.OperationName != "Q" || p.Variables["n"] != json.Number("1") || p.Extensions != nil {
		t.Fatalf("%+v, %v", p, err)
	}
	for raw, message := range map[string]string{
		"":                                "no \"query\"",
		"query=%7Ba%7D&query=%7Bb%7D":     `"query" more than once`,
		"query=%7Ba%7D&variables=%5B1%5D": `"variables" must be a JSON object`,
		"query=%7Ba%7D&variables=%7B":     `"variables" is not valid JSON`,
		"query=%7Ba%7D&extensions=1":      `"extensions" must be a JSON object`,
		"query=%zz":                       "malformed",
		"query=%FF":                       "not UTF-8",
	} {
		_, err := urlEnvelope(raw)
		e, ok := err.(*envelopeError)
		if !ok || e.status != http.StatusBadRequest || !strings.Contains(e.message, message) {
			t.Errorf("query %q: %v, want 400 %q", raw, err, message)
		}
	}
}
