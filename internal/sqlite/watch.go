package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
)

// watcher tells when the database file has changed: from the wal-index
// header that every commit rewrites, mapped into memory (a few loads, no
// system call), or where that is not possible, from a connection of its
// own that asks SQLite for data_version, which changes when any other
// connection, of this process or another, commits.
type watcher struct {
	once sync.Once
	shm  *shmHeader

	mu   sync.Mutex
	db   *sql.DB
	stmt *sql.Stmt
	err  error
}

// DataVersion returns a number that changes whenever the database has
// changed since the last call, whoever wrote: this store's own writes move
// it too. A cache in front of the store uses it to notice what another
// process (sessiond apikey revoke, sessiond tenant privacy) wrote. It
// reads shared memory; only where that cannot be mapped does it cost a
// statement.
func (s *Store) DataVersion(ctx context.Context) (int64, error) {
	w := &s.watch
	w.once.Do(func() { w.shm = mapShm(s.path) })
	if w.shm != nil {
		return w.shm.version(), nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.db == nil && w.err == nil {
		w.open(s.path)
	}
	if w.err != nil {
		return 0, mapErr(w.err)
	}
	var v int64
	if err := w.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		return 0, mapErr(err)
	}
	return v, nil
}

// open opens the watcher's connection; w.mu must be held.
func (w *watcher) open(path string) {
	q := url.Values{"_pragma": {fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS), "query_only(1)"}}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		w.err = err
		return
	}
	// One connection, kept: data_version compares against what this
	// connection saw last.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	stmt, err := db.Prepare(`PRAGMA data_version`)
	if err != nil {
		db.Close()
		w.err = err
		return
	}
	w.db, w.stmt = db, stmt
}

func (w *watcher) close() error {
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
