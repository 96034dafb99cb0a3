// Command switchboard is the GraphQL gateway of a multi-account CRM.
//
//	switchboard             serve on $PORT (default 8080)
//	switchboard migrate     apply migrations and exit
//	switchboard seed-demo   create (or reset) a demo organisation and print how to sign in
//
// Configuration comes from the environment; see the README for the table.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"

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
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate or seed-demo)", command)
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
	url := cfg.DatabaseURL
	if url == "" {
		dataDir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return "", err
		}
		srv, err := pgboot.Find(ctx, pgboot.Options{DataDir: filepath.Join(dataDir, "postgres"), Logger: logger})
		if err != nil {
			return "", err
		}
		url, err = pgboot.WithDatabase(srv.AdminURL, "switchboard")
		if err != nil {
			return "", err
		}
		logger.Info("development database", "url", config.RedactURL(url), "private_cluster", srv.Private)
	}
	if !migrate {
		return url, nil
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
