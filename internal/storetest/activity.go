package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// The activity trail part of the suite.

// fullEntry returns a trail entry with every field set, at time at.
func fullEntry(at int64, client string) *sessions.ActivityEntry {
	m := fullMetadata()
	return &sessions.ActivityEntry{
		At: at, ClientID: client, IPAddress: m.IPAddress, UserAgent: m.UserAgent, Location: m.Location,
		NewCountry: true, ImpossibleTravel: true,
	}
}

// entry returns a trail entry at time at with only a client and an IP.
func entry(at int64, client, ip string) *sessions.ActivityEntry {
	return &sessions.ActivityEntry{At: at, ClientID: client, IPAddress: ptr(ip)}
}

// showEntry formats an entry with its pointers dereferenced.
func showEntry(e *sessions.ActivityEntry) string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{at:%d client:%q ip:%s ua:%s country:%s city:%s region:%s lat:%s lon:%s new country:%v impossible travel:%v}",
		e.At, e.ClientID, showPtr(e.IPAddress), showPtr(e.UserAgent), showPtr(e.Country), showPtr(e.City),
		showPtr(e.Region), showPtr(e.Latitude), showPtr(e.Longitude), e.NewCountry, e.ImpossibleTravel)
}

// checkEntries fails unless got and want hold equal entries in one order.
func checkEntries(t *testing.T, what string, got, want []*sessions.ActivityEntry) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	show := func(es []*sessions.ActivityEntry) string {
		out := ""
		for _, e := range es {
			out += "\n\t" + showEntry(e)
		}
		return out
	}
	t.Errorf("%s:\ngot  %d entries:%s\nwant %d entries:%s", what, len(got), show(got), len(want), show(want))
}

// trail returns the whole trail of s at now (newest first) and its total,
// failing the test on error.
func trail(t *testing.T, st sessions.Store, s *sessions.Session, now int64) ([]*sessions.ActivityEntry, int) {
	t.Helper()
	got, total, err := st.ListActivity(t.Context(), s.TenantID, s.UserID, s.ID, now, 1, sessions.MaxTrailLimit)
	if err != nil {
		t.Fatalf("ListActivity(%s): %v", s.ID, err)
	}
	return got, total
}

// checkTrail fails unless the whole trail of s at t0 is want, newest first.
func checkTrail(t *testing.T, what string, st sessions.Store, s *sessions.Session, want []*sessions.ActivityEntry) {
	t.Helper()
	got, total := trail(t, st, s, t0)
	checkEntries(t, what, got, want)
	if total != len(want) {
		t.Errorf("%s: got total %d, want %d", what, total, len(want))
	}
}

// appendEntry appends e to the trail of s through UpdateSession, which
// also moves LastUpdated to e.At, and fails the test on error.
func appendEntry(t *testing.T, st sessions.Store, s *sessions.Session, e *sessions.ActivityEntry, keep int) {
	t.Helper()
	_, err := st.UpdateSession(t.Context(), s.TenantID, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
		c.LastUpdated = e.At
		return e, nil
	}, keep)
	if err != nil {
		t.Fatalf("UpdateSession appending %s: %v", showEntry(e), err)
	}
}

// newest returns es reversed: the order ListActivity returns a trail
// appended in es's order.
func newest(es ...*sessions.ActivityEntry) []*sessions.ActivityEntry {
	out := slices.Clone(es)
	slices.Reverse(out)
	return out
}

func testActivityFirstEntry(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	full := newSession(tid, "alice")
	fullFirst := fullEntry(t0, "app")
	bare := newSession(tid, "alice")
	bareFirst := &sessions.ActivityEntry{At: t0} // every field empty or nil
	none := newSession(tid, "alice")
	for _, tc := range []struct {
		s     *sessions.Session
		first *sessions.ActivityEntry
	}{{full, fullFirst}, {bare, bareFirst}, {none, nil}} {
		if err := st.CreateSession(ctx, tc.s, tc.first); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	checkTrail(t, "trail of a session created with a full first entry", st, full, []*sessions.ActivityEntry{fullFirst})
	checkTrail(t, "trail of a session created with a bare first entry", st, bare, []*sessions.ActivityEntry{bareFirst})
	checkTrail(t, "trail of a session created without a first entry", st, none, []*sessions.ActivityEntry{})

	// A failed create writes no entry: the original's trail is unchanged.
	dup := newSession(tid, "alice")
	dup.ID = full.ID
	wantCode(t, "CreateSession with a taken ID", st.CreateSession(ctx, dup, entry(t0+1, "dup", "10.0.0.1")), sessions.ECONFLICT)
	checkTrail(t, "trail after a failed create", st, full, []*sessions.ActivityEntry{fullFirst})
}

func testActivityAppend(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	other := newSession(tid, "alice")
	first := entry(t0, "app", "192.0.2.1")
	otherFirst := entry(t0, "app", "192.0.2.9")
	if err := st.CreateSession(ctx, s, first); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, other, otherFirst); err != nil {
		t.Fatal(err)
	}

	second := fullEntry(t0+60, "web")
	got, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
		c.ClientIDs = append(c.ClientIDs, "web")
		c.LastUpdated = t0 + 60
		return second, nil
	}, trailKeep)
	if err != nil {
		t.Fatalf("UpdateSession appending an entry: %v", err)
	}
	if !slices.Equal(got.ClientIDs, []string{"app", "web"}) || got.LastUpdated != t0+60 {
		t.Errorf("UpdateSession appending an entry: got clients %q, last updated %d, want [app web], %d", got.ClientIDs, got.LastUpdated, t0+60)
	}
	checkTrail(t, "trail after one append", st, s, newest(first, second))

	// A touch: written, but no entry.
	if _, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
		c.LastUpdated = t0 + 120
		return nil, nil
	}, trailKeep); err != nil {
		t.Fatalf("UpdateSession without an entry: %v", err)
	}
	if g := getByKey(t, st, s); g.LastUpdated != t0+120 {
		t.Errorf("LastUpdated after an update without an entry: got %d, want %d", g.LastUpdated, t0+120)
	}
	checkTrail(t, "trail after an update without an entry", st, s, newest(first, second))

	// fn's error: nothing written, the entry neither.
	errBoom := errors.New("boom")
	_, err = st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
		c.LastUpdated = t0 + 180
		return entry(t0+180, "evil", "10.6.6.6"), errBoom
	}, trailKeep)
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateSession with a failing fn: got %v, want fn's error", err)
	}
	checkTrail(t, "trail after a failed update", st, s, newest(first, second))

	// The other session's trail is its own.
	checkTrail(t, "the other session's trail", st, other, []*sessions.ActivityEntry{otherFirst})
}

func testActivityPaging(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	first := entry(t0, "app", "192.0.2.0")
	if err := st.CreateSession(ctx, s, first); err != nil {
		t.Fatal(err)
	}
	all := []*sessions.ActivityEntry{first}
	// Several entries share a time: their order is the order appended.
	for i, at := range []int64{t0 + 10, t0 + 10, t0 + 10, t0 + 20, t0 + 30, t0 + 30, t0 + 40} {
		e := entry(at, fmt.Sprintf("client-%d", i), fmt.Sprintf("192.0.2.%d", i+1))
		appendEntry(t, st, s, e, trailKeep)
		all = append(all, e)
	}
	want := newest(all...)
	for _, size := range []int{1, 3, 100} {
		var pages []*sessions.ActivityEntry
		for page := 1; page <= len(want)+2; page++ {
			what := fmt.Sprintf("ListActivity(page %d, size %d)", page, size)
			got, total, err := st.ListActivity(ctx, tid, "alice", s.ID, t0, page, size)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if total != len(want) {
				t.Errorf("%s: got total %d, want %d", what, total, len(want))
			}
			lo := min((page-1)*size, len(want))
			hi := min(lo+size, len(want))
			checkEntries(t, what, got, want[lo:hi])
			pages = append(pages, got...)
			if lo == len(want) {
				break
			}
		}
		checkEntries(t, fmt.Sprintf("all pages of size %d", size), pages, want)
	}
	for _, pg := range [][2]int{{0, 10}, {1, 0}, {-1, 10}, {1, -5}} {
		_, _, err := st.ListActivity(ctx, tid, "alice", s.ID, t0, pg[0], pg[1])
		wantCode(t, fmt.Sprintf("ListActivity(page %d, size %d)", pg[0], pg[1]), err, sessions.EINVALID)
	}
}

func testActivityBound(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	other := newSession(tid, "bob")
	first := entry(t0, "app", "192.0.2.0")
	if err := st.CreateSession(ctx, s, first); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, other, entry(t0, "app", "198.51.100.0")); err != nil {
		t.Fatal(err)
	}
	var otherAll []*sessions.ActivityEntry
	for i := range 4 {
		e := entry(t0+int64(i)+1, "app", fmt.Sprintf("198.51.100.%d", i+1))
		appendEntry(t, st, other, e, trailKeep)
		otherAll = append(otherAll, e)
	}
	otherWant, _ := trail(t, st, other, t0)

	// 1 + 5 entries, kept to 3: only the newest 3 are left.
	var added []*sessions.ActivityEntry
	for i := range 5 {
		e := entry(t0+int64(i)+1, "app", fmt.Sprintf("192.0.2.%d", i+1))
		appendEntry(t, st, s, e, 3)
		added = append(added, e)
		if _, total := trail(t, st, s, t0); total != min(i+2, 3) {
			t.Errorf("trail after %d appends with keep 3: got total %d, want %d", i+1, total, min(i+2, 3))
		}
	}
	checkTrail(t, "trail after 5 appends with keep 3", st, s, newest(added[2:]...))

	// A lower limit applies at the next append.
	last := entry(t0+100, "app", "192.0.2.100")
	appendEntry(t, st, s, last, 1)
	checkTrail(t, "trail after an append with keep 1", st, s, []*sessions.ActivityEntry{last})
	// A higher one keeps everything from then on.
	next := entry(t0+101, "app", "192.0.2.101")
	appendEntry(t, st, s, next, 10)
	checkTrail(t, "trail after an append with keep 10", st, s, newest(last, next))

	// An update without an entry trims nothing.
	if _, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) { return nil, nil }, 1); err != nil {
		t.Fatalf("UpdateSession without an entry, keep 1: %v", err)
	}
	checkTrail(t, "trail after an update without an entry, keep 1", st, s, newest(last, next))

	// keep below 1 is refused before anything happens.
	for _, keep := range []int{0, -1} {
		called := false
		_, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
			called = true
			c.LastUpdated = t0 + 500
			return entry(t0+500, "app", "192.0.2.200"), nil
		}, keep)
		wantCode(t, fmt.Sprintf("UpdateSession(keep %d)", keep), err, sessions.EINVALID)
		if called {
			t.Errorf("UpdateSession(keep %d): fn was called, want not", keep)
		}
	}
	checkTrail(t, "trail after refused updates", st, s, newest(last, next))
	if g := getByKey(t, st, s); g.LastUpdated != t0+101 {
		t.Errorf("LastUpdated after refused updates: got %d, want %d", g.LastUpdated, t0+101)
	}

	// Trimming one session's trail leaves the others alone.
	checkTrail(t, "bob's trail", st, other, otherWant)
	if len(otherWant) != len(otherAll)+1 {
		t.Errorf("bob's trail: got %d entries, want %d", len(otherWant), len(otherAll)+1)
	}
}

func testActivityNotFound(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 100
	s := newSession(a, "alice")
	bobs := newSession(a, "bob")
	revoked := newSession(a, "alice")
	expired := newSession(a, "alice")
	expired.ExpiresAt = now
	for _, x := range []*sessions.Session{s, bobs, revoked, expired} {
		if err := st.CreateSession(ctx, x, entry(t0, "app", "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
	}
	revoke(t, st, revoked, now-1)

	for _, tc := range []struct {
		name    string
		tenant  int64
		user    string
		session string
	}{
		{"unknown user", a, "nobody", s.ID},
		{"another tenant", b, "alice", s.ID},
		{"another user's session", a, "alice", bobs.ID},
		{"unknown session ID", a, "alice", sessions.NewSessionID()},
		{"revoked session", a, "alice", revoked.ID},
		{"expired session", a, "alice", expired.ID},
	} {
		got, total, err := st.ListActivity(ctx, tc.tenant, tc.user, tc.session, now, 1, 10)
		wantCode(t, "ListActivity("+tc.name+")", err, sessions.ENOTFOUND)
		if got != nil || total != 0 {
			t.Errorf("ListActivity(%s): got %d entries, total %d, want none", tc.name, len(got), total)
		}
	}
	// The expired session's trail was readable while it was active.
	if _, total := trail(t, st, expired, now-1); total != 1 {
		t.Errorf("trail of a session before it expired: got total %d, want 1", total)
	}
	if _, total := trail(t, st, s, now); total != 1 {
		t.Errorf("trail of the active session: got total %d, want 1", total)
	}
}

func testActivityErasedWithUser(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	if err := st.CreateSession(ctx, s, fullEntry(t0, "app")); err != nil {
		t.Fatal(err)
	}
	appendEntry(t, st, s, entry(t0+1, "web", "192.0.2.7"), trailKeep)
	bobs := newSession(tid, "bob")
	bobFirst := entry(t0, "app", "192.0.2.8")
	if err := st.CreateSession(ctx, bobs, bobFirst); err != nil {
		t.Fatal(err)
	}

	if err := st.DeleteUser(ctx, tid, "alice", t0); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, _, err := st.ListActivity(ctx, tid, "alice", s.ID, t0, 1, 10)
	wantCode(t, "ListActivity of an erased user's session", err, sessions.ENOTFOUND)

	// The user comes back with a session of the same ID (IDs are random,
	// but nothing forbids it once the old one is gone): nothing of the old
	// trail shows.
	again := newSession(tid, "alice")
	again.ID = s.ID
	againFirst := entry(t0+10, "app", "192.0.2.9")
	if err := st.CreateSession(ctx, again, againFirst); err != nil {
		t.Fatalf("CreateSession of the returned user: %v", err)
	}
	checkTrail(t, "trail of the returned user's session", st, again, []*sessions.ActivityEntry{againFirst})
	checkTrail(t, "bob's trail", st, bobs, []*sessions.ActivityEntry{bobFirst})
}

func testActivityPurged(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	const before = t0 + 1000
	old := newSession(tid, "alice")
	old.ExpiresAt = before - 1
	kept := newSession(tid, "alice")
	keptFirst := entry(t0, "app", "192.0.2.2")
	if err := st.CreateSession(ctx, old, entry(t0, "app", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, kept, keptFirst); err != nil {
		t.Fatal(err)
	}
	appendEntry(t, st, old, entry(t0+1, "web", "192.0.2.3"), trailKeep)
	emitExpired(t, st, before)
	if n, err := st.PurgeSessions(ctx, before, 10); err != nil || n != 1 {
		t.Fatalf("PurgeSessions: got %d, %v, want 1, nil", n, err)
	}
	_, _, err := st.ListActivity(ctx, tid, "alice", old.ID, t0, 1, 10)
	wantCode(t, "ListActivity of a purged session", err, sessions.ENOTFOUND)
	// Its ID can be used again, with nothing of the purged trail.
	again := newSession(tid, "alice")
	again.ID = old.ID
	if err := st.CreateSession(ctx, again, nil); err != nil {
		t.Fatalf("CreateSession with a purged session's ID: %v", err)
	}
	checkTrail(t, "trail of a new session with a purged one's ID", st, again, []*sessions.ActivityEntry{})
	checkTrail(t, "trail of the kept session", st, kept, []*sessions.ActivityEntry{keptFirst})
}

func testActivitySessionPast(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	s.Countries = []string{"France"}
	s.LastLocated = &sessions.Fix{At: t0, Latitude: 48.856613, Longitude: 2.352222}
	if err := st.CreateSession(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	checkSession(t, "SessionByKey after create", getByKey(t, st, s), s)
	got, err := st.GetSession(ctx, tid, "alice", s.ID, t0)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	checkSession(t, "GetSession after create", got, s)
	page, _ := list(t, st, tid, "alice", "", t0)
	checkSessions(t, "ListSessions after create", page, []*sessions.Session{s})

	steps := []struct {
		name   string
		change func(*sessions.Session)
	}{
		{"a second country and a new fix", func(c *sessions.Session) {
			c.Countries = append(c.Countries, "United States of America")
			c.LastLocated = &sessions.Fix{At: t0 + 3600, Latitude: 40.712776, Longitude: -74.005974}
		}},
		{"untouched", func(c *sessions.Session) {}},
		{"extreme coordinates", func(c *sessions.Session) {
			c.LastLocated = &sessions.Fix{At: t0 + 7200, Latitude: -90, Longitude: 179.999999999}
		}},
		{"cleared", func(c *sessions.Session) {
			c.Countries = nil
			c.LastLocated = nil
		}},
	}
	want := *s
	for _, step := range steps {
		var seen sessions.Session
		got, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
			seen = *c
			seen.Countries = slices.Clone(c.Countries)
			step.change(c)
			return nil, nil
		}, trailKeep)
		if err != nil {
			t.Fatalf("UpdateSession(%s): %v", step.name, err)
		}
		checkSession(t, "UpdateSession("+step.name+") passed fn", &seen, &want)
		want.Countries = slices.Clone(want.Countries)
		step.change(&want)
		checkSession(t, "UpdateSession("+step.name+") returned", got, &want)
		checkSession(t, "SessionByKey after "+step.name, getByKey(t, st, s), &want)
	}
}

func testActivityConcurrent(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	for _, keep := range []int{100, 5} {
		t.Run(fmt.Sprintf("keep %d", keep), func(t *testing.T) {
			s := newSession(tid, "alice")
			if err := st.CreateSession(ctx, s, entry(t0, "app", "192.0.2.1")); err != nil {
				t.Fatal(err)
			}
			const n = 16
			var wg sync.WaitGroup
			for i := range n {
				client := fmt.Sprintf("client-%02d", i)
				wg.Go(func() {
					_, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
						// Updates are serialised, so each sees the last
						// one's time and the entries' times count up in
						// the order they were appended.
						c.LastUpdated++
						c.ClientIDs = append(c.ClientIDs, client)
						return entry(c.LastUpdated, client, "192.0.2.2"), nil
					}, keep)
					if err != nil {
						t.Errorf("UpdateSession(%s): %v", client, err)
					}
				})
			}
			wg.Wait()

			got, total := trail(t, st, s, t0)
			want := min(n+1, keep)
			if total != want || len(got) != want {
				t.Fatalf("trail after %d concurrent appends (keep %d): got %d entries, total %d, want %d", n, keep, len(got), total, want)
			}
			// Newest first, and exactly the newest: the times t0+n down.
			var clients []string
			for i, e := range got {
				if wantAt := t0 + int64(n-i); e.At != wantAt {
					t.Errorf("entry %d: got at t0%+d, want t0%+d", i, e.At-t0, wantAt-t0)
				}
				clients = append(clients, e.ClientID)
			}
			if keep > n {
				all := []string{"app"}
				for i := range n {
					all = append(all, fmt.Sprintf("client-%02d", i))
				}
				if slices.Sort(clients); !slices.Equal(clients, all) {
					t.Errorf("clients of the trail: got %q, want every one of %q", clients, all)
				}
			}
		})
	}
}
