package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"modernc.org/sqlite"
)

// maxCachedStmts bounds each connection's statement cache. The store's
// queries are a few dozen constant strings (the list query has one per
// sort key, direction and filter), so the bound is never reached in use;
// it only keeps a caller with ever-new SQL from growing the cache.
const maxCachedStmts = 256

// connector opens connections to dsn whose queries reuse their prepared
// statements. database/sql hands a query string to the driver, and the
// driver parses and plans it every time: on the hot paths (one key lookup
// per API request, two queries per list) profiles showed SQLite's parser
// and planner at a sixth of all CPU time. Each connection here keeps the
// statements it has prepared, by query string, and runs them again with
// new arguments.
type connector struct {
	dsn string
	drv *sqlite.Driver
}

func newConnector(dsn string) *connector { return &connector{dsn: dsn, drv: &sqlite.Driver{}} }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{conn: conn, stmts: make(map[string]*cachedStmt)}, nil
}

func (c *connector) Driver() driver.Driver { return c.drv }

// cachingConn is a driver connection with a statement cache. database/sql
// uses a connection from one goroutine at a time, so the cache needs no
// lock.
type cachingConn struct {
	conn  driver.Conn
	stmts map[string]*cachedStmt

	// uninterruptible: statements run to completion whatever their ctx
	// (see Store.write); ctx is still checked before each one starts.
	uninterruptible bool
}

// stmtCtx is the context to run a statement with.
func (c *cachingConn) stmtCtx(ctx context.Context) context.Context {
	if c.uninterruptible {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// cachedStmt is a prepared statement and whether rows of it are open: a
// statement runs once at a time, so a query issued while its own rows are
// still being read (on the same connection) is prepared afresh instead.
type cachedStmt struct {
	stmt driver.Stmt
	busy atomic.Bool
}

// The interfaces database/sql looks for on a connection, all passed on.
var (
	_ driver.ConnBeginTx        = (*cachingConn)(nil)
	_ driver.ConnPrepareContext = (*cachingConn)(nil)
	_ driver.ExecerContext      = (*cachingConn)(nil)
	_ driver.QueryerContext     = (*cachingConn)(nil)
	_ driver.Pinger             = (*cachingConn)(nil)
	_ driver.SessionResetter    = (*cachingConn)(nil)
	_ driver.Validator          = (*cachingConn)(nil)
)

// cached returns the connection's prepared statement of query, preparing
// it on first use; nil (and no error) if the cache is full.
func (c *cachingConn) cached(ctx context.Context, query string) (*cachedStmt, error) {
	if cs, ok := c.stmts[query]; ok {
		return cs, nil
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil, nil
	}
	st, err := c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs := &cachedStmt{stmt: st}
	c.stmts[query] = cs
	return cs, nil
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	ctx = c.stmtCtx(ctx)
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil || !cs.busy.CompareAndSwap(false, true) {
		return c.conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		cs.busy.Store(false)
		return nil, err
	}
	return &cachedRows{Rows: rows, stmt: cs}, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ctx = c.stmtCtx(ctx)
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil || !cs.busy.CompareAndSwap(false, true) {
		return c.conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	defer cs.busy.Store(false)
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

// PrepareContext prepares a statement the caller owns (and closes), not
// one from the cache.
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }

func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *cachingConn) Ping(ctx context.Context) error { return c.conn.(driver.Pinger).Ping(ctx) }

func (c *cachingConn) ResetSession(ctx context.Context) error {
	return c.conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *cachingConn) IsValid() bool { return c.conn.(driver.Validator).IsValid() }

// Close finalizes the cached statements and closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.conn.Close())...)
}

// cachedRows frees its statement for the next query when closed.
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
	done bool
}

func (r *cachedRows) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	err := r.Rows.Close()
	r.stmt.busy.Store(false)
	return err
}
