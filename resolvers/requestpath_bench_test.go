package resolvers_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"switchboard/gateway/gatewaytest"
)

// BenchmarkOperations runs operations through the gateway's handler in
// process (no network, so allocations are the server's own) against the
// real database: the request path's time and allocations per operation.
//
//	make bench BENCH=Operations BENCHCOUNT=5
func BenchmarkOperations(b *testing.B) {
	w := newWorld(b, gatewaytest.Options{Logger: slog.New(slog.DiscardHandler)})
	// A page of the member list is twenty members, as on a real team
	// screen: the fixture's five plus twenty written straight into the
	// database (a fixture may bypass the services).
	if _, err := w.srv.DB.Pool().ExecContext(b.Context(), `
		WITH u AS (
			INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at)
			SELECT gen_random_uuid(), 'bench-' || i || '-' || $1 || '@example.com', 'Bench Member ' || i, 'x', now(), now()
			FROM generate_series(1, 20) i RETURNING id)
		INSERT INTO memberships (account_id, user_id, role, created_at) SELECT $1::uuid, id, 'SALES_REP', now() FROM u`, w.A); err != nil {
		b.Fatal(err)
	}
	handler := w.srv.App.Gateway.Handler()
	for _, op := range []struct {
		name  string
		query string
		vars  map[string]any
	}{
		{"typename", `{ __typename }`, nil},
		{"me", `{ me { id email } }`, nil},
		{"members", `{ account { members(first: 20) { nodes { userId name role { name } } } } }`, nil},
		{"updateMember", `mutation($u: ID!, $n: String!) { updateMember(userId: $u, input: {name: $n}) { userId name } }`,
			map[string]any{"u": w.repA.id, "n": "Bench Rep"}},
	} {
		body, _ := json.Marshal(map[string]any{"query": op.query, "variables": op.vars})
		b.Run(op.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+w.ownerA.token)
				req.Header.Set("X-Account-ID", w.A)
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
					b.Fatalf("%d %s", rec.Code, rec.Body.Bytes())
				}
			}
		})
	}
}
