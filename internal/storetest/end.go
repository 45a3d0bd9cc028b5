package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// testEndReasons checks that each revocation records its reason and key,
// that a session created as revoked keeps its own, and that a revocation
// that finds a session ended changes nothing of how it ended.
func testEndReasons(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	now := t0 + 100
	byID := newSession(a, "alice")
	byKey := newSession(a, "alice")
	all1, all2 := newSession(a, "alice"), newSession(a, "alice")
	active := newSession(a, "bob")
	loaded := newSession(a, "bob")
	loaded.RevokedAt, loaded.EndReason, loaded.EndedBy = t0-5, sessions.ReasonBulkRevoked, "key_loaded"
	create(t, st, byID, byKey, all1, all2, active, loaded)

	if err := st.RevokeSession(ctx, a, "alice", byID.ID, now, "key_one"); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	byID.RevokedAt, byID.EndReason, byID.EndedBy = now, sessions.ReasonRevoked, "key_one"
	if err := st.RevokeSessionByKey(ctx, a, byKey.Key, now+1, "key_app"); err != nil {
		t.Fatalf("RevokeSessionByKey: %v", err)
	}
	byKey.RevokedAt, byKey.EndReason, byKey.EndedBy = now+1, sessions.ReasonSignedOut, "key_app"
	if n, err := st.RevokeUserSessions(ctx, a, "alice", now+2, "key_all", ""); err != nil || n != 2 {
		t.Fatalf("RevokeUserSessions: got %d, %v; want 2, nil", n, err)
	}
	for _, s := range []*sessions.Session{all1, all2} {
		s.RevokedAt, s.EndReason, s.EndedBy = now+2, sessions.ReasonRevokedAll, "key_all"
	}
	// Signing out of a session that another revocation ended keeps that
	// revocation's reason and key.
	if err := st.RevokeSessionByKey(ctx, a, all1.Key, now+3, "key_late"); err != nil {
		t.Fatalf("RevokeSessionByKey of a revoked session: %v", err)
	}
	// No key: nothing recorded as the key.
	anon := newSession(a, "carol")
	create(t, st, anon)
	if err := st.RevokeSession(ctx, a, "carol", anon.ID, now, ""); err != nil {
		t.Fatalf("RevokeSession without a key: %v", err)
	}
	anon.RevokedAt, anon.EndReason = now, sessions.ReasonRevoked
	for _, s := range []*sessions.Session{byID, byKey, all1, all2, active, loaded, anon} {
		checkSession(t, "SessionByKey", getByKey(t, st, s), s)
	}
}

// listStatus returns one page of the user's sessions of a status.
func listStatus(t *testing.T, st sessions.Store, tenantID int64, userID string, status sessions.Status, now int64) ([]*sessions.Session, int) {
	t.Helper()
	got, total, err := st.ListSessions(t.Context(), sessions.ListQuery{
		TenantID: tenantID, UserID: userID, Status: status,
		Sort: sessions.SortInitiatedAt, Page: 1, Size: sessions.MaxPageSize, Now: now,
	})
	if err != nil {
		t.Fatalf("ListSessions(%d, %q, status %q): %v", tenantID, userID, status, err)
	}
	return got, total
}

// testListEnded checks the listing of ended sessions: revoked or expired,
// with their reasons as stored, in every sort order with the client filter
// and paging, and that it leaves the active listing as it was.
func testListEnded(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 500

	var ended, active []*sessions.Session
	for i := range 14 {
		s := newSession(a, "u")
		s.InitiatedAt = t0 + int64(i%3)
		s.LastUpdated = t0 + 200 + int64(i%4)
		s.ExpiresAt = now + 100 + int64(i%2)*50
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
		switch i % 4 {
		case 0: // expired, some exactly at now
			s.ExpiresAt = now - int64(i%3)
		case 3: // active
			active = append(active, s)
			continue
		}
		ended = append(ended, s)
	}
	create(t, st, ended...)
	create(t, st, active...)
	for i, s := range ended {
		if s.ExpiresAt <= now {
			continue
		}
		switch i % 3 {
		case 0:
			revoke(t, st, s, now-int64(i))
		case 1:
			if err := st.RevokeSession(ctx, a, "u", s.ID, now-int64(i), by); err != nil {
				t.Fatalf("RevokeSession: %v", err)
			}
			s.RevokedAt, s.EndReason, s.EndedBy = now-int64(i), sessions.ReasonRevoked, by
		default:
			if n, _, err := st.RevokeMatching(ctx, a, sessions.BulkFilter{UserID: "u", After: prevID(s.ID)}, now-int64(i), by, 1); err != nil || n != 1 {
				t.Fatalf("RevokeMatching of %s: got %d, %v; want 1, nil", s.ID, n, err)
			}
			s.RevokedAt, s.EndReason, s.EndedBy = now-int64(i), sessions.ReasonBulkRevoked, by
		}
	}

	// Noise never listed as u's: another user's ended session, and u's
	// namesake's in another tenant.
	other := newSession(a, "v")
	other.ExpiresAt = now - 1
	namesake := newSession(b, "u")
	namesake.ExpiresAt = now - 1
	create(t, st, other, namesake)

	for _, client := range []string{"", "web", "mobile", "absent"} {
		var want []*sessions.Session
		for _, s := range ended {
			if client == "" || s.HasClient(client) {
				want = append(want, s)
			}
		}
		for _, field := range sessions.SortFields {
			for _, desc := range []bool{false, true} {
				want := slices.Clone(want)
				slices.SortStableFunc(want, byField(field, desc))
				q := sessions.ListQuery{TenantID: a, UserID: "u", Status: sessions.StatusEnded, ClientID: client, Sort: field, Desc: desc, Now: now}
				checkPages(t, st, q, want)
			}
		}
	}

	// The active listing is unchanged, named or by default.
	want := slices.Clone(active)
	slices.SortStableFunc(want, byField(sessions.SortInitiatedAt, false))
	for _, status := range []sessions.Status{"", sessions.StatusActive} {
		got, total := listStatus(t, st, a, "u", status, now)
		checkSessions(t, fmt.Sprintf("ListSessions(status %q)", status), got, want)
		if total != len(active) {
			t.Errorf("ListSessions(status %q): got total %d, want %d", status, total, len(active))
		}
	}

	// A user without ended sessions has an empty page; an unknown one, or
	// one of another tenant, is not found; an unknown status is invalid.
	create(t, st, newSession(a, "fresh"))
	if got, total := listStatus(t, st, a, "fresh", sessions.StatusEnded, now); len(got) != 0 || total != 0 {
		t.Errorf("ended sessions of a user with none: got %v, total %d; want none", sessionIDs(got), total)
	}
	for _, tc := range []struct {
		name   string
		tenant int64
		user   string
		status sessions.Status
		code   string
	}{
		{"unknown user", a, "nobody", sessions.StatusEnded, sessions.ENOTFOUND},
		{"user of another tenant", b, "fresh", sessions.StatusEnded, sessions.ENOTFOUND},
		{"unknown status", a, "u", "gone", sessions.EINVALID},
	} {
		_, _, err := st.ListSessions(ctx, sessions.ListQuery{TenantID: tc.tenant, UserID: tc.user, Status: tc.status,
			Sort: sessions.SortInitiatedAt, Page: 1, Size: 10, Now: now})
		wantCode(t, "ListSessions("+tc.name+")", err, tc.code)
	}

	// Purged sessions are no longer listed.
	emitExpired(t, st, now+1)
	if _, err := st.PurgeSessions(ctx, now+1, 1000); err != nil {
		t.Fatalf("PurgeSessions: %v", err)
	}
	if got, total := listStatus(t, st, a, "u", sessions.StatusEnded, now); len(got) != 0 || total != 0 {
		t.Errorf("ended sessions after the purge: got %v, total %d; want none", sessionIDs(got), total)
	}
}

// prevID returns a session ID just below id, so that a filter with it as
// After starts at id.
func prevID(id string) string {
	b := []byte(id)
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case '0':
			b[i] = 'F'
			continue
		case 'A':
			b[i] = '9'
		default:
			b[i]--
		}
		return string(b)
	}
	return "" // id is all zeros: nothing is below it
}

// testRevokeUserSessionsExcept checks "sign out everywhere else": the
// kept session stays active, and a kept session that is not an active
// session of the user is not found, revoking nothing.
func testRevokeUserSessionsExcept(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	a := tenant(t, st, "acme")
	b := tenant(t, st, "globex")
	now := t0 + 100
	keep := newSession(a, "alice")
	others := []*sessions.Session{newSession(a, "alice"), newSession(a, "alice")}
	expired := newSession(a, "alice")
	expired.ExpiresAt = now
	revoked := newSession(a, "alice")
	bobs := newSession(a, "bob")
	namesake := newSession(b, "alice")
	create(t, st, keep, expired, revoked, bobs, namesake)
	create(t, st, others...)
	revoke(t, st, revoked, now-1)
	all := append([]*sessions.Session{keep, expired, revoked, bobs, namesake}, others...)

	for _, tc := range []struct {
		name, except string
		tenant       int64
	}{
		{"an unknown session", sessions.NewSessionID(), a},
		{"an expired session", expired.ID, a},
		{"a revoked session", revoked.ID, a},
		{"another user's session", bobs.ID, a},
		{"a session of another tenant", namesake.ID, a},
	} {
		n, err := st.RevokeUserSessions(ctx, tc.tenant, "alice", now, by, tc.except)
		wantCode(t, "RevokeUserSessions(except "+tc.name+")", err, sessions.ENOTFOUND)
		if n != 0 {
			t.Errorf("RevokeUserSessions(except %s): got %d, want 0", tc.name, n)
		}
		for _, s := range all {
			checkSession(t, "SessionByKey after RevokeUserSessions(except "+tc.name+")", getByKey(t, st, s), s)
		}
	}
	// An unknown user is not found, whatever the exception.
	_, err := st.RevokeUserSessions(ctx, a, "nobody", now, by, keep.ID)
	wantCode(t, "RevokeUserSessions(unknown user, except)", err, sessions.ENOTFOUND)

	n, err := st.RevokeUserSessions(ctx, a, "alice", now, by, keep.ID)
	if err != nil || n != len(others) {
		t.Fatalf("RevokeUserSessions(except the kept session): got %d, %v; want %d, nil", n, err, len(others))
	}
	for _, s := range others {
		s.RevokedAt, s.EndReason, s.EndedBy = now, sessions.ReasonRevokedAll, by
	}
	for _, s := range all {
		checkSession(t, "SessionByKey after RevokeUserSessions(except the kept session)", getByKey(t, st, s), s)
	}
	got, total := list(t, st, a, "alice", "", now)
	checkSessions(t, "ListSessions after signing out everywhere else", got, []*sessions.Session{keep})
	if total != 1 {
		t.Errorf("ListSessions after signing out everywhere else: got total %d, want 1", total)
	}
	// Again: the kept session is the only one left, and stays.
	if n, err := st.RevokeUserSessions(ctx, a, "alice", now+1, by, keep.ID); err != nil || n != 0 {
		t.Errorf("RevokeUserSessions(except the last session) again: got %d, %v; want 0, nil", n, err)
	}
	checkSession(t, "the kept session", getByKey(t, st, keep), keep)
}

// bulkFixture stores sessions of two new tenants (named with suffix) that
// differ in every field a BulkFilter looks at, and returns the first
// tenant's ID, its active sessions and the other tenant's session, which
// every filter would match.
func bulkFixture(t *testing.T, st sessions.Store, now int64, suffix string) (int64, []*sessions.Session, *sessions.Session) {
	t.Helper()
	a := tenant(t, st, "acme"+suffix)
	b := tenant(t, st, "globex"+suffix)
	var ss []*sessions.Session
	for i := range 24 {
		s := newSession(a, []string{"alice", "bob", "carol"}[i%3])
		s.ClientIDs = [][]string{{"web"}, {"mobile", "web"}, {"mobile"}, {"cli"}}[i%4]
		if i%2 == 0 {
			s.LastMetadata = fullMetadata() // United States of America
		} else if i%4 == 1 {
			s.LastMetadata.Country = ptr("France")
		}
		s.InitiatedAt = t0 + int64(i%5)*10
		s.LastUpdated = now - int64(i%6)*100
		s.ExpiresAt = now + day
		ss = append(ss, s)
	}
	create(t, st, ss...)
	// Ended sessions match no filter.
	expired := newSession(a, "alice")
	expired.ExpiresAt = now
	revoked := newSession(a, "alice")
	create(t, st, expired, revoked)
	revoke(t, st, revoked, now-1)
	// Another tenant's session matches every filter.
	namesake := newSession(b, "alice")
	namesake.ClientIDs = []string{"web", "mobile", "cli"}
	namesake.LastMetadata = fullMetadata()
	namesake.InitiatedAt, namesake.LastUpdated = t0-1000, t0-1000
	namesake.ExpiresAt = now + day
	create(t, st, namesake)
	return a, ss, namesake
}

// matches reports whether s matches f at now, as the stores must decide.
func matches(s *sessions.Session, f sessions.BulkFilter, now int64) bool {
	return (f.UserID == "" || s.UserID == f.UserID) &&
		(f.ClientID == "" || s.HasClient(f.ClientID)) &&
		(f.Country == "" || s.LastMetadata.Country != nil && *s.LastMetadata.Country == f.Country) &&
		(f.IdleLongerThan == 0 || now-s.LastUpdated > f.IdleLongerThan) &&
		(f.StartedBefore == 0 || s.InitiatedAt < f.StartedBefore) &&
		(f.After == "" || s.ID > f.After)
}

// bulkFilters are filters that each select a different part of
// bulkFixture's sessions.
func bulkFilters(now int64) []sessions.BulkFilter {
	return []sessions.BulkFilter{
		{UserID: "alice"},
		{ClientID: "mobile"},
		{Country: "France"},
		{Country: "United States of America", ClientID: "web"},
		{Country: "Nowhere"},
		{IdleLongerThan: 200},
		{IdleLongerThan: 100}, // exactly 100 s idle is not longer than 100
		{StartedBefore: t0 + 20},
		{UserID: "bob", ClientID: "web", IdleLongerThan: 1, StartedBefore: t0 + 40},
		{UserID: "nobody"},
		{},
	}
}

// testCountMatching checks the dry run of a bulk revocation: the count and
// the sample, in session ID order, of each filter, and that it revokes
// nothing.
func testCountMatching(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	now := t0 + 1000
	a, ss, namesake := bulkFixture(t, st, now, "")
	byID := slices.Clone(ss)
	slices.SortFunc(byID, byField(sessions.SortSessionID, false))
	filters := bulkFilters(now)
	filters = append(filters, sessions.BulkFilter{After: byID[10].ID}, sessions.BulkFilter{ClientID: "web", After: byID[5].ID})
	for _, f := range filters {
		var want []*sessions.Session
		for _, s := range byID {
			if matches(s, f, now) {
				want = append(want, s)
			}
		}
		for _, size := range []int{0, 1, 3, 100} {
			what := fmt.Sprintf("CountMatching(%+v, sample %d)", f, size)
			n, sample, err := st.CountMatching(ctx, a, f, now, size)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if n != len(want) {
				t.Errorf("%s: got count %d, want %d", what, n, len(want))
			}
			if sample == nil {
				t.Errorf("%s: got a nil sample, want a slice", what)
			}
			checkSessions(t, what, sample, want[:min(size, len(want))])
		}
	}
	for _, s := range append(ss, namesake) {
		checkSession(t, "SessionByKey after the dry runs", getByKey(t, st, s), s)
	}
}

// testRevokeMatching checks the batches of a bulk revocation: each takes
// at most limit matching sessions in session ID order, records the reason
// and key, and hands back where the next one starts; other sessions and
// tenants are untouched. Each filter gets tenants of its own.
func testRevokeMatching(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	now := t0 + 1000
	if _, _, err := st.RevokeMatching(ctx, 1, sessions.BulkFilter{UserID: "alice"}, now, by, 0); sessions.ErrorCode(err) != sessions.EINVALID {
		t.Errorf("RevokeMatching(limit 0): got %v, want EINVALID", err)
	}
	const limit = 3
	for i, f := range bulkFilters(now) {
		what := fmt.Sprintf("RevokeMatching(%+v)", f)
		a, ss, namesake := bulkFixture(t, st, now, fmt.Sprint(i))
		byID := slices.Clone(ss)
		slices.SortFunc(byID, byField(sessions.SortSessionID, false))
		var want []*sessions.Session
		for _, s := range byID {
			if matches(s, f, now) {
				want = append(want, s)
			}
		}
		cursor := f
		for batch := 0; ; batch++ {
			if batch > len(want)/limit+1 {
				t.Fatalf("%s: not finished after %d batches", what, batch)
			}
			n, next, err := st.RevokeMatching(ctx, a, cursor, now, by, limit)
			if err != nil {
				t.Fatalf("%s, batch %d: %v", what, batch, err)
			}
			lo := min(batch*limit, len(want))
			hi := min(lo+limit, len(want))
			if n != hi-lo {
				t.Errorf("%s, batch %d: got %d revoked, want %d", what, batch, n, hi-lo)
			}
			wantNext := ""
			if hi-lo == limit {
				wantNext = want[hi-1].ID
			}
			if next != wantNext {
				t.Errorf("%s, batch %d: got next %q, want %q", what, batch, next, wantNext)
			}
			if next == "" {
				break
			}
			cursor.After = next
		}
		for _, s := range ss {
			if matches(s, f, now) {
				s.RevokedAt, s.EndReason, s.EndedBy = now, sessions.ReasonBulkRevoked, by
			}
			checkSession(t, what+": SessionByKey", getByKey(t, st, s), s)
		}
		checkSession(t, what+": the other tenant's session", getByKey(t, st, namesake), namesake)
		// Nothing matches any more: running again revokes nothing.
		if n, next, err := st.RevokeMatching(ctx, a, f, now, by, limit); err != nil || n != 0 || next != "" {
			t.Errorf("%s again: got %d, %q, %v; want 0, \"\", nil", what, n, next, err)
		}
		if n, _, err := st.CountMatching(ctx, a, f, now, 10); err != nil || n != 0 {
			t.Errorf("CountMatching after %s: got %d, %v; want 0, nil", what, n, err)
		}
	}
}
