package storetest

import (
	"fmt"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// testBulkLoad checks, for stores that implement sessions.BulkLoader, that
// bulk-loaded sessions are seen by the ordinary methods exactly as if they
// had been created one by one: users registered (one known before the
// load included), totals, the client filter, lookups by key and ID, and
// an empty trail.
func testBulkLoad(t *testing.T, st sessions.Store) {
	bl, ok := st.(sessions.BulkLoader)
	if !ok {
		t.Skip("the store does not implement sessions.BulkLoader")
	}
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	known := newSession(tid, "known")
	create(t, st, known)

	const n = 2500
	users := []string{"known", "u1", "u2", "u3"}
	var all []*sessions.Session
	active := map[string]int{"known": 1}
	withMobile := map[string]int{}
	for i := range n {
		s := newSession(0, users[i%len(users)]) // BulkLoad sets the tenant
		s.InitiatedAt = t0 - int64(i)
		s.LastUpdated = t0 + int64(i%7)
		s.ClientIDs = []string{"web"}
		if i%3 == 0 {
			s.ClientIDs = []string{"mobile", "web", "mobile"} // a repeat is stored once
		}
		if i%2 == 0 {
			s.LastMetadata = fullMetadata()
			sessions.FirstEntry(s) // sets Countries and LastLocated
		}
		if i%10 == 0 {
			s.RevokedAt = t0 - 1
		}
		if s.RevokedAt == 0 {
			active[s.UserID]++
			if i%3 == 0 {
				withMobile[s.UserID]++
			}
		}
		all = append(all, s)
	}
	if err := bl.BulkLoad(ctx, tid, all); err != nil {
		t.Fatalf("BulkLoad(%d sessions): %v", n, err)
	}
	for _, u := range users {
		if _, total := list(t, st, tid, u, "", t0); total != active[u] {
			t.Errorf("ListSessions(%s): got total %d, want %d", u, total, active[u])
		}
		if _, total := list(t, st, tid, u, "mobile", t0); total != withMobile[u] {
			t.Errorf("ListSessions(%s, client mobile): got total %d, want %d", u, total, withMobile[u])
		}
	}
	for i, s := range all {
		if i%97 != 0 && i != n-1 {
			continue
		}
		want := *s
		want.TenantID = tid
		if i%3 == 0 {
			want.ClientIDs = []string{"mobile", "web"}
		}
		checkSession(t, fmt.Sprintf("SessionByKey(session %d)", i), getByKey(t, st, &want), &want)
		_, err := st.GetSession(ctx, tid, s.UserID, s.ID, t0)
		if s.RevokedAt != 0 {
			wantCode(t, fmt.Sprintf("GetSession(revoked session %d)", i), err, sessions.ENOTFOUND)
			continue
		}
		if err != nil {
			t.Errorf("GetSession(session %d): %v", i, err)
		}
		trail, total, err := st.ListActivity(ctx, tid, s.UserID, s.ID, t0, 1, 10)
		if err != nil || len(trail) != 0 || total != 0 {
			t.Errorf("ListActivity(session %d): got %d entries, total %d, %v; want none", i, len(trail), total, err)
		}
	}
	if got, err := st.CountActiveSessions(ctx, t0); err != nil || got != int64(1+n-n/10) {
		t.Errorf("CountActiveSessions: got %d, %v; want %d", got, err, 1+n-n/10)
	}

	// A taken key is a conflict, as for CreateSession.
	dup := newSession(0, "u1")
	dup.Key = all[5].Key
	wantCode(t, "BulkLoad(a taken key)", bl.BulkLoad(ctx, tid, []*sessions.Session{dup}), sessions.ECONFLICT)
}
