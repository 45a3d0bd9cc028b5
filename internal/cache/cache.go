// Package cache keeps a node's hottest reads in memory in front of a
// sessions.Store: API keys by hash and active sessions by token key and by
// ID, so that authenticating a request, validating a token inside the
// touch interval and getting a session need no database round trip.
//
// A cache is only correct if every change to what it holds reaches it
// before the change is acknowledged. Changes made through the cache do:
// each write passes through to the store and, once the store has
// committed, drops every entry it may have changed, before returning. So
// a revocation answered by this node is never followed by a validation of
// that token from memory. What the cache cannot see by itself are writes
// by other processes: on SQLite, Options.Version reports them; between
// nodes sharing PostgreSQL, Options.Peers does, and a revocation waits for
// the other nodes (Peers.Barrier) before it is answered.
//
// Fills race with writes: a read that started before a revocation
// committed may return the session as active after the revocation has
// dropped it. Every invalidation therefore bumps a generation counter, and
// a fill is only kept if the counter has not moved since its read began.
package cache

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Options configures a Store.
type Options struct {
	// Sessions bounds how many sessions are kept; 0 keeps none.
	Sessions int
	// Keys keeps API keys.
	Keys bool
	// Version, if not nil, reports a number that changes whenever another
	// process has written to the database. It is asked before a cached
	// entry is used, and a change drops every entry. A store that only
	// this process writes to needs none; SQLite's data_version is one.
	// Sessions are not checked against it when SessionsExclusive is set.
	Version func(context.Context) (int64, error)
	// SessionsExclusive says that no other process writes sessions (the
	// process holds the database's serving lock), so cached sessions need
	// no Version check: only keys and tenant settings change from outside
	// (the command line).
	SessionsExclusive bool
	// Peers, if not nil, are the other nodes sharing the database (see
	// Peers). Entries are then served for at most MaxAge, and only while
	// the database is announcing changes to this node.
	Peers  Peers
	MaxAge time.Duration
}

// Peers keeps the caches of several nodes that share a database right
// (postgres.Peers). The node that made a change has dropped its own
// entries already; the others learn of it from the database and call
// DropSession, DropKeys or Flush.
type Peers interface {
	// Live reports whether this node is hearing every change the others
	// make, so that its entries may be served.
	Live() bool
	// Barrier returns once every other node has dropped what this node's
	// committed writes changed, or can no longer serve from memory.
	Barrier(ctx context.Context) error
}

// Store is a sessions.Store that answers API key lookups and session reads
// from memory when it can. The embedded Store serves every method the
// cache does not override: reads that are not cached, and writes that
// change nothing cached (CreateAPIKey, SetTenantPrivacy, CreateSession,
// event feed reads).
type Store struct {
	sessions.Store
	opts Options

	// gen moves on every invalidation (see the package comment).
	gen atomic.Uint64

	mu       sync.Mutex
	version  int64 // last Version result seen
	versionK bool  // whether version is set
	keys     map[string]*sessions.APIKey
	byKey    map[keyRef]*entry
	byID     map[idRef]*entry
	byUser   map[userRef][]*entry
	updating map[keyRef]int // UpdateSession calls in flight, by session

	hits, misses atomic.Uint64
}

type keyRef struct {
	tenant int64
	key    string
}

type idRef struct {
	tenant int64
	id     string
}

type userRef struct {
	tenant int64
	user   string
}

// entry is a cached session. sess is never changed once cached: readers
// get copies.
type entry struct {
	sess   *sessions.Session
	filled time.Time
}

// New returns a cache in front of st.
func New(st sessions.Store, opts Options) *Store {
	c := &Store{Store: st, opts: opts, updating: make(map[keyRef]int)}
	c.reset()
	return c
}

// Unwrap returns the store behind the cache, for what only it offers
// (webhooks, bulk loads). Writes made through it bypass the cache: call
// Flush after them.
func (c *Store) Unwrap() sessions.Store { return c.Store }

// Stats reports how many session and key reads the cache answered and how
// many went to the store.
func (c *Store) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Flush drops every entry.
func (c *Store) Flush() {
	c.mu.Lock()
	c.reset()
	c.mu.Unlock()
}

// reset drops everything; c.mu must be held.
func (c *Store) reset() {
	c.gen.Add(1)
	c.keys = make(map[string]*sessions.APIKey)
	c.clearSessions()
}

// clearSessions drops every session; c.mu must be held.
func (c *Store) clearSessions() {
	c.byKey = make(map[keyRef]*entry)
	c.byID = make(map[idRef]*entry)
	c.byUser = make(map[userRef][]*entry)
}

// fresh checks Version before a cached entry is used and drops everything
// if another process has written since the last check. forSessions says
// the entry is a session, which SessionsExclusive exempts.
func (c *Store) fresh(ctx context.Context, forSessions bool) error {
	if c.opts.Version == nil || (forSessions && c.opts.SessionsExclusive) {
		return nil
	}
	v, err := c.opts.Version(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.versionK && v != c.version {
		// Also this process's own writes move the version: they drop
		// the keys (a few reads to fill again) but not the sessions
		// that they would have invalidated themselves.
		c.gen.Add(1)
		c.keys = make(map[string]*sessions.APIKey)
		if !c.opts.SessionsExclusive {
			c.clearSessions()
		}
	}
	c.version, c.versionK = v, true
	return nil
}

// copyOf returns a copy of a cached session that a caller may change.
// Clipped slices make an append copy instead of writing into the cached
// arrays; the pointed-to strings are never written to in place.
func copyOf(s *sessions.Session) *sessions.Session {
	cp := *s
	cp.ClientIDs = slices.Clip(cp.ClientIDs)
	cp.Countries = slices.Clip(cp.Countries)
	if s.LastLocated != nil {
		f := *s.LastLocated
		cp.LastLocated = &f
	}
	return &cp
}

// APIKeyByHash answers from memory when it can.
func (c *Store) APIKeyByHash(ctx context.Context, hash []byte) (*sessions.APIKey, error) {
	if !c.opts.Keys || !c.usable() {
		return c.Store.APIKeyByHash(ctx, hash)
	}
	if err := c.fresh(ctx, false); err != nil {
		return nil, err
	}
	c.mu.Lock()
	k := c.keys[string(hash)]
	c.mu.Unlock()
	if k != nil {
		c.hits.Add(1)
		cp := *k
		return &cp, nil
	}
	c.misses.Add(1)
	gen := c.gen.Load()
	k, err := c.Store.APIKeyByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen.Load() == gen && bytes.Equal(k.Hash, hash) {
		cp := *k
		c.keys[string(hash)] = &cp
	}
	c.mu.Unlock()
	return k, nil
}

// usable reports whether entries may be served and filled now.
func (c *Store) usable() bool { return c.opts.Peers == nil || c.opts.Peers.Live() }

// servable reports whether a cached session may be served at now. Alone,
// the cache has seen every change; with peers, a touch on another node
// is not announced, so an entry is served for MaxAge at most and never
// once it looks expired (another node may have extended it).
func (c *Store) servable(e *entry, now int64) bool {
	if c.opts.Peers == nil {
		return true
	}
	return time.Since(e.filled) < c.opts.MaxAge && e.sess.Active(now)
}

// barrier waits, after a write that ended sessions or revoked a key, until
// no other node can serve what it changed from memory.
func (c *Store) barrier(ctx context.Context, err error) error {
	if err != nil || c.opts.Peers == nil {
		return err
	}
	return c.opts.Peers.Barrier(ctx)
}

// RevokeAPIKey drops every cached key once the store has revoked one:
// keys are few, and the cache does not index them by ID.
func (c *Store) RevokeAPIKey(ctx context.Context, id string, now int64) error {
	err := c.Store.RevokeAPIKey(ctx, id, now)
	c.DropKeys()
	return c.barrier(ctx, err)
}

// DropKeys drops every cached key.
func (c *Store) DropKeys() {
	c.mu.Lock()
	c.gen.Add(1)
	c.keys = make(map[string]*sessions.APIKey)
	c.mu.Unlock()
}

// DropSession drops the tenant's session with that key.
func (c *Store) DropSession(tenantID int64, key string) {
	c.invalidate(&keyRef{tenantID, key}, nil, nil)
}

// put caches s, read from the store by a read that began at generation
// gen, if it is cacheable and no invalidation came since.
func (c *Store) put(s *sessions.Session, gen uint64) {
	if !c.cacheable(s) {
		return
	}
	cp := copyOf(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if c.byKey[keyRef{s.TenantID, s.Key}] != nil {
		return
	}
	c.insert(cp)
}

// cacheable reports whether s, as read or written, may be cached: not a
// revoked session (nobody validates it twice), and with peers not one
// that looks expired (servable would never serve it). An expired one is
// kept alone, as the store returns it until the janitor's writes drop it.
func (c *Store) cacheable(s *sessions.Session) bool {
	if c.opts.Sessions <= 0 || s.RevokedAt != 0 {
		return false
	}
	return c.opts.Peers == nil || s.Active(time.Now().Unix())
}

// insert adds s, evicting an entry if the cache is full; c.mu must be held.
func (c *Store) insert(s *sessions.Session) {
	if len(c.byKey) >= c.opts.Sessions {
		c.evictOne()
	}
	e := &entry{sess: s, filled: time.Now()}
	c.byKey[keyRef{s.TenantID, s.Key}] = e
	c.byID[idRef{s.TenantID, s.ID}] = e
	ur := userRef{s.TenantID, s.UserID}
	c.byUser[ur] = append(c.byUser[ur], e)
}

// evictOne drops an entry at random (Go's map iteration starts at a
// random place): no bookkeeping on hits, and hot sessions come straight
// back. c.mu must be held.
func (c *Store) evictOne() {
	for _, e := range c.byKey {
		c.drop(e)
		return
	}
}

// drop removes e from every index; c.mu must be held.
func (c *Store) drop(e *entry) {
	s := e.sess
	delete(c.byKey, keyRef{s.TenantID, s.Key})
	delete(c.byID, idRef{s.TenantID, s.ID})
	ur := userRef{s.TenantID, s.UserID}
	list := c.byUser[ur]
	if i := slices.Index(list, e); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(c.byUser, ur)
	} else {
		c.byUser[ur] = list
	}
}

// invalidate drops the sessions the selectors name (zero values select
// nothing) and moves the generation, so that fills that raced the write
// are not kept.
func (c *Store) invalidate(key *keyRef, id *idRef, user *userRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if key != nil {
		if e := c.byKey[*key]; e != nil {
			c.drop(e)
		}
	}
	if id != nil {
		if e := c.byID[*id]; e != nil {
			c.drop(e)
		}
	}
	if user != nil {
		for _, e := range slices.Clone(c.byUser[*user]) {
			c.drop(e)
		}
	}
}

// dropSessions drops every cached session (after writes that may change
// any of them), keeping the keys.
func (c *Store) dropSessions() {
	c.mu.Lock()
	c.gen.Add(1)
	c.clearSessions()
	c.mu.Unlock()
}

// SessionByKey answers from memory for a cached session: as every write
// drops what it changes, the cached copy is the row as it is now.
func (c *Store) SessionByKey(ctx context.Context, tenantID int64, key string) (*sessions.Session, error) {
	if c.opts.Sessions <= 0 || !c.usable() {
		return c.Store.SessionByKey(ctx, tenantID, key)
	}
	if err := c.fresh(ctx, true); err != nil {
		return nil, err
	}
	var s *sessions.Session
	c.mu.Lock()
	if e := c.byKey[keyRef{tenantID, key}]; e != nil && c.servable(e, time.Now().Unix()) {
		s = e.sess
	}
	c.mu.Unlock()
	if s != nil {
		c.hits.Add(1)
		return copyOf(s), nil
	}
	c.misses.Add(1)
	gen := c.gen.Load()
	s, err := c.Store.SessionByKey(ctx, tenantID, key)
	if err != nil {
		return nil, err
	}
	c.put(s, gen)
	return s, nil
}

// GetSession answers from memory for a cached session of that user that
// is active at now: its state is current (every write drops it).
func (c *Store) GetSession(ctx context.Context, tenantID int64, userID, sessionID string, now int64) (*sessions.Session, error) {
	if c.opts.Sessions <= 0 || !c.usable() {
		return c.Store.GetSession(ctx, tenantID, userID, sessionID, now)
	}
	if err := c.fresh(ctx, true); err != nil {
		return nil, err
	}
	var s *sessions.Session
	c.mu.Lock()
	if e := c.byID[idRef{tenantID, sessionID}]; e != nil && e.sess.UserID == userID && e.sess.Active(now) && c.servable(e, now) {
		s = e.sess
	}
	c.mu.Unlock()
	if s != nil {
		c.hits.Add(1)
		return copyOf(s), nil
	}
	c.misses.Add(1)
	gen := c.gen.Load()
	s, err := c.Store.GetSession(ctx, tenantID, userID, sessionID, now)
	if err != nil {
		return nil, err
	}
	c.put(s, gen)
	return s, nil
}

// UpdateSession caches the session as the store wrote it (a validation
// that touches a session is usually followed by more of it), if no other
// write of that session overlapped it: with two at once, the one that
// commits last may not be the one that finishes last. The entry is
// dropped before the write, so that fills that read it before are not
// kept, and the generation moves again after it, so that no fill that
// read the row before the commit is kept either.
func (c *Store) UpdateSession(ctx context.Context, tenantID int64, key string, fn func(*sessions.Session) (*sessions.ActivityEntry, error), keep int) (*sessions.Session, error) {
	ref := keyRef{tenantID, key}
	c.mu.Lock()
	c.updating[ref]++
	alone := c.updating[ref] == 1
	c.gen.Add(1)
	if e := c.byKey[ref]; e != nil {
		c.drop(e)
	}
	gen := c.gen.Load()
	c.mu.Unlock()

	s, err := c.Store.UpdateSession(ctx, tenantID, key, fn, keep)
	var cp *sessions.Session
	if err == nil && c.usable() && c.cacheable(s) {
		cp = copyOf(s)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.updating[ref]--; c.updating[ref] == 0 {
		delete(c.updating, ref)
	}
	// A failed call may have committed (a timeout, say): drop then too.
	if e := c.byKey[ref]; e != nil {
		c.drop(e)
	}
	if cp != nil && alone && c.gen.Load() == gen {
		c.insert(cp)
	}
	c.gen.Add(1)
	return s, err
}

// RevokeSession drops the session once the store has revoked it. It is
// dropped whatever the outcome: a failed call (a timeout, say) may have
// committed.
func (c *Store) RevokeSession(ctx context.Context, tenantID int64, userID, sessionID string, now int64, by string) error {
	err := c.Store.RevokeSession(ctx, tenantID, userID, sessionID, now, by)
	c.invalidate(nil, &idRef{tenantID, sessionID}, nil)
	return c.barrier(ctx, err)
}

// RevokeSessionByKey drops the session once the store has ended it.
func (c *Store) RevokeSessionByKey(ctx context.Context, tenantID int64, key string, now int64, by string) error {
	err := c.Store.RevokeSessionByKey(ctx, tenantID, key, now, by)
	c.invalidate(&keyRef{tenantID, key}, nil, nil)
	return c.barrier(ctx, err)
}

// RevokeUserSessions drops the user's sessions once the store has revoked
// them.
func (c *Store) RevokeUserSessions(ctx context.Context, tenantID int64, userID string, now int64, by, except string) (int, error) {
	n, err := c.Store.RevokeUserSessions(ctx, tenantID, userID, now, by, except)
	c.invalidate(nil, nil, &userRef{tenantID, userID})
	return n, c.barrier(ctx, err)
}

// DeleteUser drops the user's sessions once the store has erased them.
func (c *Store) DeleteUser(ctx context.Context, tenantID int64, userID string, now int64) error {
	err := c.Store.DeleteUser(ctx, tenantID, userID, now)
	c.invalidate(nil, nil, &userRef{tenantID, userID})
	return c.barrier(ctx, err)
}

// RevokeMatching drops every cached session once the store has revoked a
// batch: the batch's sessions are not named, and bulk revocations are
// rare.
func (c *Store) RevokeMatching(ctx context.Context, tenantID int64, f sessions.BulkFilter, now int64, by string, limit int) (int, string, error) {
	n, after, err := c.Store.RevokeMatching(ctx, tenantID, f, now, by, limit)
	if n > 0 || err != nil {
		c.dropSessions()
	}
	if n == 0 {
		return n, after, err
	}
	return n, after, c.barrier(ctx, err)
}

// PurgeSessions, ScrubEndedMetadata and EmitExpired change only ended
// sessions (expired ones may be cached), so they drop every session when
// they did something: they run a few times a minute at most.

func (c *Store) PurgeSessions(ctx context.Context, before int64, limit int) (int, error) {
	n, err := c.Store.PurgeSessions(ctx, before, limit)
	if n > 0 || err != nil {
		c.dropSessions()
	}
	return n, err
}

func (c *Store) ScrubEndedMetadata(ctx context.Context, now int64, limit int) (int, error) {
	n, err := c.Store.ScrubEndedMetadata(ctx, now, limit)
	if n > 0 || err != nil {
		c.dropSessions()
	}
	return n, err
}

func (c *Store) EmitExpired(ctx context.Context, now int64, limit int, reasonOf func(*sessions.Session) sessions.EndReason) (int, error) {
	n, err := c.Store.EmitExpired(ctx, now, limit, reasonOf)
	if n > 0 || err != nil {
		c.dropSessions()
	}
	return n, err
}

// Len returns how many sessions are cached.
func (c *Store) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}
