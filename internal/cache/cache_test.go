package cache_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/internal/cache"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
	"github.com/sessiond/sessiond/internal/storetest"
)

func openSQLite(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sqliteCache is the cache as sessiond serve puts it in front of SQLite.
func sqliteCache(st *sqlite.Store, size int) *cache.Store {
	return cache.New(st, cache.Options{Sessions: size, Keys: true, Version: st.DataVersion, SessionsExclusive: true})
}

// The whole store contract holds through the cache: every read it answers
// from memory is what the store would have said. A small bound makes the
// suite evict too.
func TestStoreContract(t *testing.T) {
	for _, size := range []int{3, 10000} {
		t.Run(fmt.Sprintf("sqlite/size=%d", size), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) sessions.Store {
				return sqliteCache(openSQLite(t, filepath.Join(t.TempDir(), "sessiond.db")), size)
			})
		})
	}
	t.Run("postgres", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) sessions.Store {
			return cache.New(pgtest.Open(t), cache.Options{Sessions: 10000, Keys: true})
		})
	})
}

// fixture is a tenant with a key and an active session, read through the
// cache so that both are cached.
type fixture struct {
	ctx  context.Context
	c    *cache.Store
	key  *sessions.APIKey
	sess *sessions.Session
}

func newFixture(t *testing.T, st sessions.Store, c *cache.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	hash := sha256.Sum256([]byte("secret"))
	key := &sessions.APIKey{ID: "key_00000000000000aa", TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead}, Hash: hash[:], CreatedAt: 1}
	if err := st.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	s := &sessions.Session{TenantID: key.TenantID, UserID: "alice", ID: sessions.NewSessionID(), Key: sessions.SessionKey(sessions.NewToken()),
		ClientIDs: []string{"web"}, InitiatedAt: 100, LastUpdated: 100, ExpiresAt: 1 << 40}
	if err := st.CreateSession(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	f := &fixture{ctx: ctx, c: c, key: key, sess: s}
	for range 2 {
		f.mustKey(t, 0)
		f.mustSession(t, true)
	}
	if hits, _ := c.Stats(); hits == 0 {
		t.Fatal("nothing was answered from the cache")
	}
	return f
}

func (f *fixture) mustKey(t *testing.T, revokedAt int64) {
	t.Helper()
	k, err := f.c.APIKeyByHash(f.ctx, f.key.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if (k.RevokedAt != 0) != (revokedAt != 0) {
		t.Fatalf("key RevokedAt = %d, want revoked %v", k.RevokedAt, revokedAt != 0)
	}
}

func (f *fixture) mustSession(t *testing.T, active bool) {
	t.Helper()
	s, err := f.c.SessionByKey(f.ctx, f.sess.TenantID, f.sess.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Active(1000); got != active {
		t.Fatalf("SessionByKey: active %v, want %v", got, active)
	}
	_, err = f.c.GetSession(f.ctx, f.sess.TenantID, f.sess.UserID, f.sess.ID, 1000)
	if active && err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if !active && sessions.ErrorCode(err) != sessions.ENOTFOUND {
		t.Fatalf("GetSession after the end = %v, want ENOTFOUND", err)
	}
}

// Another process (sessiond apikey revoke) writing to the file is seen by
// the next lookup, through DataVersion.
func TestForeignKeyRevocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessiond.db")
	st := openSQLite(t, path)
	f := newFixture(t, st, sqliteCache(st, 100))
	other := openSQLite(t, path)
	if err := other.RevokeAPIKey(f.ctx, f.key.ID, 5); err != nil {
		t.Fatal(err)
	}
	f.mustKey(t, 5)
}

// Every way of ending a session through the cache is seen by the very
// next read.
func TestEndingDropsSession(t *testing.T) {
	ends := map[string]func(f *fixture) error{
		"RevokeSession": func(f *fixture) error {
			return f.c.RevokeSession(f.ctx, f.sess.TenantID, f.sess.UserID, f.sess.ID, 200, "k")
		},
		"RevokeSessionByKey": func(f *fixture) error {
			return f.c.RevokeSessionByKey(f.ctx, f.sess.TenantID, f.sess.Key, 200, "k")
		},
		"RevokeUserSessions": func(f *fixture) error {
			_, err := f.c.RevokeUserSessions(f.ctx, f.sess.TenantID, f.sess.UserID, 200, "k", "")
			return err
		},
		"RevokeMatching": func(f *fixture) error {
			_, _, err := f.c.RevokeMatching(f.ctx, f.sess.TenantID, sessions.BulkFilter{UserID: f.sess.UserID}, 200, "k", 10)
			return err
		},
		"UpdateSession": func(f *fixture) error {
			_, err := f.c.UpdateSession(f.ctx, f.sess.TenantID, f.sess.Key, func(s *sessions.Session) (*sessions.ActivityEntry, error) {
				s.ExpiresAt = 150 // expired before 1000
				return nil, nil
			}, 10)
			return err
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			st := openSQLite(t, filepath.Join(t.TempDir(), "sessiond.db"))
			f := newFixture(t, st, sqliteCache(st, 100))
			if err := end(f); err != nil {
				t.Fatal(err)
			}
			f.mustSession(t, false)
		})
	}
	t.Run("DeleteUser", func(t *testing.T) {
		st := openSQLite(t, filepath.Join(t.TempDir(), "sessiond.db"))
		f := newFixture(t, st, sqliteCache(st, 100))
		if err := f.c.DeleteUser(f.ctx, f.sess.TenantID, f.sess.UserID, 200); err != nil {
			t.Fatal(err)
		}
		if _, err := f.c.SessionByKey(f.ctx, f.sess.TenantID, f.sess.Key); sessions.ErrorCode(err) != sessions.ENOTFOUND {
			t.Fatalf("SessionByKey after erasure = %v, want ENOTFOUND", err)
		}
	})
	t.Run("RevokeAPIKey", func(t *testing.T) {
		st := openSQLite(t, filepath.Join(t.TempDir(), "sessiond.db"))
		f := newFixture(t, st, sqliteCache(st, 100))
		if err := f.c.RevokeAPIKey(f.ctx, f.key.ID, 7); err != nil {
			t.Fatal(err)
		}
		f.mustKey(t, 7)
	})
}

// pausing is a real store whose SessionByKey can be held after it has read
// the row, to replay a fill that loses the race with a revocation.
type pausing struct {
	sessions.Store
	once    sync.Once
	read    chan struct{} // closed once the paused read has its row
	release chan struct{}
}

func (p *pausing) SessionByKey(ctx context.Context, tenantID int64, key string) (*sessions.Session, error) {
	s, err := p.Store.SessionByKey(ctx, tenantID, key)
	p.once.Do(func() {
		close(p.read)
		<-p.release
	})
	return s, err
}

// A read that saw the session active before a revocation committed must
// not put it back into the cache after the revocation dropped it.
func TestFillLosesToRevocation(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "sessiond.db"))
	ctx := context.Background()
	s := &sessions.Session{TenantID: 0, UserID: "bob", ID: sessions.NewSessionID(), Key: sessions.SessionKey(sessions.NewToken()),
		ClientIDs: []string{"web"}, InitiatedAt: 100, LastUpdated: 100, ExpiresAt: 1 << 40}
	hash := sha256.Sum256([]byte("k"))
	key := &sessions.APIKey{ID: "key_00000000000000bb", TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead}, Hash: hash[:], CreatedAt: 1}
	if err := st.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	s.TenantID = key.TenantID
	if err := st.CreateSession(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	p := &pausing{Store: st, read: make(chan struct{}), release: make(chan struct{})}
	c := cache.New(p, cache.Options{Sessions: 100})

	done := make(chan error, 1)
	go func() {
		got, err := c.SessionByKey(ctx, s.TenantID, s.Key)
		if err == nil && got.RevokedAt != 0 {
			err = fmt.Errorf("the paused read saw the revocation")
		}
		done <- err
	}()
	<-p.read
	if err := c.RevokeSession(ctx, s.TenantID, s.UserID, s.ID, 200, "k"); err != nil {
		t.Fatal(err)
	}
	close(p.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := c.SessionByKey(ctx, s.TenantID, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == 0 {
		t.Fatal("a fill that raced the revocation was kept: the revoked session is served as active")
	}
}

// The cache holds at most Options.Sessions sessions.
func TestBound(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "sessiond.db"))
	c := sqliteCache(st, 5)
	ctx := context.Background()
	hash := sha256.Sum256([]byte("k"))
	key := &sessions.APIKey{ID: "key_00000000000000cc", TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead}, Hash: hash[:], CreatedAt: 1}
	if err := st.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		s := &sessions.Session{TenantID: key.TenantID, UserID: fmt.Sprintf("u%d", i), ID: sessions.NewSessionID(), Key: sessions.SessionKey(sessions.NewToken()),
			ClientIDs: []string{"web"}, InitiatedAt: 100, LastUpdated: 100, ExpiresAt: 1 << 40}
		if err := c.CreateSession(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SessionByKey(ctx, s.TenantID, s.Key); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Len(); n != 5 {
		t.Fatalf("cached %d sessions, want the bound 5", n)
	}
}

// A validation that writes leaves the session cached as written: the next
// read is answered from memory, with the new values.
func TestUpdateWritesThrough(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "sessiond.db"))
	f := newFixture(t, st, sqliteCache(st, 100))
	if _, err := f.c.UpdateSession(f.ctx, f.sess.TenantID, f.sess.Key, func(s *sessions.Session) (*sessions.ActivityEntry, error) {
		s.LastUpdated = 500
		return nil, nil
	}, 10); err != nil {
		t.Fatal(err)
	}
	hits, _ := f.c.Stats()
	got, err := f.c.SessionByKey(f.ctx, f.sess.TenantID, f.sess.Key)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := f.c.Stats(); h != hits+1 {
		t.Error("the read after the update went to the store")
	}
	if got.LastUpdated != 500 {
		t.Errorf("LastUpdated = %d, want 500 as written", got.LastUpdated)
	}
}
