package cache_test

import (
	"context"
	"crypto/sha256"
	"net/url"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/cache"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/sessions"
)

const testLease = time.Second

// node is one sessiond node's store, cache and peers on a shared schema.
type node struct {
	st    *postgres.Store
	c     *cache.Store
	peers *postgres.Peers
}

// slow applies another node's changes late, as a busy node would: a
// revocation must wait for it.
type slow struct {
	*cache.Store
	delay time.Duration
}

func (s slow) DropSession(tenantID int64, key string) {
	time.Sleep(s.delay)
	s.Store.DropSession(tenantID, key)
}

func (s slow) DropKeys() {
	time.Sleep(s.delay)
	s.Store.DropKeys()
}

func newNode(t *testing.T, rawURL string) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := postgres.Open(ctx, rawURL, postgres.Options{QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Peers(testLease, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cache.New(st, cache.Options{Sessions: 1000, Keys: true, Peers: p, MaxAge: time.Minute})
	done := make(chan struct{})
	go func() { p.Run(ctx, slow{c, 100 * time.Millisecond}); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	waitFor(t, "the node's lease", p.Live)
	return &node{st: st, c: c, peers: p}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// cachedSession makes a key and a session through a, and reads both
// through b until b answers from memory.
func cachedSession(t *testing.T, a, b *node, user string) (*sessions.APIKey, *sessions.Session) {
	t.Helper()
	ctx := context.Background()
	hash := sha256.Sum256([]byte("secret of " + user))
	key := &sessions.APIKey{ID: "key_" + user[:1] + "000000000000000", TenantName: "acme", Name: user, Scopes: []sessions.Scope{sessions.ScopeSessionsRead}, Hash: hash[:], CreatedAt: 1}
	if err := a.c.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	s := &sessions.Session{TenantID: key.TenantID, UserID: user, ID: sessions.NewSessionID(), Key: sessions.SessionKey(sessions.NewToken()),
		ClientIDs: []string{"web"}, InitiatedAt: now, LastUpdated: now, ExpiresAt: now + 3600}
	if err := a.c.CreateSession(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	hits0, _ := b.c.Stats()
	for range 2 {
		if _, err := b.c.SessionByKey(ctx, s.TenantID, s.Key); err != nil {
			t.Fatal(err)
		}
		if _, err := b.c.APIKeyByHash(ctx, key.Hash); err != nil {
			t.Fatal(err)
		}
	}
	if hits, _ := b.c.Stats(); hits < hits0+2 {
		t.Fatalf("node b answered %d reads from memory, want 2", hits-hits0)
	}
	return key, s
}

// Two nodes on one schema: every way of ending a session through one node
// is seen by the very next read on the other, which had it cached, and so
// is a key revocation.
func TestPeersEndings(t *testing.T) {
	u := pgtest.URL(t)
	a, b := newNode(t, u), newNode(t, u)
	ctx := context.Background()
	ends := []struct {
		name string
		end  func(s *sessions.Session) error
	}{
		{"RevokeSession", func(s *sessions.Session) error {
			return a.c.RevokeSession(ctx, s.TenantID, s.UserID, s.ID, time.Now().Unix(), "k")
		}},
		{"RevokeSessionByKey", func(s *sessions.Session) error {
			return a.c.RevokeSessionByKey(ctx, s.TenantID, s.Key, time.Now().Unix(), "k")
		}},
		{"RevokeUserSessions", func(s *sessions.Session) error {
			_, err := a.c.RevokeUserSessions(ctx, s.TenantID, s.UserID, time.Now().Unix(), "k", "")
			return err
		}},
		{"RevokeMatching", func(s *sessions.Session) error {
			_, _, err := a.c.RevokeMatching(ctx, s.TenantID, sessions.BulkFilter{UserID: s.UserID}, time.Now().Unix(), "k", 10)
			return err
		}},
		{"DeleteUser", func(s *sessions.Session) error {
			return a.c.DeleteUser(ctx, s.TenantID, s.UserID, time.Now().Unix())
		}},
	}
	for i, e := range ends {
		t.Run(e.name, func(t *testing.T) {
			user := string(rune('a'+i)) + "user"
			_, s := cachedSession(t, a, b, user)
			if err := e.end(s); err != nil {
				t.Fatal(err)
			}
			got, err := b.c.SessionByKey(ctx, s.TenantID, s.Key)
			if err == nil && got.Active(time.Now().Unix()) {
				t.Fatal("the other node still validates the ended session")
			}
		})
	}
	t.Run("RevokeAPIKey", func(t *testing.T) {
		key, _ := cachedSession(t, a, b, "zuser")
		if err := a.c.RevokeAPIKey(ctx, key.ID, time.Now().Unix()); err != nil {
			t.Fatal(err)
		}
		k, err := b.c.APIKeyByHash(ctx, key.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if k.RevokedAt == 0 {
			t.Fatal("the other node still accepts the revoked key")
		}
	})
	t.Run("BehindTheNodes", func(t *testing.T) {
		// A revocation that bypasses every cache (an operator's SQL, a
		// node of an older release) is announced by the trigger all the
		// same; it is seen as soon as it is delivered.
		_, s := cachedSession(t, a, b, "xuser")
		if err := a.st.RevokeSession(ctx, s.TenantID, s.UserID, s.ID, time.Now().Unix(), "k"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the announcement", func() bool {
			got, err := b.c.SessionByKey(ctx, s.TenantID, s.Key)
			return err == nil && got.RevokedAt != 0
		})
	})
}

// A node that cannot hear the others stops serving from memory within its
// lease, and a revocation on another node waits for that, not longer.
func TestPeersSilentNode(t *testing.T) {
	viaProxy, proxy := pgtest.ViaProxy(t)
	pu, err := url.Parse(viaProxy)
	if err != nil {
		t.Fatal(err)
	}
	bu, err := url.Parse(pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	pu.Host = bu.Host
	a, b := newNode(t, pu.String()), newNode(t, viaProxy)
	_, s := cachedSession(t, a, b, "silent")

	proxy.Freeze(true)
	waitFor(t, "the silent node to stop serving from memory", func() bool { return !b.peers.Live() })
	start := time.Now()
	if err := a.c.RevokeSession(context.Background(), s.TenantID, s.UserID, s.ID, time.Now().Unix(), "k"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*testLease {
		t.Errorf("the revocation waited %v for a silent node, want at most about a lease (%v)", d, testLease)
	}
	proxy.Freeze(false)
	got, err := b.c.SessionByKey(context.Background(), s.TenantID, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == 0 {
		t.Fatal("the node that was cut off validates the revoked session")
	}
	waitFor(t, "the node to serve from memory again", b.peers.Live)
}
