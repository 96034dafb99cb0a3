package db_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"switchboard/crm"
	"switchboard/db"
	"switchboard/secrets"
)

// scaleSearches are the typical searches of the scale benchmark, over the
// generator's vocabulary (db/generate.sql).
var scaleSearches = []struct{ name, text string }{
	{"namePrefix", "schm"},
	{"fullName", "anna müller"},
	{"emailFragment", "schmidt@gmail"},
	{"companyAndDeal", "acme renewal"},
	{"typo", "Schnieder"},
	{"phone", "030 5550"},
	{"commonWord", "renewal"},
}

// scaleViewer signs the generated viewer in by a session row of their own
// (the benchmark's database is its own) and returns their actor.
func scaleViewer(b *testing.B, raw *sqlx.DB) crm.Actor {
	b.Helper()
	var viewer uuid.UUID
	if err := raw.Get(&viewer, `SELECT id FROM users WHERE email = $1`, db.ScaleViewerEmail); err != nil {
		b.Fatalf("the scale dataset has no viewer: %v", err)
	}
	now := time.Now().UTC()
	token := secrets.NewToken(secrets.PrefixSession)
	raw.MustExec(`DELETE FROM sessions WHERE user_id = $1`, viewer)
	raw.MustExec(`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)`,
		uuid.Must(uuid.NewV7()), viewer, secrets.HashToken(token), now, now.Add(24*time.Hour))
	return crm.Actor{Token: token, Client: crm.Client{IP: homeIP}}
}

// percentiles reports p50, p95 and p99 of samples in milliseconds.
func percentiles(b *testing.B, prefix string, samples []time.Duration) {
	b.Helper()
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}} {
		d := samples[min(int(float64(len(samples)-1)*p.q+0.5), len(samples)-1)]
		b.ReportMetric(float64(d.Microseconds())/1000, prefix+p.name+"-ms")
	}
}

// BenchmarkSearchAtScale runs the typical searches as the generated viewer
// (50 accounts, mixed roles) over the scale dataset, eight searchers at
// once, and reports their latency percentiles; then the same searches with
// a member editing contacts all the while, and that writer's percentiles.
// It logs the index's sizes and the plan of one typical search.
//
//	make bench-search
//
// (which builds the dataset once, reuses it after, and sets
// SWITCHBOARD_SCALE_DATABASE_URL).
func BenchmarkSearchAtScale(b *testing.B) {
	url := os.Getenv("SWITCHBOARD_SCALE_DATABASE_URL")
	if url == "" {
		b.Skip("no scale dataset: run make bench-search, which builds it and sets SWITCHBOARD_SCALE_DATABASE_URL")
	}
	ctx := context.Background()
	d, err := db.Open(ctx, url, db.Options{MaxOpenConns: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	raw, err := sqlx.Open("postgres", url)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	viewer := scaleViewer(b, raw)
	svc := db.NewSearchService(d)
	search := func(text string) (int, error) {
		res, err := svc.Search(ctx, viewer, crm.SearchQuery{Text: text})
		if err != nil {
			return 0, err
		}
		return len(res.Nodes), nil
	}

	logSizes(b, raw)
	plan, err := db.ExplainSearchForTest(ctx, d, viewer, crm.SearchQuery{Text: "acme renewal"})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("EXPLAIN (ANALYZE, BUFFERS) of %q:\n%s", "acme renewal", plan)

	const searchers = 8
	for _, s := range scaleSearches {
		b.Run(s.name, func(b *testing.B) {
			var mu sync.Mutex
			var samples []time.Duration
			hits := 0
			b.SetParallelism((searchers + 1) / 2) // GOMAXPROCS 2 here: eight goroutines
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					n, err := search(s.text)
					if err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
					mu.Lock()
					hits = n
					mu.Unlock()
				}
				mu.Lock()
				samples = append(samples, mine...)
				mu.Unlock()
			})
			if hits == 0 {
				b.Fatalf("%q found nothing", s.text)
			}
			b.ReportMetric(float64(hits), "hits")
			percentiles(b, "", samples)
		})
	}

	// Writes while eight searchers run: the viewer renames a contact they
	// may edit, over and over.
	b.Run("writesWhileSearching", func(b *testing.B) {
		records := db.NewRecordServices(d, db.AccountConfig{Policy: crm.NewPasswordPolicy()})
		var target struct {
			AccountID uuid.UUID `db:"account_id"`
			ID        uuid.UUID `db:"id"`
		}
		if err := raw.Get(&target, `SELECT c.account_id, c.id FROM contacts c JOIN memberships m ON m.account_id = c.account_id
			JOIN users u ON u.id = m.user_id WHERE u.email = $1 AND m.role IN ('OWNER', 'ADMIN', 'MANAGER') LIMIT 1`, db.ScaleViewerEmail); err != nil {
			b.Fatalf("no contact the viewer may edit: %v", err)
		}
		writer := viewer
		writer.AccountID = target.AccountID
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var searchMu sync.Mutex
		var searchSamples []time.Duration
		for i := range searchers {
			wg.Go(func() {
				var mine []time.Duration
				for n := i; ; n++ {
					select {
					case <-stop:
						searchMu.Lock()
						searchSamples = append(searchSamples, mine...)
						searchMu.Unlock()
						return
					default:
					}
					start := time.Now()
					if _, err := search(scaleSearches[n%len(scaleSearches)].text); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
			})
		}
		var samples []time.Duration
		n := 0
		for b.Loop() {
			n++
			start := time.Now()
			if _, err := records.Contacts.Update(ctx, writer, target.ID, crm.Input{"jobTitle": ptr(fmt.Sprintf("Buyer %d", n))}); err != nil {
				b.Fatal(err)
			}
			samples = append(samples, time.Since(start))
		}
		close(stop)
		wg.Wait()
		percentiles(b, "write-", samples)
		percentiles(b, "search-", searchSamples)
	})
}

// logSizes logs the search index's rows and sizes.
func logSizes(b *testing.B, raw *sqlx.DB) {
	b.Helper()
	var rows []struct {
		Name  string `db:"name"`
		Rows  int64  `db:"rows"`
		Table string `db:"table_size"`
		Index string `db:"index_size"`
	}
	if err := raw.Select(&rows, `
		SELECT c.relname AS name, c.reltuples::bigint AS rows, pg_size_pretty(pg_table_size(c.oid)) AS table_size,
			pg_size_pretty(pg_indexes_size(c.oid)) AS index_size
		FROM pg_class c WHERE c.relname LIKE 'search\_%' AND c.relkind = 'r' ORDER BY 1`); err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%-22s %10d rows  table %8s  indexes %8s", r.Name, r.Rows, r.Table, r.Index))
	}
	b.Logf("search index:\n%s", strings.Join(out, "\n"))
}
