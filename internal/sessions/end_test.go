package sessions_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

func TestEndOf(t *testing.T) {
	sliding := sessions.Config{Expiration: sessions.Sliding, SlidingLifetime: time.Hour, AbsoluteLifetime: 3 * time.Hour}
	absolute := sliding
	absolute.Expiration = sessions.Absolute
	const t0 = 1_700_000_000
	for _, tc := range []struct {
		name       string
		cfg        sessions.Config
		s          sessions.Session
		wantAt     int64
		wantReason sessions.EndReason
	}{
		{"signed out", sliding, sessions.Session{InitiatedAt: t0, ExpiresAt: t0 + 3600, RevokedAt: t0 + 5, EndReason: sessions.ReasonSignedOut}, t0 + 5, sessions.ReasonSignedOut},
		{"revoked at the cap's second", sliding, sessions.Session{InitiatedAt: t0, ExpiresAt: t0 + 3*3600, RevokedAt: t0 + 9, EndReason: sessions.ReasonBulkRevoked}, t0 + 9, sessions.ReasonBulkRevoked},
		{"revoked without a stored reason", sliding, sessions.Session{InitiatedAt: t0, ExpiresAt: t0 + 3600, RevokedAt: t0 + 5}, t0 + 5, sessions.ReasonRevoked},
		{"idle", sliding, sessions.Session{InitiatedAt: t0, ExpiresAt: t0 + 3600, LastUpdated: t0}, t0 + 3600, sessions.ReasonExpiredIdle},
		{"idle after activity", sliding, sessions.Session{InitiatedAt: t0, ExpiresAt: t0 + 3*3600 - 1, LastUpdated: t0 + 2*3600 - 1}, t0 + 3*3600 - 1, sessions.ReasonExpiredIdle},
		{"at the absolute cap", sliding, sessions.Session{InitiatedAt: t0, ExpiresAt: t0 + 3*3600, LastUpdated: t0 + 2*3600 + 60}, t0 + 3*3600, sessions.ReasonExpiredAbsolute},
		{"past a cap since shortened", sliding, sessions.Session{InitiatedAt: t0, ExpiresAt: t0 + 4*3600}, t0 + 4*3600, sessions.ReasonExpiredAbsolute},
		{"absolute expiry", absolute, sessions.Session{InitiatedAt: t0, ExpiresAt: t0 + 3*3600}, t0 + 3*3600, sessions.ReasonExpiredAbsolute},
	} {
		at, reason := tc.cfg.EndOf(&tc.s)
		if at != tc.wantAt || reason != tc.wantReason {
			t.Errorf("%s: got %d, %s; want %d, %s", tc.name, at, reason, tc.wantAt, tc.wantReason)
		}
	}
}

func TestBulkFilterCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    sessions.BulkFilter
		want []string // fields with problems
	}{
		{"empty", sessions.BulkFilter{}, []string{"filter"}},
		{"only a cursor", sessions.BulkFilter{After: sessions.NewSessionID()}, []string{"filter"}},
		{"a user", sessions.BulkFilter{UserID: "alice"}, nil},
		{"every member", sessions.BulkFilter{UserID: "a", ClientID: "b", Country: "France", IdleLongerThan: 1, StartedBefore: 1}, nil},
		{"bad members", sessions.BulkFilter{UserID: "-", ClientID: "a b", Country: "x\x00", IdleLongerThan: -1, StartedBefore: -1, After: "z"},
			[]string{"after", "filter.client_id", "filter.country", "filter.idle_longer_than", "filter.started_before", "filter.user_id"}},
		{"invalid UTF-8", sessions.BulkFilter{Country: "\xff"}, []string{"filter.country"}},
	} {
		err := tc.f.Check()
		var got []string
		if e, ok := err.(*sessions.Error); ok {
			for k := range e.Fields {
				got = append(got, k)
			}
		} else if err != nil {
			t.Fatalf("%s: got %v, want an *Error", tc.name, err)
		}
		if !sameSet(got, tc.want) {
			t.Errorf("%s: got problems with %v, want %v", tc.name, got, tc.want)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// TestRevokeMatchingBatches revokes more sessions than two batches hold
// and checks that every one ends, as bulk_revoked, and that the preview
// and the revocation refuse an empty filter.
func TestRevokeMatchingBatches(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		ctx := t.Context()
		now := e.svc.Now()
		n := 2*sessions.RevokeBatch + 7
		for i := range n {
			s := &sessions.Session{
				TenantID: e.tenant, UserID: "alice", ID: sessions.NewSessionID(),
				Key:       sessions.SessionKey(sessions.NewToken()),
				ClientIDs: []string{"legacy"}, InitiatedAt: now - int64(i), ExpiresAt: now + 3600, LastUpdated: now - int64(i),
			}
			if err := e.store.CreateSession(ctx, s, nil); err != nil {
				t.Fatal(err)
			}
		}
		keep, _ := e.start(t, sessions.Activity{ClientID: "web"})
		f := sessions.BulkFilter{UserID: "alice", ClientID: "legacy"}

		for _, size := range []int{-1, sessions.MaxSampleSize + 1} {
			if _, _, err := e.svc.PreviewRevokeMatching(ctx, e.tenant, f, size); sessions.ErrorCode(err) != sessions.EINVALID {
				t.Errorf("PreviewRevokeMatching(sample %d): got %v, want EINVALID", size, err)
			}
		}
		if _, _, err := e.svc.PreviewRevokeMatching(ctx, e.tenant, sessions.BulkFilter{}, 10); sessions.ErrorCode(err) != sessions.EINVALID {
			t.Errorf("PreviewRevokeMatching(empty filter): got %v, want EINVALID", err)
		}
		if _, err := e.svc.RevokeMatching(ctx, e.tenant, sessions.BulkFilter{}, "key_1"); sessions.ErrorCode(err) != sessions.EINVALID {
			t.Errorf("RevokeMatching(empty filter): got %v, want EINVALID", err)
		}
		if count, sample, err := e.svc.PreviewRevokeMatching(ctx, e.tenant, f, 5); err != nil || count != n || len(sample) != 5 {
			t.Fatalf("PreviewRevokeMatching: got %d, %d in the sample, %v; want %d, 5", count, len(sample), err, n)
		}
		got, err := e.svc.RevokeMatching(ctx, e.tenant, f, "key_1")
		if err != nil || got != n {
			t.Fatalf("RevokeMatching: got %d, %v; want %d", got, err, n)
		}
		list, total, err := e.svc.List(ctx, sessions.ListQuery{TenantID: e.tenant, UserID: "alice", Status: sessions.StatusEnded,
			Sort: sessions.SortInitiatedAt, Page: 1, Size: 100})
		if err != nil || total != n {
			t.Fatalf("List(ended): got total %d, %v; want %d", total, err, n)
		}
		for _, s := range list {
			if s.EndReason != sessions.ReasonBulkRevoked || s.EndedBy != "key_1" || s.RevokedAt != now {
				t.Errorf("session %s: got reason %q by %q at %d; want bulk_revoked by key_1 at %d", s.ID, s.EndReason, s.EndedBy, s.RevokedAt, now)
			}
		}
		if _, total, _ := e.svc.List(ctx, sessions.ListQuery{TenantID: e.tenant, UserID: "alice", Sort: sessions.SortInitiatedAt, Page: 1, Size: 10}); total != 1 {
			t.Errorf("active sessions after the revocation: got %d, want 1 (%s)", total, keep.ID)
		}
		if got, err := e.svc.RevokeMatching(ctx, e.tenant, f, "key_1"); err != nil || got != 0 {
			t.Errorf("RevokeMatching again: got %d, %v; want 0", got, err)
		}
	})
}
