package sessions_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// t0 is the fake clock's start, in Unix seconds.
const t0 = 1_700_000_000

// clock is a fake clock that moves only when told.
type clock struct{ now atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.now.Store(t0)
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(c.now.Load(), 0) }
func (c *clock) advance(d time.Duration) { c.now.Add(int64(d / time.Second)) }

func ptr(s string) *string { return &s }

// place is a located address of the fake GeoIP database.
type place struct {
	country, city, region, lat, lon string
}

// The fake GeoIP database: documentation addresses placed in a few cities.
// Any other address is unknown, as a private one is to a real database.
var places = map[string]place{
	"192.0.2.1":    {"France", "Paris", "Europe", "48.856613", "2.352222"},
	"192.0.2.2":    {"France", "Paris", "Europe", "48.856613", "2.352222"},
	"192.0.2.50":   {"France", "50 km north of Paris", "Europe", "49.306273", "2.352222"},
	"192.0.2.69":   {"France", "Lyon", "Europe", "45.764043", "4.835659"},
	"198.51.100.1": {"United States of America", "New York", "North America", "40.712776", "-74.005974"},
	"198.51.100.2": {"United States of America", "New York", "North America", "40.712776", "-74.005974"},
	"203.0.113.1":  {"Japan", "Tokyo", "Asia", "35.676192", "139.650311"},
	"203.0.113.99": {"Nowhere", "", "", "", ""}, // a country but no coordinates
	// Truncated networks, as a real database places them: where their
	// addresses are.
	"192.0.2.0":    {"France", "Paris", "Europe", "48.856613", "2.352222"},
	"2001:db8:1::": {"Japan", "Tokyo", "Asia", "35.676192", "139.650311"},
}

// locator is a fake of the GeoIP locator over places.
type locator struct{}

func (locator) Locate(ip netip.Addr) sessions.Location {
	p, ok := places[ip.String()]
	if !ok {
		return sessions.Location{}
	}
	loc := sessions.Location{Country: ptr(p.country)}
	for _, f := range []struct {
		dst **string
		v   string
	}{{&loc.City, p.city}, {&loc.Region, p.region}, {&loc.Latitude, p.lat}, {&loc.Longitude, p.lon}} {
		if f.v != "" {
			*f.dst = ptr(f.v)
		}
	}
	return loc
}

// stores are the stores the service is tested on.
var stores = []struct {
	name string
	open func(t *testing.T) sessions.Store
}{
	{"sqlite", func(t *testing.T) sessions.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T) sessions.Store { return pgtest.Open(t) }},
}

// env is a service on a fresh store, with a fake clock and GeoIP, and a
// tenant to work in.
type env struct {
	svc    *sessions.Service
	store  sessions.Store
	clock  *clock
	tenant int64
}

// forEachStore runs fn as a subtest on each store, with a service of cfg.
func forEachStore(t *testing.T, cfg sessions.Config, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			c := newClock()
			svc := sessions.NewService(st, cfg, c.Now, locator{})
			k, _, err := svc.CreateAPIKey(t.Context(), "acme", "test", sessions.Scopes)
			if err != nil {
				t.Fatalf("CreateAPIKey: %v", err)
			}
			fn(t, &env{svc: svc, store: st, clock: c, tenant: k.TenantID})
		})
	}
}

// start starts a session of alice with activity a.
func (e *env) start(t *testing.T, a sessions.Activity) (*sessions.Session, string) {
	t.Helper()
	s, token, err := e.svc.Start(t.Context(), e.tenant, "alice", a)
	if err != nil {
		t.Fatalf("Start(%+v): %v", a, err)
	}
	return s, token
}

// validate validates token with activity a, failing the test on error.
func (e *env) validate(t *testing.T, token string, a sessions.Activity) *sessions.Session {
	t.Helper()
	s, err := e.svc.Validate(t.Context(), e.tenant, token, a)
	if err != nil {
		t.Fatalf("Validate(%+v): %v", a, err)
	}
	return s
}

// trail returns the whole trail of s, newest first.
func (e *env) trail(t *testing.T, s *sessions.Session) []*sessions.ActivityEntry {
	t.Helper()
	got, total, err := e.svc.Activity(t.Context(), e.tenant, s.UserID, s.ID, 1, sessions.MaxPageSize)
	if err != nil {
		t.Fatalf("Activity(%s): %v", s.ID, err)
	}
	if total != len(got) {
		t.Errorf("Activity(%s): got %d entries of total %d, want all", s.ID, len(got), total)
	}
	return got
}

// flags returns the trail's flags, oldest first, as "NI" strings: N for
// new country, I for impossible travel, "-" for neither.
func flags(trail []*sessions.ActivityEntry) []string {
	var out []string
	for i := len(trail) - 1; i >= 0; i-- {
		f := ""
		if trail[i].NewCountry {
			f += "N"
		}
		if trail[i].ImpossibleTravel {
			f += "I"
		}
		if f == "" {
			f = "-"
		}
		out = append(out, f)
	}
	return out
}

func showEntry(e *sessions.ActivityEntry) string {
	s := func(p *string) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", *p)
	}
	return fmt.Sprintf("{at:t0%+d client:%q ip:%s ua:%s country:%s city:%s lat:%s lon:%s new:%v impossible:%v}",
		e.At-t0, e.ClientID, s(e.IPAddress), s(e.UserAgent), s(e.Country), s(e.City), s(e.Latitude), s(e.Longitude),
		e.NewCountry, e.ImpossibleTravel)
}

func TestStartRecordsFirstEntry(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		s, _ := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.1", UserAgent: "Firefox"})
		paris := locator{}.Locate(netip.MustParseAddr("192.0.2.1"))
		want := &sessions.ActivityEntry{At: t0, ClientID: "web", IPAddress: ptr("192.0.2.1"), UserAgent: ptr("Firefox"),
			Location: paris, NewCountry: true}
		got := e.trail(t, s)
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("trail after Start: got %d entries, first %v; want exactly %s", len(got), got, showEntry(want))
		}
		// FirstEntry, for sessions made without Start, agrees.
		cp := *s
		if fe := sessions.FirstEntry(&cp); !reflect.DeepEqual(fe, want) {
			t.Errorf("FirstEntry of the started session: got %s, want %s", showEntry(fe), showEntry(want))
		}
		stored, err := e.store.SessionByKey(t.Context(), e.tenant, s.Key)
		if err != nil {
			t.Fatal(err)
		}
		wantFix := &sessions.Fix{At: t0, Latitude: 48.856613, Longitude: 2.352222}
		if !slices.Equal(stored.Countries, []string{"France"}) || !reflect.DeepEqual(stored.LastLocated, wantFix) {
			t.Errorf("stored session: got countries %q, last located %+v; want [France], %+v", stored.Countries, stored.LastLocated, wantFix)
		}

		// Unlocated: an entry all the same, with no location and no flag.
		s2, _ := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "10.0.0.1"})
		want2 := &sessions.ActivityEntry{At: t0, ClientID: "web", IPAddress: ptr("10.0.0.1")}
		if got := e.trail(t, s2); len(got) != 1 || !reflect.DeepEqual(got[0], want2) {
			t.Errorf("trail of an unlocated start: got %d entries; want exactly %s", len(got), showEntry(want2))
		}
	})
}

func TestValidateAppends(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		s, token := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.1", UserAgent: "Firefox"})
		steps := []struct {
			name   string
			after  time.Duration
			a      sessions.Activity
			append *sessions.ActivityEntry // the entry appended, or nil
		}{
			{"same everything", 10 * time.Second, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.1", UserAgent: "Firefox"}, nil},
			// Past the touch interval: written, but still only a touch.
			{"a touch that is written", 2 * time.Minute, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.1", UserAgent: "Firefox"}, nil},
			{"token only", 2 * time.Minute, sessions.Activity{}, nil},
			{"IPv4-mapped form of the same IP", time.Minute, sessions.Activity{IPAddress: "::ffff:192.0.2.1"}, nil},
			{"new IP, same place", time.Minute, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.2", UserAgent: "Firefox"},
				&sessions.ActivityEntry{ClientID: "web", IPAddress: ptr("192.0.2.2"), UserAgent: ptr("Firefox")}},
			{"new user agent, IP not given", time.Minute, sessions.Activity{ClientID: "web", UserAgent: "Firefox 2"},
				&sessions.ActivityEntry{ClientID: "web", UserAgent: ptr("Firefox 2")}},
			{"new client", time.Minute, sessions.Activity{ClientID: "mobile"},
				&sessions.ActivityEntry{ClientID: "mobile"}},
			{"known client again", time.Minute, sessions.Activity{ClientID: "web"}, nil},
		}
		want := e.trail(t, s)
		for _, step := range steps {
			e.clock.advance(step.after)
			e.validate(t, token, step.a)
			if w := step.append; w != nil {
				w.At = e.svc.Now()
				if w.IPAddress != nil {
					w.Location = locator{}.Locate(netip.MustParseAddr(*w.IPAddress))
				}
				want = append([]*sessions.ActivityEntry{w}, want...)
			}
			got := e.trail(t, s)
			if len(got) != len(want) {
				t.Fatalf("%s: got %d entries, want %d", step.name, len(got), len(want))
			}
			if !reflect.DeepEqual(got[0], want[0]) {
				t.Errorf("%s: newest entry: got %s, want %s", step.name, showEntry(got[0]), showEntry(want[0]))
			}
		}
	})
}

func TestNewCountry(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		s, token := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.1"}) // Paris
		for _, ip := range []string{
			"198.51.100.1", // New York: new
			"192.0.2.69",   // Lyon: France again
			"10.0.0.1",     // unlocated
			"198.51.100.2", // New York again, another IP
			"203.0.113.1",  // Tokyo: new
			"203.0.113.99", // a country without coordinates: new
			"192.0.2.1",    // Paris again
		} {
			e.clock.advance(48 * time.Hour) // slow enough for any trip
			e.validate(t, token, sessions.Activity{IPAddress: ip})
		}
		want := []string{"N", "N", "-", "-", "-", "N", "N", "-"}
		if got := flags(e.trail(t, s)); !slices.Equal(got, want) {
			t.Errorf("flags, oldest first: got %q, want %q", got, want)
		}
	})
}

func TestImpossibleTravel(t *testing.T) {
	// Each case starts a session at the first address and then validates
	// at each step's address after its delay.
	type step struct {
		after time.Duration
		ip    string
		ua    string
	}
	tests := []struct {
		name  string
		start string
		steps []step
		want  []bool // ImpossibleTravel of each entry, oldest first
	}{
		{"Paris to New York in 1 hour", "192.0.2.1", []step{{time.Hour, "198.51.100.1", ""}}, []bool{false, true}},
		{"Paris to New York in 10 hours", "192.0.2.1", []step{{10 * time.Hour, "198.51.100.1", ""}}, []bool{false, false}},
		{"New York to Paris in 1 hour", "198.51.100.1", []step{{time.Hour, "192.0.2.1", ""}}, []bool{false, true}},
		{"Paris to New York in the same second", "192.0.2.1", []step{{0, "198.51.100.1", ""}}, []bool{false, true}},
		{"50 km in 1 minute: under the 100 km floor", "192.0.2.1", []step{{time.Minute, "192.0.2.50", ""}}, []bool{false, false}},
		{"50 km in the same second", "192.0.2.1", []step{{0, "192.0.2.50", ""}}, []bool{false, false}},
		{"Paris to Lyon (390 km) in 1 minute", "192.0.2.1", []step{{time.Minute, "192.0.2.69", ""}}, []bool{false, true}},
		{"Paris to Lyon in 1 hour", "192.0.2.1", []step{{time.Hour, "192.0.2.69", ""}}, []bool{false, false}},
		{"another IP in the same city at once", "192.0.2.1", []step{{0, "192.0.2.2", ""}}, []bool{false, false}},
		{"unlocated entries are skipped: measured from Paris at 0", "192.0.2.1",
			[]step{{30 * time.Minute, "10.0.0.1", ""}, {30 * time.Minute, "198.51.100.1", ""}}, []bool{false, false, true}},
		{"unlocated entries are skipped: 10 hours since Paris", "192.0.2.1",
			[]step{{9 * time.Hour, "10.0.0.1", ""}, {time.Hour, "198.51.100.1", ""}}, []bool{false, false, false}},
		{"a country without coordinates is skipped", "192.0.2.1",
			[]step{{9 * time.Hour, "203.0.113.99", ""}, {time.Hour, "198.51.100.1", ""}}, []bool{false, false, false}},
		{"a new user agent on the same IP is a fix at its time", "192.0.2.1",
			[]step{{9 * time.Hour, "192.0.2.1", "new browser"}, {time.Hour, "198.51.100.1", ""}}, []bool{false, false, true}},
		{"a new user agent without an IP is not a fix", "192.0.2.1",
			[]step{{9 * time.Hour, "", "new browser"}, {time.Hour, "198.51.100.1", ""}}, []bool{false, false, false}},
		{"an unlocated start, then anywhere", "10.0.0.1", []step{{time.Second, "198.51.100.1", ""}}, []bool{false, false}},
	}
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		for _, tt := range tests {
			s, token := e.start(t, sessions.Activity{ClientID: "web", IPAddress: tt.start})
			for _, st := range tt.steps {
				e.clock.advance(st.after)
				e.validate(t, token, sessions.Activity{IPAddress: st.ip, UserAgent: st.ua})
			}
			trail := e.trail(t, s)
			var got []bool
			for i := len(trail) - 1; i >= 0; i-- {
				got = append(got, trail[i].ImpossibleTravel)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: impossible travel, oldest first: got %v, want %v", tt.name, got, tt.want)
			}
		}
	})

	t.Run("configured speed", func(t *testing.T) {
		// Paris to Lyon (391 km) in an hour: too fast at 300 km/h.
		cfg := sessions.DefaultConfig()
		cfg.MaxTravelSpeed = 300
		forEachStore(t, cfg, func(t *testing.T, e *env) {
			s, token := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "192.0.2.1"})
			e.clock.advance(time.Hour)
			e.validate(t, token, sessions.Activity{IPAddress: "192.0.2.69"})
			if got := flags(e.trail(t, s)); !slices.Equal(got, []string{"N", "I"}) {
				t.Errorf("flags at 300 km/h: got %q, want [N I]", got)
			}
		})
	})
}

func TestTrailBound(t *testing.T) {
	cfg := sessions.DefaultConfig()
	cfg.TrailLimit = 3
	forEachStore(t, cfg, func(t *testing.T, e *env) {
		s, token := e.start(t, sessions.Activity{ClientID: "web", IPAddress: "10.0.0.0"})
		for i := 1; i <= 5; i++ {
			e.clock.advance(time.Minute)
			e.validate(t, token, sessions.Activity{IPAddress: fmt.Sprintf("10.0.0.%d", i)})
		}
		var got []string
		for _, x := range e.trail(t, s) {
			got = append(got, *x.IPAddress)
		}
		if want := []string{"10.0.0.5", "10.0.0.4", "10.0.0.3"}; !slices.Equal(got, want) {
			t.Errorf("trail with TrailLimit 3 after 6 entries: got IPs %q, want %q", got, want)
		}
	})
}

func TestActivityNotFound(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		s, token := e.start(t, sessions.Activity{ClientID: "web"})
		ctx := t.Context()
		for _, tc := range []struct {
			name, user, session, code string
		}{
			{"malformed user ID", "al ice", s.ID, sessions.EINVALID},
			{"malformed session ID", "alice", "nope", sessions.EINVALID},
			{"unknown user", "bob", s.ID, sessions.ENOTFOUND},
			{"unknown session", "alice", sessions.NewSessionID(), sessions.ENOTFOUND},
		} {
			_, _, err := e.svc.Activity(ctx, e.tenant, tc.user, tc.session, 1, 10)
			if got := sessions.ErrorCode(err); got != tc.code {
				t.Errorf("Activity(%s): got %v (code %q), want code %q", tc.name, err, got, tc.code)
			}
		}
		if err := e.svc.SignOut(ctx, e.tenant, token, "key_1"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.Activity(ctx, e.tenant, "alice", s.ID, 1, 10); sessions.ErrorCode(err) != sessions.ENOTFOUND {
			t.Errorf("Activity of a signed-out session: got %v, want ENOTFOUND", err)
		}
		if err := e.svc.EraseUser(ctx, e.tenant, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.Activity(ctx, e.tenant, "alice", s.ID, 1, 10); sessions.ErrorCode(err) != sessions.ENOTFOUND {
			t.Errorf("Activity of an erased user: got %v, want ENOTFOUND", err)
		}
	})
}

// TestValidateRacesRevocation runs validations that each bring a new
// client against a revocation: the session must end revoked whatever the
// interleaving, and every validation that succeeded must have left its
// client.
func TestValidateRacesRevocation(t *testing.T) {
	forEachStore(t, sessions.DefaultConfig(), func(t *testing.T, e *env) {
		ctx := t.Context()
		s, token := e.start(t, sessions.Activity{ClientID: "web"})
		// The revocation goes once a few validations are done, while the
		// rest are in flight, so that some win and some lose.
		const n, before = 50, 10
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			ok      []string
			release = make(chan struct{})
			done    = make(chan struct{}, n)
		)
		for i := range n {
			client := fmt.Sprintf("client-%02d", i)
			wg.Go(func() {
				defer func() { done <- struct{}{} }()
				<-release
				_, err := e.svc.Validate(ctx, e.tenant, token, sessions.Activity{ClientID: client})
				switch sessions.ErrorCode(err) {
				case "":
					mu.Lock()
					ok = append(ok, client)
					mu.Unlock()
				case sessions.ENOTFOUND:
				default:
					t.Errorf("Validate(%s): %v", client, err)
				}
			})
		}
		wg.Go(func() {
			for range before {
				<-done
			}
			if err := e.svc.Revoke(ctx, e.tenant, "alice", s.ID, "key_1"); err != nil {
				t.Errorf("Revoke: %v", err)
			}
		})
		close(release)
		wg.Wait()

		_, err := e.svc.Validate(ctx, e.tenant, token, sessions.Activity{ClientID: "late"})
		if sessions.ErrorCode(err) != sessions.ENOTFOUND {
			t.Errorf("Validate after the race: got %v, want ENOTFOUND", err)
		}
		got, err := e.store.SessionByKey(ctx, e.tenant, s.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt == 0 {
			t.Errorf("session after the race: got RevokedAt 0, want revoked")
		}
		for _, c := range ok {
			if !got.HasClient(c) {
				t.Errorf("client %s: validated, but not in the session's clients %q", c, got.ClientIDs)
			}
		}
		if slices.Contains(got.ClientIDs, "late") {
			t.Errorf("session's clients %q include one that validated after the revocation", got.ClientIDs)
		}
		if len(ok) < before {
			t.Errorf("%d validations succeeded, want at least the %d before the revocation", len(ok), before)
		}
		if want := 1 + len(ok); len(got.ClientIDs) != want {
			t.Errorf("session's clients: got %d, want %d (web and the %d that validated)", len(got.ClientIDs), want, len(ok))
		}
		t.Logf("%d of %d validations won the race", len(ok), n)
	})
}
