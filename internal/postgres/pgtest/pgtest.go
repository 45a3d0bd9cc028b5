// Package pgtest gives tests of any package a real, private PostgreSQL
// store: each call makes a fresh schema in the test database and drops it
// when the test ends, so tests can run in parallel and leave nothing behind.
//
// The database is the one at $SESSIOND_TEST_POSTGRES_URL (DefaultURL if
// unset). When it cannot be reached the test is skipped with a loud
// message, so that a developer without PostgreSQL can still run the other
// tests; setting SESSIOND_REQUIRE_POSTGRES=1 (as CI does) turns that skip
// into a failure, so PostgreSQL tests are never silently not run.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/postgres"
)

// DefaultURL is the test database used when SESSIOND_TEST_POSTGRES_URL is
// not set: a local server with trust authentication.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Environment variables that steer the PostgreSQL tests.
const (
	URLEnv     = "SESSIOND_TEST_POSTGRES_URL"
	RequireEnv = "SESSIOND_REQUIRE_POSTGRES"
)

// BaseURL returns the URL of the test database.
func BaseURL() string {
	if u := os.Getenv(URLEnv); u != "" {
		return u
	}
	return DefaultURL
}

// Connect returns a plain connection to the test database, closed when the
// test ends, for tests that inspect or prepare it directly. It skips or
// fails the test if the database cannot be reached (see the package doc).
func Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	return connect(t, BaseURL())
}

func connect(t testing.TB, rawURL string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		t.Fatalf("pgtest: %s=%s: %v", URLEnv, redact(rawURL), err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		msg := "\n" +
			"**********************************************************************\n" +
			"*** POSTGRESQL TESTS NOT RUN: cannot connect to the test database\n" +
			"*** " + redact(rawURL) + "\n" +
			"*** " + err.Error() + "\n" +
			"*** Start PostgreSQL or point " + URLEnv + " at one;\n" +
			"*** set " + RequireEnv + "=1 to make this a failure.\n" +
			"**********************************************************************"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// URL creates an empty schema that is dropped when the test ends and
// returns the test database's URL with search_path set to it: what to give
// postgres.Open, or a sessiond process under test.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	conn := connect(t, base)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "sessiond_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		// A new connection: the test's own may be gone by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", URLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a store in a fresh schema, closed and dropped when the test
// ends.
func Open(t testing.TB) *postgres.Store {
	t.Helper()
	return OpenWith(t, postgres.Options{})
}

// OpenWith is Open with options.
func OpenWith(t testing.TB, opts postgres.Options) *postgres.Store {
	t.Helper()
	u := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, u, opts)
	if err != nil {
		t.Fatalf("pgtest: open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
