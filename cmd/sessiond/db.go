package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// defaultDB is the embedded store in the working directory: zero set-up.
const defaultDB = "sqlite:sessiond.db"

// openStore opens and migrates the store a --db URL names:
// sqlite:PATH (relative or absolute; sqlite://PATH also works).
func openStore(ctx context.Context, url string) (sessions.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			return nil, fmt.Errorf("--db %q: the SQLite URL needs a file path, e.g. sqlite:sessiond.db", url)
		}
		return sqlite.Open(ctx, path)
	default:
		return nil, fmt.Errorf("--db %q: want sqlite:PATH", url)
	}
}
