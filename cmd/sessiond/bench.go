package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/bench"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/sessions"
)

// runBench seeds a fresh store, serves the real API on loopback and
// measures it (see internal/bench and BENCHMARKS.md).
func runBench(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	db := fs.String("db", "", "store to benchmark: a fresh sqlite:PATH (default: a new file in a temporary directory, deleted afterwards) or a postgres:// URL, in which a new schema is made (and dropped unless --keep)")
	users := fs.Int("users", 100_000, "users to seed")
	nsessions := fs.Int("sessions", 1_000_000, "sessions to seed, spread over the users")
	heavy := fs.Int("heavy", 10_000, "further sessions of one heavy user, whose deep pages are listed")
	duration := fs.Duration("duration", 10*time.Second, "how long each scenario runs")
	concurrency := fs.Int("concurrency", 32, "concurrent closed-loop workers, each on a keep-alive connection")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios to run (default all): "+strings.Join(bench.Scenarios, ","))
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of each scenario's load (not of seeding or preparation) to PREFIX.<scenario>.pprof")
	cacheSessions := fs.Int("cache-sessions", defaultCacheSessions, "as sessiond serve --cache-sessions")
	keep := fs.Bool("keep", false, "keep the PostgreSQL schema or the temporary SQLite file after the run (a --db sqlite:PATH file is always kept)")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	cfg := bench.Config{
		Users: *users, Sessions: *nsessions, Heavy: *heavy, Duration: *duration, Concurrency: *concurrency,
		Server: newHTTPServer, Progress: env.stderr,
		Serve: func(st sessions.Store) (sessions.Store, func(), error) {
			return withCache(st, *cacheSessions, sessions.DefaultConfig().TouchInterval, nil)
		},
	}
	if *scenarios != "" {
		cfg.Scenarios = strings.Split(*scenarios, ",")
	}

	storeName := "sqlite"
	switch {
	case *db == "":
		dir, err := os.MkdirTemp("", "sessiond-bench-")
		if err != nil {
			return err
		}
		*db = "sqlite:" + filepath.Join(dir, "bench.db")
		if *keep {
			fmt.Fprintf(env.stderr, "bench: keeping the database: %s\n", *db)
		} else {
			defer os.RemoveAll(dir)
		}
	case strings.HasPrefix(*db, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(*db, "sqlite:"), "//")
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("bench: %s exists: the benchmark needs a fresh store", path)
		}
	case strings.HasPrefix(*db, "postgres://"), strings.HasPrefix(*db, "postgresql://"):
		storeName = "postgres"
		u, drop, err := benchSchema(ctx, *db)
		if err != nil {
			return err
		}
		if *keep {
			fmt.Fprintf(env.stderr, "bench: keeping the schema: %s\n", redactDB(u))
		} else {
			defer drop()
		}
		*db = u
	}
	store, err := openStore(ctx, *db, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()

	if prefix := *cpuprofile; prefix != "" {
		cfg.CPUProfile = func(scenario string) (io.WriteCloser, error) {
			return os.Create(prefix + "." + scenario + ".pprof")
		}
	}
	rep, err := bench.Run(ctx, store, cfg)
	if err != nil {
		return err
	}
	rep.Store = storeName
	if err := rep.WriteTable(env.stdout); err != nil {
		return err
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// newHTTPServer serves h with the timeouts of sessiond serve.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// benchSchema creates a new schema sessiond_bench_<random> in the database
// at rawURL and returns the URL that uses it, and a function that drops it.
func benchSchema(ctx context.Context, rawURL string) (string, func(), error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, fmt.Errorf("--db: %w", err)
	}
	if u.Query().Has("search_path") {
		return "", nil, errors.New("bench: --db must not set search_path: the benchmark makes its own schema")
	}
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return "", nil, fmt.Errorf("bench: connect to %s: %w", redactDB(rawURL), err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "sessiond_bench_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return "", nil, fmt.Errorf("bench: create schema: %w", err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, rawURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
