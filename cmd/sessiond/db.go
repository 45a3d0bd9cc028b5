package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// defaultDB is the embedded store in the working directory: zero set-up.
const defaultDB = "sqlite:sessiond.db"

// dbHelp is the --db flag's help text.
const dbHelp = "database URL: sqlite:PATH (relative or absolute) or postgres://user@host:5432/db"

// openStore opens and migrates the store a --db URL names: sqlite:PATH
// (sqlite://PATH also works) or postgres:// and postgresql:// URLs. pg
// tunes a PostgreSQL store and is ignored for SQLite.
func openStore(ctx context.Context, url string, pg postgres.Options) (sessions.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			return nil, fmt.Errorf("--db %q: the SQLite URL needs a file path, e.g. sqlite:sessiond.db", url)
		}
		return sqlite.Open(ctx, path)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err := postgres.Open(ctx, url, pg)
		if err != nil {
			return nil, fmt.Errorf("--db %s: %w", redactDB(url), err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("--db %q: want sqlite:PATH or postgres://...", redactDB(url))
	}
}
