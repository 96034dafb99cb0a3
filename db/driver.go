package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// Every statement with parameters that request work sends is prepared once
// per connection and then reused, so PostgreSQL plans it once instead of on
// every request (planning row-level security policies cost more than
// running the statements), and each execution is one round trip (Bind,
// Execute, Sync) instead of lib/pq's two (Parse and Describe, then Bind and
// Execute). It happens below database/sql, in a wrapper of lib/pq's
// connection, so the SQL in this package stays plain strings.
//
// The wrapper also saves the round trip of BEGIN: a transaction begins
// with its first statement, sent as "BEGIN; <statement>" in one message
// when the statement has no parameters (the request path's first one,
// app_enter, is written so: enterStatement), and BEGIN alone before it
// otherwise. A transaction that sent nothing has nothing to commit.

// maxPreparedPerConn bounds the statements a connection keeps prepared
// (the least recently used is closed to make room). The package has fewer
// distinct statements than this; the bound keeps a mistake (a statement
// built with values in its text) from growing without limit.
const maxPreparedPerConn = 256

// openPrepared opens a pool over dsn whose connections prepare and reuse
// their statements.
func openPrepared(dsn string) (*sql.DB, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(preparingConnector{c}), nil
}

type preparingConnector struct{ inner *pq.Connector }

func (c preparingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newPreparingConn(conn), nil
}

func (c preparingConnector) Driver() driver.Driver { return c.inner.Driver() }

// pqConn is what database/sql uses of a lib/pq connection.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// preparingConn keeps a statement cache for one connection. database/sql
// never uses a connection from two goroutines at once, so it needs no lock.
type preparingConn struct {
	pqConn
	// beginPending: a transaction has begun for database/sql and not yet
	// on the server (see BeginTx).
	beginPending bool
	stmts        map[string]*cachedStmt
	// lru is a doubly linked list of the cached statements, most recently
	// used first.
	head, tail *cachedStmt
}

type cachedStmt struct {
	query      string
	stmt       driver.Stmt
	prev, next *cachedStmt
}

func newPreparingConn(c driver.Conn) driver.Conn {
	pc, ok := c.(pqConn)
	if !ok {
		return c // not lib/pq as we know it: no cache
	}
	return &preparingConn{pqConn: pc, stmts: map[string]*cachedStmt{}}
}

// BeginTx begins a transaction with the server's defaults lazily: the
// server hears BEGIN with the transaction's first statement. Other options
// go to lib/pq as they are.
func (c *preparingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.Isolation != driver.IsolationLevel(sql.LevelDefault) || opts.ReadOnly {
		return c.pqConn.BeginTx(ctx, opts)
	}
	if c.beginPending {
		return nil, errors.New("db: a transaction is already open on this connection")
	}
	c.beginPending = true
	return lazyTx{c}, nil
}

// lazyTx is a transaction begun by BeginTx.
type lazyTx struct{ c *preparingConn }

func (t lazyTx) Commit() error   { return t.end(driver.Tx.Commit) }
func (t lazyTx) Rollback() error { return t.end(driver.Tx.Rollback) }

func (t lazyTx) end(op func(driver.Tx) error) error {
	if t.c.beginPending {
		t.c.beginPending = false // nothing was sent: nothing to end
		return nil
	}
	return op(t.c.pqConn.(driver.Tx)) // lib/pq's connection is its transaction
}

// sendBegin sends a pending BEGIN on its own, before a statement that
// cannot carry it.
func (c *preparingConn) sendBegin(ctx context.Context) error {
	if !c.beginPending {
		return nil
	}
	c.beginPending = false
	_, err := c.pqConn.ExecContext(ctx, "BEGIN", nil)
	return err
}

// withBegin prefixes a statement without parameters with a pending BEGIN.
func (c *preparingConn) withBegin(query string) string {
	if !c.beginPending {
		return query
	}
	c.beginPending = false
	return "BEGIN; " + query
}

// PrepareContext prepares a statement (database/sql's Tx.Prepare) in the
// transaction, begun first if it is pending.
func (c *preparingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if err := c.sendBegin(ctx); err != nil {
		return nil, err
	}
	return c.pqConn.PrepareContext(ctx, query)
}

// QueryContext runs query on its prepared statement.
func (c *preparingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		// Statements without parameters go by the simple protocol: already
		// one round trip, and they may hold several commands.
		return c.pqConn.QueryContext(ctx, c.withBegin(query), args)
	}
	if err := c.sendBegin(ctx); err != nil {
		return nil, err
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	c.forgetIfStale(st, err)
	return rows, err
}

// ExecContext runs query on its prepared statement.
func (c *preparingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.pqConn.ExecContext(ctx, c.withBegin(query), args)
	}
	if err := c.sendBegin(ctx); err != nil {
		return nil, err
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	c.forgetIfStale(st, err)
	return res, err
}

func (c *preparingConn) prepared(ctx context.Context, query string) (*cachedStmt, error) {
	if st, ok := c.stmts[query]; ok {
		c.unlink(st)
		c.pushFront(st)
		return st, nil
	}
	stmt, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= maxPreparedPerConn {
		oldest := c.tail
		c.unlink(oldest)
		delete(c.stmts, oldest.query)
		_ = oldest.stmt.Close()
	}
	st := &cachedStmt{query: query, stmt: stmt}
	c.stmts[query] = st
	c.pushFront(st)
	return st, nil
}

// forgetIfStale drops a statement PostgreSQL no longer accepts as prepared
// (a migration changed what it returns: "cached plan must not change
// result type"), so the next use prepares it again.
func (c *preparingConn) forgetIfStale(st *cachedStmt, err error) {
	var pqErr *pq.Error
	if err == nil || !errors.As(err, &pqErr) || pqErr.Code != "0A000" {
		return
	}
	if c.stmts[st.query] == st {
		c.unlink(st)
		delete(c.stmts, st.query)
		// Closing it would fail in the aborted transaction; the server
		// frees it with the connection.
	}
}

func (c *preparingConn) pushFront(st *cachedStmt) {
	st.prev, st.next = nil, c.head
	if c.head != nil {
		c.head.prev = st
	}
	c.head = st
	if c.tail == nil {
		c.tail = st
	}
}

func (c *preparingConn) unlink(st *cachedStmt) {
	if st.prev != nil {
		st.prev.next = st.next
	} else {
		c.head = st.next
	}
	if st.next != nil {
		st.next.prev = st.prev
	} else {
		c.tail = st.prev
	}
	st.prev, st.next = nil, nil
}

// ResetSession is called before database/sql reuses the connection; no
// transaction is open then.
func (c *preparingConn) ResetSession(ctx context.Context) error {
	c.beginPending = false
	return c.pqConn.ResetSession(ctx)
}

// Close closes the connection; its statements go with it.
func (c *preparingConn) Close() error { return c.pqConn.Close() }
