package main

import (
	"github.com/sessiond/sessiond/internal/cache"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// defaultCacheSessions is how many sessions a node keeps in memory by
// default: about 1 KiB each, so some 50 MiB at most.
const defaultCacheSessions = 50_000

// withCache puts the per-node cache (internal/cache) in front of a store
// that a server is about to serve from.
//
// On SQLite, API keys are cached and checked against the file's
// data_version on every use, which catches `sessiond apikey revoke` run
// by another process; sessions are cached (up to size) once the process
// holds the file's serving lock, as then only it writes sessions. A
// second server on the same file is refused.
//
// On PostgreSQL nothing is cached: another node's revocation would not
// reach this node's memory before it answered (see docs/scaling.md).
func withCache(st sessions.Store, size int) (sessions.Store, error) {
	sq, ok := st.(*sqlite.Store)
	if !ok {
		return st, nil
	}
	opts := cache.Options{Keys: true, Version: sq.DataVersion}
	if size > 0 {
		if err := sq.LockServing(); err != nil {
			return nil, err
		}
		opts.Sessions, opts.SessionsExclusive = size, true
	}
	return cache.New(sq, opts), nil
}
