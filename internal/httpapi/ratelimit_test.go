package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/sessions"
)

// from sets the request's client address.
func from(r *http.Request, remoteAddr string) *http.Request {
	r.RemoteAddr = remoteAddr
	return r
}

// wantLimited checks that w is a 429 problem with Retry-After: retryAfter.
func wantLimited(t *testing.T, w *httptest.ResponseRecorder, retryAfter string) {
	t.Helper()
	wantProblem(t, w, http.StatusTooManyRequests)
	if got := w.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After: got %q, want %q", got, retryAfter)
	}
}

// wantMetric checks that the /metrics page holds the line want.
func wantMetric(t *testing.T, e *env, want string) {
	t.Helper()
	body := e.do("GET", "/metrics", "", "").Body.String()
	if !strings.Contains(body, want+"\n") {
		t.Errorf("/metrics lacks %q:\n%s", want, grep(body, "rate_limited"))
	}
}

func TestKeyRateLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		// One request every 4 s, 3 at once.
		e := newEnvWith(t, open, testConfig(), httpapi.Options{KeyRate: 0.25, KeyBurst: 3})
		e.start("u1", "app-1") // 1
		list := func(key string) *httptest.ResponseRecorder {
			return e.do("GET", "/api/users/u1/sessions", key, "")
		}
		wantStatus(t, list("all"), http.StatusOK) // 2
		// A 403 is an authenticated request too.
		wantProblem(t, e.do("DELETE", "/api/users/u1", "sessions:read", ""), http.StatusForbidden)
		wantStatus(t, list("sessions:read"), http.StatusOK)
		wantStatus(t, list("all"), http.StatusOK) // 3: the burst is spent

		// Refused requests cost nothing: the wait does not grow.
		for range 3 {
			wantLimited(t, list("all"), "4")
		}
		wantLimited(t, e.do("POST", "/api/users/u1/sessions", "all", `{"client_id":"app-1"}`), "4")

		// Another key of the tenant, and a key of another tenant, are not
		// affected.
		wantStatus(t, list("sessions:read"), http.StatusOK)
		wantStatus(t, e.do("POST", "/api/users/u9/sessions", "other", `{"client_id":"app-1"}`), http.StatusCreated)

		// The bucket refills at the rate: 3 s later one more second is due.
		e.clock.Advance(3 * time.Second)
		wantLimited(t, list("all"), "1")
		e.clock.Advance(time.Second)
		wantStatus(t, list("all"), http.StatusOK)
		wantLimited(t, list("all"), "4")
		// Retry-After rounds up to whole seconds.
		e.clock.Advance(3500 * time.Millisecond)
		wantLimited(t, list("all"), "1")

		// A long pause refills the burst, and no more.
		e.clock.Advance(time.Hour)
		for i := range 3 {
			if w := list("all"); w.Code != http.StatusOK {
				t.Fatalf("request %d after a pause: got %d, want 200", i+1, w.Code)
			}
		}
		wantLimited(t, list("all"), "4")

		// A limited key is limited before its scope is checked and before
		// the request is read.
		wantLimited(t, e.do("DELETE", "/api/users/u1", "all", ""), "4")
		wantLimited(t, e.do("POST", "/api/sessions/validate", "all", `not json`), "4")
		// The routes without a key are never limited.
		wantStatus(t, e.do("GET", "/healthz", "all", ""), http.StatusOK)
		wantStatus(t, e.do("GET", "/api/openapi.json", "all", ""), http.StatusOK)
		wantMetric(t, e, `sessiond_http_rate_limited_total{reason="api_key"} 10`)
		wantMetric(t, e, `sessiond_http_rate_limited_total{reason="auth_failures"} 0`)
	})
}

func TestAuthFailureLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		// One failure every 10 s, 3 at once.
		e := newEnvWith(t, open, testConfig(), httpapi.Options{AuthFailRate: 0.1, AuthFailBurst: 3})
		const (
			attacker = "198.51.100.7:41000"
			other    = "198.51.100.8:41000"
		)
		list := func(addr, key string, hdr ...string) *httptest.ResponseRecorder {
			return e.serve(from(request("GET", "/api/users/u1/sessions", key, "", hdr...), addr))
		}
		good, bad := e.keys["all"], sessions.NewAPIKeySecret()
		e.start("u1", "app-1")

		// Successes cost nothing.
		for range 10 {
			wantStatus(t, list(attacker, good), http.StatusOK)
		}
		// Three failures of any kind are answered 401...
		wantProblem(t, list(attacker, bad), http.StatusUnauthorized)
		wantProblem(t, list(attacker, ""), http.StatusUnauthorized)
		wantProblem(t, list(attacker, "not-a-key"), http.StatusUnauthorized)
		// ...and then every request to a route with a key is 429, a correct
		// key too, until the budget refills: the key is not even looked up.
		wantLimited(t, list(attacker, bad), "10")
		wantLimited(t, list(attacker, good), "10")
		wantLimited(t, e.serve(from(request("POST", "/api/sessions/validate", good, `{}`), attacker)), "10")
		// X-Forwarded-For is not trusted by default: the address is the
		// connection's.
		wantLimited(t, list(attacker, good, "X-Forwarded-For", "192.0.2.200"), "10")
		// Routes without a key are never limited.
		wantStatus(t, e.serve(from(request("GET", "/healthz", "", ""), attacker)), http.StatusOK)
		wantStatus(t, e.serve(from(request("GET", "/api/openapi.json", bad, ""), attacker)), http.StatusOK)

		// Another address still works, and fails with 401.
		wantStatus(t, list(other, good), http.StatusOK)
		wantProblem(t, list(other, bad), http.StatusUnauthorized)

		// After 7 s, 3 s are still due; after 10 s one failure is allowed.
		e.clock.Advance(7 * time.Second)
		wantLimited(t, list(attacker, good), "3")
		e.clock.Advance(3 * time.Second)
		wantStatus(t, list(attacker, good), http.StatusOK)
		wantProblem(t, list(attacker, bad), http.StatusUnauthorized)
		wantLimited(t, list(attacker, good), "10")

		// A revoked key is a failed authentication; a forbidden scope is
		// not.
		e.clock.Advance(time.Hour)
		revoked := e.addKey("revoked", "acme", sessions.Scopes...)
		if err := e.store.RevokeAPIKey(t.Context(), e.keyIDs["revoked"], e.clock.Unix()); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			wantProblem(t, e.serve(from(request("DELETE", "/api/users/u1", e.keys["sessions:read"], ""), attacker)), http.StatusForbidden)
		}
		for range 3 {
			wantProblem(t, list(attacker, revoked), http.StatusUnauthorized)
		}
		wantLimited(t, list(attacker, good), "10")

		wantMetric(t, e, `sessiond_http_rate_limited_total{reason="auth_failures"} 7`)
		wantMetric(t, e, `sessiond_http_rate_limited_total{reason="api_key"} 0`)
	})
}

func TestAuthFailureAddresses(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		opts := httpapi.Options{AuthFailRate: 0.001, AuthFailBurst: 1}
		e := newEnvWith(t, open, testConfig(), opts)
		e.start("u1", "app-1")
		list := func(e *env, addr, key string, hdr ...string) *httptest.ResponseRecorder {
			return e.serve(from(request("GET", "/api/users/u1/sessions", key, "", hdr...), addr))
		}
		bad := sessions.NewAPIKeySecret()
		tests := []struct {
			name          string
			first, second string // client addresses
			shared        bool   // whether they share a budget
		}{
			{"same IPv4, other port", "192.0.2.1:1000", "192.0.2.1:2000", true},
			{"other IPv4", "192.0.2.2:1000", "192.0.2.3:1000", false},
			{"IPv4-mapped IPv6", "192.0.2.4:1000", "[::ffff:192.0.2.4]:1000", true},
			{"same IPv6 /64", "[2001:db8:1:1::1]:1000", "[2001:db8:1:1:ffff::2]:1000", true},
			{"other IPv6 /64", "[2001:db8:2:1::1]:1000", "[2001:db8:2:2::1]:1000", false},
			{"not host:port", "unix-socket", "unix-socket", true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantProblem(t, list(e, tt.first, bad), http.StatusUnauthorized)
				want := http.StatusUnauthorized
				if tt.shared {
					want = http.StatusTooManyRequests
				}
				wantProblem(t, list(e, tt.second, bad), want)
			})
		}

		// Behind a proxy, ClientAddr may read a header the proxy sets.
		opts.ClientAddr = func(r *http.Request) string { return r.Header.Get("X-Real-Ip") }
		p := newEnvWith(t, open, testConfig(), opts)
		wantProblem(t, list(p, "10.0.0.1:1", bad, "X-Real-Ip", "192.0.2.10"), http.StatusUnauthorized)
		wantProblem(t, list(p, "10.0.0.1:1", bad, "X-Real-Ip", "192.0.2.10"), http.StatusTooManyRequests)
		wantProblem(t, list(p, "10.0.0.1:1", bad, "X-Real-Ip", "192.0.2.11"), http.StatusUnauthorized)
	})
}

// TestRateLimitMemoryIsBounded shows the bound from outside: with room for
// three addresses, a fourth makes the server forget the least recently
// seen one, whose next failure is a 401 again rather than a 429.
func TestRateLimitMemoryIsBounded(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnvWith(t, open, testConfig(), httpapi.Options{AuthFailRate: 0.001, AuthFailBurst: 1, MaxTracked: 3})
		fail := func(addr string) int {
			return e.serve(from(request("GET", "/api/users/u1/sessions", "bad", ""), addr+":1")).Code
		}
		for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
			if got := fail(a); got != http.StatusUnauthorized {
				t.Fatalf("first failure from %s: got %d, want 401", a, got)
			}
		}
		if got := fail("192.0.2.1"); got != http.StatusTooManyRequests {
			t.Fatalf("second failure from 192.0.2.1: got %d, want 429", got)
		}
		// 192.0.2.2 is now the least recently seen; a fourth address pushes
		// it out.
		if got := fail("192.0.2.4"); got != http.StatusUnauthorized {
			t.Fatalf("first failure from 192.0.2.4: got %d, want 401", got)
		}
		for _, tt := range []struct {
			addr string
			want int
		}{{"192.0.2.1", 429}, {"192.0.2.3", 429}, {"192.0.2.2", 401}} {
			if got := fail(tt.addr); got != tt.want {
				t.Errorf("failure from %s after the eviction: got %d, want %d", tt.addr, got, tt.want)
			}
		}
	})
}

func TestRateLimitOffByDefault(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		e.start("u1", "app-1")
		for i := range 300 {
			key := e.keys["all"]
			if i%2 == 0 {
				key = sessions.NewAPIKeySecret()
			}
			if w := e.serve(from(request("GET", "/api/users/u1/sessions", key, ""), "192.0.2.1:1")); w.Code == http.StatusTooManyRequests {
				t.Fatalf("request %d: 429 without rate limiting", i)
			}
		}
		wantMetric(t, e, `sessiond_http_rate_limited_total{reason="api_key"} 0`)
	})
}

func TestOptionsValidate(t *testing.T) {
	nan := 0.0
	nan /= nan
	tests := []struct {
		opts httpapi.Options
		ok   bool
	}{
		{httpapi.Options{}, true},
		{httpapi.Options{KeyRate: 10, KeyBurst: 20, AuthFailRate: 0.1, AuthFailBurst: 5, MaxTracked: 100}, true},
		{httpapi.Options{KeyRate: -1}, false},
		{httpapi.Options{KeyRate: nan}, false},
		{httpapi.Options{KeyBurst: -1}, false},
		{httpapi.Options{AuthFailRate: -0.5}, false},
		{httpapi.Options{AuthFailBurst: -1}, false},
		{httpapi.Options{MaxTracked: -1}, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.opts), func(t *testing.T) {
			err := tt.opts.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate: got %v, want ok=%v", err, tt.ok)
			}
			defer func() {
				if p := recover(); (p == nil) != tt.ok {
					t.Errorf("NewServer: got panic %v, want panic=%v", p, !tt.ok)
				}
			}()
			httpapi.NewServer(sessions.NewService(nil, testConfig(), nil, nil), nil, nil, tt.opts)
		})
	}
}
