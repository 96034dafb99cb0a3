package pgboot

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		db      string
		want    string
		wantErr bool
	}{
		{
			name: "replaces path",
			url:  "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
			db:   "switchboard_test",
			want: "postgres://postgres@127.0.0.1:5432/switchboard_test?sslmode=disable",
		},
		{
			name: "adds missing path",
			url:  "postgres://postgres@localhost:5432",
			db:   "app",
			want: "postgres://postgres@localhost:5432/app",
		},
		{
			name: "keeps password and all query parameters",
			url:  "postgresql://u:p%40ss@db.example:6543/old?sslmode=require&application_name=sb",
			db:   "new",
			want: "postgresql://u:p%40ss@db.example:6543/new?sslmode=require&application_name=sb",
		},
		{
			name: "escapes awkward names",
			url:  "postgres://postgres@127.0.0.1/postgres",
			db:   `my db/"x"?`,
			want: "postgres://postgres@127.0.0.1/my%20db%2F%22x%22%3F",
		},
		{name: "empty name", url: "postgres://postgres@127.0.0.1/postgres", db: "", wantErr: true},
		{name: "keyword/value DSN", url: "host=localhost dbname=x", db: "y", wantErr: true},
		{name: "other scheme", url: "mysql://root@localhost/x", db: "y", wantErr: true},
		{name: "no host", url: "postgres:///x", db: "y", wantErr: true},
		{name: "unparsable", url: "postgres://[::1", db: "y", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WithDatabase(tt.url, tt.db)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("WithDatabase(%q, %q) = %q, want error", tt.url, tt.db, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("WithDatabase(%q, %q): %v", tt.url, tt.db, err)
			}
			if got != tt.want {
				t.Errorf("WithDatabase(%q, %q) = %q, want %q", tt.url, tt.db, got, tt.want)
			}
		})
	}
}

func TestFindUsesProbe(t *testing.T) {
	ctx := testContext(t)
	// No DataDir: if nothing answers on 5432 Find fails instead of quietly
	// starting a private cluster, and its error says how to start PostgreSQL.
	srv, err := Find(ctx, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("these tests need PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth): %v", err)
	}
	if srv.Private {
		t.Errorf("Find returned Private=true for the probe address")
	}
	if want := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"; srv.AdminURL != want {
		t.Errorf("AdminURL = %q, want %q", srv.AdminURL, want)
	}
	mustQuery(t, ctx, srv.AdminURL)
}

func TestStartPrivateCluster(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dataDir := privateDataDir(t)
	opts := Options{DataDir: dataDir, Port: freePort(t), Logger: testLogger(t)}

	srv, err := StartPrivate(ctx, opts)
	if err != nil {
		t.Fatalf("StartPrivate: %v", err)
	}
	if !srv.Private {
		t.Errorf("Private = false for the private cluster")
	}
	mustQuery(t, ctx, srv.AdminURL)

	// Starting again finds it running.
	again, err := StartPrivate(ctx, opts)
	if err != nil || again != srv {
		t.Fatalf("second StartPrivate = %+v, %v; want %+v", again, err, srv)
	}

	// Two creators racing for one database must both succeed. The name needs
	// quoting as an identifier and escaping in the URL.
	const name = `pgboot test "db"`
	urls := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range urls {
		wg.Go(func() { urls[i], errs[i] = EnsureDatabase(ctx, srv.AdminURL, name) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent EnsureDatabase #%d: %v", i, err)
		}
	}
	if urls[0] != urls[1] {
		t.Errorf("EnsureDatabase URLs differ: %q vs %q", urls[0], urls[1])
	}
	var current string
	if err := queryOne(ctx, urls[0], "SELECT current_database()", &current); err != nil {
		t.Fatalf("connecting to the new database: %v", err)
	}
	if current != name {
		t.Errorf("current_database() = %q, want %q", current, name)
	}

	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := StopPrivate(ctx, dataDir); err != nil {
		t.Fatalf("StopPrivate: %v", err)
	}
	if err := ping(ctx, srv.AdminURL); err == nil {
		t.Fatalf("the cluster still answers after StopPrivate")
	}
	if err := StopPrivate(ctx, dataDir); err != nil {
		t.Errorf("StopPrivate on a stopped cluster: %v", err)
	}

	// A postmaster.pid left behind by a crash must not prevent a restart. Its
	// PID is one that has certainly exited (and been reaped).
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(pidFile), "\n")
	stale := strconv.Itoa(dead.Process.Pid) + "\n" + rest
	writeOwnedLike(t, filepath.Join(dataDir, "postmaster.pid"), []byte(stale), dataDir)
	if _, err := StartPrivate(ctx, opts); err != nil {
		t.Fatalf("StartPrivate over a stale postmaster.pid: %v", err)
	}
	mustQuery(t, ctx, srv.AdminURL)
}

func TestFindFallsBackToPrivate(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	opts := Options{
		DataDir: privateDataDir(t),
		Port:    freePort(t),
		Probe:   "127.0.0.1:1", // nothing listens on tcpmux
		Logger:  testLogger(t),
	}

	// Callers racing on a fresh DataDir (parallel test binaries) share one
	// cluster: the flock lets exactly one of them run initdb and pg_ctl.
	servers := make([]Server, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { servers[i], errs[i] = Find(ctx, opts) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Find #%d: %v", i, err)
		}
		if !servers[i].Private {
			t.Errorf("Find #%d returned Private=false with nothing on the probe address", i)
		}
	}
	if servers[0] != servers[1] {
		t.Errorf("concurrent Finds disagree: %+v vs %+v", servers[0], servers[1])
	}
	mustQuery(t, ctx, servers[0].AdminURL)
}

func TestFindErrorSaysHowToStart(t *testing.T) {
	_, err := Find(testContext(t), Options{Probe: "127.0.0.1:1"})
	if err == nil {
		t.Fatal("Find with nothing on the probe and no DataDir succeeded")
	}
	for _, want := range []string{"pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", "DATABASE_URL", "TEST_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// privateDataDir returns a not-yet-existing DataDir under a fresh temp dir
// and stops whatever cluster runs there when the test ends, pass or fail.
// t.TempDir's directories are 0700; as root the cluster runs as another user,
// which must be able to traverse them.
func privateDataDir(t *testing.T) string {
	tmp := t.TempDir()
	if os.Geteuid() == 0 {
		for _, dir := range []string{tmp, filepath.Dir(tmp)} {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	dataDir := filepath.Join(tmp, "postgres")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := StopPrivate(ctx, dataDir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return dataDir
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func mustQuery(t *testing.T, ctx context.Context, dsn string) {
	t.Helper()
	if err := ping(ctx, dsn); err != nil {
		t.Fatalf("SELECT 1 via %s: %v", dsn, err)
	}
}

// writeOwnedLike writes data to path owned by the owner of ref, as the
// server's own files are.
func writeOwnedLike(t *testing.T, path string, data []byte, ref string) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(ref, &st); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}
