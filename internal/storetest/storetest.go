// Package storetest is the one contract every sessions.Store must pass, so
// that the SQLite and PostgreSQL stores behave alike down to tie-breaking,
// paging edges and not-found rules. Each store's own test calls Run with a
// function that opens a fresh store; the suite knows nothing of SQL.
//
// It is an ordinary (non-test) package so that the test of every store
// implementation can import it.
package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Run runs the contract suite. open must return a fresh, empty, migrated
// store each time it is called, and register its own cleanup with t; it is
// called once per subtest, and subtests run one after another.
func Run(t *testing.T, open func(t *testing.T) sessions.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, sessions.Store)
	}{
		{"CreateAPIKey/Tenants", testCreateAPIKeyTenants},
		{"APIKeyByHash", testAPIKeyByHash},
		{"ListAPIKeys", testListAPIKeys},
		{"RevokeAPIKey", testRevokeAPIKey},
		{"CreateSession/RoundTrip", testCreateSessionRoundTrip},
		{"CreateSession/Conflict", testCreateSessionConflict},
		{"ListSessions/NotFound", testListNotFound},
		{"ListSessions/OnlyActive", testListOnlyActive},
		{"ListSessions/Paging", testListPaging},
		{"ListSessions/SortAndFilter", testListSortAndFilter},
		{"GetSession", testGetSession},
		{"SessionByKey", testSessionByKey},
		{"UpdateSession/Writes", testUpdateSessionWrites},
		{"UpdateSession/FnError", testUpdateSessionFnError},
		{"UpdateSession/NotFound", testUpdateSessionNotFound},
		{"UpdateSession/Concurrent", testUpdateSessionConcurrent},
		{"UpdateSession/SeesRevocation", testUpdateSessionSeesRevocation},
		{"RevokeSession", testRevokeSession},
		{"RevokeSessionByKey", testRevokeSessionByKey},
		{"RevokeUserSessions", testRevokeUserSessions},
		{"RevokeUserSessions/Except", testRevokeUserSessionsExcept},
		{"EndReasons", testEndReasons},
		{"ListSessions/Ended", testListEnded},
		{"CountMatching", testCountMatching},
		{"RevokeMatching", testRevokeMatching},
		{"DeleteUser", testDeleteUser},
		{"PurgeSessions", testPurgeSessions},
		{"CountActiveSessions", testCountActiveSessions},
		{"Ping", testPing},
		{"Activity/FirstEntry", testActivityFirstEntry},
		{"Activity/Append", testActivityAppend},
		{"Activity/Paging", testActivityPaging},
		{"Activity/Bound", testActivityBound},
		{"Activity/NotFound", testActivityNotFound},
		{"Activity/ErasedWithUser", testActivityErasedWithUser},
		{"Activity/Purged", testActivityPurged},
		{"Activity/SessionPast", testActivitySessionPast},
		{"Activity/Concurrent", testActivityConcurrent},
		{"BulkLoad", testBulkLoad},
		{"Events/Writes", testEventsWrites},
		{"Events/Feed", testEventsFeed},
		{"Events/Expiry", testEventsExpiry},
		{"Events/Purge", testEventsPurge},
		{"Events/Concurrent", testEventsConcurrent},
		{"Privacy/Settings", testPrivacySettings},
		{"Privacy/ScrubEndedMetadata", testScrubEndedMetadata},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// t0 is the suite's "now": an arbitrary fixed Unix time. Times are passed
// to the store explicitly, so the suite never sleeps.
const (
	t0  int64 = 1_700_000_000
	day int64 = 86400
)

// trailKeep is the trail limit the suite passes to UpdateSession where the
// trail is not what is tested: large enough never to trim.
const trailKeep = sessions.DefaultTrailLimit

func ptr(s string) *string { return &s }

// fullMetadata has every field set, to check that each one round-trips.
func fullMetadata() sessions.Metadata {
	return sessions.Metadata{
		IPAddress: ptr("1.1.1.1"),
		UserAgent: ptr("The User Agent"),
		Location: sessions.Location{
			Country:   ptr("United States of America"),
			City:      ptr("Los Angeles"),
			Region:    ptr("North America"),
			Latitude:  ptr("34.043238"),
			Longitude: ptr("-118.250918"),
		},
	}
}

// newKey returns an unsaved API key of the named tenant.
func newKey(tenant, name string, created int64, scopes ...sessions.Scope) *sessions.APIKey {
	if len(scopes) == 0 {
		scopes = []sessions.Scope{sessions.ScopeSessionsRead}
	}
	return &sessions.APIKey{
		ID:         sessions.NewKeyID(),
		TenantName: tenant,
		Name:       name,
		Scopes:     scopes,
		Hash:       sessions.HashAPIKey(sessions.NewAPIKeySecret()),
		CreatedAt:  created,
	}
}

// tenant creates the named tenant (through its first API key) and returns
// its ID. Sessions are only ever created in tenants made this way.
func tenant(t *testing.T, st sessions.Store, name string) int64 {
	t.Helper()
	k := newKey(name, "key of "+name, t0)
	if err := st.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", name, err)
	}
	return k.TenantID
}

// newSession returns an unsaved active session of the user: initiated at
// t0, expiring a day later, with client "app" and no metadata.
func newSession(tenantID int64, userID string) *sessions.Session {
	return &sessions.Session{
		TenantID:    tenantID,
		UserID:      userID,
		ID:          sessions.NewSessionID(),
		Key:         sessions.SessionKey(sessions.NewToken()),
		ClientIDs:   []string{"app"},
		InitiatedAt: t0,
		ExpiresAt:   t0 + day,
		LastUpdated: t0,
	}
}

// create stores sessions, failing the test on error.
func create(t *testing.T, st sessions.Store, ss ...*sessions.Session) {
	t.Helper()
	for _, s := range ss {
		if err := st.CreateSession(t.Context(), s, nil); err != nil {
			t.Fatalf("CreateSession(%s): %v", s.ID, err)
		}
	}
}

// by is the API key ID the suite's revocations record.
const by = "key_0123456789abcdef"

// revoke revokes s by key at now (a sign-out by the key by) and records it
// in s.
func revoke(t *testing.T, st sessions.Store, s *sessions.Session, now int64) {
	t.Helper()
	if err := st.RevokeSessionByKey(t.Context(), s.TenantID, s.Key, now, by); err != nil {
		t.Fatalf("RevokeSessionByKey(%s): %v", s.ID, err)
	}
	s.RevokedAt, s.EndReason, s.EndedBy = now, sessions.ReasonSignedOut, by
}

// wantCode fails unless err has the domain error code code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := sessions.ErrorCode(err); got != code {
		t.Errorf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

func showPtr(p *string) string {
	if p == nil {
		return "nil"
	}
	return strconv.Quote(*p)
}

// show formats a session with its pointers dereferenced.
func show(s *sessions.Session) string {
	if s == nil {
		return "<nil>"
	}
	m := s.LastMetadata
	fix := "nil"
	if f := s.LastLocated; f != nil {
		fix = fmt.Sprintf("%+v", *f)
	}
	return fmt.Sprintf("{tenant:%d user:%q id:%s key:%s clients:%q initiated:%d expires:%d updated:%d revoked:%d "+
		"ip:%s ua:%s country:%s city:%s region:%s lat:%s lon:%s countries:%#v last located:%s}",
		s.TenantID, s.UserID, s.ID, s.Key, s.ClientIDs, s.InitiatedAt, s.ExpiresAt, s.LastUpdated, s.RevokedAt,
		showPtr(m.IPAddress), showPtr(m.UserAgent), showPtr(m.Country), showPtr(m.City), showPtr(m.Region),
		showPtr(m.Latitude), showPtr(m.Longitude), s.Countries, fix)
}

// checkSession fails unless got equals want in every field.
func checkSession(t *testing.T, what string, got, want *sessions.Session) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\ngot  %s\nwant %s", what, show(got), show(want))
	}
}

func sessionIDs(ss []*sessions.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

// checkSessions fails unless got and want hold equal sessions in the same order.
func checkSessions(t *testing.T, what string, got, want []*sessions.Session) {
	t.Helper()
	if g, w := sessionIDs(got), sessionIDs(want); !slices.Equal(g, w) {
		t.Errorf("%s: got IDs %v, want %v", what, g, w)
		return
	}
	for i := range got {
		checkSession(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

// getByKey returns the stored session with s's key, failing on error.
func getByKey(t *testing.T, st sessions.Store, s *sessions.Session) *sessions.Session {
	t.Helper()
	got, err := st.SessionByKey(t.Context(), s.TenantID, s.Key)
	if err != nil {
		t.Fatalf("SessionByKey(%s): %v", s.ID, err)
	}
	return got
}

// list returns every active session of the user at now, sorted by
// initiated_at ascending, with the total.
func list(t *testing.T, st sessions.Store, tenantID int64, userID, clientID string, now int64) ([]*sessions.Session, int) {
	t.Helper()
	got, total, err := st.ListSessions(t.Context(), sessions.ListQuery{
		TenantID: tenantID, UserID: userID, ClientID: clientID,
		Sort: sessions.SortInitiatedAt, Page: 1, Size: sessions.MaxPageSize, Now: now,
	})
	if err != nil {
		t.Fatalf("ListSessions(%d, %q, client %q): %v", tenantID, userID, clientID, err)
	}
	return got, total
}

// byField orders sessions as ListSessions must: by the field, ties by
// session ID, both in the query's direction.
func byField(field sessions.SortField, desc bool) func(a, b *sessions.Session) int {
	return func(a, b *sessions.Session) int {
		var c int
		switch field {
		case sessions.SortInitiatedAt:
			c = cmp.Compare(a.InitiatedAt, b.InitiatedAt)
		case sessions.SortExpiresAt:
			c = cmp.Compare(a.ExpiresAt, b.ExpiresAt)
		case sessions.SortLastUpdated:
			c = cmp.Compare(a.LastUpdated, b.LastUpdated)
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			c = -c
		}
		return c
	}
}

// checkPages walks every page of q at several page sizes, one page past the
// end included, and checks that each page is the matching window of want,
// that total is len(want) on every page, and so that pages neither overlap
// nor skip.
func checkPages(t *testing.T, st sessions.Store, q sessions.ListQuery, want []*sessions.Session) {
	t.Helper()
	for _, size := range []int{1, 3, sessions.MaxPageSize} {
		q.Size = size
		var all []*sessions.Session
		for q.Page = 1; q.Page <= len(want)+2; q.Page++ {
			what := fmt.Sprintf("ListSessions(sort %s desc %v client %q page %d size %d)", q.Sort, q.Desc, q.ClientID, q.Page, q.Size)
			got, total, err := st.ListSessions(t.Context(), q)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if total != len(want) {
				t.Errorf("%s: got total %d, want %d", what, total, len(want))
			}
			lo := min(q.Offset(), len(want))
			hi := min(lo+size, len(want))
			checkSessions(t, what, got, want[lo:hi])
			all = append(all, got...)
			if lo == len(want) {
				break
			}
		}
		checkSessions(t, fmt.Sprintf("all pages of size %d (sort %s desc %v client %q)", size, q.Sort, q.Desc, q.ClientID), all, want)
	}
}

func testCreateAPIKeyTenants(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a1 := newKey("acme", "first", t0)
	a2 := newKey("acme", "second", t0+1)
	b := newKey("globex", "other", t0+2)
	for _, k := range []*sessions.APIKey{a1, a2, b} {
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey(%s): %v", k.Name, err)
		}
	}
	if a1.TenantID == 0 {
		t.Errorf("first key of acme: got TenantID 0, want it set")
	}
	if a2.TenantID != a1.TenantID {
		t.Errorf("second key of acme: got TenantID %d, want %d", a2.TenantID, a1.TenantID)
	}
	if b.TenantID == 0 || b.TenantID == a1.TenantID {
		t.Errorf("key of globex: got TenantID %d, want non-zero and not acme's %d", b.TenantID, a1.TenantID)
	}
}

func testAPIKeyByHash(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	k := newKey("acme", "back end", t0, sessions.ScopeSessionsWrite, sessions.ScopeSessionsRead, sessions.ScopeUsersDelete)
	other := newKey("acme", "console", t0+1, sessions.ScopeSessionsRevoke)
	for _, k := range []*sessions.APIKey{k, other} {
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}
	got, err := st.APIKeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("APIKeyByHash: %v", err)
	}
	if !reflect.DeepEqual(got, k) {
		t.Errorf("APIKeyByHash:\ngot  %+v\nwant %+v", got, k)
	}

	if err := st.RevokeAPIKey(ctx, k.ID, t0+50); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	k.RevokedAt = t0 + 50
	got, err = st.APIKeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("APIKeyByHash of a revoked key: %v", err)
	}
	if !reflect.DeepEqual(got, k) {
		t.Errorf("APIKeyByHash of a revoked key:\ngot  %+v\nwant %+v", got, k)
	}

	_, err = st.APIKeyByHash(ctx, sessions.HashAPIKey(sessions.NewAPIKeySecret()))
	wantCode(t, "APIKeyByHash(unknown hash)", err, sessions.ENOTFOUND)
}

func testListAPIKeys(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	got, err := st.ListAPIKeys(ctx)
	if err != nil {
		t.Fatalf("ListAPIKeys on an empty store: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("ListAPIKeys on an empty store: got %d keys, want 0", len(got))
	}
	// Created out of order, in two tenants.
	k3 := newKey("acme", "third", t0+30)
	k1 := newKey("globex", "first", t0+10, sessions.ScopeSessionsRevoke, sessions.ScopeSessionsRead)
	k2 := newKey("acme", "second", t0+20)
	for _, k := range []*sessions.APIKey{k3, k1, k2} {
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}
	got, err = st.ListAPIKeys(ctx)
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	want := []*sessions.APIKey{k1, k2, k3}
	if len(got) != len(want) {
		t.Fatalf("ListAPIKeys: got %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("ListAPIKeys[%d]:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func testRevokeAPIKey(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	k := newKey("acme", "k", t0)
	keep := newKey("acme", "keep", t0)
	for _, k := range []*sessions.APIKey{k, keep} {
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}
	if err := st.RevokeAPIKey(ctx, k.ID, t0+100); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	if err := st.RevokeAPIKey(ctx, k.ID, t0+200); err != nil {
		t.Errorf("RevokeAPIKey of a revoked key: got %v, want nil", err)
	}
	wantCode(t, "RevokeAPIKey(unknown id)", st.RevokeAPIKey(ctx, sessions.NewKeyID(), t0), sessions.ENOTFOUND)

	for _, tc := range []struct {
		key  *sessions.APIKey
		want int64
	}{
		{k, t0 + 100}, // the first revocation stands
		{keep, 0},
	} {
		got, err := st.APIKeyByHash(ctx, tc.key.Hash)
		if err != nil {
			t.Fatalf("APIKeyByHash(%s): %v", tc.key.Name, err)
		}
		if got.RevokedAt != tc.want {
			t.Errorf("key %s: got RevokedAt %d, want %d", tc.key.Name, got.RevokedAt, tc.want)
		}
	}
}

func testCreateSessionRoundTrip(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	full := newSession(tid, "alice@example.com")
	full.ClientIDs = []string{"web", "api", "mobile"} // join order, not sorted
	full.InitiatedAt, full.ExpiresAt, full.LastUpdated = t0-100, t0+500, t0-50
	full.LastMetadata = fullMetadata()
	full.Countries = []string{"France", "United States of America"}
	full.LastLocated = &sessions.Fix{At: t0 - 50, Latitude: 34.043238, Longitude: -118.250918}
	bare := newSession(tid, "alice@example.com") // every metadata field nil
	partial := newSession(tid, "alice@example.com")
	partial.InitiatedAt = t0 - 10
	partial.LastMetadata = sessions.Metadata{IPAddress: ptr("2001:db8::1"), UserAgent: ptr("")}
	create(t, st, full, bare, partial)

	for _, want := range []*sessions.Session{full, bare, partial} {
		checkSession(t, "SessionByKey", getByKey(t, st, want), want)
		got, err := st.GetSession(ctx, tid, want.UserID, want.ID, t0)
		if err != nil {
			t.Fatalf("GetSession(%s): %v", want.ID, err)
		}
		checkSession(t, "GetSession", got, want)
	}
	got, total := list(t, st, tid, "alice@example.com", "", t0)
	if total != 3 {
		t.Errorf("ListSessions: got total %d, want 3", total)
	}
	checkSessions(t, "ListSessions", got, []*sessions.Session{full, partial, bare})
}

func testCreateSessionConflict(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	orig := newSession(tid, "alice")
	orig.LastMetadata = fullMetadata()
	create(t, st, orig)

	sameID := newSession(tid, "bob")
	sameID.ID = orig.ID
	sameKey := newSession(tid, "carol")
	sameKey.Key = orig.Key
	for _, tc := range []struct {
		name string
		s    *sessions.Session
	}{
		{"same session ID", sameID},
		{"same session key", sameKey},
	} {
		wantCode(t, "CreateSession("+tc.name+")", st.CreateSession(ctx, tc.s, nil), sessions.ECONFLICT)
		// Nothing was written: not even the new user.
		_, _, err := st.ListSessions(ctx, sessions.ListQuery{TenantID: tid, UserID: tc.s.UserID, Sort: sessions.SortInitiatedAt, Page: 1, Size: 10, Now: t0})
		wantCode(t, "ListSessions of the user of a failed CreateSession ("+tc.name+")", err, sessions.ENOTFOUND)
	}
	checkSession(t, "SessionByKey of the original", getByKey(t, st, orig), orig)
	if _, total := list(t, st, tid, "alice", "", t0); total != 1 {
		t.Errorf("ListSessions(alice): got total %d, want 1", total)
	}
}

func testListNotFound(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	create(t, st, newSession(a, "alice"))
	for _, tc := range []struct {
		name   string
		tenant int64
		user   string
	}{
		{"unknown user", a, "nobody"},
		{"user of another tenant", b, "alice"},
		{"user ID differing in case", a, "Alice"},
	} {
		got, total, err := st.ListSessions(ctx, sessions.ListQuery{TenantID: tc.tenant, UserID: tc.user, Sort: sessions.SortInitiatedAt, Desc: true, Page: 1, Size: 10, Now: t0})
		wantCode(t, "ListSessions("+tc.name+")", err, sessions.ENOTFOUND)
		if len(got) != 0 || total != 0 {
			t.Errorf("ListSessions(%s): got %d sessions, total %d, want none", tc.name, len(got), total)
		}
	}
}

func testListOnlyActive(t *testing.T, st sessions.Store) {
	tid := tenant(t, st, "acme")
	now := t0 + 1000

	// A user whose sessions have all ended is known: an empty page.
	expired := newSession(tid, "ended")
	expired.ExpiresAt = now
	revoked := newSession(tid, "ended")
	create(t, st, expired, revoked)
	revoke(t, st, revoked, now-1)
	got, total := list(t, st, tid, "ended", "", now)
	if len(got) != 0 || total != 0 {
		t.Errorf("ListSessions of a user with only ended sessions: got %v, total %d, want none", sessionIDs(got), total)
	}

	// Expiry is exclusive: ExpiresAt == Now has ended, Now+1 has not.
	atNow := newSession(tid, "u")
	atNow.ExpiresAt = now
	past := newSession(tid, "u")
	past.ExpiresAt = now - 100
	rev := newSession(tid, "u")
	rev.ExpiresAt = now + 100
	live := newSession(tid, "u")
	live.ExpiresAt = now + 1
	live2 := newSession(tid, "u")
	live2.InitiatedAt = t0 + 1
	create(t, st, atNow, past, rev, live, live2)
	revoke(t, st, rev, now-1)
	got, total = list(t, st, tid, "u", "", now)
	checkSessions(t, "ListSessions", got, []*sessions.Session{live, live2})
	if total != 2 {
		t.Errorf("ListSessions: got total %d, want 2", total)
	}
	// A second earlier, atNow was still active.
	if _, total = list(t, st, tid, "u", "", now-1); total != 3 {
		t.Errorf("ListSessions a second earlier: got total %d, want 3", total)
	}
}

func testListPaging(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	const n = 105
	var want []*sessions.Session // by initiated_at descending
	for i := range n {
		s := newSession(tid, "u")
		s.InitiatedAt = t0 - int64(i)
		want = append(want, s)
	}
	create(t, st, want...)
	// Ended sessions and another user's sessions must not shift pages.
	gone := newSession(tid, "u")
	gone.InitiatedAt = t0 - 50
	gone.ExpiresAt = t0
	other := newSession(tid, "v")
	other.InitiatedAt = t0 - 50
	create(t, st, gone, other)

	for _, tc := range []struct{ page, size int }{
		{1, 10}, {2, 10}, {6, 10}, // first and middle
		{11, 10},           // last, partial (5 of 10)
		{12, 10}, {50, 10}, // past the end
		{1, 1}, {53, 1}, {105, 1}, {106, 1},
		{1, 100}, {2, 100}, {3, 100},
		{1, 7}, {15, 7}, {16, 7},
	} {
		q := sessions.ListQuery{TenantID: tid, UserID: "u", Sort: sessions.SortInitiatedAt, Desc: true, Page: tc.page, Size: tc.size, Now: t0}
		got, total, err := st.ListSessions(ctx, q)
		what := fmt.Sprintf("ListSessions(page %d, size %d)", tc.page, tc.size)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if total != n {
			t.Errorf("%s: got total %d, want %d", what, total, n)
		}
		lo := min(q.Offset(), n)
		checkSessions(t, what, got, want[lo:min(lo+tc.size, n)])
	}
}

func testListSortAndFilter(t *testing.T, st sessions.Store) {
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 500

	// Few distinct values per field, so that every sort has ties that only
	// the session ID breaks.
	var active []*sessions.Session
	for i := range 14 {
		s := newSession(a, "u")
		s.InitiatedAt = t0 + int64(i%3)
		s.ExpiresAt = now + 100 + int64(i%2)*50
		s.LastUpdated = t0 + 200 + int64(i%4)
		switch i % 3 {
		case 0:
			s.ClientIDs = []string{"web"}
		case 1:
			s.ClientIDs = []string{"mobile", "web"}
		case 2:
			s.ClientIDs = []string{"mobile"}
		}
		if i%2 == 0 {
			s.LastMetadata = fullMetadata()
		}
		active = append(active, s)
	}
	create(t, st, active...)

	// Noise that must never be listed: ended sessions of u with the same
	// clients, another user's sessions and u's namesake in another tenant.
	expired := newSession(a, "u")
	expired.ClientIDs = []string{"web", "mobile"}
	expired.ExpiresAt = now
	revoked := newSession(a, "u")
	revoked.ClientIDs = []string{"web"}
	other := newSession(a, "v")
	other.ClientIDs = []string{"web"}
	namesake := newSession(b, "u")
	namesake.ClientIDs = []string{"web"}
	create(t, st, expired, revoked, other, namesake)
	revoke(t, st, revoked, now-10)

	for _, client := range []string{"", "web", "mobile", "absent"} {
		var want []*sessions.Session
		for _, s := range active {
			if client == "" || s.HasClient(client) {
				want = append(want, s)
			}
		}
		for _, field := range sessions.SortFields {
			for _, desc := range []bool{false, true} {
				want := slices.Clone(want)
				slices.SortStableFunc(want, byField(field, desc))
				q := sessions.ListQuery{TenantID: a, UserID: "u", ClientID: client, Sort: field, Desc: desc, Now: now}
				checkPages(t, st, q, want)
			}
		}
	}
}

func testGetSession(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 100
	s := newSession(a, "alice")
	s.LastMetadata = fullMetadata()
	bobs := newSession(a, "bob")
	expired := newSession(a, "alice")
	expired.ExpiresAt = now
	revoked := newSession(a, "alice")
	create(t, st, s, bobs, expired, revoked)
	revoke(t, st, revoked, now-1)

	got, err := st.GetSession(ctx, a, "alice", s.ID, now)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	checkSession(t, "GetSession", got, s)

	for _, tc := range []struct {
		name    string
		tenant  int64
		user    string
		session string
	}{
		{"another user's session", a, "alice", bobs.ID},
		{"the session under another user", a, "bob", s.ID},
		{"unknown user", a, "nobody", s.ID},
		{"another tenant", b, "alice", s.ID},
		{"unknown session ID", a, "alice", sessions.NewSessionID()},
		{"expired session", a, "alice", expired.ID},
		{"revoked session", a, "alice", revoked.ID},
	} {
		got, err := st.GetSession(ctx, tc.tenant, tc.user, tc.session, now)
		wantCode(t, "GetSession("+tc.name+")", err, sessions.ENOTFOUND)
		if got != nil {
			t.Errorf("GetSession(%s): got %s, want nil", tc.name, show(got))
		}
	}
}

func testSessionByKey(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 100
	active := newSession(a, "alice")
	active.LastMetadata = fullMetadata()
	expired := newSession(a, "alice")
	expired.ExpiresAt = now - 50
	revoked := newSession(a, "alice")
	create(t, st, active, expired, revoked)
	revoke(t, st, revoked, now-1)

	// Any state, until purged.
	for _, want := range []*sessions.Session{active, expired, revoked} {
		checkSession(t, "SessionByKey", getByKey(t, st, want), want)
	}
	for _, tc := range []struct {
		name   string
		tenant int64
		key    string
	}{
		{"another tenant", b, active.Key},
		{"unknown key", a, sessions.SessionKey(sessions.NewToken())},
	} {
		got, err := st.SessionByKey(ctx, tc.tenant, tc.key)
		wantCode(t, "SessionByKey("+tc.name+")", err, sessions.ENOTFOUND)
		if got != nil {
			t.Errorf("SessionByKey(%s): got %s, want nil", tc.name, show(got))
		}
	}
}

func testUpdateSessionWrites(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	s.ClientIDs = []string{"web", "api"}
	s.LastMetadata = fullMetadata()
	untouched := newSession(tid, "alice")
	untouched.InitiatedAt = t0 - 1
	create(t, st, s, untouched)

	steps := []struct {
		name   string
		change func(*sessions.Session)
	}{
		{"append a client, move times, new metadata", func(c *sessions.Session) {
			c.ClientIDs = append(c.ClientIDs, "mobile")
			c.ExpiresAt = t0 + 2*day
			c.LastUpdated = t0 + 60
			c.LastMetadata = sessions.Metadata{IPAddress: ptr("9.9.9.9"), UserAgent: ptr("curl/8")}
		}},
		{"metadata back to unknown", func(c *sessions.Session) {
			c.LastMetadata = sessions.Metadata{}
			c.LastUpdated = t0 + 120
		}},
		{"everything set", func(c *sessions.Session) {
			c.ClientIDs = append(c.ClientIDs, "cli")
			c.LastMetadata = fullMetadata()
			c.ExpiresAt = t0 + 3*day
		}},
	}
	want := *s
	for _, step := range steps {
		var seen *sessions.Session
		got, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
			cp := *c
			cp.ClientIDs = slices.Clone(c.ClientIDs)
			seen = &cp
			step.change(c)
			return nil, nil
		}, trailKeep)
		if err != nil {
			t.Fatalf("UpdateSession(%s): %v", step.name, err)
		}
		checkSession(t, "UpdateSession("+step.name+") passed fn", seen, &want)
		want.ClientIDs = slices.Clone(want.ClientIDs)
		step.change(&want)
		checkSession(t, "UpdateSession("+step.name+") returned", got, &want)
		checkSession(t, "SessionByKey after "+step.name, getByKey(t, st, s), &want)
		g, err := st.GetSession(ctx, tid, "alice", s.ID, t0)
		if err != nil {
			t.Fatalf("GetSession after %s: %v", step.name, err)
		}
		checkSession(t, "GetSession after "+step.name, g, &want)
	}
	checkSession(t, "the other session", getByKey(t, st, untouched), untouched)

	// The client filter sees the appended clients.
	for _, tc := range []struct {
		client string
		want   []*sessions.Session
	}{
		{"mobile", []*sessions.Session{&want}},
		{"cli", []*sessions.Session{&want}},
		{"web", []*sessions.Session{&want}},
		{"app", []*sessions.Session{untouched}},
	} {
		got, total := list(t, st, tid, "alice", tc.client, t0)
		checkSessions(t, "ListSessions(client "+tc.client+")", got, tc.want)
		if total != len(tc.want) {
			t.Errorf("ListSessions(client %s): got total %d, want %d", tc.client, total, len(tc.want))
		}
	}
	// The new expiry is what listing goes by.
	if _, total := list(t, st, tid, "alice", "", t0+2*day); total != 1 {
		t.Errorf("ListSessions after the old expiry: got total %d, want 1", total)
	}
}

func testUpdateSessionFnError(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	s.LastMetadata = fullMetadata()
	create(t, st, s)

	errBoom := errors.New("boom")
	got, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
		c.ClientIDs = append(c.ClientIDs, "evil")
		c.ExpiresAt += day
		c.LastUpdated += 100
		c.LastMetadata = sessions.Metadata{}
		return nil, errBoom
	}, trailKeep)
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateSession with a failing fn: got error %v, want fn's error", err)
	}
	if got != nil {
		t.Errorf("UpdateSession with a failing fn: got %s, want nil", show(got))
	}
	// A domain error from fn keeps its code.
	_, err = st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
		c.ClientIDs = append(c.ClientIDs, "evil")
		return nil, sessions.Errorf(sessions.ENOTFOUND, "the session does not exist or has ended")
	}, trailKeep)
	wantCode(t, "UpdateSession with fn returning ENOTFOUND", err, sessions.ENOTFOUND)

	checkSession(t, "SessionByKey after failed updates", getByKey(t, st, s), s)
	if got, total := list(t, st, tid, "alice", "evil", t0); len(got) != 0 || total != 0 {
		t.Errorf("ListSessions(client evil): got %v, total %d, want none", sessionIDs(got), total)
	}
}

func testUpdateSessionNotFound(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	s := newSession(a, "alice")
	create(t, st, s)
	for _, tc := range []struct {
		name   string
		tenant int64
		key    string
	}{
		{"unknown key", a, sessions.SessionKey(sessions.NewToken())},
		{"another tenant's session", b, s.Key},
	} {
		called := false
		_, err := st.UpdateSession(ctx, tc.tenant, tc.key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
			called = true
			c.ClientIDs = append(c.ClientIDs, "x")
			return nil, nil
		}, trailKeep)
		wantCode(t, "UpdateSession("+tc.name+")", err, sessions.ENOTFOUND)
		if called {
			t.Errorf("UpdateSession(%s): fn was called, want not", tc.name)
		}
	}
	checkSession(t, "SessionByKey", getByKey(t, st, s), s)
}

func testUpdateSessionConcurrent(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	create(t, st, s)

	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		client := fmt.Sprintf("client-%02d", i)
		wg.Go(func() {
			_, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
				c.ClientIDs = append(c.ClientIDs, client)
				c.LastUpdated++ // a lost update would show as a smaller count
				return nil, nil
			}, trailKeep)
			if err != nil {
				t.Errorf("UpdateSession(%s): %v", client, err)
			}
		})
	}
	wg.Wait()

	got := getByKey(t, st, s)
	if got.ClientIDs[0] != "app" {
		t.Errorf("first client: got %q, want %q", got.ClientIDs[0], "app")
	}
	want := []string{"app"}
	for i := range n {
		want = append(want, fmt.Sprintf("client-%02d", i))
	}
	if g := slices.Sorted(slices.Values(got.ClientIDs)); !slices.Equal(g, want) {
		t.Errorf("ClientIDs after %d concurrent updates: got %q, want %q in any order after app", n, got.ClientIDs, want[1:])
	}
	if got.LastUpdated != t0+n {
		t.Errorf("LastUpdated after %d concurrent increments: got %d, want %d", n, got.LastUpdated, t0+n)
	}
	for _, c := range want {
		if l, total := list(t, st, tid, "alice", c, t0); total != 1 || len(l) != 1 {
			t.Errorf("ListSessions(client %s): got %d sessions, total %d, want 1", c, len(l), total)
		}
	}
}

func testUpdateSessionSeesRevocation(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	tid := tenant(t, st, "acme")
	s := newSession(tid, "alice")
	create(t, st, s)
	if err := st.RevokeSession(ctx, tid, "alice", s.ID, t0+10, by); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	errEnded := errors.New("ended")
	var seen int64
	_, err := st.UpdateSession(ctx, tid, s.Key, func(c *sessions.Session) (*sessions.ActivityEntry, error) {
		seen = c.RevokedAt
		if c.RevokedAt != 0 {
			return nil, errEnded
		}
		c.LastUpdated = t0 + 20
		return nil, nil
	}, trailKeep)
	if seen != t0+10 {
		t.Errorf("fn saw RevokedAt %d, want %d", seen, t0+10)
	}
	if !errors.Is(err, errEnded) {
		t.Errorf("UpdateSession: got error %v, want fn's error", err)
	}
	s.RevokedAt, s.EndReason, s.EndedBy = t0+10, sessions.ReasonRevoked, by
	checkSession(t, "SessionByKey", getByKey(t, st, s), s)
}

func testRevokeSession(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 100
	s := newSession(a, "alice")
	keep := newSession(a, "alice")
	keep.InitiatedAt = t0 - 1
	bobs := newSession(a, "bob")
	expired := newSession(a, "alice")
	expired.ExpiresAt = now
	create(t, st, s, keep, bobs, expired)

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
		{"expired session", a, "alice", expired.ID},
	} {
		wantCode(t, "RevokeSession("+tc.name+")", st.RevokeSession(ctx, tc.tenant, tc.user, tc.session, now, by), sessions.ENOTFOUND)
	}
	for _, x := range []*sessions.Session{s, keep, bobs, expired} {
		checkSession(t, "SessionByKey after failed revocations", getByKey(t, st, x), x)
	}

	if err := st.RevokeSession(ctx, a, "alice", s.ID, now, by); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	s.RevokedAt, s.EndReason, s.EndedBy = now, sessions.ReasonRevoked, by
	checkSession(t, "SessionByKey of the revoked session", getByKey(t, st, s), s)
	wantCode(t, "RevokeSession of a revoked session", st.RevokeSession(ctx, a, "alice", s.ID, now+1, "key_other"), sessions.ENOTFOUND)
	checkSession(t, "SessionByKey after revoking it again", getByKey(t, st, s), s)
	_, err := st.GetSession(ctx, a, "alice", s.ID, now)
	wantCode(t, "GetSession of the revoked session", err, sessions.ENOTFOUND)
	got, total := list(t, st, a, "alice", "", now)
	checkSessions(t, "ListSessions after revocation", got, []*sessions.Session{keep})
	if total != 1 {
		t.Errorf("ListSessions after revocation: got total %d, want 1", total)
	}
	checkSession(t, "bob's session", getByKey(t, st, bobs), bobs)
}

func testRevokeSessionByKey(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 100
	s := newSession(a, "alice")
	expired := newSession(a, "alice")
	expired.ExpiresAt = now - 1
	create(t, st, s, expired)

	wantCode(t, "RevokeSessionByKey(unknown key)", st.RevokeSessionByKey(ctx, a, sessions.SessionKey(sessions.NewToken()), now, by), sessions.ENOTFOUND)
	wantCode(t, "RevokeSessionByKey(another tenant)", st.RevokeSessionByKey(ctx, b, s.Key, now, by), sessions.ENOTFOUND)
	checkSession(t, "SessionByKey after a revocation from another tenant", getByKey(t, st, s), s)

	if err := st.RevokeSessionByKey(ctx, a, s.Key, now, by); err != nil {
		t.Fatalf("RevokeSessionByKey: %v", err)
	}
	s.RevokedAt, s.EndReason, s.EndedBy = now, sessions.ReasonSignedOut, by
	checkSession(t, "SessionByKey after revocation", getByKey(t, st, s), s)
	// Idempotent: the first revocation's time, reason and key stand.
	if err := st.RevokeSessionByKey(ctx, a, s.Key, now+50, "key_other"); err != nil {
		t.Errorf("RevokeSessionByKey of a revoked session: got %v, want nil", err)
	}
	checkSession(t, "SessionByKey after a second revocation", getByKey(t, st, s), s)
	// An expired session is ended already: no error, and it stays unrevoked.
	if err := st.RevokeSessionByKey(ctx, a, expired.Key, now, by); err != nil {
		t.Errorf("RevokeSessionByKey of an expired session: got %v, want nil", err)
	}
	checkSession(t, "SessionByKey of the expired session", getByKey(t, st, expired), expired)
}

func testRevokeUserSessions(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 100
	var live []*sessions.Session
	for range 3 {
		live = append(live, newSession(a, "alice"))
	}
	expired := newSession(a, "alice")
	expired.ExpiresAt = now
	earlier := newSession(a, "alice")
	bobs := newSession(a, "bob")
	namesake := newSession(b, "alice")
	create(t, st, live...)
	create(t, st, expired, earlier, bobs, namesake)
	revoke(t, st, earlier, now-10)

	n, err := st.RevokeUserSessions(ctx, a, "alice", now, by, "")
	if err != nil {
		t.Fatalf("RevokeUserSessions: %v", err)
	}
	if n != 3 {
		t.Errorf("RevokeUserSessions: got %d, want 3", n)
	}
	for _, s := range live {
		s.RevokedAt, s.EndReason, s.EndedBy = now, sessions.ReasonRevokedAll, by
	}
	for _, s := range append(live, expired, earlier, bobs, namesake) {
		checkSession(t, "SessionByKey after RevokeUserSessions", getByKey(t, st, s), s)
	}
	if got, total := list(t, st, a, "alice", "", now); len(got) != 0 || total != 0 {
		t.Errorf("ListSessions after RevokeUserSessions: got %v, total %d, want none", sessionIDs(got), total)
	}

	n, err = st.RevokeUserSessions(ctx, a, "alice", now+1, by, "")
	if err != nil || n != 0 {
		t.Errorf("RevokeUserSessions of a user without active sessions: got %d, %v, want 0, nil", n, err)
	}
	for _, tc := range []struct {
		name   string
		tenant int64
		user   string
	}{
		{"unknown user", a, "nobody"},
		{"user of another tenant", b, "bob"},
	} {
		n, err := st.RevokeUserSessions(ctx, tc.tenant, tc.user, now, by, "")
		wantCode(t, "RevokeUserSessions("+tc.name+")", err, sessions.ENOTFOUND)
		if n != 0 {
			t.Errorf("RevokeUserSessions(%s): got %d, want 0", tc.name, n)
		}
	}
	checkSession(t, "bob's session", getByKey(t, st, bobs), bobs)
}

func testDeleteUser(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	gone := []*sessions.Session{newSession(a, "alice"), newSession(a, "alice"), newSession(a, "alice")}
	gone[0].ClientIDs = []string{"web", "mobile"}
	gone[1].ExpiresAt = t0 - 1
	bobs := newSession(a, "bob")
	bobs.ClientIDs = []string{"web"}
	namesake := newSession(b, "alice")
	carols := newSession(b, "carol")
	create(t, st, gone...)
	create(t, st, bobs, namesake, carols)
	revoke(t, st, gone[2], t0-5)

	wantCode(t, "DeleteUser(unknown user)", st.DeleteUser(ctx, a, "nobody", t0), sessions.ENOTFOUND)
	wantCode(t, "DeleteUser(user of another tenant)", st.DeleteUser(ctx, a, "carol", t0), sessions.ENOTFOUND)

	if err := st.DeleteUser(ctx, a, "alice", t0); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, _, err := st.ListSessions(ctx, sessions.ListQuery{TenantID: a, UserID: "alice", Sort: sessions.SortInitiatedAt, Page: 1, Size: 10, Now: t0})
	wantCode(t, "ListSessions of the erased user", err, sessions.ENOTFOUND)
	for _, s := range gone {
		_, err := st.SessionByKey(ctx, a, s.Key)
		wantCode(t, "SessionByKey of an erased session", err, sessions.ENOTFOUND)
		_, err = st.GetSession(ctx, a, "alice", s.ID, t0-10)
		wantCode(t, "GetSession of an erased session", err, sessions.ENOTFOUND)
	}
	wantCode(t, "DeleteUser of the erased user", st.DeleteUser(ctx, a, "alice", t0), sessions.ENOTFOUND)
	_, err = st.RevokeUserSessions(ctx, a, "alice", t0, by, "")
	wantCode(t, "RevokeUserSessions of the erased user", err, sessions.ENOTFOUND)

	// Everyone else is untouched.
	for _, s := range []*sessions.Session{bobs, namesake, carols} {
		checkSession(t, "SessionByKey of another user's session", getByKey(t, st, s), s)
	}
	if got, total := list(t, st, a, "bob", "web", t0); total != 1 || len(got) != 1 {
		t.Errorf("ListSessions(bob, client web): got %d sessions, total %d, want 1", len(got), total)
	}

	// The user can come back, with nothing of the old sessions.
	again := newSession(a, "alice")
	create(t, st, again)
	got, total := list(t, st, a, "alice", "", t0)
	checkSessions(t, "ListSessions of the returned user", got, []*sessions.Session{again})
	if total != 1 {
		t.Errorf("ListSessions of the returned user: got total %d, want 1", total)
	}
	if got, total := list(t, st, a, "alice", "web", t0); len(got) != 0 || total != 0 {
		t.Errorf("ListSessions(returned user, client web): got %v, total %d, want none", sessionIDs(got), total)
	}
}

func testPurgeSessions(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	const before = t0 + 1000
	far := t0 + 5000

	mk := func(tid int64, user string, expires, revokedAt int64) *sessions.Session {
		t.Helper()
		s := newSession(tid, user)
		s.ExpiresAt = expires
		create(t, st, s)
		if revokedAt != 0 {
			revoke(t, st, s, revokedAt)
		}
		return s
	}
	keep := map[string]*sessions.Session{
		"active":               mk(a, "u", far, 0),
		"revoked at before":    mk(a, "u", far, before),
		"revoked after before": mk(a, "u", far, before+10),
		"expired at before":    mk(a, "u", before, 0),
		"expires after before": mk(a, "u", before+1, 0),
	}
	purge := map[string]*sessions.Session{
		"revoked before":             mk(a, "u", far, before-10),
		"expired before":             mk(a, "u", before-10, 0),
		"revoked and expired before": mk(a, "u", before-5, before-20),
		"other tenant, expired":      mk(b, "x", before-1, 0),
	}

	emitExpired(t, st, before)
	if n, err := st.PurgeSessions(ctx, t0, 100); err != nil || n != 0 {
		t.Errorf("PurgeSessions with nothing old enough: got %d, %v, want 0, nil", n, err)
	}
	var counts []int
	for range 5 {
		n, err := st.PurgeSessions(ctx, before, 3)
		if err != nil {
			t.Fatalf("PurgeSessions: %v", err)
		}
		counts = append(counts, n)
		if n == 0 {
			break
		}
	}
	if want := []int{3, 1, 0}; !slices.Equal(counts, want) {
		t.Errorf("PurgeSessions(limit 3) until drained: got counts %v, want %v", counts, want)
	}
	for name, s := range purge {
		_, err := st.SessionByKey(ctx, s.TenantID, s.Key)
		wantCode(t, "SessionByKey of the purged session "+name, err, sessions.ENOTFOUND)
	}
	for name, s := range keep {
		checkSession(t, "SessionByKey of the kept session "+name, getByKey(t, st, s), s)
	}

	// A user whose every session was purged is still known.
	if got, total := list(t, st, b, "x", "", t0); len(got) != 0 || total != 0 {
		t.Errorf("ListSessions of a user whose sessions were purged: got %v, total %d, want none", sessionIDs(got), total)
	}
	if n, err := st.RevokeUserSessions(ctx, b, "x", before, by, ""); err != nil || n != 0 {
		t.Errorf("RevokeUserSessions of a user whose sessions were purged: got %d, %v, want 0, nil", n, err)
	}
}

func testCountActiveSessions(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 100
	if n, err := st.CountActiveSessions(ctx, now); err != nil || n != 0 {
		t.Errorf("CountActiveSessions on an empty store: got %d, %v, want 0, nil", n, err)
	}
	soon := newSession(a, "alice")
	soon.ExpiresAt = now + 10
	expired := newSession(a, "alice")
	expired.ExpiresAt = now
	revoked := newSession(a, "bob")
	create(t, st, newSession(a, "alice"), soon, expired, revoked)
	create(t, st, newSession(b, "alice"), newSession(b, "carol"), newSession(b, "dave"))
	revoke(t, st, revoked, now-1)

	for _, tc := range []struct {
		now  int64
		want int64
	}{
		{now - 1, 6}, // expired was still active
		{now, 5},
		{now + 10, 4}, // soon has expired too
		{t0 + day, 0},
	} {
		n, err := st.CountActiveSessions(ctx, tc.now)
		if err != nil {
			t.Fatalf("CountActiveSessions(%d): %v", tc.now, err)
		}
		if n != tc.want {
			t.Errorf("CountActiveSessions(t0%+d): got %d, want %d", tc.now-t0, n, tc.want)
		}
	}
}

func testPing(t *testing.T, st sessions.Store) {
	if err := st.Ping(t.Context()); err != nil {
		t.Errorf("Ping: got %v, want nil", err)
	}
}
