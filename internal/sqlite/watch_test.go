package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// TestDataVersion checks that DataVersion moves after a commit by this
// store and by another process's connection (a second Store on the same
// file stands for `sessiond apikey revoke`), and stays put otherwise: from
// the mapped wal-index header and from the data_version fallback.
func TestDataVersion(t *testing.T) {
	t.Run("shm", func(t *testing.T) { testDataVersion(t, false) })
	t.Run("pragma", func(t *testing.T) { testDataVersion(t, true) })
}

func testDataVersion(t *testing.T, pragma bool) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessiond.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if pragma {
		st.watch.shm.Store(nil) // ask SQLite
	} else if st.watch.shm.Load() == nil && runtime.GOOS == "linux" {
		t.Fatal("the wal-index header could not be mapped")
	}
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	version := func() int64 {
		t.Helper()
		v, err := st.DataVersion(ctx)
		if err != nil {
			t.Fatalf("DataVersion: %v", err)
		}
		return v
	}
	v0 := version()
	if v := version(); v != v0 {
		t.Fatalf("DataVersion moved without a write: %d then %d", v0, v)
	}
	key := &sessions.APIKey{ID: "key_0000000000000001", TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead}, Hash: make([]byte, 32), CreatedAt: 1}
	if err := other.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	v1 := version()
	if v1 == v0 {
		t.Fatal("DataVersion did not move after another connection's commit")
	}
	if err := st.RevokeAPIKey(ctx, key.ID, 2); err != nil {
		t.Fatal(err)
	}
	if v := version(); v == v1 {
		t.Fatal("DataVersion did not move after the store's own commit")
	}
}

// When every connection to a database has closed, SQLite deletes its
// wal-index, and the next store on the file gets a new one: the watcher
// must map the new file, or it would never see another change.
func TestDataVersionAfterReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessiond.db")
	for i := range 3 {
		st, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		other, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		v0, _ := st.DataVersion(ctx)
		key := &sessions.APIKey{ID: fmt.Sprintf("key_%016d", i), TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead}, Hash: []byte(fmt.Sprintf("%032d", i)), CreatedAt: 1}
		if err := other.CreateAPIKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		if v, _ := st.DataVersion(ctx); v == v0 {
			t.Fatalf("open %d: DataVersion did not move after another connection's commit", i)
		}
		other.Close()
		st.Close()
	}
}

func TestLockServing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessiond.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.LockServing(); err != nil {
		t.Fatalf("first LockServing: %v", err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.LockServing()
	if err == nil || !strings.Contains(err.Error(), "another sessiond is serving") {
		t.Fatalf("second LockServing = %v, want another sessiond is serving", err)
	}
	a.Close()
	if err := b.LockServing(); err != nil {
		t.Fatalf("LockServing after the first store closed: %v", err)
	}
}
