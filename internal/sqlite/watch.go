package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// watcher tells when the database file has changed: from the wal-index
// header that every commit rewrites, mapped into memory (a few loads, no
// system call), or where that is not possible, by asking SQLite for
// data_version, which changes when any other connection, of this process
// or another, commits.
//
// Its connection stays open from Open to Close. SQLite deletes the
// wal-index (-shm) file when the last connection to the database closes,
// and a new one is made on the next open: the open connection keeps the
// file that is mapped the file that is in use.
type watcher struct {
	shm  atomic.Pointer[shmHeader] // nil: ask SQLite
	mu   sync.Mutex
	db   *sql.DB
	stmt *sql.Stmt
}

// open opens the watcher's connection and maps the wal-index.
func (w *watcher) open(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", sideDSN(path, "query_only(1)"))
	if err != nil {
		return err
	}
	// One connection, kept: data_version compares against what this
	// connection saw last, and the open connection keeps the -shm file.
	keepOne(db)
	stmt, err := db.PrepareContext(ctx, `PRAGMA data_version`)
	if err == nil {
		// A first read makes sure the connection has joined the
		// wal-index before it is mapped.
		var v int64
		err = stmt.QueryRowContext(ctx).Scan(&v)
	}
	if err != nil {
		db.Close()
		return mapErr(err)
	}
	w.db, w.stmt = db, stmt
	w.shm.Store(mapShm(path))
	return nil
}

// DataVersion returns a number that changes whenever the database has
// changed since the last call, whoever wrote: this store's own writes move
// it too. A cache in front of the store uses it to notice what another
// process (sessiond apikey revoke, sessiond tenant privacy) wrote. It
// reads shared memory; only where that cannot be mapped does it cost a
// statement.
func (s *Store) DataVersion(ctx context.Context) (int64, error) {
	w := &s.watch
	if shm := w.shm.Load(); shm != nil {
		return shm.version(), nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var v int64
	if err := w.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		return 0, mapErr(err)
	}
	return v, nil
}

func (w *watcher) close() error {
	w.shm.Store(nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.db == nil {
		return nil
	}
	w.stmt.Close()
	err := w.db.Close()
	w.db, w.stmt = nil, nil
	return err
}
