package resolvers_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"switchboard/db"
	"switchboard/db/dbtest"
	"switchboard/gateway/gatewaytest"
)

// BenchmarkScaleOverHTTP measures, over HTTP on loopback with auth and
// scope, the generated viewer listing 20 contacts (with their companies
// and owners) of their biggest account, and one search over their 50
// accounts, on the scale dataset. One client at a time: the latency a
// person sees.
//
//	make bench-search
func BenchmarkScaleOverHTTP(b *testing.B) {
	url := os.Getenv("SWITCHBOARD_SCALE_DATABASE_URL")
	if url == "" {
		b.Skip("no scale dataset: run make bench-search, which builds it and sets SWITCHBOARD_SCALE_DATABASE_URL")
	}
	srv := gatewaytest.Start(b, gatewaytest.Options{Database: dbtest.Database{Name: "scale", URL: url}, Logger: slog.New(slog.DiscardHandler)})
	raw, err := sqlx.Open("postgres", url)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	var account string
	if err := raw.Get(&account, `SELECT m.account_id FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE u.email = $1 ORDER BY (SELECT count(*) FROM contacts c WHERE c.account_id = m.account_id) DESC LIMIT 1`, db.ScaleViewerEmail); err != nil {
		b.Fatal(err)
	}
	var signedIn struct{ Login struct{ Token string } }
	srv.Post(b, gatewaytest.Request{Query: `mutation($in: LoginInput!) { login(input: $in) { token } }`,
		Variables: map[string]any{"in": map[string]any{"email": db.ScaleViewerEmail, "password": db.ScaleViewerPassword}}}).Decode(b, &signedIn)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, op := range []struct{ name, query string }{
		{"contacts20", `{ account { contacts(first: 20) { nodes { id name primaryEmail company { name } owner { name } } pageInfo { endCursor } } } }`},
		{"search", `{ search(query: "acme renewal") { nodes { type title snippet account { name } } } }`},
	} {
		body, _ := json.Marshal(map[string]any{"query": op.query})
		b.Run(op.name, func(b *testing.B) {
			var samples []time.Duration
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+signedIn.Login.Token)
				req.Header.Set("X-Account-ID", account)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var out bytes.Buffer
				_, _ = out.ReadFrom(resp.Body)
				resp.Body.Close()
				samples = append(samples, time.Since(start))
				if resp.StatusCode != http.StatusOK || bytes.Contains(out.Bytes(), []byte(`"errors"`)) {
					b.Fatalf("%d %s", resp.StatusCode, out.Bytes())
				}
			}
			slices.Sort(samples)
			for _, p := range []struct {
				name string
				q    float64
			}{{"p50", 0.50}, {"p99", 0.99}} {
				d := samples[min(int(float64(len(samples)-1)*p.q+0.5), len(samples)-1)]
				b.ReportMetric(float64(d.Microseconds())/1000, p.name+"-ms")
			}
		})
	}
}
