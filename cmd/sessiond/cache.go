package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/cache"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// defaultCacheSessions is how many sessions a node keeps in memory by
// default: about 1 KiB each, so some 50 MiB at most.
const defaultCacheSessions = 50_000

// withCache puts the per-node cache (internal/cache) in front of a store
// that a server is about to serve from, and returns what to serve from
// and a function that stops what the cache runs.
//
// On SQLite, API keys are cached and checked against the file's
// wal-index on every use, which catches `sessiond apikey revoke` run by
// another process; sessions are cached (up to size) once the process
// holds the file's serving lock, as then only it writes sessions. A
// second server on the same file is refused.
//
// On PostgreSQL, the nodes sharing the database keep each other's caches
// right through postgres.Peers: changes are announced by the database,
// revocations wait until every node has applied them, and a node that
// cannot hear the others serves from the database. A session is served
// from memory for at most touch (the touch interval: touches on other
// nodes are not announced), so with a touch interval of 0 only keys are
// cached.
func withCache(st sessions.Store, size int, touch time.Duration, logger *slog.Logger) (sessions.Store, func(), error) {
	switch st := st.(type) {
	case *sqlite.Store:
		opts := cache.Options{Keys: true, Version: st.DataVersion}
		if size > 0 {
			if err := st.LockServing(); err != nil {
				return nil, nil, err
			}
			opts.Sessions, opts.SessionsExclusive = size, true
		}
		return cache.New(st, opts), func() {}, nil
	case *postgres.Store:
		peers, err := st.Peers(0, logger)
		if err != nil {
			return nil, nil, err
		}
		opts := cache.Options{Keys: true, Peers: peers, MaxAge: touch}
		if touch > 0 {
			opts.Sessions = size
		}
		c := cache.New(st, opts)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { peers.Run(ctx, c) })
		return c, func() { cancel(); wg.Wait() }, nil
	}
	return st, func() {}, nil
}
