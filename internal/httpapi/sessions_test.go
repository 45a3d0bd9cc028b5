package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

func strp(s string) *string { return &s }

// wantMetadata checks last_metadata member by member; nil means null.
func wantMetadata(t *testing.T, got map[string]*string, want map[string]*string) {
	t.Helper()
	for _, k := range []string{"country", "city", "region", "latitude", "longitude", "ip_address", "user_agent"} {
		g, ok := got[k]
		if !ok {
			t.Errorf("last_metadata.%s is missing", k)
			continue
		}
		w := want[k]
		switch {
		case g == nil && w == nil:
		case g == nil || w == nil || *g != *w:
			t.Errorf("last_metadata.%s: got %v, want %v", k, deref(g), deref(w))
		}
	}
	if len(got) != 7 {
		t.Errorf("last_metadata has %d members, want 7: %v", len(got), got)
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return `"` + *s + `"`
}

func TestStartSession(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		w := e.do("POST", "/api/users/alice@example.com/sessions", "all",
			`{"client_id":"app-1","ip_address":"1.1.1.1","user_agent":"UA <1>"}`)
		wantStatus(t, w, http.StatusCreated)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type: got %q, want application/json", ct)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", cc)
		}
		keys := jsonKeys(t, w.Body.Bytes())
		wantKeys := []string{"client_ids", "expires_at", "initiated_at", "last_metadata", "last_updated", "session_id", "session_key", "session_token", "user_id"}
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("members: got %v, want %v", keys, wantKeys)
		}
		s := decodeBody[sessionBody](t, w)
		if loc, want := w.Header().Get("Location"), "/api/users/alice@example.com/sessions/"+s.SessionID; loc != want {
			t.Errorf("Location: got %q, want %q", loc, want)
		}
		if msg := sessions.CheckSessionID(s.SessionID); msg != "" {
			t.Errorf("session_id %q: %s", s.SessionID, msg)
		}
		if !sessions.WellFormedToken(s.SessionToken) {
			t.Errorf("session_token %q is not well formed", s.SessionToken)
		}
		if got, want := s.SessionKey, sessions.SessionKey(s.SessionToken); got != want {
			t.Errorf("session_key: got %s, want %s (SHA-256 of the token)", got, want)
		}
		now := e.clock.Unix()
		if s.UserID != "alice@example.com" || !slices.Equal(s.ClientIDs, []string{"app-1"}) ||
			s.InitiatedAt != now || s.LastUpdated != now || s.ExpiresAt != now+3600 {
			t.Errorf("got %+v, want user alice@example.com, client_ids [app-1], initiated_at = last_updated = %d, expires_at = %d", s, now, now+3600)
		}
		wantMetadata(t, s.LastMetadata, map[string]*string{"ip_address": strp("1.1.1.1"), "user_agent": strp("UA <1>")})

		// The session can be read back, without its token.
		w = e.do("GET", "/api/users/alice@example.com/sessions/"+s.SessionID, "all", "")
		wantStatus(t, w, http.StatusOK)
		keys = jsonKeys(t, w.Body.Bytes())
		wantKeys = []string{"client_ids", "expires_at", "initiated_at", "last_metadata", "last_updated", "session_id", "session_key"}
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("GET members: got %v, want %v", keys, wantKeys)
		}
		g := decodeBody[sessionBody](t, w)
		if g.SessionKey != s.SessionKey || g.ExpiresAt != s.ExpiresAt || !slices.Equal(g.ClientIDs, s.ClientIDs) {
			t.Errorf("GET: got %+v, want %+v", g, s)
		}

		// Without optional fields, metadata is all null.
		s2 := e.start("bob", "app-1")
		wantMetadata(t, s2.LastMetadata, nil)
	})
}

func TestValidateRecordsActivity(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig()) // sliding 1h, absolute 3h, touch 1m
		s := e.start("u1", "app-1", "ip_address", "1.1.1.1", "user_agent", "UA1")
		initiated := s.InitiatedAt

		// A new client, IP and user agent: all recorded, expiry slides.
		e.clock.Advance(10 * time.Minute)
		w := e.validate(s.SessionToken, "client_id", "app-2", "ip_address", "::ffff:2.2.2.2", "user_agent", "UA2")
		wantStatus(t, w, http.StatusOK)
		wantKeys := []string{"client_ids", "expires_at", "initiated_at", "last_metadata", "last_updated", "session_id", "session_key", "user_id"}
		if keys := jsonKeys(t, w.Body.Bytes()); !slices.Equal(keys, wantKeys) {
			t.Fatalf("members: got %v, want %v", keys, wantKeys)
		}
		v := decodeBody[sessionBody](t, w)
		now := e.clock.Unix()
		if v.UserID != "u1" || v.SessionID != s.SessionID || v.InitiatedAt != initiated {
			t.Errorf("got user %q session %s initiated %d, want u1 %s %d", v.UserID, v.SessionID, v.InitiatedAt, s.SessionID, initiated)
		}
		if !slices.Equal(v.ClientIDs, []string{"app-1", "app-2"}) {
			t.Errorf("client_ids: got %v, want [app-1 app-2]", v.ClientIDs)
		}
		if v.LastUpdated != now || v.ExpiresAt != now+3600 {
			t.Errorf("last_updated, expires_at: got %d, %d, want %d, %d", v.LastUpdated, v.ExpiresAt, now, now+3600)
		}
		wantMetadata(t, v.LastMetadata, map[string]*string{"ip_address": strp("2.2.2.2"), "user_agent": strp("UA2")})

		// A known client joins nothing; omitted fields keep their values.
		e.clock.Advance(2 * time.Minute)
		v = decodeBody[sessionBody](t, e.validate(s.SessionToken, "client_id", "app-1"))
		if !slices.Equal(v.ClientIDs, []string{"app-1", "app-2"}) {
			t.Errorf("client_ids after app-1 again: got %v, want [app-1 app-2]", v.ClientIDs)
		}
		wantMetadata(t, v.LastMetadata, map[string]*string{"ip_address": strp("2.2.2.2"), "user_agent": strp("UA2")})
		touched := e.clock.Unix()
		if v.LastUpdated != touched {
			t.Errorf("last_updated after 2m: got %d, want %d", v.LastUpdated, touched)
		}

		// Within the touch interval, nothing new: no write.
		e.clock.Advance(30 * time.Second)
		v = decodeBody[sessionBody](t, e.validate(s.SessionToken))
		if v.LastUpdated != touched || v.ExpiresAt != touched+3600 {
			t.Errorf("within the touch interval: got last_updated %d expires_at %d, want %d %d", v.LastUpdated, v.ExpiresAt, touched, touched+3600)
		}
		// ...but something new is written at once.
		v = decodeBody[sessionBody](t, e.validate(s.SessionToken, "user_agent", "UA3"))
		if now := e.clock.Unix(); v.LastUpdated != now || *v.LastMetadata["user_agent"] != "UA3" {
			t.Errorf("new user agent within the interval: got last_updated %d ua %s, want %d UA3", v.LastUpdated, deref(v.LastMetadata["user_agent"]), now)
		}
		touched = e.clock.Unix()
		// After the interval, a plain validation writes.
		e.clock.Advance(time.Minute)
		v = decodeBody[sessionBody](t, e.validate(s.SessionToken))
		if now := e.clock.Unix(); v.LastUpdated != now || v.ExpiresAt != now+3600 {
			t.Errorf("after the touch interval: got last_updated %d expires_at %d, want %d %d (was %d)", v.LastUpdated, v.ExpiresAt, now, now+3600, touched)
		}

		// The absolute lifetime caps sliding expiry.
		for range 3 {
			e.clock.Advance(50 * time.Minute)
			w := e.validate(s.SessionToken)
			wantStatus(t, w, http.StatusOK)
			v = decodeBody[sessionBody](t, w)
		}
		if want := initiated + 3*3600; v.ExpiresAt != want {
			t.Errorf("expires_at near the absolute cap: got %d, want %d", v.ExpiresAt, want)
		}
		e.clock.Advance(time.Duration(v.ExpiresAt-e.clock.Unix()) * time.Second)
		wantProblem(t, e.validate(s.SessionToken), http.StatusNotFound)
	})
}

func TestTouchIntervalZeroAlwaysWrites(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		cfg := testConfig()
		cfg.TouchInterval = 0
		e := newEnv(t, open, cfg)
		s := e.start("u1", "app-1")
		for range 3 {
			e.clock.Advance(time.Second)
			v := decodeBody[sessionBody](t, e.validate(s.SessionToken))
			if now := e.clock.Unix(); v.LastUpdated != now || v.ExpiresAt != now+3600 {
				t.Fatalf("got last_updated %d expires_at %d, want %d %d", v.LastUpdated, v.ExpiresAt, now, now+3600)
			}
		}
	})
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		name    string
		mode    sessions.ExpirationMode
		advance time.Duration // one step of activity
		steps   int           // validations before the session should end
	}{
		// Sliding (1h idle, 3h cap): active every 50m, the session lives
		// to the cap while an idle one ends after 1h.
		{name: "sliding", mode: sessions.Sliding, advance: 50 * time.Minute, steps: 3},
		// Absolute (2h): activity does not extend it.
		{name: "absolute", mode: sessions.Absolute, advance: 30 * time.Minute, steps: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
				cfg := testConfig()
				cfg.Expiration = tt.mode
				if tt.mode == sessions.Absolute {
					cfg.AbsoluteLifetime = 2 * time.Hour
				}
				e := newEnv(t, open, cfg)
				other := e.start("u1", "app-1") // never validated
				e.clock.Advance(30 * time.Minute)
				s := e.start("u1", "app-1")
				wantExp := s.InitiatedAt + 3600
				if tt.mode == sessions.Absolute {
					wantExp = s.InitiatedAt + 7200
				}
				if s.ExpiresAt != wantExp {
					t.Fatalf("expires_at at start: got %d, want %d", s.ExpiresAt, wantExp)
				}
				for range tt.steps {
					e.clock.Advance(tt.advance)
					v := decodeBody[sessionBody](t, e.validate(s.SessionToken))
					if tt.mode == sessions.Absolute && v.ExpiresAt != wantExp {
						t.Errorf("absolute expires_at moved: got %d, want %d", v.ExpiresAt, wantExp)
					}
					if tt.mode == sessions.Sliding {
						if want := min(e.clock.Unix()+3600, s.InitiatedAt+3*3600); v.ExpiresAt != want {
							t.Errorf("sliding expires_at: got %d, want %d", v.ExpiresAt, want)
						}
					}
				}
				// The idle session has expired by now in both modes.
				wantProblem(t, e.do("GET", "/api/users/u1/sessions/"+other.SessionID, "all", ""), http.StatusNotFound)
				wantProblem(t, e.validate(other.SessionToken), http.StatusNotFound)
				list, _ := e.list("u1", "")
				if got := ids(list); !slices.Equal(got, []string{s.SessionID}) {
					t.Errorf("listed: got %v, want only %s", got, s.SessionID)
				}

				// Run the clock to the end of the active session.
				v := decodeBody[sessionBody](t, e.validate(s.SessionToken))
				e.clock.Advance(time.Duration(v.ExpiresAt-e.clock.Unix()-1) * time.Second)
				wantStatus(t, e.do("GET", "/api/users/u1/sessions/"+s.SessionID, "all", ""), http.StatusOK)
				e.clock.Advance(time.Second)
				wantProblem(t, e.validate(s.SessionToken), http.StatusNotFound)
				wantProblem(t, e.do("GET", "/api/users/u1/sessions/"+s.SessionID, "all", ""), http.StatusNotFound)
				list, w := e.list("u1", "")
				if len(list) != 0 || w.Body.String() != "[]" {
					t.Errorf("list after expiry: got %s, want []", w.Body.String())
				}
				if got, want := w.Header().Get("X-Pagination"), `{"page_size":10,"current_page":1,"total_count":0,"has_previous":false,"has_next":false}`; got != want {
					t.Errorf("X-Pagination: got %s, want %s", got, want)
				}
				// Ending an expired session is still a success.
				wantStatus(t, e.do("POST", "/api/sessions/revoke", "all", `{"session_token":"`+s.SessionToken+`"}`), http.StatusNoContent)
			})
		})
	}
}

func TestRevoke(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		a := e.start("u1", "app-1")
		b := e.start("u1", "app-1")
		c := e.start("u1", "app-2")
		keep := e.start("u2", "app-1")

		// One session.
		w := e.do("DELETE", "/api/users/u1/sessions/"+a.SessionID, "all", "")
		wantStatus(t, w, http.StatusNoContent)
		if w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
			t.Errorf("204 with body %q, Content-Type %q", w.Body.String(), w.Header().Get("Content-Type"))
		}
		wantProblem(t, e.validate(a.SessionToken), http.StatusNotFound)
		wantProblem(t, e.do("GET", "/api/users/u1/sessions/"+a.SessionID, "all", ""), http.StatusNotFound)
		wantProblem(t, e.do("DELETE", "/api/users/u1/sessions/"+a.SessionID, "all", ""), http.StatusNotFound)
		wantStatus(t, e.validate(b.SessionToken), http.StatusOK)
		// A session of another user is not found under this one.
		wantProblem(t, e.do("DELETE", "/api/users/u1/sessions/"+keep.SessionID, "all", ""), http.StatusNotFound)

		// All sessions.
		wantStatus(t, e.do("DELETE", "/api/users/u1/sessions", "all", ""), http.StatusNoContent)
		for _, s := range []sessionBody{b, c} {
			wantProblem(t, e.validate(s.SessionToken), http.StatusNotFound)
		}
		list, _ := e.list("u1", "")
		if len(list) != 0 {
			t.Errorf("list after revoking all: got %v, want []", ids(list))
		}
		// Again: the user is known, with nothing left to revoke.
		wantStatus(t, e.do("DELETE", "/api/users/u1/sessions", "all", ""), http.StatusNoContent)
		wantProblem(t, e.do("DELETE", "/api/users/nobody/sessions", "all", ""), http.StatusNotFound)
		wantStatus(t, e.validate(keep.SessionToken), http.StatusOK)
	})
}

func TestSignOut(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u1", "app-1")
		body := `{"session_token":"` + s.SessionToken + `"}`
		for range 2 { // idempotent
			w := e.do("POST", "/api/sessions/revoke", "sessions:write", body)
			wantStatus(t, w, http.StatusNoContent)
			if w.Body.Len() != 0 {
				t.Errorf("204 with body %q", w.Body.String())
			}
		}
		wantProblem(t, e.validate(s.SessionToken), http.StatusNotFound)
		for _, tok := range []string{sessions.NewToken(), "not-a-token"} {
			wantProblem(t, e.do("POST", "/api/sessions/revoke", "all", `{"session_token":"`+tok+`"}`), http.StatusNotFound)
			wantProblem(t, e.validate(tok), http.StatusNotFound)
		}
		p := wantProblem(t, e.do("POST", "/api/sessions/revoke", "all", `{}`), http.StatusUnprocessableEntity)
		if got := errorKeys(p); !slices.Equal(got, []string{"session_token"}) {
			t.Errorf("errors: got %v, want [session_token]", got)
		}
	})
}

func TestEraseUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u1", "app-1")
		keep := e.start("u2", "app-1")
		wantStatus(t, e.do("DELETE", "/api/users/u1", "users:delete", ""), http.StatusNoContent)
		wantProblem(t, e.do("GET", "/api/users/u1/sessions", "all", ""), http.StatusNotFound)
		wantProblem(t, e.do("GET", "/api/users/u1/sessions/"+s.SessionID, "all", ""), http.StatusNotFound)
		wantProblem(t, e.validate(s.SessionToken), http.StatusNotFound)
		wantProblem(t, e.do("DELETE", "/api/users/u1", "all", ""), http.StatusNotFound)
		wantProblem(t, e.do("DELETE", "/api/users/u1/sessions", "all", ""), http.StatusNotFound)
		wantStatus(t, e.validate(keep.SessionToken), http.StatusOK)
		// The user can come back as a new user.
		e.start("u1", "app-1")
		list, _ := e.list("u1", "")
		if len(list) != 1 {
			t.Errorf("sessions of the returning user: got %d, want 1", len(list))
		}
	})
}

func TestPathIDs(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		tests := []struct {
			method, target, body string
			wantErrors           []string
		}{
			{"GET", "/api/users/-bad/sessions", "", []string{"user_id"}},
			{"GET", "/api/users/a%20b/sessions/0123456789ABCDEF0123456789ABCDEF", "", []string{"user_id"}},
			{"GET", "/api/users/u1/sessions/0123456789abcdef0123456789abcdef", "", []string{"session_id"}},
			{"GET", "/api/users/_u/sessions/XYZ", "", []string{"session_id", "user_id"}},
			{"DELETE", "/api/users/u1/sessions/short", "", []string{"session_id"}},
			{"DELETE", "/api/users/%21/sessions", "", []string{"user_id"}},
			{"DELETE", "/api/users/%21", "", []string{"user_id"}},
			{"POST", "/api/users/%21/sessions", `{"client_id":"app-1"}`, []string{"user_id"}},
		}
		for _, tt := range tests {
			t.Run(tt.method+" "+tt.target, func(t *testing.T) {
				p := wantProblem(t, e.do(tt.method, tt.target, "all", tt.body), http.StatusUnprocessableEntity)
				if got := errorKeys(p); !slices.Equal(got, tt.wantErrors) {
					t.Errorf("errors: got %v, want %v", p.Errors, tt.wantErrors)
				}
			})
		}
	})
}

func TestBodyValues(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u1", "app-1")
		long := make([]byte, 1025)
		for i := range long {
			long[i] = 'a'
		}
		tests := []struct {
			name, target, body string
			wantErrors         []string
		}{
			{"start all invalid", "/api/users/u1/sessions", `{"client_id":"!!","ip_address":"nope","user_agent":"` + string(long) + `"}`, []string{"client_id", "ip_address", "user_agent"}},
			{"start no client", "/api/users/u1/sessions", `{}`, []string{"client_id"}},
			{"start bad user too", "/api/users/%21/sessions", `{"client_id":""}`, []string{"client_id", "user_id"}},
			{"start zoned ip", "/api/users/u1/sessions", `{"client_id":"a","ip_address":"fe80::1%eth0"}`, []string{"ip_address"}},
			{"validate all invalid", "/api/sessions/validate", `{"client_id":"!!","ip_address":"1.2.3","user_agent":"` + string(long) + `"}`, []string{"client_id", "ip_address", "session_token", "user_agent"}},
			{"validate bad ip", "/api/sessions/validate", `{"session_token":"` + s.SessionToken + `","ip_address":"x"}`, []string{"ip_address"}},
			{"revoke no token", "/api/sessions/revoke", `{"session_token":""}`, []string{"session_token"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := wantProblem(t, e.do("POST", tt.target, "all", tt.body), http.StatusUnprocessableEntity)
				if got := errorKeys(p); !slices.Equal(got, tt.wantErrors) {
					t.Errorf("errors: got %v, want %v", p.Errors, tt.wantErrors)
				}
			})
		}
		// 1024 characters (not bytes) is fine.
		ua := ""
		for range 1024 {
			ua += "é"
		}
		wantStatus(t, e.do("POST", "/api/users/u1/sessions", "all", `{"client_id":"a","user_agent":"`+ua+`"}`), http.StatusCreated)
		// null counts as omitted.
		wantStatus(t, e.do("POST", "/api/users/u1/sessions", "all", `{"client_id":"a","ip_address":null,"user_agent":null}`), http.StatusCreated)
	})
}
