// Package db is the PostgreSQL implementation of the crm services. All SQL
// lives here. A public method opens its transaction through DB.inTx, which
// switches to the restricted runtime role and sets the tenant scope for that
// transaction only; lowercase helpers take (ctx, tx, ...) and do one thing.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// RuntimeRole is the role request work runs as (SET ROLE per transaction). It
// does not own the tables and cannot bypass row-level security; the
// migrations create it.
const RuntimeRole = "switchboard_app"

// Clock returns the current time. Tests inject their own.
type Clock func() time.Time

// DB holds the connection pool and everything a transaction needs.
type DB struct {
	pool *sqlx.DB
	// runner begins transactions: on the pool normally, as savepoints inside
	// one outer transaction for tests that roll everything back.
	runner runner
	now    Clock
	log    *slog.Logger
}

// Options configure Open.
type Options struct {
	MaxOpenConns int
	Clock        Clock
	Logger       *slog.Logger
}

// Open connects to url and checks the connection.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	pool, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if opts.MaxOpenConns > 0 {
		pool.SetMaxOpenConns(opts.MaxOpenConns)
		pool.SetMaxIdleConns(opts.MaxOpenConns)
	}
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		_ = pool.Close()
		return nil, fmt.Errorf("connect to database %s: %w", redactDSN(url), err)
	}
	return newDB(pool, poolRunner{pool}, opts), nil
}

// NewInTx returns a DB whose transactions are savepoints inside tx, so a test
// can roll back everything it did. The DB must not be used concurrently.
func NewInTx(tx *sqlx.Tx, opts Options) *DB {
	return newDB(nil, &savepointRunner{tx: tx}, opts)
}

func newDB(pool *sqlx.DB, r runner, opts Options) *DB {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &DB{pool: pool, runner: r, now: opts.Clock, log: opts.Logger}
}

// Close closes the pool.
func (db *DB) Close() error {
	if db.pool == nil {
		return nil
	}
	return db.pool.Close()
}

// Pool exposes the underlying pool for the parts that need a *sql.DB of their
// own: migrations, the job queue and the metrics collector.
func (db *DB) Pool() *sql.DB {
	if db.pool == nil {
		return nil
	}
	return db.pool.DB
}

// Now is the DB's clock.
func (db *DB) Now() time.Time { return db.now() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if db.pool == nil {
		return nil
	}
	return db.pool.PingContext(ctx)
}

// Scope is the server-verified identity a transaction acts for. The zero
// value is an anonymous scope: row-level security then shows no tenant rows.
type Scope struct {
	UserID    uuid.UUID
	AccountID uuid.UUID
}

// Tx is one transaction with the time it started, so every row it writes
// carries the same now.
type Tx struct {
	q   sqlx.ExtContext
	sql *sql.Tx
	Now time.Time
}

// Get scans one row into dest.
func (tx *Tx) Get(ctx context.Context, dest any, query string, args ...any) error {
	return sqlx.GetContext(ctx, tx.q, dest, query, args...)
}

// Select scans all rows into dest, a pointer to a slice.
func (tx *Tx) Select(ctx context.Context, dest any, query string, args ...any) error {
	return sqlx.SelectContext(ctx, tx.q, dest, query, args...)
}

// Exec runs a statement.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.q.ExecContext(ctx, query, args...)
}

// setScope changes the transaction's scope, for the few operations that
// learn their account from a verified secret (an invitation link) halfway
// through.
func (tx *Tx) setScope(ctx context.Context, scope Scope) error {
	_, err := tx.Exec(ctx, `SELECT set_config('app.user_id', $1, true), set_config('app.account_id', $2, true)`,
		uuidOrEmpty(scope.UserID), uuidOrEmpty(scope.AccountID))
	return err
}

// SQL is the underlying *sql.Tx, for libraries that insert in the same
// transaction (the job queue).
func (tx *Tx) SQL() *sql.Tx { return tx.sql }

const maxTxAttempts = 5

// inTx runs fn in a transaction as the runtime role with scope set for that
// transaction only. Serialization failures and deadlocks are retried here, so
// call sites never retry. fn may run more than once and must not have side
// effects outside the transaction.
func (db *DB) inTx(ctx context.Context, scope Scope, fn func(ctx context.Context, tx *Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.runOnce(ctx, scope, fn)
		if err == nil || !retryable(err) || attempt == maxTxAttempts {
			return redact(err)
		}
		// Jittered backoff so colliding transactions do not collide again.
		backoff := time.Duration(attempt*attempt) * time.Duration(2+rand.IntN(8)) * time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(redact(err), ctx.Err())
		case <-time.After(backoff):
		}
	}
}

func (db *DB) runOnce(ctx context.Context, scope Scope, fn func(ctx context.Context, tx *Tx) error) (err error) {
	h, err := db.runner.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = h.rollback()
		}
	}()
	// PostgreSQL keeps microseconds: a now with more would not round-trip.
	tx := &Tx{q: h.q, sql: h.sql, Now: db.now().UTC().Truncate(time.Microsecond)}
	if _, err = tx.Exec(ctx, `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true), set_config('app.account_id', $3, true)`,
		RuntimeRole, uuidOrEmpty(scope.UserID), uuidOrEmpty(scope.AccountID)); err != nil {
		return fmt.Errorf("set scope: %w", err)
	}
	if err = fn(ctx, tx); err != nil {
		return err
	}
	if err = h.commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func uuidOrEmpty(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

// retryable reports serialization failures and deadlocks.
func retryable(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "40001", "40P01":
			return true
		}
	}
	return false
}

// isUniqueViolation reports a unique_violation on the named constraint (any
// constraint when name is empty).
func isUniqueViolation(err error, name string) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505" && (name == "" || pqErr.Constraint == name)
}

type txHandle struct {
	q        sqlx.ExtContext
	sql      *sql.Tx
	commit   func() error
	rollback func() error
}

type runner interface {
	begin(ctx context.Context) (txHandle, error)
}

type poolRunner struct{ pool *sqlx.DB }

func (r poolRunner) begin(ctx context.Context) (txHandle, error) {
	tx, err := r.pool.BeginTxx(ctx, nil)
	if err != nil {
		return txHandle{}, err
	}
	return txHandle{q: tx, sql: tx.Tx, commit: tx.Commit, rollback: tx.Rollback}, nil
}

// savepointRunner nests each transaction in a savepoint of one outer
// transaction that the test rolls back at the end.
type savepointRunner struct {
	tx *sqlx.Tx
	n  int
}

func (r *savepointRunner) begin(ctx context.Context) (txHandle, error) {
	r.n++
	name := fmt.Sprintf("sp_%d", r.n)
	if _, err := r.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return txHandle{}, err
	}
	// The savepoint statements use a fresh context: the caller's may already
	// be cancelled when it rolls back, and the outer transaction must stay
	// usable.
	return txHandle{
		q:   r.tx,
		sql: r.tx.Tx,
		commit: func() error {
			// RESET ROLE so the test's own statements after this one run as
			// the session user again, as they would after a real commit.
			_, err := r.tx.ExecContext(context.WithoutCancel(ctx), "RELEASE SAVEPOINT "+name+"; RESET ROLE")
			return err
		},
		rollback: func() error {
			_, err := r.tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+name)
			return err
		},
	}, nil
}

// redactDSN keeps the password of a database URL out of error messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
