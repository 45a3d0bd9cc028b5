package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// expiryReason is the reasonOf the suite passes to EmitExpired: absolute
// when the session expired a day or more after it started, as a store
// would be told by a Config with a one-day absolute lifetime.
func expiryReason(s *sessions.Session) sessions.EndReason {
	if s.ExpiresAt-s.InitiatedAt >= day {
		return sessions.ReasonExpiredAbsolute
	}
	return sessions.ReasonExpiredIdle
}

// emitExpired records the expiry of every session expired by now, as the
// janitor does before it purges.
func emitExpired(t *testing.T, st sessions.Store, now int64) int {
	t.Helper()
	total := 0
	for {
		n, err := st.EmitExpired(t.Context(), now, 100, expiryReason)
		if err != nil {
			t.Fatalf("EmitExpired(%d): %v", now, err)
		}
		if total += n; n == 0 {
			return total
		}
	}
}

// showEvent formats an event without its Seq, for comparisons.
func showEvent(e *sessions.Event) string {
	return fmt.Sprintf("{tenant:%d %s user:%q session:%q at:%d data:%s}",
		e.TenantID, e.Type, e.UserID, e.SessionID, e.OccurredAt, e.DataJSON())
}

// feed is a reader of one tenant's events that remembers its cursor.
type feed struct {
	st     sessions.Store
	tenant int64
	after  int64
}

// next returns every event recorded since the last call, checking that
// their Seqs grow.
func (f *feed) next(t *testing.T) []*sessions.Event {
	t.Helper()
	var out []*sessions.Event
	for {
		page, err := f.st.ListEvents(t.Context(), f.tenant, f.after, 7)
		if err != nil {
			t.Fatalf("ListEvents(after %d): %v", f.after, err)
		}
		for _, e := range page {
			if e.Seq <= f.after {
				t.Fatalf("ListEvents(after %d): got Seq %d, want above the cursor, ascending", f.after, e.Seq)
			}
			f.after = e.Seq
		}
		out = append(out, page...)
		if len(page) < 7 {
			return out
		}
	}
}

// expect fails unless the events since the last call are want, in order.
func (f *feed) expect(t *testing.T, what string, want ...sessions.Event) {
	t.Helper()
	got := f.next(t)
	var g, w []string
	for _, e := range got {
		g = append(g, showEvent(e))
	}
	for i := range want {
		w = append(w, showEvent(&want[i]))
	}
	if !slices.Equal(g, w) {
		t.Errorf("events of %s:\ngot  %s\nwant %s", what, strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
}

// testEventsWrites checks that each write records exactly its events, and
// that a write that fails records none.
func testEventsWrites(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	f := &feed{st: st, tenant: a}
	f.expect(t, "a new tenant")

	s1 := newSession(a, "alice")
	s1.ClientIDs = []string{"web", "mobile"}
	create(t, st, s1)
	f.expect(t, "CreateSession", sessions.Event{TenantID: a, Type: sessions.EventSessionStarted, UserID: "alice",
		SessionID: s1.ID, OccurredAt: t0, Data: sessions.EventData{ClientID: "web"}})

	dup := newSession(a, "alice")
	dup.ID = s1.ID
	wantCode(t, "CreateSession(taken ID)", st.CreateSession(ctx, dup, nil), sessions.ECONFLICT)
	f.expect(t, "a CreateSession that failed")

	update := func(clients ...string) error {
		_, err := st.UpdateSession(ctx, a, s1.Key, func(s *sessions.Session) (*sessions.ActivityEntry, error) {
			s.ClientIDs = append(s.ClientIDs, clients...)
			s.LastUpdated = t0 + 10
			return nil, nil
		}, trailKeep)
		return err
	}
	if err := update("api", "cli", "web"); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "UpdateSession adding two clients",
		sessions.JoinedEvent(s1, "api", t0+10), sessions.JoinedEvent(s1, "cli", t0+10))
	if err := update(); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "UpdateSession adding no client")
	_, err := st.UpdateSession(ctx, a, s1.Key, func(s *sessions.Session) (*sessions.ActivityEntry, error) {
		s.ClientIDs = append(s.ClientIDs, "never")
		return nil, errors.New("no")
	}, trailKeep)
	if err == nil {
		t.Fatal("UpdateSession with a failing fn: got no error")
	}
	f.expect(t, "UpdateSession whose fn failed")

	if err := st.RevokeSession(ctx, a, "alice", s1.ID, t0+20, by); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "RevokeSession", sessions.EndedEvent(a, "alice", s1.ID, sessions.ReasonRevoked, by, t0+20))
	wantCode(t, "RevokeSession(revoked)", st.RevokeSession(ctx, a, "alice", s1.ID, t0+21, by), sessions.ENOTFOUND)
	f.expect(t, "RevokeSession of a revoked session")

	s2 := newSession(a, "alice")
	create(t, st, s2)
	if err := st.RevokeSessionByKey(ctx, a, s2.Key, t0+30, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeSessionByKey(ctx, a, s2.Key, t0+31, by); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "RevokeSessionByKey twice", sessions.StartedEvent(s2),
		sessions.EndedEvent(a, "alice", s2.ID, sessions.ReasonSignedOut, "", t0+30))

	bob := []*sessions.Session{newSession(a, "bob"), newSession(a, "bob"), newSession(a, "bob")}
	create(t, st, bob...)
	f.next(t)
	wantCode(t, "RevokeUserSessions(except unknown)", func() error {
		_, err := st.RevokeUserSessions(ctx, a, "bob", t0+40, by, s1.ID)
		return err
	}(), sessions.ENOTFOUND)
	f.expect(t, "RevokeUserSessions that failed")
	if _, err := st.RevokeUserSessions(ctx, a, "bob", t0+40, by, bob[0].ID); err != nil {
		t.Fatal(err)
	}
	rest := slices.Clone(bob[1:])
	slices.SortFunc(rest, func(x, y *sessions.Session) int { return strings.Compare(x.ID, y.ID) })
	f.expect(t, "RevokeUserSessions", sessions.EndedEvent(a, "bob", rest[0].ID, sessions.ReasonRevokedAll, by, t0+40),
		sessions.EndedEvent(a, "bob", rest[1].ID, sessions.ReasonRevokedAll, by, t0+40))

	carol := []*sessions.Session{newSession(a, "carol"), newSession(a, "carol"), newSession(a, "dave")}
	for _, s := range carol {
		s.ClientIDs = []string{"kiosk"}
	}
	create(t, st, carol...)
	f.next(t)
	if _, _, err := st.RevokeMatching(ctx, a, sessions.BulkFilter{ClientID: "kiosk"}, t0+50, by, 100); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(carol, func(x, y *sessions.Session) int { return strings.Compare(x.ID, y.ID) })
	var want []sessions.Event
	for _, s := range carol {
		want = append(want, sessions.EndedEvent(a, s.UserID, s.ID, sessions.ReasonBulkRevoked, by, t0+50))
	}
	f.expect(t, "RevokeMatching", want...)

	wantCode(t, "DeleteUser(unknown)", st.DeleteUser(ctx, a, "nobody", t0+60), sessions.ENOTFOUND)
	f.expect(t, "DeleteUser of an unknown user")
	if err := st.DeleteUser(ctx, a, "bob", t0+60); err != nil {
		t.Fatal(err)
	}
	ids := sessionIDs(bob)
	slices.Sort(ids)
	f.expect(t, "DeleteUser", sessions.ErasedEvent(a, "bob", ids, t0+60))
}

// testEventsFeed checks the feed's tenancy, order and paging.
func testEventsFeed(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	var mine []string
	for i := range 12 {
		tid := a
		if i%3 == 2 {
			tid = b
		}
		s := newSession(tid, fmt.Sprintf("u%d", i))
		create(t, st, s)
		if tid == a {
			mine = append(mine, s.ID)
		}
	}
	all, err := st.ListEvents(ctx, a, 0, sessions.MaxEventLimit)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, e := range all {
		if e.TenantID != a {
			t.Errorf("ListEvents of acme: got an event of tenant %d", e.TenantID)
		}
		if i > 0 && e.Seq <= all[i-1].Seq {
			t.Errorf("ListEvents: Seq %d after %d, want ascending", e.Seq, all[i-1].Seq)
		}
		got = append(got, e.SessionID)
	}
	if !slices.Equal(got, mine) {
		t.Fatalf("ListEvents of acme: got sessions %v, want %v", got, mine)
	}
	// Pages of 3 from a cursor give the same events.
	var paged []string
	after := int64(0)
	for {
		page, err := st.ListEvents(ctx, a, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			paged = append(paged, e.SessionID)
			after = e.Seq
		}
		if len(page) < 3 {
			break
		}
	}
	if !slices.Equal(paged, mine) {
		t.Errorf("ListEvents in pages of 3: got %v, want %v", paged, mine)
	}
	// A cursor past the end, or another tenant's last event, gives the
	// rest only.
	if page, err := st.ListEvents(ctx, a, all[len(all)-1].Seq, 10); err != nil || len(page) != 0 {
		t.Errorf("ListEvents after the last event: got %d events, %v; want none", len(page), err)
	}
	if page, err := st.ListEvents(ctx, a, all[3].Seq, 100); err != nil || len(page) != len(all)-4 {
		t.Errorf("ListEvents after the 4th event: got %d events, %v; want %d", len(page), err, len(all)-4)
	}
	if page, err := st.ListEvents(ctx, 999, 0, 100); err != nil || len(page) != 0 {
		t.Errorf("ListEvents of an unknown tenant: got %d events, %v; want none", len(page), err)
	}
}

// testEventsExpiry checks that each expiry is recorded once, with its
// reason, and that the purge waits for it.
func testEventsExpiry(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	f := &feed{st: st, tenant: a}
	mk := func(user string, expires int64) *sessions.Session {
		s := newSession(a, user)
		s.ExpiresAt = expires
		create(t, st, s)
		return s
	}
	first := mk("first", t0+99)      // the oldest expiry
	idle := mk("idle", t0+100)       // expires_at == now: expired, idle
	absolute := mk("abs", t0+day)    // absolute: the cap
	later := mk("later", t0+200)     // expires after the first round
	active := mk("active", t0+2*day) // never in this test
	revoked := mk("revoked", t0+150) // revoked before it expired
	revoke(t, st, revoked, t0+50)
	f.next(t)

	// Nothing expired at t0.
	if n := emitExpired(t, st, t0); n != 0 {
		t.Errorf("EmitExpired at t0: got %d, want 0", n)
	}
	// Expired, unreported sessions outlive the purge.
	if n, err := st.PurgeSessions(ctx, t0+day+1000, 100); err != nil || n != 1 {
		t.Errorf("PurgeSessions before expiries are recorded: got %d, %v; want 1 (the revoked session)", n, err)
	}
	f.expect(t, "a purge")
	if _, err := st.SessionByKey(ctx, a, idle.Key); err != nil {
		t.Errorf("SessionByKey of an expired session whose expiry is unreported, after a purge: %v", err)
	}

	// One at a time, oldest first.
	now := t0 + 100
	if n, err := st.EmitExpired(ctx, now, 1, expiryReason); err != nil || n != 1 {
		t.Fatalf("EmitExpired(limit 1): got %d, %v; want 1", n, err)
	}
	f.expect(t, "EmitExpired(limit 1)", sessions.ExpiredEvent(first, sessions.ReasonExpiredIdle, now))
	if n := emitExpired(t, st, now); n != 1 {
		t.Errorf("EmitExpired again: got %d, want 1", n)
	}
	f.expect(t, "EmitExpired", sessions.ExpiredEvent(idle, sessions.ReasonExpiredIdle, now))
	if n := emitExpired(t, st, now); n != 0 {
		t.Errorf("EmitExpired with nothing new: got %d, want 0", n)
	}
	now = t0 + day
	if n := emitExpired(t, st, now); n != 2 {
		t.Errorf("EmitExpired at t0+day: got %d, want 2", n)
	}
	f.expect(t, "EmitExpired at t0+day", sessions.ExpiredEvent(later, sessions.ReasonExpiredIdle, now),
		sessions.ExpiredEvent(absolute, sessions.ReasonExpiredAbsolute, now))
	if n := emitExpired(t, st, now+10); n != 0 {
		t.Errorf("EmitExpired once more: got %d, want 0", n)
	}
	// Now the purge takes them.
	if n, err := st.PurgeSessions(ctx, t0+day+1, 100); err != nil || n != 4 {
		t.Errorf("PurgeSessions after expiries are recorded: got %d, %v; want 4", n, err)
	}
	checkSession(t, "the active session", getByKey(t, st, active), active)
}

// testEventsPurge checks that old events go, oldest first, in batches.
func testEventsPurge(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	for i := range 5 {
		s := newSession(a, "u")
		s.InitiatedAt = t0 + int64(i)*10
		create(t, st, s)
	}
	if n, err := st.PurgeEvents(ctx, t0, 10); err != nil || n != 0 {
		t.Errorf("PurgeEvents with nothing old enough: got %d, %v; want 0", n, err)
	}
	if n, err := st.PurgeEvents(ctx, t0+25, 2); err != nil || n != 2 {
		t.Errorf("PurgeEvents(limit 2): got %d, %v; want 2", n, err)
	}
	if n, err := st.PurgeEvents(ctx, t0+25, 2); err != nil || n != 1 {
		t.Errorf("PurgeEvents again: got %d, %v; want 1", n, err)
	}
	left, err := st.ListEvents(ctx, a, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var at []int64
	for _, e := range left {
		at = append(at, e.OccurredAt)
	}
	if want := []int64{t0 + 30, t0 + 40}; !slices.Equal(at, want) {
		t.Errorf("events left: got times %v, want %v", at, want)
	}
}

// testEventsConcurrent writes from several goroutines while a reader
// follows the feed, and checks that the reader saw every event exactly
// once, and each session's events in the order they were written: a
// store must never make an event visible before one with a lower Seq.
func testEventsConcurrent(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	const writers, perWriter = 4, 15
	f := &feed{st: st, tenant: a}
	seen := map[string][]sessions.EventType{}
	var count int
	read := func() {
		for _, e := range f.next(t) {
			seen[e.SessionID] = append(seen[e.SessionID], e.Type)
			count++
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				s := newSession(a, fmt.Sprintf("w%d", w))
				if err := st.CreateSession(ctx, s, nil); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if err := st.RevokeSession(ctx, a, s.UserID, s.ID, t0+1, by); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			read()
			want := writers*perWriter + writers*(perWriter+1)/2
			if count != want {
				t.Errorf("events read while writing: got %d, want %d", count, want)
			}
			for id, types := range seen {
				if types[0] != sessions.EventSessionStarted || (len(types) == 2 && types[1] != sessions.EventSessionRevoked) || len(types) > 2 {
					t.Errorf("events of session %s: got %v, want started then maybe revoked", id, types)
				}
			}
			return
		default:
			read()
		}
	}
}
