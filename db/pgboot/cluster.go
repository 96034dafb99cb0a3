package pgboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// startTimeout bounds how long a freshly started (or still starting)
	// cluster may take to accept connections.
	startTimeout = 30 * time.Second

	// pgLibDir is where Debian's postgresql-NN packages install their binaries,
	// which are deliberately not on PATH.
	pgLibDir = "/usr/lib/postgresql"

	// maxSocketPath is the longest Unix socket path Linux accepts
	// (sizeof(sun_path) minus the terminating NUL).
	maxSocketPath = 107
)

// StartPrivate initialises (if needed) and starts the private cluster under opts.DataDir and
// returns its Server; it is what Find falls back to, exported so a test can prove it works.
//
// Concurrent callers, in this process or others (parallel test binaries), are
// serialised by an flock on a file next to DataDir, so only one of them runs
// initdb or pg_ctl and the rest find the cluster running.
func StartPrivate(ctx context.Context, opts Options) (Server, error) {
	opts = opts.withDefaults()
	log := opts.Logger
	if opts.DataDir == "" {
		return Server{}, errors.New("pgboot: StartPrivate: empty DataDir")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return Server{}, fmt.Errorf("pgboot: resolving DataDir: %w", err)
	}
	srv := Server{AdminURL: privateURL(opts.Port), Private: true}

	id, err := serverIdentity()
	if err != nil {
		return Server{}, err
	}
	parent := filepath.Dir(dataDir)
	if err := prepareParent(parent, id); err != nil {
		return Server{}, err
	}

	unlock, err := lockPath(ctx, lockFileFor(dataDir))
	if err != nil {
		return Server{}, err
	}
	defer unlock()

	// Another caller may have started it while we waited for the lock, or it
	// survived from an earlier `make run`.
	if err := servesDataDir(ctx, srv.AdminURL, dataDir); err == nil {
		log.Debug("private PostgreSQL cluster already running", "data_dir", dataDir, "port", opts.Port)
		return srv, nil
	} else if errors.Is(err, errForeignServer) {
		return Server{}, err
	}

	version, err := clusterVersion(dataDir)
	if err != nil {
		return Server{}, err
	}
	bins, err := findBinaries(version)
	if err != nil {
		return Server{}, err
	}

	if version == "" {
		log.Info("initialising private PostgreSQL cluster", "data_dir", dataDir, "initdb", bins.initdb, "os_user", id.name)
		if err := initCluster(ctx, bins, id, dataDir); err != nil {
			return Server{}, err
		}
	} else if err := checkOwner(dataDir, id); err != nil {
		return Server{}, err
	}

	starting, err := inspectPIDFile(dataDir, opts.Port, log)
	if err != nil {
		return Server{}, err
	}
	if !starting {
		log.Info("starting private PostgreSQL cluster", "data_dir", dataDir, "port", opts.Port, "os_user", id.name)
		if err := startCluster(ctx, bins, id, dataDir, opts.Port); err != nil {
			return Server{}, err
		}
	}
	if err := waitReady(ctx, srv.AdminURL, dataDir); err != nil {
		return Server{}, err
	}
	log.Info("private PostgreSQL cluster ready", "data_dir", dataDir, "port", opts.Port)
	return srv, nil
}

// StopPrivate stops a private cluster under dataDir (pg_ctl stop -m fast); no error if not running.
func StopPrivate(ctx context.Context, dataDir string) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("pgboot: resolving data dir: %w", err)
	}
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	if _, err := os.Stat(pidFile); errors.Is(err, fs.ErrNotExist) {
		return nil
	}

	// Do not pull the cluster out from under a concurrent StartPrivate.
	unlock, err := lockPath(ctx, lockFileFor(dataDir))
	if err != nil {
		return err
	}
	defer unlock()

	pid, _, err := readPIDFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if state := postmasterState(pid, dataDir); state == procGone || state == procNotPostmaster {
		return nil // stale postmaster.pid; the next start copes with it
	}

	version, err := clusterVersion(dataDir)
	if err != nil {
		return err
	}
	bins, err := findBinaries(version)
	if err != nil {
		return err
	}
	// pg_ctl refuses to run as root, and must run as the cluster's owner to
	// signal the postmaster.
	id, err := ownerIdentity(dataDir)
	if err != nil {
		return err
	}
	cmd := id.command(ctx, dataDir, bins.pgCtl, "stop", "-D", dataDir, "-m", "fast", "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)))
	if err := run(cmd); err != nil {
		if postmasterState(pid, dataDir) != procOurs {
			return nil // it stopped by itself meanwhile
		}
		return fmt.Errorf("pgboot: stopping private cluster under %s: %w", dataDir, err)
	}
	// pg_ctl returns once postmaster.pid is gone, which the postmaster removes
	// just before it exits; a start in that window would find it alive.
	for deadline := time.Now().Add(10 * time.Second); postmasterState(pid, dataDir) == procOurs; {
		if time.Now().After(deadline) {
			return fmt.Errorf("pgboot: postmaster %d under %s still running after pg_ctl stop", pid, dataDir)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// errForeignServer marks a server on the private port that serves another
// data directory; starting ours there would only fail to bind.
var errForeignServer = errors.New("port taken by another PostgreSQL cluster")

// servesDataDir returns nil when the server at dsn answers and is the cluster
// under dataDir, an error wrapping errForeignServer when it answers but serves
// something else, and the connection error otherwise.
func servesDataDir(ctx context.Context, dsn, dataDir string) error {
	var served string
	if err := queryOne(ctx, dsn, "SHOW data_directory", &served); err != nil {
		return err
	}
	if sameFile(served, dataDir) {
		return nil
	}
	return fmt.Errorf("pgboot: %w: the server at %s serves %s, not %s; stop it or choose another Port",
		errForeignServer, dsn, served, dataDir)
}

// waitReady polls until the cluster under dataDir answers at dsn. pg_ctl -w
// already waits for the postmaster, but only a real connection proves the
// TCP listener and trust authentication work.
func waitReady(ctx context.Context, dsn, dataDir string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := servesDataDir(ctx, dsn, dataDir)
		if err == nil || errors.Is(err, errForeignServer) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgboot: private cluster under %s did not accept connections within %s: %w%s",
				dataDir, startTimeout, err, logTail(dataDir))
		case <-tick.C:
		}
	}
}

// initCluster runs initdb in dataDir, creating the directory first so that it
// is owned by the server's user with the 0700 mode PostgreSQL insists on.
func initCluster(ctx context.Context, bins binaries, id identity, dataDir string) error {
	if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgboot: creating data dir: %w", err)
	}
	if err := id.chown(dataDir); err != nil {
		return err
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return fmt.Errorf("pgboot: restricting data dir: %w", err)
	}
	// --no-locale keeps initdb independent of whatever LANG the machine has
	// (a missing locale is a classic initdb failure on minimal images);
	// --no-sync because this cluster holds only disposable development data.
	cmd := id.command(ctx, dataDir, bins.initdb,
		"-D", dataDir, "-A", "trust", "-U", "postgres",
		"--encoding=UTF8", "--no-locale", "--no-instructions", "--no-sync")
	if err := run(cmd); err != nil {
		return fmt.Errorf("pgboot: initialising private cluster under %s: %w", dataDir, err)
	}
	return nil
}

// startCluster runs pg_ctl start, listening on 127.0.0.1 only and with the
// Unix socket inside dataDir, so that it needs neither /var/run/postgresql
// nor any configuration outside dataDir.
func startCluster(ctx context.Context, bins binaries, id identity, dataDir string, port int) error {
	socketDir := dataDir
	if len(filepath.Join(socketDir, ".s.PGSQL."+strconv.Itoa(port))) > maxSocketPath || strings.Contains(socketDir, ",") {
		// The socket cannot live there (too long a path, or a comma that
		// unix_socket_directories would split on); TCP is all we use anyway.
		socketDir = ""
	}
	// pg_ctl pastes -o into a /bin/sh command line, hence the quoting.
	serverOpts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", port, shellQuote(socketDir))
	cmd := id.command(ctx, dataDir, bins.pgCtl, "start",
		"-D", dataDir, "-l", filepath.Join(dataDir, "server.log"),
		"-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "-o", serverOpts)
	if err := run(cmd); err != nil {
		return fmt.Errorf("pgboot: starting private cluster under %s: %w%s", dataDir, err, logTail(dataDir))
	}
	return nil
}

// inspectPIDFile looks at a leftover postmaster.pid before starting. It
// reports starting=true when a postmaster for dataDir is alive on port (it is
// still starting up), and fails when one is alive on another port. A file whose
// PID now belongs to an unrelated process (common after a reboot or container
// restart) or to a not-yet-reaped zombie is removed: postgres only checks
// kill(pid, 0) and would refuse to start.
func inspectPIDFile(dataDir string, port int, log *slog.Logger) (starting bool, err error) {
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	pid, pidPort, err := readPIDFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch postmasterState(pid, dataDir) {
	case procOurs:
		if pidPort != port {
			return false, fmt.Errorf("pgboot: the private cluster under %s is already running on port %d, not %d; stop it (StopPrivate) or use that port",
				dataDir, pidPort, port)
		}
		return true, nil
	case procNotPostmaster:
		log.Info("removing stale postmaster.pid", "data_dir", dataDir, "pid", pid)
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("pgboot: removing stale postmaster.pid: %w", err)
		}
	}
	// procGone: postgres itself notices the PID is dead and replaces the file.
	return false, nil
}

// readPIDFile returns the postmaster PID (line 1) and port (line 4) of a
// postmaster.pid file.
func readPIDFile(path string) (pid, port int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("pgboot: reading %s: %w", path, err)
	}
	lines := strings.Split(string(data), "\n")
	pid, err = strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil {
		return 0, 0, fmt.Errorf("pgboot: %s: bad PID line %q", path, lines[0])
	}
	if pid < 0 {
		pid = -pid // a single-user backend writes its PID negated
	}
	if len(lines) > 3 {
		port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	return pid, port, nil
}

type procState int

const (
	procGone          procState = iota // no such process
	procOurs                           // the live postmaster of dataDir
	procNotPostmaster                  // the PID was reused, or is a zombie awaiting its parent
	procUnknown                        // alive, but we may not look at it
)

// postmasterState classifies pid. The postmaster chdirs into its data
// directory, so /proc/PID/cwd tells a real postmaster from a reused PID.
func postmasterState(pid int, dataDir string) procState {
	if pid <= 0 {
		return procGone
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return procGone
	}
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(proc, "stat"))
	if errors.Is(err, fs.ErrNotExist) {
		return procGone
	}
	if err == nil {
		// "pid (comm) S ...": the state follows the last ')', as comm may contain one.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			return procNotPostmaster
		}
	}
	cwd, err := os.Readlink(filepath.Join(proc, "cwd"))
	if err != nil {
		return procUnknown
	}
	if sameFile(cwd, dataDir) {
		return procOurs
	}
	return procNotPostmaster
}

// sameFile reports whether a and b name the same existing file, so that
// symlinked spellings of a data directory compare equal.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}

// clusterVersion returns the major version recorded in dataDir/PG_VERSION,
// or "" when the cluster has not been initialised.
func clusterVersion(dataDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pgboot: reading cluster version: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// checkOwner fails early, with advice, when an existing cluster belongs to a
// different user than the one we would run it as; postgres would refuse with
// a less helpful message.
func checkOwner(dataDir string, id identity) error {
	st, err := statT(dataDir)
	if err != nil {
		return err
	}
	if st.Uid != id.uid {
		return fmt.Errorf("pgboot: the cluster under %s is owned by uid %d but would run as %s (uid %d); chown -R it to that user or remove it to start afresh",
			dataDir, st.Uid, id.name, id.uid)
	}
	return nil
}

// logTail returns the end of dataDir/server.log for error messages, because
// pg_ctl's own output rarely says why the server failed.
func logTail(dataDir string) string {
	data, err := os.ReadFile(filepath.Join(dataDir, "server.log"))
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\nserver.log:\n" + strings.Join(lines, "\n")
}

// lockFileFor is the flock file serialising work on dataDir. It lives in the
// parent so it exists before dataDir does and survives removing dataDir.
func lockFileFor(dataDir string) string {
	return filepath.Join(filepath.Dir(dataDir), "."+filepath.Base(dataDir)+".lock")
}

// lockPath takes an exclusive flock on path, waiting while another process
// (or goroutine: each open is its own lock owner) holds it, until ctx ends.
func lockPath(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgboot: opening lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("pgboot: locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("pgboot: waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// binaries are the PostgreSQL server programs of one installation.
type binaries struct {
	initdb, pgCtl, postgres string
}

// findBinaries picks the installation under /usr/lib/postgresql matching
// want (the cluster's major version) when present, else the highest one,
// else whatever is on PATH.
func findBinaries(want string) (binaries, error) {
	entries, _ := os.ReadDir(pgLibDir) // absent on non-Debian systems: use PATH
	var versions []string
	for _, e := range entries {
		if _, ok := parseVersion(e.Name()); ok {
			versions = append(versions, e.Name())
		}
	}
	slices.SortFunc(versions, func(a, b string) int {
		va, _ := parseVersion(a)
		vb, _ := parseVersion(b)
		return -slices.Compare(va, vb)
	})
	if i := slices.Index(versions, want); i > 0 {
		versions[0], versions[i] = versions[i], versions[0]
	}
	for _, v := range versions {
		dir := filepath.Join(pgLibDir, v, "bin")
		b := binaries{
			initdb:   filepath.Join(dir, "initdb"),
			pgCtl:    filepath.Join(dir, "pg_ctl"),
			postgres: filepath.Join(dir, "postgres"),
		}
		if isExecutable(b.initdb) && isExecutable(b.pgCtl) && isExecutable(b.postgres) {
			return b, nil
		}
	}

	var b binaries
	for _, p := range []struct {
		name string
		dst  *string
	}{{"initdb", &b.initdb}, {"pg_ctl", &b.pgCtl}, {"postgres", &b.postgres}} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			return binaries{}, fmt.Errorf("pgboot: no PostgreSQL server binaries under %s/<version>/bin or on PATH (%w); install them with `apt-get install postgresql`",
				pgLibDir, err)
		}
		*p.dst = path
	}
	return b, nil
}

// parseVersion parses a directory name like "15" or "9.6".
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// run runs cmd and folds its output into the error, since initdb and pg_ctl
// explain their failures on stdout/stderr.
func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
