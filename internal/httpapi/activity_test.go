package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/sessions"
)

// activityEntry is an activity trail entry as a client reads it.
type activityEntry struct {
	At               int64   `json:"at"`
	ClientID         *string `json:"client_id"`
	Country          *string `json:"country"`
	City             *string `json:"city"`
	Region           *string `json:"region"`
	Latitude         *string `json:"latitude"`
	Longitude        *string `json:"longitude"`
	IPAddress        *string `json:"ip_address"`
	UserAgent        *string `json:"user_agent"`
	NewCountry       bool    `json:"new_country"`
	ImpossibleTravel bool    `json:"impossible_travel"`
}

// brief is the entry in one line, its time counted from t0, for
// comparisons that read well when they fail.
func (a activityEntry) brief() string {
	return fmt.Sprintf("+%ds client=%s ip=%s ua=%s country=%s city=%s new_country=%t impossible_travel=%t",
		a.At-t0.Unix(), deref(a.ClientID), deref(a.IPAddress), deref(a.UserAgent), deref(a.Country), deref(a.City),
		a.NewCountry, a.ImpossibleTravel)
}

func briefs(trail []activityEntry) []string {
	out := make([]string, len(trail))
	for i, a := range trail {
		out[i] = a.brief()
	}
	return out
}

func activityPath(user, sessionID string) string {
	return "/api/users/" + user + "/sessions/" + sessionID + "/activity"
}

// activity reads a page of the session's trail with the query string q
// (without "?"), failing unless it is 200.
func (e *env) activity(user, sessionID, q string) ([]activityEntry, *httptest.ResponseRecorder) {
	e.t.Helper()
	w := e.do("GET", activityPath(user, sessionID)+"?"+q, "all", "")
	wantStatus(e.t, w, http.StatusOK)
	return decodeBody[[]activityEntry](e.t, w), w
}

// mapLocator places the IP addresses it knows; others are unknown.
type mapLocator map[string]sessions.Location

func (m mapLocator) Locate(ip netip.Addr) sessions.Location { return m[ip.String()] }

func place(country, city, region, lat, lon string) sessions.Location {
	return sessions.Location{Country: &country, City: &city, Region: &region, Latitude: &lat, Longitude: &lon}
}

var (
	paris   = place("France", "Paris", "Europe", "48.8566", "2.3522")
	newYork = place("United States of America", "New York", "North America", "40.7128", "-74.0060")
	// testLocator: two addresses in Paris (5,837 km from New York), one in
	// New York; 192.0.2.1 is unknown.
	testLocator = mapLocator{"203.0.113.1": paris, "203.0.113.2": paris, "198.51.100.1": newYork}
)

func TestActivityTrail(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u1", "app-1", "ip_address", "1.1.1.1", "user_agent", "UA 1")
		other := e.start("u1", "app-1", "ip_address", "9.9.9.9") // its trail is its own
		steps := []struct {
			advance time.Duration
			extra   []string // validation body members
		}{
			{2 * time.Minute, nil}, // a touch
			{2 * time.Minute, []string{"client_id", "app-1", "ip_address", "1.1.1.1", "user_agent", "UA 1"}}, // nothing new
			{2 * time.Minute, []string{"user_agent", "UA 2"}},
			{time.Minute, []string{"ip_address", "::ffff:2.2.2.2"}},
			{time.Minute, []string{"client_id", "app-2"}},
			{time.Minute, []string{"client_id", "app-2", "ip_address", "2.2.2.2", "user_agent", "UA 2"}}, // nothing new
			{0, []string{"client_id", "app-1", "ip_address", "3.3.3.3", "user_agent", "UA <3>\u2028"}},
		}
		for _, st := range steps {
			e.clock.Advance(st.advance)
			wantStatus(t, e.validate(s.SessionToken, st.extra...), http.StatusOK)
		}
		trail, w := e.activity("u1", s.SessionID, "")
		want := []string{
			`+540s client="app-1" ip="3.3.3.3" ua="UA <3>` + "\u2028" + `" country=null city=null new_country=false impossible_travel=false`,
			`+480s client="app-2" ip=null ua=null country=null city=null new_country=false impossible_travel=false`,
			`+420s client=null ip="2.2.2.2" ua=null country=null city=null new_country=false impossible_travel=false`,
			`+360s client=null ip=null ua="UA 2" country=null city=null new_country=false impossible_travel=false`,
			`+0s client="app-1" ip="1.1.1.1" ua="UA 1" country=null city=null new_country=false impossible_travel=false`,
		}
		if got := briefs(trail); !slices.Equal(got, want) {
			t.Errorf("trail:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
		}
		// The exact bytes of an entry: every member, in this order,
		// escaped as the session object is.
		at := strconv.FormatInt(t0.Unix()+540, 10)
		wantFirst := `[{"at":` + at + `,"client_id":"app-1","country":null,"city":null,"region":null,"latitude":null,"longitude":null,` +
			`"ip_address":"3.3.3.3","user_agent":"UA \u003c3\u003e\u2028","new_country":false,"impossible_travel":false},`
		if !strings.HasPrefix(w.Body.String(), wantFirst) {
			t.Errorf("body:\n got %s\nwant it to start with %s", w.Body.String(), wantFirst)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type: got %q, want application/json", ct)
		}
		if got, want := w.Header().Get("X-Pagination"), `{"page_size":10,"current_page":1,"total_count":5,"has_previous":false,"has_next":false}`; got != want {
			t.Errorf("X-Pagination: got %s, want %s", got, want)
		}
		base := activityPath("u1", s.SessionID)
		if got, want := w.Header().Get("Link"), `<`+base+`?page=1&size=10>; rel="first", <`+base+`?page=1&size=10>; rel="last"`; got != want {
			t.Errorf("Link: got %s, want %s", got, want)
		}
		// The other session's trail is only its start.
		trail, _ = e.activity("u1", other.SessionID, "")
		if got, want := briefs(trail), []string{`+0s client="app-1" ip="9.9.9.9" ua=null country=null city=null new_country=false impossible_travel=false`}; !slices.Equal(got, want) {
			t.Errorf("other session's trail: got %v, want %v", got, want)
		}
		// Reading the trail changes nothing: not the session, not the trail.
		before := e.do("GET", "/api/users/u1/sessions/"+s.SessionID, "all", "").Body.String()
		e.clock.Advance(5 * time.Minute)
		_, w2 := e.activity("u1", s.SessionID, "")
		if w2.Body.String() != w.Body.String() {
			t.Errorf("trail changed by reading it:\n got %s\nwant %s", w2.Body.String(), w.Body.String())
		}
		if after := e.do("GET", "/api/users/u1/sessions/"+s.SessionID, "all", "").Body.String(); after != before {
			t.Errorf("session changed by reading its trail:\n got %s\nwant %s", after, before)
		}
	})
}

func TestActivityPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u1", "app-1", "user_agent", "UA 0")
		for i := 1; i < 7; i++ {
			e.clock.Advance(time.Second)
			wantStatus(t, e.validate(s.SessionToken, "user_agent", "UA "+strconv.Itoa(i)), http.StatusOK)
		}
		// newest[i] is the user agent of the i-th newest entry.
		newest := []string{"UA 6", "UA 5", "UA 4", "UA 3", "UA 2", "UA 1", "UA 0"}
		base := activityPath("u1", s.SessionID)
		link := func(size int, rels ...string) string {
			var parts []string
			for i := 0; i+1 < len(rels); i += 2 {
				parts = append(parts, `<`+base+`?page=`+rels[i+1]+`&size=`+strconv.Itoa(size)+`>; rel="`+rels[i]+`"`)
			}
			return strings.Join(parts, ", ")
		}
		tests := []struct {
			query      string
			want       []string
			pagination string
			link       string
		}{
			{"", newest, `{"page_size":10,"current_page":1,"total_count":7,"has_previous":false,"has_next":false}`, link(10, "first", "1", "last", "1")},
			{"size=3", newest[:3], `{"page_size":3,"current_page":1,"total_count":7,"has_previous":false,"has_next":true}`, link(3, "first", "1", "next", "2", "last", "3")},
			{"page=2&size=3", newest[3:6], `{"page_size":3,"current_page":2,"total_count":7,"has_previous":true,"has_next":true}`, link(3, "first", "1", "prev", "1", "next", "3", "last", "3")},
			{"size=3&page=3", newest[6:], `{"page_size":3,"current_page":3,"total_count":7,"has_previous":true,"has_next":false}`, link(3, "first", "1", "prev", "2", "last", "3")},
			{"page=4&size=3", []string{}, `{"page_size":3,"current_page":4,"total_count":7,"has_previous":true,"has_next":false}`, link(3, "first", "1", "prev", "3", "last", "3")},
			{"page=9223372036854775807&size=100", []string{}, `{"page_size":100,"current_page":9223372036854775807,"total_count":7,"has_previous":true,"has_next":false}`, link(100, "first", "1", "prev", "9223372036854775806", "last", "1")},
			// Unknown parameters, even repeated, are ignored and not linked.
			{"size=7&utm=x&utm=y&sort=initiated_at:1&client_id=app-9", newest, `{"page_size":7,"current_page":1,"total_count":7,"has_previous":false,"has_next":false}`, link(7, "first", "1", "last", "1")},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				trail, w := e.activity("u1", s.SessionID, tt.query)
				got := make([]string, len(trail))
				for i, a := range trail {
					got[i] = deref(a.UserAgent)
				}
				want := make([]string, len(tt.want))
				for i, ua := range tt.want {
					want[i] = deref(&ua)
				}
				if !slices.Equal(got, want) {
					t.Errorf("user agents: got %v, want %v", got, want)
				}
				if len(tt.want) == 0 && w.Body.String() != "[]" {
					t.Errorf("empty page body: got %q, want []", w.Body.String())
				}
				if got := w.Header().Get("X-Pagination"); got != tt.pagination {
					t.Errorf("X-Pagination:\n got %s\nwant %s", got, tt.pagination)
				}
				if got := w.Header().Get("Link"); got != tt.link {
					t.Errorf("Link:\n got %s\nwant %s", got, tt.link)
				}
			})
		}
	})
}

func TestActivityBound(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		cfg := testConfig()
		cfg.TrailLimit = 3
		e := newEnv(t, open, cfg)
		s := e.start("u1", "app-1", "user_agent", "UA 0")
		for i := 1; i <= 5; i++ {
			e.clock.Advance(time.Second)
			wantStatus(t, e.validate(s.SessionToken, "user_agent", "UA "+strconv.Itoa(i)), http.StatusOK)
			trail, w := e.activity("u1", s.SessionID, "size=100")
			var got []string
			for _, a := range trail {
				got = append(got, deref(a.UserAgent))
			}
			var want []string
			for j := i; j >= max(0, i-2); j-- {
				want = append(want, `"UA `+strconv.Itoa(j)+`"`)
			}
			if !slices.Equal(got, want) {
				t.Errorf("after %d validations: got %v, want %v", i, got, want)
			}
			wantPg := `{"page_size":100,"current_page":1,"total_count":` + strconv.Itoa(len(want)) + `,"has_previous":false,"has_next":false}`
			if pg := w.Header().Get("X-Pagination"); pg != wantPg {
				t.Errorf("after %d validations: X-Pagination %s, want %s", i, pg, wantPg)
			}
		}
	})
}

func TestActivityFlags(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		for _, speed := range []float64{0, 500} { // 0: the default, 1,000 km/h
			t.Run(fmt.Sprintf("speed %v", speed), func(t *testing.T) {
				cfg := testConfig()
				cfg.SlidingLifetime, cfg.AbsoluteLifetime = 12*time.Hour, 48*time.Hour
				cfg.MaxTravelSpeed = speed
				e := newEnvLocated(t, open, cfg, httpapi.Options{}, testLocator)
				s := e.start("u1", "app-1", "ip_address", "203.0.113.1")
				for _, st := range []struct {
					advance time.Duration
					ip      string
				}{
					{time.Minute, "203.0.113.2"},   // Paris again: no distance
					{time.Hour, "198.51.100.1"},    // New York, 5,837 km in an hour
					{time.Hour, "192.0.2.1"},       // somewhere unknown: skipped
					{7 * time.Hour, "203.0.113.1"}, // Paris, 8 h after New York: 730 km/h
					{10 * time.Minute, "198.51.100.1"},
				} {
					e.clock.Advance(st.advance)
					wantStatus(t, e.validate(s.SessionToken, "ip_address", st.ip), http.StatusOK)
				}
				const ny, fr, unknown = `country="United States of America" city="New York"`, `country="France" city="Paris"`, `country=null city=null`
				backToParis := speed == 500 // 730 km/h is too fast only below it
				want := []string{
					`+33060s client=null ip="198.51.100.1" ua=null ` + ny + ` new_country=false impossible_travel=true`,
					`+32460s client=null ip="203.0.113.1" ua=null ` + fr + ` new_country=false impossible_travel=` + strconv.FormatBool(backToParis),
					`+7260s client=null ip="192.0.2.1" ua=null ` + unknown + ` new_country=false impossible_travel=false`,
					`+3660s client=null ip="198.51.100.1" ua=null ` + ny + ` new_country=true impossible_travel=true`,
					`+60s client=null ip="203.0.113.2" ua=null ` + fr + ` new_country=false impossible_travel=false`,
					`+0s client="app-1" ip="203.0.113.1" ua=null ` + fr + ` new_country=true impossible_travel=false`,
				}
				trail, w := e.activity("u1", s.SessionID, "")
				if got := briefs(trail); !slices.Equal(got, want) {
					t.Errorf("trail:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
				}
				// The New York entry, byte for byte.
				wantNY := `{"at":` + strconv.FormatInt(t0.Unix()+3660, 10) + `,"client_id":null,"country":"United States of America",` +
					`"city":"New York","region":"North America","latitude":"40.7128","longitude":"-74.0060","ip_address":"198.51.100.1",` +
					`"user_agent":null,"new_country":true,"impossible_travel":true}`
				if !strings.Contains(w.Body.String(), wantNY) {
					t.Errorf("body %s\ndoes not hold %s", w.Body.String(), wantNY)
				}
			})
		}
	})
}

func TestActivityNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		revoked := e.start("u1", "app-1")
		signedOut := e.start("u1", "app-1")
		expiring := e.start("u1", "app-1")
		e.clock.Advance(30 * time.Minute)
		live := e.start("u1", "app-1")
		u2 := e.start("u2", "app-1")
		wantStatus(t, e.do("DELETE", "/api/users/u1/sessions/"+revoked.SessionID, "all", ""), http.StatusNoContent)
		wantStatus(t, e.do("POST", "/api/sessions/revoke", "all", `{"session_token":"`+signedOut.SessionToken+`"}`), http.StatusNoContent)
		e.clock.Advance(45 * time.Minute) // expiring's sliding hour is over; live's is not
		e.activity("u1", live.SessionID, "")
		for _, tt := range []struct {
			name, user, sessionID, key string
		}{
			{"revoked", "u1", revoked.SessionID, "all"},
			{"signed out", "u1", signedOut.SessionID, "all"},
			{"expired", "u1", expiring.SessionID, "all"},
			{"unknown session", "u1", sessions.NewSessionID(), "all"},
			{"unknown user", "ghost", live.SessionID, "all"},
			{"another user's session", "u2", live.SessionID, "all"},
			{"another tenant", "u1", live.SessionID, "other"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				path := activityPath(tt.user, tt.sessionID)
				w := e.do("GET", path+"?page=2", tt.key, "")
				p := wantProblem(t, w, http.StatusNotFound)
				if p.Instance != path {
					t.Errorf("instance: got %q, want %q", p.Instance, path)
				}
				for _, h := range []string{"X-Pagination", "Link"} {
					if v := w.Header().Get(h); v != "" {
						t.Errorf("%s on a 404: %s", h, v)
					}
				}
			})
		}
		// Erasing the user erases the trails: the user is unknown.
		e.activity("u2", u2.SessionID, "")
		wantStatus(t, e.do("DELETE", "/api/users/u2", "all", ""), http.StatusNoContent)
		wantProblem(t, e.do("GET", activityPath("u2", u2.SessionID), "all", ""), http.StatusNotFound)
		// A new session of the same user id starts a trail of its own.
		again := e.start("u2", "app-2")
		trail, _ := e.activity("u2", again.SessionID, "")
		if len(trail) != 1 || deref(trail[0].ClientID) != `"app-2"` {
			t.Errorf("new trail after erase: got %v, want only the start by app-2", briefs(trail))
		}
		wantProblem(t, e.do("GET", activityPath("u2", u2.SessionID), "all", ""), http.StatusNotFound)
	})
}

func TestActivityBadRequests(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u1", "app-1")
		good := activityPath("u1", s.SessionID)
		for _, tt := range []struct {
			target     string
			status     int
			wantErrors []string
		}{
			{activityPath("!", "bad") + "?page=0&size=500", 422, []string{"page", "session_id", "size", "user_id"}},
			{activityPath("u1", strings.ToLower(s.SessionID)) + "?page=x&size=", 422, []string{"page", "session_id", "size"}},
			{good + "?page=-1&size=0", 422, []string{"page", "size"}},
			{good + "?page=1.5", 422, []string{"page"}},
			{good + "?size=101", 422, []string{"size"}},
			{good + "?page=", 422, []string{"page"}},
			{good + "?page=1&page=1", 400, nil},
			{good + "?size=1&size=2", 400, nil},
			{good + "?page=%zz", 400, nil},
			{good + "?a;b", 400, nil},
			// A bad query string is 400 before the ids are looked at.
			{activityPath("!", "bad") + "?page=1&page=2", 400, nil},
		} {
			t.Run(tt.target, func(t *testing.T) {
				w := e.do("GET", tt.target, "all", "")
				p := wantProblem(t, w, tt.status)
				if got := errorKeys(p); tt.status == 422 && !slices.Equal(got, tt.wantErrors) {
					t.Errorf("errors: got %v, want %v", got, tt.wantErrors)
				}
			})
		}
		// The paging messages are the session list's.
		list := wantProblem(t, e.do("GET", "/api/users/u1/sessions?page=0&size=500", "all", ""), 422)
		trail := wantProblem(t, e.do("GET", good+"?page=0&size=500", "all", ""), 422)
		for _, k := range []string{"page", "size"} {
			if !slices.Equal(list.Errors[k], trail.Errors[k]) {
				t.Errorf("errors.%s: got %v, want the list's %v", k, trail.Errors[k], list.Errors[k])
			}
		}
	})
}
