package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// The privacy settings part of the suite.

func testPrivacySettings(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	acme := tenant(t, st, "acme")
	other := tenant(t, st, "other")

	if id, err := st.TenantID(ctx, "acme"); err != nil || id != acme {
		t.Errorf(`TenantID("acme") = %d, %v; want %d, nil`, id, err, acme)
	}
	_, err := st.TenantID(ctx, "nobody")
	wantCode(t, "TenantID of an unknown tenant", err, sessions.ENOTFOUND)
	_, err = st.TenantPrivacy(ctx, acme+other+100)
	wantCode(t, "TenantPrivacy of an unknown tenant", err, sessions.ENOTFOUND)
	err = st.SetTenantPrivacy(ctx, "nobody", sessions.Privacy{IPTruncation: true})
	wantCode(t, "SetTenantPrivacy of an unknown tenant", err, sessions.ENOTFOUND)

	// A new tenant has the defaults: what sessiond did before settings.
	def := sessions.Privacy{Location: sessions.LocationCity}
	if got, err := st.TenantPrivacy(ctx, acme); err != nil || got != def {
		t.Errorf("TenantPrivacy of a new tenant = %+v, %v; want %+v, nil", got, err, def)
	}
	for _, p := range []sessions.Privacy{
		{IPTruncation: true, Location: sessions.LocationCountry, DropEndedMetadataAfter: 30 * 24 * time.Hour},
		{IPTruncation: false, Location: sessions.LocationCountry, DropEndedMetadataAfter: time.Second},
		{IPTruncation: true, Location: sessions.LocationCity},
		def,
	} {
		if err := st.SetTenantPrivacy(ctx, "acme", p); err != nil {
			t.Fatalf("SetTenantPrivacy(%+v): %v", p, err)
		}
		if got, err := st.TenantPrivacy(ctx, acme); err != nil || got != p {
			t.Errorf("TenantPrivacy after setting %+v = %+v, %v", p, got, err)
		}
		if got, err := st.TenantPrivacy(ctx, other); err != nil || got != def {
			t.Errorf("the other tenant's privacy after setting acme's to %+v = %+v, %v; want %+v", p, got, err, def)
		}
	}
	// "" is stored as the default it stands for.
	if err := st.SetTenantPrivacy(ctx, "acme", sessions.Privacy{IPTruncation: true}); err != nil {
		t.Fatal(err)
	}
	want := sessions.Privacy{IPTruncation: true, Location: sessions.LocationCity}
	if got, err := st.TenantPrivacy(ctx, acme); err != nil || got != want {
		t.Errorf("TenantPrivacy after setting no location = %+v, %v; want %+v", got, err, want)
	}
}

// located returns a session of the user with every metadata field set,
// a country seen, a last fix and a two-entry trail, expiring at expires.
func located(t *testing.T, st sessions.Store, tenantID int64, userID string, expires int64) *sessions.Session {
	t.Helper()
	s := newSession(tenantID, userID)
	s.ExpiresAt = expires
	s.LastMetadata = fullMetadata()
	s.Countries = []string{"United States of America"}
	s.LastLocated = &sessions.Fix{At: t0, Latitude: 34.043238, Longitude: -118.250918}
	if err := st.CreateSession(t.Context(), s, fullEntry(t0, "app")); err != nil {
		t.Fatalf("CreateSession(%s): %v", s.ID, err)
	}
	appendEntry(t, st, s, fullEntry(t0+60, "app"), trailKeep)
	s.LastUpdated = t0 + 60
	return s
}

// byKey reads s back whatever its state.
func byKey(t *testing.T, st sessions.Store, s *sessions.Session) *sessions.Session {
	t.Helper()
	got, err := st.SessionByKey(t.Context(), s.TenantID, s.Key)
	if err != nil {
		t.Fatalf("SessionByKey(%s): %v", s.ID, err)
	}
	return got
}

func testScrubEndedMetadata(t *testing.T, st sessions.Store) {
	ctx := t.Context()
	priv := tenant(t, st, "private")
	pub := tenant(t, st, "public")
	slow := tenant(t, st, "slow")
	if err := st.SetTenantPrivacy(ctx, "private", sessions.Privacy{DropEndedMetadataAfter: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTenantPrivacy(ctx, "slow", sessions.Privacy{DropEndedMetadataAfter: 3 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	now := t0 + 2*day + 7200 // the private tenant's cut-off: t0 + day + 7200

	revokedOld := located(t, st, priv, "u", t0+10*day)
	revoke(t, st, revokedOld, t0+3600)
	expiredOld := located(t, st, priv, "u", t0+day)
	active := located(t, st, priv, "u", t0+10*day)
	revokedLate := located(t, st, priv, "u", t0+10*day)
	revoke(t, st, revokedLate, t0+day+7200) // on the cut-off: not before it
	publicOld := located(t, st, pub, "u", t0+10*day)
	revoke(t, st, publicOld, t0+3600)
	slowOld := located(t, st, slow, "u", t0+10*day)
	revoke(t, st, slowOld, t0+3600)
	kept := []*sessions.Session{active, revokedLate, publicOld, slowOld}
	before := map[string]*sessions.Session{}
	for _, s := range append([]*sessions.Session{revokedOld, expiredOld}, kept...) {
		before[s.ID] = byKey(t, st, s)
	}
	trailBefore, _ := trail(t, st, expiredOld, t0)
	activeTrail, _ := trail(t, st, active, t0)

	// The expired session waits for its expiry to be recorded.
	if n, err := st.ScrubEndedMetadata(ctx, now, 10); err != nil || n != 1 {
		t.Fatalf("ScrubEndedMetadata before the expiry is recorded = %d, %v; want 1, nil", n, err)
	}
	emitExpired(t, st, now)
	// Batches: one at a time, then none left.
	for i, want := range []int{1, 0} {
		if n, err := st.ScrubEndedMetadata(ctx, now, 1); err != nil || n != want {
			t.Fatalf("ScrubEndedMetadata batch %d = %d, %v; want %d, nil", i, n, err, want)
		}
	}
	wantCode(t, "ScrubEndedMetadata with limit 0", func() error {
		n, err := st.ScrubEndedMetadata(ctx, now, 0)
		if n != 0 {
			t.Errorf("ScrubEndedMetadata with limit 0 = %d, want 0", n)
		}
		return err
	}(), "")

	for _, s := range []*sessions.Session{revokedOld, expiredOld} {
		want := *before[s.ID]
		want.LastMetadata = sessions.Metadata{}
		want.Countries, want.LastLocated = nil, nil
		if got := byKey(t, st, s); !reflect.DeepEqual(got, &want) {
			t.Errorf("scrubbed session:\ngot  %s\nwant %s", show(got), show(&want))
		}
	}
	for _, s := range kept {
		if got := byKey(t, st, s); !reflect.DeepEqual(got, before[s.ID]) {
			t.Errorf("session that keeps its metadata:\ngot  %s\nwant %s", show(got), show(before[s.ID]))
		}
	}

	// The trail keeps its times, clients and flags, and loses the rest
	// (read at t0, when the expired session was still active).
	var want []*sessions.ActivityEntry
	for _, e := range trailBefore {
		want = append(want, &sessions.ActivityEntry{At: e.At, ClientID: e.ClientID, NewCountry: e.NewCountry, ImpossibleTravel: e.ImpossibleTravel})
	}
	got, _ := trail(t, st, expiredOld, t0)
	checkEntries(t, "trail of a scrubbed session", got, want)
	got, _ = trail(t, st, active, t0)
	checkEntries(t, "trail of an active session", got, activeTrail)

	// Later, the sessions that ended later have their turn.
	if n, err := st.ScrubEndedMetadata(ctx, t0+4*day, 10); err != nil || n != 2 {
		t.Errorf("ScrubEndedMetadata four days in = %d, %v; want 2 (the late one and the slow tenant's), nil", n, err)
	}
	if got := byKey(t, st, publicOld); !reflect.DeepEqual(got, before[publicOld.ID]) {
		t.Errorf("session of a tenant without the setting:\ngot  %s\nwant %s", show(got), show(before[publicOld.ID]))
	}
}
