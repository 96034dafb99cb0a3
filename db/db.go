// Package db is the PostgreSQL implementation of the crm services. All SQL
// lives here. A public method opens its transaction through DB.inTx (or
// joins the operation's unit of work, see unit.go), which sets the tenant
// scope for that transaction only; lowercase helpers take (ctx, tx, ...) and
// do one thing.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"switchboard/realtime"
)

// RuntimeRole is the role request work runs as. It does not own the tables
// and cannot bypass row-level security; the migrations create it. The
// request pool's connections take it at connection start (the `options`
// startup parameter), so no statement can run as the table owner by
// forgetting to switch.
const RuntimeRole = "switchboard_app"

// Clock returns the current time. Tests inject their own.
type Clock func() time.Time

// DB holds the connection pools and everything a transaction needs.
type DB struct {
	// app serves request work, as RuntimeRole. admin connects as the URL's
	// own user, the tables' owner: migrations and their status, the job
	// queue's own maintenance, pruning.
	app, admin *sqlx.DB
	// runner begins transactions: on the pool normally, as savepoints inside
	// one outer transaction for tests that roll everything back.
	runner   runner
	now      Clock
	log      *slog.Logger
	sessions SessionLimits
	// Statements counts every statement and transaction boundary sent for
	// request work, for tests and metrics.
	statements atomic.Int64
	// publishOut sends a committed transaction's events through an outside
	// bus; nil sends them by NOTIFY inside the transaction.
	publishOut func(ctx context.Context, events ...realtime.Envelope) error
	// retention is how long notifications are kept.
	retention time.Duration
}

// Options configure Open.
type Options struct {
	MaxOpenConns int
	Clock        Clock
	Logger       *slog.Logger
	// TxTimeout bounds one statement and one transaction of request work
	// (the operation timeout); default 15 s.
	TxTimeout time.Duration
	// Sessions are the limits every transaction checks a session against.
	Sessions SessionLimits
	// Publish, when set, sends each committed transaction's events through
	// an outside bus (NATS) after the commit; by default they go by NOTIFY
	// inside the transaction.
	Publish func(ctx context.Context, events ...realtime.Envelope) error
	// NotificationRetention is how long notifications are kept (default
	// 90 days).
	NotificationRetention time.Duration
}

// SessionLimits are how long a session lasts.
type SessionLimits struct {
	// Idle ends a session unused for this long; Absolute ends any session
	// this long after sign-in.
	Idle, Absolute time.Duration
}

// adminConns is the size of the owner's pool: the job queue, readiness
// probes and the hourly prune share it.
const adminConns = 4

// Open connects to url and checks the connection. The request pool
// connects lazily: before the migrations have created RuntimeRole it cannot.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	admin, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	admin.SetMaxOpenConns(adminConns)
	admin.SetMaxIdleConns(adminConns)
	admin.SetConnMaxIdleTime(5 * time.Minute)
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("connect to database %s: %w", redactDSN(url), err)
	}
	opts = opts.withDefaults()
	appURL, err := requestURL(url, opts)
	if err != nil {
		_ = admin.Close()
		return nil, err
	}
	appPool, err := openPrepared(appURL)
	if err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	app := sqlx.NewDb(appPool, "postgres")
	if opts.MaxOpenConns > 0 {
		app.SetMaxOpenConns(opts.MaxOpenConns)
		app.SetMaxIdleConns(opts.MaxOpenConns)
	}
	app.SetConnMaxIdleTime(5 * time.Minute)
	d := newDB(poolRunner{pool: app, limit: opts.TxTimeout}, opts)
	d.app, d.admin = app, admin
	return d, nil
}

// requestURL is url with the startup options of request connections: the
// runtime role, a statement timeout, and a limit on a transaction left
// open and idle (a unit of work never ended).
func requestURL(dsn string, opts Options) (string, error) {
	opt := fmt.Sprintf("-c role=%s -c statement_timeout=%d -c idle_in_transaction_session_timeout=%d",
		RuntimeRole, opts.TxTimeout.Milliseconds(), idleInTransaction.Milliseconds())
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("database: DATABASE_URL must be a postgres:// URL")
	}
	q := u.Query()
	if existing := q.Get("options"); existing != "" {
		opt = existing + " " + opt
	}
	q.Set("options", opt)
	if q.Get("application_name") == "" {
		q.Set("application_name", ApplicationName)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// ApplicationName is how request connections appear in pg_stat_activity.
const ApplicationName = "switchboard"

// idleInTransaction is how long the server lets a request transaction sit
// idle before ending it: far beyond any operation, so only a bug reaches it.
const idleInTransaction = time.Minute

func (o Options) withDefaults() Options {
	if o.TxTimeout <= 0 {
		o.TxTimeout = 15 * time.Second
	}
	if o.Sessions.Idle <= 0 {
		o.Sessions.Idle = 30 * time.Minute
	}
	if o.Sessions.Absolute <= 0 {
		o.Sessions.Absolute = 12 * time.Hour
	}
	if o.NotificationRetention <= 0 {
		o.NotificationRetention = notificationRetention
	}
	return o
}

// NewInTx returns a DB whose transactions are savepoints inside tx, so a test
// can roll back everything it did. The DB must not be used concurrently.
func NewInTx(tx *sqlx.Tx, opts Options) *DB {
	return newDB(&savepointRunner{tx: tx}, opts)
}

func newDB(r runner, opts Options) *DB {
	opts = opts.withDefaults()
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &DB{runner: r, now: opts.Clock, log: opts.Logger, sessions: opts.Sessions, publishOut: opts.Publish, retention: opts.NotificationRetention}
}

// Close closes the pools.
func (db *DB) Close() error {
	if db.app == nil {
		return nil
	}
	return errors.Join(db.app.Close(), db.admin.Close())
}

// Pool is the owner's pool, for the parts that need a *sql.DB of their own
// and the owner's rights: migrations, the job queue, metrics.
func (db *DB) Pool() *sql.DB {
	if db.admin == nil {
		return nil
	}
	return db.admin.DB
}

// RequestPool is the pool request work runs on, for metrics.
func (db *DB) RequestPool() *sql.DB {
	if db.app == nil {
		return nil
	}
	return db.app.DB
}

// Now is the DB's clock.
func (db *DB) Now() time.Time { return db.now() }

// Statements is how many statements (BEGIN and COMMIT included) request
// work has sent so far.
func (db *DB) Statements() int64 { return db.statements.Load() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if db.admin == nil {
		return nil
	}
	return db.admin.PingContext(ctx)
}

// Scope is the server-verified identity a transaction acts for. The zero
// value is an anonymous scope: row-level security then shows no tenant rows.
type Scope struct {
	UserID    uuid.UUID
	AccountID uuid.UUID
}

// Tx is one transaction with the time it started, so every row it writes
// carries the same now.
//
// Its statements ignore the caller's cancellation: when a client leaves
// mid-request, the work already under way finishes (a write commits whole
// or not at all, as it would have) and the connection goes back to the
// pool, where lib/pq would otherwise cancel the statement and discard the
// connection. Time limits come from the server instead: every request
// connection has a statement_timeout.
type Tx struct {
	q sqlx.ExtContext
	// sql is nil for a single statement outside a transaction.
	sql *sql.Tx
	db  *DB
	Now time.Time
	// pending is what the transaction publishes when it commits.
	pending pending
}

// Get scans one row into dest.
func (tx *Tx) Get(ctx context.Context, dest any, query string, args ...any) error {
	tx.db.statements.Add(1)
	return sqlx.GetContext(context.WithoutCancel(ctx), tx.q, dest, query, args...)
}

// Select scans all rows into dest, a pointer to a slice.
func (tx *Tx) Select(ctx context.Context, dest any, query string, args ...any) error {
	tx.db.statements.Add(1)
	return sqlx.SelectContext(context.WithoutCancel(ctx), tx.q, dest, query, args...)
}

// Query runs a statement and returns its rows, for readers that scan them
// themselves.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	tx.db.statements.Add(1)
	return tx.q.QueryContext(context.WithoutCancel(ctx), query, args...)
}

// Exec runs a statement.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx.db.statements.Add(1)
	return tx.q.ExecContext(context.WithoutCancel(ctx), query, args...)
}

// setScope changes the transaction's scope. It also clears a set of
// accounts a read over several had opened (search), so that no later read
// of the transaction sees more than its one account.
func (tx *Tx) setScope(ctx context.Context, scope Scope) error {
	// What was logged in the old scope is written in it: row-level
	// security checks each row against the scope of its account.
	if err := tx.publish(ctx); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT set_config('app.user_id', $1, true), set_config('app.account_id', $2, true), set_config('app.account_ids', '', true)`,
		uuidOrEmpty(scope.UserID), uuidOrEmpty(scope.AccountID))
	return err
}

// SQL is the underlying *sql.Tx, for libraries that insert in the same
// transaction (the job queue).
func (tx *Tx) SQL() *sql.Tx { return tx.sql }

const maxTxAttempts = 5

// inTx runs fn in a transaction of its own (never the operation's unit of
// work) with scope set for that transaction only. Serialization failures
// and deadlocks are retried here, so call sites never retry. fn may run more
// than once and must not have side effects outside the transaction.
func (db *DB) inTx(ctx context.Context, scope Scope, fn func(ctx context.Context, tx *Tx) error) error {
	return db.retrying(ctx, func() error {
		return db.runOnce(ctx, func(ctx context.Context, tx *Tx) error {
			if scope != (Scope{}) {
				if err := tx.setScope(ctx, scope); err != nil {
					return fmt.Errorf("set scope: %w", err)
				}
			}
			return fn(ctx, tx)
		})
	})
}

// retrying runs attempt until it succeeds, fails for good, or has failed
// with a serialization failure or deadlock maxTxAttempts times.
func (db *DB) retrying(ctx context.Context, attempt func() error) error {
	for n := 1; ; n++ {
		err := attempt()
		if err == nil || !retryable(err) || n == maxTxAttempts {
			return redact(err)
		}
		// Jittered backoff so colliding transactions do not collide again.
		backoff := time.Duration(n*n) * time.Duration(2+rand.IntN(8)) * time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(redact(err), ctx.Err())
		case <-time.After(backoff):
		}
	}
}

// runOnce runs fn in one transaction: committed when fn succeeds, rolled
// back otherwise.
func (db *DB) runOnce(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (err error) {
	tx, end, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer func() { err = end(err) }()
	return fn(ctx, tx)
}

// begin starts a transaction; end commits it when given nil and rolls it
// back otherwise, and returns the outcome.
func (db *DB) begin(ctx context.Context) (*Tx, func(error) error, error) {
	db.statements.Add(1)
	h, err := db.runner.begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{q: h.tx, sql: h.tx.Tx, db: db, Now: db.txNow()}
	end := func(err error) error {
		if err == nil {
			err = tx.publish(ctx)
		}
		db.statements.Add(1)
		if err != nil {
			_ = h.rollback()
			return err
		}
		if err := h.commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		tx.published(ctx)
		return nil
	}
	return tx, end, nil
}

// txNow is the time a transaction acts at. PostgreSQL keeps microseconds:
// a now with more would not round-trip.
func (db *DB) txNow() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// single runs fn as one statement outside any transaction, for work that
// needs no more (authenticating a subscription).
func (db *DB) single(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	if db.app == nil {
		// Tests on a rolled-back transaction have no pool.
		return db.runOnce(ctx, fn)
	}
	return fn(ctx, &Tx{q: db.app, db: db, Now: db.txNow()})
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
	tx       *sqlx.Tx
	commit   func() error
	rollback func() error
}

type runner interface {
	begin(ctx context.Context) (txHandle, error)
}

type poolRunner struct {
	pool *sqlx.DB
	// limit bounds a transaction, waiting for a connection included.
	limit time.Duration
}

func (r poolRunner) begin(ctx context.Context) (txHandle, error) {
	// database/sql and lib/pq watch the context given here for the whole
	// transaction: the caller's would end it (and cost the connection) when
	// the client leaves. A detached one, bounded in time, does not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.limit)
	tx, err := r.pool.BeginTxx(ctx, nil)
	if err != nil {
		cancel()
		return txHandle{}, err
	}
	return txHandle{
		tx:       tx,
		commit:   func() error { defer cancel(); return tx.Commit() },
		rollback: func() error { defer cancel(); return tx.Rollback() },
	}, nil
}

// savepointRunner nests each transaction in a savepoint of one outer
// transaction that the test rolls back at the end. The outer transaction
// connects as the owner, so each savepoint switches to RuntimeRole, as the
// request pool's connections are. A savepoint starts with no scope and, when
// it ends, gives back the scope it found, as a transaction of its own would
// (a write during an operation's unit of work nests in the unit's
// savepoint here, where in production they are two transactions).
type savepointRunner struct {
	tx *sqlx.Tx
	n  int
	// open counts savepoints begun and not ended.
	open int
}

// scopeSettings are the settings a transaction's scope lives in.
const scopeSettings = `current_setting('app.user_id', true) AS user_id, current_setting('app.account_id', true) AS account_id,
	current_setting('app.account_ids', true) AS account_ids`

type savedScope struct {
	UserID     *string `db:"user_id"`
	AccountID  *string `db:"account_id"`
	AccountIDs *string `db:"account_ids"`
}

func (r *savepointRunner) setScope(ctx context.Context, s savedScope) error {
	value := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	_, err := r.tx.ExecContext(ctx, `SELECT set_config('app.user_id', $1, true), set_config('app.account_id', $2, true), set_config('app.account_ids', $3, true)`,
		value(s.UserID), value(s.AccountID), value(s.AccountIDs))
	return err
}

func (r *savepointRunner) begin(ctx context.Context) (txHandle, error) {
	r.n++
	name := fmt.Sprintf("sp_%d", r.n)
	var found savedScope
	if err := r.tx.GetContext(ctx, &found, `SELECT `+scopeSettings); err != nil {
		return txHandle{}, err
	}
	if _, err := r.tx.ExecContext(ctx, "SAVEPOINT "+name+"; SET LOCAL ROLE "+RuntimeRole); err != nil {
		return txHandle{}, err
	}
	if err := r.setScope(ctx, savedScope{}); err != nil {
		return txHandle{}, err
	}
	r.open++
	// The savepoint statements use a fresh context: the caller's may already
	// be cancelled when it rolls back, and the outer transaction must stay
	// usable.
	return txHandle{
		tx: r.tx,
		commit: func() error {
			r.open--
			ctx := context.WithoutCancel(ctx)
			if _, err := r.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
				return err
			}
			if err := r.setScope(ctx, found); err != nil {
				return err
			}
			// The test's own statements after the outermost one run as the
			// session user again, as they would after a real commit.
			if r.open == 0 {
				_, err := r.tx.ExecContext(ctx, "RESET ROLE")
				return err
			}
			return nil
		},
		rollback: func() error {
			// Rolling back to the savepoint undoes its settings too.
			r.open--
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
