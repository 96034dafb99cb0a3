package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded SQL migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

func newMigrator(pool *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	// A session-level advisory lock makes concurrent starts of several
	// gateway processes migrate one at a time.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	return goose.NewProvider(goose.DialectPostgres, pool, Migrations(), opts...)
}

// Migrate applies every pending migration: River's job-queue schema first,
// then Switchboard's own (whose grants refer to River's tables). It runs as
// the database URL's own user, which owns the tables; request work later
// switches to RuntimeRole. An advisory lock makes processes that start
// together migrate one at a time.
func Migrate(ctx context.Context, pool *sql.DB, logger *slog.Logger) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	const lockKey = "switchboard migrate"
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext($1))`, lockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, lockKey)

	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	river, err := rivermigrate.New(riverdatabasesql.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	if _, err := river.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	p, err := newMigrator(pool, logger)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		logger.Info("applied migration", "version", r.Source.Version, "file", path.Base(r.Source.Path), "duration", r.Duration)
	}
	if version, err := p.GetDBVersion(ctx); err == nil {
		logger.Info("schema migrated", "version", version, "applied_now", len(results))
	}
	return nil
}

// PendingMigrations reports how many embedded migrations the database has not
// applied yet. It only reads, so a readiness probe can call it often: no
// lock, and no version table is created when there is none.
func PendingMigrations(ctx context.Context, pool *sql.DB) (int, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, pool, Migrations())
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	applied := map[int64]bool{}
	rows, err := pool.QueryContext(ctx, `SELECT version_id FROM goose_db_version WHERE is_applied`)
	if err != nil {
		if pqErr, ok := errors.AsType[*pq.Error](err); ok && pqErr.Code == "42P01" { // undefined_table
			return len(p.ListSources()), nil
		}
		return 0, fmt.Errorf("migration status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, src := range p.ListSources() {
		if !applied[src.Version] {
			n++
		}
	}
	return n, nil
}

// JobQueueMigrations returns River's migrations, which Migrate applies
// before the embedded ones; the test harness fingerprints both.
func JobQueueMigrations() fs.FS {
	return riverdatabasesql.New(nil).GetMigrationFS("main")
}
