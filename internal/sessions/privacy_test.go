package sessions_test

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// setPrivacy sets the env's tenant's privacy settings through the service.
func (e *env) setPrivacy(t *testing.T, p sessions.Privacy) {
	t.Helper()
	if err := e.svc.SetTenantPrivacy(t.Context(), "acme", p); err != nil {
		t.Fatalf("SetTenantPrivacy(%+v): %v", p, err)
	}
}

func deref(p *string) string {
	if p == nil {
		return "nil"
	}
	return *p
}

func TestPrivacyMask(t *testing.T) {
	on := sessions.Privacy{IPTruncation: true}
	for _, tc := range []struct {
		in        string
		off, trun string
	}{
		{"192.0.2.77", "192.0.2.77", "192.0.2.0"},
		{"10.1.2.255", "10.1.2.255", "10.1.2.0"},
		{"::ffff:192.0.2.77", "192.0.2.77", "192.0.2.0"},
		{"2001:db8:1:2:3::4", "2001:db8:1:2:3::4", "2001:db8:1::"},
		{"2001:db8:ffff:ffff::1", "2001:db8:ffff:ffff::1", "2001:db8:ffff::"},
		{"::1", "::1", "::"},
	} {
		ip := netip.MustParseAddr(tc.in)
		if got := (sessions.Privacy{}).Mask(ip).String(); got != tc.off {
			t.Errorf("Mask(%s) without truncation: got %s, want %s", tc.in, got, tc.off)
		}
		if got := on.Mask(ip).String(); got != tc.trun {
			t.Errorf("Mask(%s) with truncation: got %s, want %s", tc.in, got, tc.trun)
		}
	}
	if got := on.Mask(netip.Addr{}); got.IsValid() {
		t.Errorf("Mask of no address: got %s, want none", got)
	}
}

func TestPrivacyValidate(t *testing.T) {
	for _, tc := range []struct {
		p    sessions.Privacy
		code string
	}{
		{sessions.Privacy{}, ""},
		{sessions.Privacy{IPTruncation: true, Location: "country", DropEndedMetadataAfter: 720 * time.Hour}, ""},
		{sessions.Privacy{Location: "city"}, ""},
		{sessions.Privacy{Location: "street"}, sessions.EINVALID},
		{sessions.Privacy{DropEndedMetadataAfter: -time.Hour}, sessions.EINVALID},
		{sessions.Privacy{DropEndedMetadataAfter: 1500 * time.Millisecond}, sessions.EINVALID},
	} {
		if got := sessions.ErrorCode(tc.p.Validate()); got != tc.code {
			t.Errorf("Validate(%+v): got code %q, want %q", tc.p, got, tc.code)
		}
	}
}

func TestIPTruncation(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		e.setPrivacy(t, sessions.Privacy{IPTruncation: true})
		for _, tc := range []struct {
			ip, stored string
		}{
			{"192.0.2.77", "192.0.2.0"},
			{"::ffff:192.0.2.77", "192.0.2.0"},
			{"2001:db8:1:2:3::4", "2001:db8:1::"},
		} {
			s, _ := e.start(t, sessions.Activity{ClientID: "web", IPAddress: tc.ip})
			// Located by the truncated address.
			loc := locator{}.Locate(netip.MustParseAddr(tc.stored))
			if got := deref(s.LastMetadata.IPAddress); got != tc.stored {
				t.Errorf("started from %s: got IP %s, want %s", tc.ip, got, tc.stored)
			}
			if !reflect.DeepEqual(s.LastMetadata.Location, loc) {
				t.Errorf("started from %s: got city %s, want %s", tc.ip, deref(s.LastMetadata.City), deref(loc.City))
			}
			want := &sessions.ActivityEntry{At: e.svc.Now(), ClientID: "web", IPAddress: ptr(tc.stored), Location: loc, NewCountry: true}
			if got := e.trail(t, s); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Errorf("trail after starting from %s: got %d entries; want exactly %s", tc.ip, len(got), showEntry(want))
			}
		}
	})
}

func TestIPTruncationSameNetworkIsNoChange(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		e.setPrivacy(t, sessions.Privacy{IPTruncation: true})
		s, token := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.1"})
		e.clock.advance(2 * time.Minute) // past the touch interval: written
		got := e.validate(t, token, sessions.Activity{IPAddress: "192.0.2.200"})
		if ip := deref(got.LastMetadata.IPAddress); ip != "192.0.2.0" {
			t.Errorf("after a validation from the same /24: got IP %s, want 192.0.2.0", ip)
		}
		if n := len(e.trail(t, s)); n != 1 {
			t.Errorf("after a validation from the same /24: got %d entries, want 1", n)
		}
		e.clock.advance(time.Minute)
		got = e.validate(t, token, sessions.Activity{IPAddress: "198.51.100.9"})
		trail := e.trail(t, s)
		if ip := deref(got.LastMetadata.IPAddress); ip != "198.51.100.0" || len(trail) != 2 || deref(trail[0].IPAddress) != "198.51.100.0" {
			t.Errorf("after a validation from another /24: got IP %s and %d entries, want 198.51.100.0 and 2", ip, len(trail))
		}
	})
}

func TestCountryOnlyLocation(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		e.setPrivacy(t, sessions.Privacy{Location: sessions.LocationCountry})
		s, token := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.1"})
		france := sessions.Location{Country: ptr("France"), Region: ptr("Europe")}
		if !reflect.DeepEqual(s.LastMetadata.Location, france) || deref(s.LastMetadata.IPAddress) != "192.0.2.1" {
			t.Errorf("started: got IP %s, location %+v; want 192.0.2.1 and only France, Europe",
				deref(s.LastMetadata.IPAddress), s.LastMetadata.Location)
		}
		// Paris to Tokyo in a minute: a new country, but without
		// coordinates travel is never judged impossible.
		e.clock.advance(time.Minute)
		got := e.validate(t, token, sessions.Activity{IPAddress: "203.0.113.1"})
		japan := sessions.Location{Country: ptr("Japan"), Region: ptr("Asia")}
		if !reflect.DeepEqual(got.LastMetadata.Location, japan) {
			t.Errorf("validated from Tokyo: got location %+v, want only Japan, Asia", got.LastMetadata.Location)
		}
		trail := e.trail(t, s)
		if f := flags(trail); !reflect.DeepEqual(f, []string{"N", "N"}) {
			t.Errorf("flags: got %q, want [N N]", f)
		}
		for _, en := range trail {
			if en.City != nil || en.Latitude != nil || en.Longitude != nil || en.Country == nil || en.Region == nil {
				t.Errorf("trail entry %s: want a country and region and nothing finer", showEntry(en))
			}
		}
		stored, err := e.store.SessionByKey(t.Context(), e.tenant, s.Key)
		if err != nil {
			t.Fatal(err)
		}
		if stored.LastLocated != nil || stored.LastMetadata.City != nil || stored.LastMetadata.Latitude != nil {
			t.Errorf("stored session: got last located %+v, city %s; want none", stored.LastLocated, deref(stored.LastMetadata.City))
		}
	})
}

// TestPrivacyCache checks that a setting changed by another node (here,
// straight in the store) applies once the cached one is PrivacyCacheTTL
// old, and one changed through the service at once.
func TestPrivacyCache(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		startIP := func() string {
			t.Helper()
			s, _ := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.77"})
			return deref(s.LastMetadata.IPAddress)
		}
		if got := startIP(); got != "192.0.2.77" {
			t.Fatalf("with the defaults: got IP %s, want 192.0.2.77", got)
		}
		if err := e.store.SetTenantPrivacy(t.Context(), "acme", sessions.Privacy{IPTruncation: true}); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(sessions.PrivacyCacheTTL - time.Second)
		if got := startIP(); got != "192.0.2.77" {
			t.Errorf("before the cache runs out: got IP %s, want 192.0.2.77", got)
		}
		e.clock.advance(time.Second)
		if got := startIP(); got != "192.0.2.0" {
			t.Errorf("once the cache ran out: got IP %s, want 192.0.2.0", got)
		}
		e.setPrivacy(t, sessions.Privacy{})
		if got := startIP(); got != "192.0.2.77" {
			t.Errorf("right after SetTenantPrivacy: got IP %s, want 192.0.2.77", got)
		}
		p, err := e.svc.TenantPrivacy(t.Context(), "acme")
		if want := (sessions.Privacy{Location: sessions.LocationCity}); err != nil || p != want {
			t.Errorf("TenantPrivacy = %+v, %v; want %+v, nil", p, err, want)
		}
		_, err = e.svc.TenantPrivacy(t.Context(), "nobody")
		if got := sessions.ErrorCode(err); got != sessions.ENOTFOUND {
			t.Errorf("TenantPrivacy of an unknown tenant: got code %q, want ENOTFOUND", got)
		}
		err = e.svc.SetTenantPrivacy(t.Context(), "acme", sessions.Privacy{Location: "street"})
		if got := sessions.ErrorCode(err); got != sessions.EINVALID {
			t.Errorf("SetTenantPrivacy with an unknown location: got code %q, want EINVALID", got)
		}
	})
}
