// Package sqlite is sessiond's embedded store: sessions.Store on one SQLite
// file, through the pure-Go modernc.org/sqlite driver so that the binary
// needs no C toolchain.
//
// SQLite allows one writer at a time, so the store keeps two pools: a writer
// pool of exactly one connection, through which every write runs in a
// BEGIN IMMEDIATE transaction (our writers queue in Go instead of meeting
// SQLITE_BUSY, and concurrent writes share one: see write), and a reader
// pool that WAL mode lets read concurrently with the writer. The schema is
// created by versioned migrations embedded in the binary and applied on
// Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/sessions"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Store is a sessions.Store on one SQLite database file.
type Store struct {
	writer *sql.DB // one connection: every write goes through it
	reader *sql.DB // concurrent readers (WAL)
	path   string
	watch  watcher     // see DataVersion
	lock   *os.File    // see LockServing
	group  groupWriter // see write
	ckpt   *checkpointer
}

var _ sessions.Store = (*Store)(nil)

// busyTimeoutMS is how long a connection waits for a lock held by another
// process (a backup, the sqlite3 shell) before giving up.
const busyTimeoutMS = 5000

// Open opens the database at path, creating the file if needed, and brings
// its schema up to date. path is a file name, not ":memory:": the two pools
// must see the same database.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: %q is not a usable database file name", path)
	}
	// The pragmas go in the DSN so that every connection the pools open
	// gets them, not only the first.
	common := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS),
		"foreign_keys(1)",
		"synchronous(NORMAL)",
	}
	wq := url.Values{"_pragma": append(slices.Clone(common), "journal_mode(WAL)",
		fmt.Sprintf("wal_autocheckpoint(%d)", writerCheckpointPages)), "_txlock": {"immediate"}}
	rq := url.Values{"_pragma": append(slices.Clone(common), "query_only(1)")}

	// Each connection keeps its prepared statements (see connector).
	writer := keepOne(sql.OpenDB(newConnector(path + "?" + wq.Encode())))

	// Migrating first also makes the file WAL before any reader opens it.
	if _, err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}

	reader := sql.OpenDB(newConnector(path + "?" + rq.Encode()))
	n := max(4, runtime.NumCPU())
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	st := &Store{writer: writer, reader: reader, path: path}
	if err := st.watch.open(ctx, path); err != nil {
		reader.Close()
		writer.Close()
		return nil, err
	}
	var err error
	if st.ckpt, err = startCheckpointer(path); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// Close closes both pools. Calls after Close fail with EUNAVAILABLE.
func (s *Store) Close() error {
	// The watcher's connection last: while it is open, SQLite keeps the
	// wal-index file it has mapped (see watcher).
	err := errors.Join(s.ckpt.close(), s.reader.Close(), s.writer.Close(), s.watch.close())
	if s.lock != nil {
		// Closing the descriptor releases the flock.
		err = errors.Join(err, s.lock.Close())
	}
	return err
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return mapErr(err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded schema change, named NNNN_description.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s: name must start with a positive version and _", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("sqlite: migrations %s and %s share a version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate applies the migrations db has not seen, each in its own
// transaction together with its row in schema_migrations, and returns how
// many it applied. Re-running it on an up-to-date database applies none;
// the check inside each immediate transaction keeps two processes opening
// one new file from applying a migration twice.
func migrate(ctx context.Context, db *sql.DB) (int, error) {
	ms, err := migrations()
	if err != nil {
		return 0, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return 0, mapErr(err)
	}
	applied := 0
	for _, m := range ms {
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			var done bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.version).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, unixepoch())`, m.version); err != nil {
				return err
			}
			applied++
			return nil
		})
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// keepOne makes db a pool of exactly one connection, opened once and kept
// for the pool's life: the writer, the watcher and the checkpointer each
// need the same connection every time.
func keepOne(db *sql.DB) *sql.DB {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db
}

// sideDSN is the DSN of a connection of the store's own (the watcher's,
// the checkpointer's) to path with pragmas, after the busy timeout.
func sideDSN(path string, pragmas ...string) string {
	q := url.Values{"_pragma": append([]string{fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS)}, pragmas...)}
	return path + "?" + q.Encode()
}

// read runs fn in one read transaction, so that its queries see one snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, s.reader, fn)
}

// inTx runs fn in a transaction of db, committing if fn returns nil and
// rolling back otherwise. Errors come back translated by mapErr.
func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// mapErr translates a database error into the domain's vocabulary: unique
// violations become ECONFLICT, a closed, locked or failing database
// EUNAVAILABLE. Errors that are already domain errors, and errors this
// package does not recognise, pass through unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var de *sessions.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) ||
		strings.Contains(err.Error(), "sql: database is closed") {
		return sessions.Unavailable(err)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch code := se.Code(); code {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return &sessions.Error{Code: sessions.ECONFLICT, Message: "the record already exists", Err: err}
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return &sessions.Error{Code: sessions.ENOTFOUND, Message: "tenant not found", Err: err}
	default:
		switch code & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_PROTOCOL,
			sqlite3.SQLITE_NOTADB:
			return sessions.Unavailable(err)
		}
	}
	return err
}

// Client-safe not-found errors.
func errUserNotFound() error    { return sessions.Errorf(sessions.ENOTFOUND, "user not found") }
func errSessionNotFound() error { return sessions.Errorf(sessions.ENOTFOUND, "session not found") }
func errKeyNotFound() error     { return sessions.Errorf(sessions.ENOTFOUND, "API key not found") }
