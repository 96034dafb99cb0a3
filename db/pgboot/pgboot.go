// Package pgboot finds a PostgreSQL server for development and tests, or starts
// a private one from the machine's PostgreSQL binaries.
//
// The goal is zero manual set-up on a fresh Debian machine: `make run` and
// `go test` call Find, which uses the usual server on 127.0.0.1:5432 when one
// answers and otherwise initialises and starts a throw-away cluster under the
// repository's data directory. Production never uses this package; it is
// configured with an explicit DATABASE_URL.
package pgboot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

const (
	defaultPort  = 54329
	defaultProbe = "127.0.0.1:5432"

	// probeTimeout bounds each connection attempt, so a firewalled or hung
	// address cannot stall start-up.
	probeTimeout = 2 * time.Second

	// manualStartHint is appended to errors when no server can be found or
	// started, so the developer knows the one command that fixes it.
	manualStartHint = "start PostgreSQL by hand (as root): " +
		"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` " +
		"(it must accept user postgres without a password on 127.0.0.1:5432), " +
		"or point at a server you already have by setting DATABASE_URL (make run) / TEST_DATABASE_URL (tests)"
)

// Options configures Find and StartPrivate. The zero value of every field
// except DataDir is usable.
type Options struct {
	// DataDir holds a private cluster when one must be started, e.g. "<repo>/.data/postgres".
	DataDir string
	// Port for the private cluster (default 54329 when zero).
	Port int
	// Probe is the address tried first (default "127.0.0.1:5432"), as user postgres, database postgres, sslmode=disable.
	Probe  string
	Logger *slog.Logger // may be nil: discard
}

func (o Options) withDefaults() Options {
	if o.Port == 0 {
		o.Port = defaultPort
	}
	if o.Probe == "" {
		o.Probe = defaultProbe
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server says where a usable server is.
type Server struct {
	AdminURL string // postgres:// URL to the "postgres" database with a superuser (trust auth), sslmode=disable
	Private  bool   // true when it is the private cluster under DataDir
}

// Find returns a reachable server: the probe address if a server answers there
// (a real connection + "SELECT 1", 2 s timeout), otherwise the private cluster
// under DataDir, initialising it (initdb) the first time and starting it (pg_ctl)
// when it is not running. When it cannot do either, the error says exactly how to
// start PostgreSQL by hand.
func Find(ctx context.Context, opts Options) (Server, error) {
	opts = opts.withDefaults()
	log := opts.Logger

	probeURL := adminURL(opts.Probe)
	probeErr := ping(ctx, probeURL)
	if probeErr == nil {
		log.Debug("using PostgreSQL at probe address", "addr", opts.Probe)
		return Server{AdminURL: probeURL}, nil
	}
	if err := ctx.Err(); err != nil {
		return Server{}, fmt.Errorf("pgboot: probing %s: %w", opts.Probe, err)
	}
	if opts.DataDir == "" {
		return Server{}, fmt.Errorf("pgboot: no PostgreSQL answers at %s (%v) and no DataDir is configured for a private cluster; %s",
			opts.Probe, probeErr, manualStartHint)
	}

	// Debug only: StartPrivate logs at Info when it actually initialises or starts.
	log.Debug("no PostgreSQL at probe address, using a private cluster",
		"probe", opts.Probe, "probe_error", probeErr.Error(), "data_dir", opts.DataDir, "port", opts.Port)
	srv, err := StartPrivate(ctx, opts)
	if err != nil {
		return Server{}, fmt.Errorf("pgboot: no PostgreSQL answers at %s (%v), and the private cluster under %s could not be started: %w; %s",
			opts.Probe, probeErr, opts.DataDir, err, manualStartHint)
	}
	return srv, nil
}

// EnsureDatabase connects with adminURL and creates database name when it does not exist,
// and returns the URL of that database (adminURL with the path replaced).
//
// Test binaries for different packages run in parallel and may race to create
// the same database; losing that race counts as success.
func EnsureDatabase(ctx context.Context, adminURL, name string) (string, error) {
	if name == "" {
		return "", errors.New("pgboot: EnsureDatabase: empty database name")
	}
	if strings.ContainsRune(name, 0) {
		// pq.QuoteIdentifier would silently truncate at the NUL.
		return "", fmt.Errorf("pgboot: EnsureDatabase: database name %q contains a NUL byte", name)
	}
	dbURL, err := WithDatabase(adminURL, name)
	if err != nil {
		return "", err
	}

	db, err := openDB(adminURL)
	if err != nil {
		return "", err
	}
	defer db.Close()

	var exists bool
	err = db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return "", fmt.Errorf("pgboot: checking for database %q: %w", name, err)
	}
	if exists {
		return dbURL, nil
	}
	// CREATE DATABASE takes no parameters, hence the quoted identifier.
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	// A concurrent creator that committed first yields duplicate_database; one
	// that was still in flight when we checked makes our insert into
	// pg_database fail on its unique index instead.
	if err != nil && pq.As(err, pqerror.DuplicateDatabase, pqerror.UniqueViolation) == nil {
		return "", fmt.Errorf("pgboot: creating database %q: %w", name, err)
	}
	return dbURL, nil
}

// WithDatabase returns url with its database name replaced (keeps user, host, query parameters).
func WithDatabase(rawURL, name string) (string, error) {
	if name == "" {
		return "", errors.New("pgboot: WithDatabase: empty database name")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error would echo the URL, which may carry a password.
		return "", errors.New("pgboot: WithDatabase: URL does not parse")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("pgboot: WithDatabase: URL scheme %q is not postgres:// or postgresql://", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("pgboot: WithDatabase: URL has no host")
	}
	u.Path = "/" + name
	// Escape '/' too, so a name containing one stays a single path segment.
	u.RawPath = "/" + url.PathEscape(name)
	return u.String(), nil
}

// DatabaseName returns the database a postgres:// URL names.
func DatabaseName(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("pgboot: DatabaseName: URL does not parse")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return "", errors.New("pgboot: DatabaseName: URL names no database")
	}
	return name, nil
}

// adminURL is the superuser URL for the "postgres" database at hostPort.
func adminURL(hostPort string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     hostPort,
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// privateURL is the admin URL of a private cluster on port.
func privateURL(port int) string {
	return adminURL(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

// openDB opens a pool for dsn; it does not connect yet.
func openDB(dsn string) (*sql.DB, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgboot: bad PostgreSQL URL: %w", err)
	}
	return sql.OpenDB(c), nil
}

// queryOne connects to dsn and scans the single value of query into dest,
// bounded by probeTimeout. lib/pq only bounds the start-up handshake when
// connect_timeout is set, so it is added here on top of the context deadline.
func queryOne(ctx context.Context, dsn, query string, dest any) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return errors.New("pgboot: PostgreSQL URL does not parse")
	}
	q := u.Query()
	q.Set("connect_timeout", strconv.Itoa(int(probeTimeout/time.Second)))
	u.RawQuery = q.Encode()

	db, err := openDB(u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return db.QueryRowContext(ctx, query).Scan(dest)
}

// ping reports whether a server at dsn accepts a connection and answers a query.
func ping(ctx context.Context, dsn string) error {
	var one int
	return queryOne(ctx, dsn, "SELECT 1", &one)
}
