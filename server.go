// Command switchboard is the GraphQL gateway of a multi-account CRM.
//
//	switchboard             serve on $PORT (default 8080)
//	switchboard migrate     apply migrations and exit
//	switchboard seed-demo   create (or reset) a demo organisation and print how to sign in
//	switchboard generate    build (once) the benchmark dataset and print its database's URL
//	                        (switchboard generate -h lists its flags)
//
// Configuration comes from the environment; see the README for the table.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/lib/pq"

	"switchboard/app"
	"switchboard/config"
	"switchboard/db"
	"switchboard/db/pgboot"
	"switchboard/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg)
	command := "serve"
	if len(args) > 0 {
		command = args[0]
	}
	switch command {
	case "serve", "migrate", "seed-demo":
	case "generate":
		return generateDataset(ctx, cfg, logger, args[1:], os.Stdout)
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate, seed-demo or generate)", command)
	}

	url, err := prepareDatabase(ctx, cfg, logger, command != "serve")
	if err != nil {
		return err
	}
	if command == "migrate" {
		return nil
	}
	a, err := app.New(ctx, app.Options{Config: cfg, DatabaseURL: url, Logger: logger})
	if err != nil {
		return err
	}
	if command == "seed-demo" {
		defer a.DB.Close()
		demo, err := a.SeedDemo(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("Demo organisation ready. Sign in at %s/graphiql with:\n  email:    %s\n  password: %s\n", cfg.PublicURL, demo.Email, demo.Password)
		return nil
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	metricsLn, err := gateway.ListenMetrics(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	logger.Info("starting", "config", a.Config(), "version", gateway.Version(), "gc", tuneGC())
	if cfg.Introspection {
		logger.Info("GraphiQL", "url", cfg.PublicURL+"/graphiql")
	}
	return a.Serve(ctx, ln, metricsLn)
}

// tuneGC applies config.GCPolicy and describes what the collector runs
// with, for the start-up log.
func tuneGC() slog.Value {
	cgroup, physical := config.MemoryAvailable()
	gc := config.GCPolicy(os.Getenv, cgroup, physical)
	if gc.FromEnv {
		return slog.GroupValue(slog.String("GOGC", os.Getenv("GOGC")), slog.String("GOMEMLIMIT", os.Getenv("GOMEMLIMIT")))
	}
	debug.SetGCPercent(gc.Percent)
	if gc.Limit > 0 {
		debug.SetMemoryLimit(gc.Limit)
	}
	return slog.GroupValue(slog.Int("percent", gc.Percent), slog.Int64("soft_limit_bytes", gc.Limit))
}

func newLogger(cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.IsProduction() {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// prepareDatabase returns the URL of the database to serve, creating and
// migrating it first when configured to (or forced, for the migrate and
// seed-demo commands). Without DATABASE_URL (development only; production
// refuses to start without one) it uses the PostgreSQL on 127.0.0.1:5432 if
// one answers, else a private cluster under the data directory.
func prepareDatabase(ctx context.Context, cfg config.Config, logger *slog.Logger, forceMigrate bool) (string, error) {
	migrate := cfg.Migrate || forceMigrate
	url, err := databaseURL(ctx, cfg, logger)
	if err != nil || !migrate {
		return url, err
	}
	if err := ensureDatabase(ctx, url); err != nil {
		return "", err
	}
	database, err := db.Open(ctx, url, db.Options{MaxOpenConns: 2, Logger: logger})
	if err != nil {
		return "", err
	}
	defer database.Close()
	if err := db.Migrate(ctx, database.Pool(), logger); err != nil {
		return "", err
	}
	return url, nil
}

// databaseURL is DATABASE_URL, or in development (without one) the
// switchboard database on the PostgreSQL found or started by pgboot.
func databaseURL(ctx context.Context, cfg config.Config, logger *slog.Logger) (string, error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, nil
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return "", err
	}
	srv, err := pgboot.Find(ctx, pgboot.Options{DataDir: filepath.Join(dataDir, "postgres"), Logger: logger})
	if err != nil {
		return "", err
	}
	url, err := pgboot.WithDatabase(srv.AdminURL, "switchboard")
	if err != nil {
		return "", err
	}
	logger.Info("development database", "url", config.RedactURL(url), "private_cluster", srv.Private)
	return url, nil
}

// ensureDatabase creates the database named in url when it is missing, by
// connecting to the same server's "postgres" database.
func ensureDatabase(ctx context.Context, url string) error {
	name, err := pgboot.DatabaseName(url)
	if err != nil {
		return err
	}
	admin, err := pgboot.WithDatabase(url, "postgres")
	if err != nil {
		return err
	}
	if _, err := pgboot.EnsureDatabase(ctx, admin, name); err != nil {
		return errors.Join(fmt.Errorf("create database %q", name), err)
	}
	return nil
}

// generateParams reads the generate command's flags: the default scale,
// or with -small a fiftieth of it, and any count a flag sets.
func generateParams(args []string, usage io.Writer) (db.GenerateParams, error) {
	p := db.DefaultGenerateParams()
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprint(usage, "usage: switchboard generate [flags]\n\n"+
			"Builds the benchmark dataset into a database named after its parameters, on the server of\n"+
			"DATABASE_URL (or the development one), unless a complete build is there, and prints its URL.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	small := fs.Bool("small", false, "a fiftieth of the default scale, for a quick try")
	fs.Int64Var(&p.Seed, "seed", p.Seed, "seed of every pseudo-random choice")
	ints := []struct {
		name  string
		v     *int
		small int
		doc   string
	}{
		{"accounts", &p.Accounts, 20, "accounts"},
		{"members", &p.MembersPerAccount, 5, "members per account, besides the viewer"},
		{"contacts", &p.Contacts, 20_000, "contacts in all"},
		{"companies", &p.Companies, 4_000, "companies in all"},
		{"deals", &p.Deals, 6_000, "deals in all"},
		{"mail", &p.Mail, 40_000, "mail messages in all"},
		{"viewer-accounts", &p.ViewerAccounts, 10, "accounts the viewer is a member of"},
	}
	for _, f := range ints {
		fs.IntVar(f.v, f.name, *f.v, fmt.Sprintf("%s (-small: %d)", f.doc, f.small))
	}
	if err := fs.Parse(args); err != nil {
		return p, err
	}
	if fs.NArg() > 0 {
		return p, fmt.Errorf("generate: unexpected argument %q", fs.Arg(0))
	}
	if *small {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, f := range ints {
			if !set[f.name] {
				*f.v = f.small
			}
		}
	}
	return p, p.Validate()
}

// generateDataset is the generate command: it builds the dataset of the
// flags' parameters into the database p.Name() on the configured server,
// unless that database holds a complete build already, and prints the
// database's URL on stdout (everything else goes to the log). A database
// of that name without a complete build (an interrupted one) is dropped
// and built again.
func generateDataset(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	p, err := generateParams(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	base, err := databaseURL(ctx, cfg, logger)
	if err != nil {
		return err
	}
	name := p.Name()
	url, err := pgboot.WithDatabase(base, name)
	if err != nil {
		return err
	}
	adminURL, err := pgboot.WithDatabase(base, "postgres")
	if err != nil {
		return err
	}
	server, err := sql.Open("postgres", adminURL)
	if err != nil {
		return err
	}
	defer server.Close()
	conn, err := server.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", config.RedactURL(adminURL), err)
	}
	defer conn.Close()
	// One build of a dataset at a time, however many commands start.
	lock := "switchboard generate " + name
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext($1))`, lock); err != nil {
		return fmt.Errorf("generate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, lock)

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		done, err := reuseDataset(ctx, url, p, logger)
		if err != nil {
			return err
		}
		if done {
			fmt.Fprintln(stdout, url)
			return nil
		}
		logger.Warn("generate: the database holds no complete build: dropping it to build it again", "database", name)
		if _, err := conn.ExecContext(ctx, `DROP DATABASE `+pq.QuoteIdentifier(name)+` WITH (FORCE)`); err != nil {
			return fmt.Errorf("generate: drop %s: %w", name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
		return fmt.Errorf("generate: create %s: %w", name, err)
	}
	start := time.Now()
	d, err := db.Open(ctx, url, db.Options{MaxOpenConns: 2, Logger: logger})
	if err != nil {
		return err
	}
	defer d.Close()
	if err := db.Migrate(ctx, d.Pool(), logger); err != nil {
		return err
	}
	logger.Info("generate: building the dataset", "database", name, "params", fmt.Sprintf("%+v", p))
	if err := d.Generate(ctx, p); err != nil {
		return err
	}
	logger.Info("generate: dataset ready", "database", name, "took", time.Since(start).Round(time.Second),
		"viewer", db.ScaleViewerEmail, "password", db.ScaleViewerPassword)
	fmt.Fprintln(stdout, url)
	return nil
}

// reuseDataset reports whether the database at url holds the complete
// build of p, and warns when migrations were added since it was built.
func reuseDataset(ctx context.Context, url string, p db.GenerateParams, logger *slog.Logger) (bool, error) {
	d, err := db.Open(ctx, url, db.Options{MaxOpenConns: 1, Logger: logger})
	if err != nil {
		return false, err
	}
	defer d.Close()
	built, err := d.Generated(ctx)
	if err != nil || built == nil {
		return false, err
	}
	if built.Params != p {
		return false, fmt.Errorf("generate: database %s holds the dataset of %+v, not of %+v", built.Name, built.Params, p)
	}
	// A build older than the schema is migrated, and its search index
	// rebuilt for what the schema now indexes (or built, if a rebuild was
	// interrupted: as the owner, where forced row-level security hides the
	// documents from a non-superuser, the index reads as empty and is
	// rebuilt, which is slow but right).
	pending, err := db.PendingMigrations(ctx, d.Pool())
	if err != nil {
		return false, err
	}
	if pending > 0 {
		logger.Info("generate: migrating the dataset", "database", built.Name, "pending_migrations", pending)
		if err := db.Migrate(ctx, d.Pool(), logger); err != nil {
			return false, err
		}
	}
	var indexed bool
	if err := d.Pool().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM search_doc)`).Scan(&indexed); err != nil {
		return false, fmt.Errorf("generate: %w", err)
	}
	if pending > 0 || !indexed {
		logger.Info("generate: rebuilding the search index", "database", built.Name)
		start := time.Now()
		if err := d.RebuildSearch(ctx); err != nil {
			return false, err
		}
		if _, err := d.Pool().ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
			return false, fmt.Errorf("generate: vacuum: %w", err)
		}
		logger.Info("generate: search index rebuilt", "database", built.Name, "took", time.Since(start).Round(time.Second))
	}
	logger.Info("generate: dataset already built", "database", built.Name, "built", built.CompletedAt, "took", built.Duration.Round(time.Second),
		"viewer", db.ScaleViewerEmail, "password", db.ScaleViewerPassword)
	return true, nil
}
