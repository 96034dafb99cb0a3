// Package dbtest gives tests a real, migrated PostgreSQL database.
//
// A template database is migrated once (its name carries a fingerprint of
// the migrations, so a changed migration gets a new template). Each test then
// takes either a transaction on a shared clone that is rolled back at the end
// (Tx, the fast default) or a database of its own cloned from the template
// (New: for commits, NOTIFY and concurrency).
//
// The server comes from TEST_DATABASE_URL, or is found or started exactly as
// in development (127.0.0.1:5432, else a private cluster under .data/). When
// none can be reached or started, tests fail with instructions; they never
// skip.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the postgres driver

	"switchboard/db"
	"switchboard/db/pgboot"
)

// Prefixes of the databases this package creates.
const (
	templatePrefix = "sbtpl_"
	clonePrefix    = "sbt_"
)

// harness is the per-process state: the server, the template and the shared
// clone for transaction tests. Set up once, on first use.
type harness struct {
	adminURL string
	template string

	sharedOnce sync.Once
	sharedURL  string
	sharedName string
	sharedPool *sqlx.DB
	sharedErr  error
}

var (
	setupOnce sync.Once
	setup     *harness
	setupErr  error
)

func get(t testing.TB) *harness {
	t.Helper()
	setupOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		setup, setupErr = newHarness(ctx)
	})
	if setupErr != nil {
		t.Fatalf("test database: %v", setupErr)
	}
	return setup
}

func newHarness(ctx context.Context) (*harness, error) {
	adminURL, err := serverURL(ctx)
	if err != nil {
		return nil, err
	}
	h := &harness{adminURL: adminURL}
	admin, err := sqlx.Open("postgres", adminURL)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	dropStale(ctx, admin)
	h.template, err = ensureTemplate(ctx, admin, adminURL)
	if err != nil {
		return nil, fmt.Errorf("template database: %w", err)
	}
	return h, nil
}

// serverURL returns an admin URL (a user allowed to create databases).
func serverURL(ctx context.Context) (string, error) {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	srv, err := pgboot.Find(ctx, pgboot.Options{DataDir: filepath.Join(root, ".data", "postgres")})
	if err != nil {
		return "", fmt.Errorf("%w\n(or set TEST_DATABASE_URL to a PostgreSQL URL whose user may create databases)", err)
	}
	return srv.AdminURL, nil
}

// RepoRoot is the directory holding go.mod, found from the working directory
// (go test runs each package in its own directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// fingerprint names the template after the migrations' content, River's
// included.
func fingerprint() (string, error) {
	h := sha256.New()
	for _, fsys := range []fs.FS{db.JobQueueMigrations(), db.Migrations()} {
		err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func ensureTemplate(ctx context.Context, admin *sqlx.DB, adminURL string) (string, error) {
	fp, err := fingerprint()
	if err != nil {
		return "", err
	}
	name := templatePrefix + fp
	// Several test binaries start at once; one migrates, the others wait.
	conn, err := admin.Connx(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext('switchboard dbtest template'))`); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('switchboard dbtest template'))`)

	var exists bool
	if err := conn.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Build under a temporary name and rename when complete, so a template
	// that exists is always fully migrated.
	building := name + "_building"
	if _, err := conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quote(building)+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+quote(building)); err != nil {
		return "", err
	}
	url, err := pgboot.WithDatabase(adminURL, building)
	if err != nil {
		return "", err
	}
	if err := migrate(ctx, url); err != nil {
		return "", err
	}
	for _, stmt := range []string{
		`ALTER DATABASE ` + quote(building) + ` RENAME TO ` + quote(name),
		`ALTER DATABASE ` + quote(name) + ` WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return "", err
		}
	}
	return name, nil
}

func migrate(ctx context.Context, url string) error {
	d, err := db.Open(ctx, url, db.Options{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer d.Close()
	return db.Migrate(ctx, d.Pool(), nil)
}

// dropStale removes clones left behind by test processes that died more
// than an hour ago (their names carry their creation time).
func dropStale(ctx context.Context, admin *sqlx.DB) {
	var names []string
	if err := admin.SelectContext(ctx, &names, `SELECT datname FROM pg_database WHERE datname LIKE 'sbt\_%'`); err != nil {
		return
	}
	cutoff := time.Now().Add(-time.Hour).Unix()
	for _, name := range names {
		parts := strings.Split(strings.TrimPrefix(name, clonePrefix), "_")
		created, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil || created > cutoff {
			continue
		}
		_, _ = admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quote(name)+` WITH (FORCE)`)
	}
}

func quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// newName names a test database after its creation time (so dropStale can
// tell abandoned ones) and a random suffix.
func newName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%d_%s", clonePrefix, time.Now().Unix(), hex.EncodeToString(b[:]))
}

// clone creates a fresh database from the template and returns its name and
// URL.
func (h *harness) clone(ctx context.Context) (name, url string, err error) {
	name = newName()
	admin, err := sqlx.Open("postgres", h.adminURL)
	if err != nil {
		return "", "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+quote(name)+` TEMPLATE `+quote(h.template)); err != nil {
		return "", "", fmt.Errorf("clone template: %w", err)
	}
	url, err = pgboot.WithDatabase(h.adminURL, name)
	return name, url, err
}

func (h *harness) drop(name string) error {
	admin, err := sqlx.Open("postgres", h.adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.Exec(`DROP DATABASE IF EXISTS ` + quote(name) + ` WITH (FORCE)`)
	return err
}

// owned drops the database when the test ends.
func (h *harness) owned(t testing.TB, name, url string) Database {
	t.Cleanup(func() {
		if err := h.drop(name); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return Database{Name: name, URL: url}
}

// Database is a database of a test's own, dropped when the test ends.
type Database struct {
	Name string
	// URL connects as the server's admin user, as DATABASE_URL does in
	// development; request work still runs as db.RuntimeRole.
	URL string
}

// New clones the template into a database for this test alone. Use it when
// the test commits, listens for notifications or runs concurrent
// transactions.
func New(t testing.TB) Database {
	t.Helper()
	h := get(t)
	name, url, err := h.clone(t.Context())
	if err != nil {
		t.Fatalf("test database: %v", err)
	}
	return h.owned(t, name, url)
}

// NewEmpty creates an empty, unmigrated database for this test (for tests of
// migration itself and of readiness before migration).
func NewEmpty(t testing.TB) Database {
	t.Helper()
	h := get(t)
	name := newName()
	url, err := pgboot.EnsureDatabase(t.Context(), h.adminURL, name)
	if err != nil {
		t.Fatalf("test database: %v", err)
	}
	return h.owned(t, name, url)
}

// Open connects to d with the given options and closes the pool when the
// test ends.
func (d Database) Open(t testing.TB, opts db.Options) *db.DB {
	t.Helper()
	conn, err := db.Open(t.Context(), d.URL, opts)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Tx returns a DB that runs everything inside one transaction on a shared,
// migrated database, rolled back when the test ends: fast, and invisible to
// other tests. It must not be used from several goroutines at once.
func Tx(t testing.TB, opts db.Options) (*db.DB, *sqlx.Tx) {
	t.Helper()
	h := get(t)
	h.sharedOnce.Do(func() {
		h.sharedName, h.sharedURL, h.sharedErr = h.clone(context.Background())
		if h.sharedErr == nil {
			h.sharedPool, h.sharedErr = sqlx.Open("postgres", h.sharedURL)
		}
	})
	if h.sharedErr != nil {
		t.Fatalf("shared test database: %v", h.sharedErr)
	}
	tx, err := h.sharedPool.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatalf("begin test transaction: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	return db.NewInTx(tx, opts), tx
}

// Main runs a package's tests and then drops the shared database. Call it
// from TestMain in every package that uses Tx.
func Main(m *testing.M) {
	code := m.Run()
	if setup != nil && setup.sharedName != "" {
		_ = setup.sharedPool.Close()
		if err := setup.drop(setup.sharedName); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: drop %s: %v\n", setup.sharedName, err)
		}
	}
	os.Exit(code)
}
