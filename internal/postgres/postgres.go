// Package postgres is sessiond's sessions.Store on PostgreSQL, for
// deployments that run several sessiond nodes against one database.
//
// It speaks to PostgreSQL through pgx and its pool directly, without an
// ORM: every query is a constant string that pgx prepares once per
// connection and caches. The schema is applied by Open from the embedded,
// versioned migrations under an advisory lock, so nodes starting together
// never migrate twice; running sessiond's migrations alone is Open followed
// by Close.
//
// Concurrency comes from row locks rather than from a single writer as in
// SQLite: UpdateSession locks the session row (SELECT ... FOR UPDATE) so
// concurrent validations and revocations of one session are serialised, and
// PurgeSessions picks its batch with FOR UPDATE SKIP LOCKED so that the
// janitors of several nodes share the work and never wait on the API or on
// each other.
//
// Every call is bounded by Options.QueryTimeout and every connection
// attempt by Options.ConnectTimeout, so that when PostgreSQL goes away
// requests fail fast with EUNAVAILABLE instead of hanging.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Options tunes the connection pool and the time limits. The zero value
// gives the documented defaults.
type Options struct {
	// MaxConns caps the connections of this node's pool. Zero means the
	// URL's pool_max_conns or else DefaultMaxConns.
	MaxConns int32
	// ConnectTimeout bounds opening one connection (TCP, TLS and startup).
	// Zero means the URL's connect_timeout or else DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// QueryTimeout bounds each store call, including the wait for a pooled
	// connection, and is also the server-side statement_timeout unless the
	// URL sets one. Zero means DefaultQueryTimeout.
	QueryTimeout time.Duration
}

// Defaults of Options.
const (
	// DefaultMaxConns is enough for thousands of short queries a second
	// per node, while leaving room for several nodes under PostgreSQL's
	// default max_connections of 100.
	DefaultMaxConns = 10
	// DefaultConnectTimeout fails a connection attempt to an unreachable
	// server well before an HTTP client gives up.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultQueryTimeout is far above any healthy call (milliseconds) and
	// far below the time a client waits for an answer.
	DefaultQueryTimeout = 5 * time.Second
)

// Store is a sessions.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	// schemaKey identifies the store's schema in advisory lock keys (a
	// hash of its name), so that stores in different schemas of one
	// database do not wait on each other.
	schemaKey int32
	// bulkLoaded counts the sessions BulkLoad stored since it last
	// analyzed the tables.
	bulkLoaded atomic.Int64
}

var _ sessions.Store = (*Store)(nil)

// Open connects to the database at rawURL (postgres:// or postgresql://),
// applies any pending migrations and returns the store. Parameters in the
// URL are pgx's: sslmode, connect_timeout, pool_max_conns, and any other
// name is a run-time parameter for every connection, such as
// search_path=sessiond to keep sessiond's tables in their own schema (which
// must exist). ctx bounds connecting and migrating, including the wait for
// another node that is migrating. Connection failures are EUNAVAILABLE.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, sessions.Errorf(sessions.EINVALID, "the PostgreSQL URL must start with postgres:// or postgresql://")
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, &sessions.Error{Code: sessions.EINVALID, Message: "the PostgreSQL URL is invalid", Err: err}
	}
	params := u.Query()
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !params.Has("pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case !params.Has("connect_timeout"):
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	timeout := opts.QueryTimeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok {
		// The server gives up too, even if the client's cancel is lost.
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "sessiond"
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, storeErr(err)
	}
	s := &Store{pool: pool, timeout: timeout}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close waits for calls in progress and closes every connection. Calls
// after Close fail with EUNAVAILABLE.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return storeErr(s.pool.Ping(ctx))
}

// bound limits one store call to the query timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change; files are named
// NNNN_description.sql and applied in order of their number.
type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, p := range names {
		name := path.Base(p)
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: name must start with its number", name)
		}
		b, err := migrationFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("postgres: migrations %s and %s have the same number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrateLockClass is the first half of the advisory lock key that
// serialises migrations ("sess"); the second half is a hash of the schema,
// so that stores in different schemas of one database do not wait on each
// other.
const migrateLockClass = 0x73657373

// migrate applies the pending migrations in one transaction, holding a
// transaction-level advisory lock: a node that starts while another one
// migrates waits for it and then finds nothing left to do. A database
// migrated by a newer sessiond (versions this one does not know) is left
// as it is, so that a rolling upgrade can run old and new nodes together.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A migration may legitimately take longer than one API query.
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return err
		}
		var schema *string
		if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return err
		}
		if schema == nil {
			return sessions.Errorf(sessions.EINVALID, "no schema of the PostgreSQL search_path exists")
		}
		h := fnv.New32a()
		h.Write([]byte(*schema))
		s.schemaKey = int32(h.Sum32())
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1::int4, $2::int4)", int32(migrateLockClass), s.schemaKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at bigint NOT NULL
)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		done := make(map[int]bool, len(applied))
		for _, v := range applied {
			done[int(v)] = true
		}
		for _, m := range ms {
			if done[m.version] {
				continue
			}
			// No arguments: pgx sends the file as one simple query, so it
			// may hold many statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.version, m.name, time.Now().Unix()); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case unreachable(err):
		return sessions.Unavailable(err)
	case sessions.ErrorCode(err) != sessions.EINTERNAL:
		return err
	}
	return fmt.Errorf("postgres: migrate: %w", err)
}

// storeErr turns a pgx error into the domain's vocabulary: a unique
// violation is ECONFLICT, anything that says the database cannot be
// reached or did not answer in time is EUNAVAILABLE, and the rest is an
// internal error whose text stays in the logs. Domain errors pass through.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var de *sessions.Error
	if errors.As(err, &de) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505": // unique_violation
			return &sessions.Error{Code: sessions.ECONFLICT, Message: "the session or key already exists", Err: err}
		case unavailableState(pgErr.Code):
			return sessions.Unavailable(err)
		}
		return fmt.Errorf("postgres: %w", err)
	}
	if unreachable(err) {
		return sessions.Unavailable(err)
	}
	return fmt.Errorf("postgres: %w", err)
}

// unavailableState reports whether a server error means "not now" rather
// than "never": the server is shutting down, out of connections, cancelled
// the statement at its timeout, or the transaction lost a race that a
// retry would win.
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"): // connection_exception
		return true
	case strings.HasPrefix(code, "53"): // insufficient_resources, too_many_connections
		return true
	}
	switch code {
	case "57014", // query_canceled (statement_timeout)
		"57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"55P03",          // lock_not_available (lock_timeout)
		"40001", "40P01": // serialization_failure, deadlock_detected
		return true
	}
	return false
}

// unreachable reports whether err is a failure to reach the server or to
// hear from it in time: a failed connect, a timeout (ours or the
// network's), a broken or closed connection, or a closed pool. A call that
// its caller cancelled counts too: its outcome is as unknown as a timed-out
// one's, and it is no bug of ours.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr),
		pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		errors.As(err, &netErr),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, puddle.ErrClosedPool),
		pgconn.SafeToRetry(err):
		return true
	}
	return false
}
