package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/sessions"
)

// bodyRoutes are the routes that read a JSON body, with a valid body each.
// wrongType is a body whose only member has the wrong JSON type.
func bodyRoutes(token string) []struct{ target, body, wrongType string } {
	return []struct{ target, body, wrongType string }{
		{"/api/users/u1/sessions", `{"client_id":"app-1"}`, `{"client_id":1}`},
		{"/api/sessions/validate", `{"session_token":"` + token + `"}`, `{"session_token":["x"]}`},
		{"/api/sessions/revoke", `{"session_token":"` + sessions.NewToken() + `"}`, `{"session_token":{}}`},
	}
}

func TestRequestBodyErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u1", "app-1")
		big := `{"client_id":"app-1","user_agent":"` + strings.Repeat("a", 64<<10) + `"}`
		type bodyTest struct {
			name        string
			body        string
			contentType string
			want        int
		}
		tests := func(valid, wrongType string) []bodyTest {
			return []bodyTest{
				{"malformed", `{"client_id":`, "", http.StatusBadRequest},
				{"not JSON", `client_id=app-1`, "", http.StatusBadRequest},
				{"empty", ``, "application/json", http.StatusBadRequest},
				{"white space", "  \n", "", http.StatusBadRequest},
				{"array", `[]`, "", http.StatusBadRequest},
				{"string", `"x"`, "", http.StatusBadRequest},
				{"null", `null`, "", http.StatusUnprocessableEntity}, // like {}: a required value is missing
				{"wrong type", wrongType, "", http.StatusBadRequest},
				{"unknown field", valid[:len(valid)-1] + `,"extra":true}`, "", http.StatusBadRequest},
				{"trailing object", valid + `{}`, "", http.StatusBadRequest},
				{"trailing garbage", valid + ` x`, "", http.StatusBadRequest},
				{"too large", big, "", http.StatusRequestEntityTooLarge},
				{"no content type", valid, "-", http.StatusUnsupportedMediaType},
				{"text/plain", valid, "text/plain", http.StatusUnsupportedMediaType},
				{"form", `client_id=app-1`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
				{"latin1", valid, "application/json; charset=latin1", http.StatusUnsupportedMediaType},
				{"bad media type", valid, "application/json; ===", http.StatusUnsupportedMediaType},
				{"json suffix", valid, "application/merge-patch+json", http.StatusUnsupportedMediaType},
			}
		}
		for _, route := range bodyRoutes(s.SessionToken) {
			for _, tt := range tests(route.body, route.wrongType) {
				t.Run(route.target+" "+tt.name, func(t *testing.T) {
					r := httptest.NewRequest("POST", route.target, strings.NewReader(tt.body))
					r.Header.Set("X-API-KEY", e.keys["all"])
					switch tt.contentType {
					case "":
						r.Header.Set("Content-Type", "application/json")
					case "-":
					default:
						r.Header.Set("Content-Type", tt.contentType)
					}
					p := wantProblem(t, e.serve(r), tt.want)
					if strings.Contains(p.Detail, "json:") || strings.Contains(p.Detail, "httpapi") {
						t.Errorf("detail leaks internals: %q", p.Detail)
					}
				})
			}
			// The valid body, with a charset, is accepted.
			t.Run(route.target+" charset", func(t *testing.T) {
				w := e.do("POST", route.target, "all", route.body, "Content-Type", "application/json; charset=UTF-8")
				if w.Code >= 400 && w.Code != http.StatusNotFound {
					t.Fatalf("status: got %d, want success; body %s", w.Code, w.Body.String())
				}
			})
		}
	})
}

func TestAccept(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		e.start("u1", "app-1")
		tests := []struct {
			accept string
			want   int
		}{
			{"", http.StatusOK},
			{"application/json", http.StatusOK},
			{"application/problem+json", http.StatusOK},
			{"application/*", http.StatusOK},
			{"*/*", http.StatusOK},
			{"APPLICATION/JSON; charset=utf-8", http.StatusOK},
			{"text/html, application/xhtml+xml, */*;q=0.8", http.StatusOK},
			{"application/json;q=0, application/problem+json", http.StatusOK},
			{"text/html", http.StatusNotAcceptable},
			{"text/html, application/xml;q=0.9", http.StatusNotAcceptable},
			{"application/json;q=0", http.StatusNotAcceptable},
			{"*/*;q=0", http.StatusNotAcceptable},
			{"application/*;q=0, */*", http.StatusNotAcceptable},
			{"application/json;q=0, application/problem+json;q=0, */*", http.StatusNotAcceptable},
			{"application/json;q=abc", http.StatusNotAcceptable},
			{"application/json;q=NaN", http.StatusNotAcceptable},
			{"application/json;q=NaN, application/json", http.StatusOK},
			{"garbage", http.StatusNotAcceptable},
		}
		for _, tt := range tests {
			t.Run(tt.accept, func(t *testing.T) {
				w := e.do("GET", "/api/users/u1/sessions", "all", "", "Accept", tt.accept)
				if tt.want == http.StatusOK {
					wantStatus(t, w, http.StatusOK)
					return
				}
				wantProblem(t, w, tt.want)
			})
		}
		// Every route negotiates, those without a key too; /metrics does not.
		wantProblem(t, e.do("GET", "/api/openapi.json", "", "", "Accept", "text/html"), http.StatusNotAcceptable)
		wantProblem(t, e.do("GET", "/healthz", "", "", "Accept", "text/html"), http.StatusNotAcceptable)
		wantProblem(t, e.do("POST", "/api/sessions/validate", "all", `{}`, "Accept", "text/plain"), http.StatusNotAcceptable)
		wantStatus(t, e.do("GET", "/metrics", "", "", "Accept", "text/plain"), http.StatusOK)
	})
}

func TestUnknownRouteAndMethod(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		notFound := []string{"/", "/api", "/api/users", "/api/users/u1/sessions/", "/api/users/u1/sessions/0123456789ABCDEF0123456789ABCDEF/x", "/api/sessions", "/nope"}
		for _, path := range notFound {
			t.Run("404 "+path, func(t *testing.T) {
				p := wantProblem(t, e.do("GET", path, "all", ""), http.StatusNotFound)
				if p.Instance != path {
					t.Errorf("instance: got %q, want %q", p.Instance, path)
				}
			})
		}
		methods := []struct {
			method, path string
			allow        []string
		}{
			{"PUT", "/api/users/u1/sessions", []string{"DELETE", "GET", "HEAD", "POST"}},
			{"PATCH", "/api/users/u1/sessions/0123456789ABCDEF0123456789ABCDEF", []string{"DELETE", "GET", "HEAD"}},
			{"DELETE", "/api/users/u1/sessions/0123456789ABCDEF0123456789ABCDEF/activity", []string{"GET", "HEAD"}},
			{"GET", "/api/users/u1", []string{"DELETE"}},
			{"GET", "/api/sessions/validate", []string{"POST"}},
			{"DELETE", "/api/sessions/revoke", []string{"POST"}},
			{"POST", "/api/openapi.json", []string{"GET", "HEAD"}},
			{"POST", "/healthz", []string{"GET", "HEAD"}},
		}
		for _, tt := range methods {
			t.Run("405 "+tt.method+" "+tt.path, func(t *testing.T) {
				w := e.do(tt.method, tt.path, "all", "")
				wantProblem(t, w, http.StatusMethodNotAllowed)
				var got []string
				for _, m := range strings.Split(w.Header().Get("Allow"), ",") {
					got = append(got, strings.TrimSpace(m))
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.allow) {
					t.Errorf("Allow: got %v, want %v", got, tt.allow)
				}
			})
		}
	})
}

func TestAuthentication(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s, s2 := e.start("u1", "app-1"), e.start("u1", "app-1")
		revoked := e.addKey("revoked", "acme", sessions.Scopes...)
		if err := e.store.RevokeAPIKey(context.Background(), e.keyIDs["revoked"], e.clock.Unix()); err != nil {
			t.Fatal(err)
		}
		keys := map[string]string{
			"missing":   "",
			"malformed": "secret",
			"bearer":    "Bearer " + e.keys["all"],
			"unknown":   sessions.NewAPIKeySecret(),
			"revoked":   revoked,
		}
		for _, rt := range scopedRoutes(s, s2) {
			for name, key := range keys {
				t.Run(name+" "+rt.method+" "+rt.target, func(t *testing.T) {
					wantProblem(t, e.serve(request(rt.method, rt.target, key, rt.body)), http.StatusUnauthorized)
				})
			}
		}
		wantStatus(t, e.validate(s.SessionToken), http.StatusOK)
	})
}

// scopedRoute is an authenticated route with a request that succeeds with
// the right key.
type scopedRoute struct {
	scope                sessions.Scope
	method, target, body string
}

// s is revoked by the DELETE routes, ended is signed out by token.
func scopedRoutes(s, ended sessionBody) []scopedRoute {
	return []scopedRoute{
		{sessions.ScopeSessionsRead, "GET", "/api/users/u1/sessions", ""},
		{sessions.ScopeSessionsRead, "GET", "/api/users/u1/sessions/" + s.SessionID, ""},
		{sessions.ScopeSessionsRead, "GET", "/api/users/u1/sessions/" + s.SessionID + "/activity", ""},
		{sessions.ScopeSessionsWrite, "POST", "/api/users/u1/sessions", `{"client_id":"app-1"}`},
		{sessions.ScopeSessionsWrite, "POST", "/api/sessions/validate", `{"session_token":"` + s.SessionToken + `"}`},
		{sessions.ScopeSessionsWrite, "POST", "/api/sessions/revoke", `{"session_token":"` + ended.SessionToken + `"}`},
		{sessions.ScopeSessionsRevoke, "DELETE", "/api/users/u1/sessions/" + s.SessionID, ""},
		{sessions.ScopeSessionsRevoke, "DELETE", "/api/users/u1/sessions", ""},
		{sessions.ScopeUsersDelete, "DELETE", "/api/users/u1", ""},
	}
}

func TestScopes(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s, s2 := e.start("u1", "app-1"), e.start("u1", "app-1")
		for _, rt := range scopedRoutes(s, s2) {
			t.Run(rt.method+" "+rt.target, func(t *testing.T) {
				p := wantProblem(t, e.serve(request(rt.method, rt.target, e.keyWithout(rt.scope), rt.body)), http.StatusForbidden)
				if !strings.Contains(p.Detail, string(rt.scope)) {
					t.Errorf("detail %q does not name the scope %s", p.Detail, rt.scope)
				}
			})
		}
		// Nothing was changed by the refused requests.
		w := e.validate(s.SessionToken)
		wantStatus(t, w, http.StatusOK)
		// A key with only the route's scope is enough, in route order (the
		// destructive ones last).
		for _, rt := range scopedRoutes(s, s2) {
			t.Run("allowed "+rt.method+" "+rt.target, func(t *testing.T) {
				w := e.serve(request(rt.method, rt.target, e.keys[string(rt.scope)], rt.body))
				if w.Code >= 300 {
					t.Errorf("status: got %d, want success; body %s", w.Code, w.Body.String())
				}
			})
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s, s2 := e.start("u1", "app-1"), e.start("u1", "app-1")
		before := decodeBody[sessionBody](t, e.do("GET", "/api/users/u1/sessions/"+s.SessionID, "all", ""))
		for _, rt := range scopedRoutes(s, s2) {
			if rt.method == "POST" && rt.target == "/api/users/u1/sessions" {
				continue // starting a session creates the user in the other tenant: tested below
			}
			t.Run(rt.method+" "+rt.target, func(t *testing.T) {
				wantProblem(t, e.serve(request(rt.method, rt.target, e.keys["other"], rt.body)), http.StatusNotFound)
			})
		}
		after := decodeBody[sessionBody](t, e.do("GET", "/api/users/u1/sessions/"+s.SessionID, "all", ""))
		if after.LastUpdated != before.LastUpdated || !slices.Equal(after.ClientIDs, before.ClientIDs) {
			t.Errorf("the other tenant changed the session: got %+v, want %+v", after, before)
		}
		wantStatus(t, e.validate(s.SessionToken), http.StatusOK)

		// The same user id in the other tenant is another user.
		w := e.do("POST", "/api/users/u1/sessions", "other", `{"client_id":"app-x"}`)
		wantStatus(t, w, http.StatusCreated)
		theirs := decodeBody[sessionBody](t, w)
		mine, _ := e.list("u1", "")
		got, want := ids(mine), []string{s.SessionID, s2.SessionID}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("acme's u1 sessions: got %v, want %v", got, want)
		}
		wantProblem(t, e.validate(theirs.SessionToken), http.StatusNotFound)
		wantStatus(t, e.do("DELETE", "/api/users/u1", "other", ""), http.StatusNoContent)
		wantStatus(t, e.validate(s.SessionToken), http.StatusOK)
	})
}

func TestAPIKeyHeaderIsCaseInsensitive(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		e.start("u1", "app-1")
		srv := httptest.NewServer(e.h)
		defer srv.Close()
		for _, name := range []string{"x-api-key", "X-Api-Key", "X-API-KEY"} {
			req, err := http.NewRequest("GET", srv.URL+"/api/users/u1/sessions", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header[name] = []string{e.keys["all"]} // sent as written
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: got %d, want 200", name, resp.StatusCode)
			}
		}
	})
}

func TestRequestID(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
		tests := []struct {
			in   string
			echo bool
		}{
			{"", false},
			{"abc-DEF_123.x", true},
			{strings.Repeat("a", 64), true},
			{strings.Repeat("a", 65), false},
			{"has space", false},
			{"semi;colon", false},
		}
		for _, tt := range tests {
			for _, path := range []string{"/healthz", "/nope", "/api/users/u1/sessions"} {
				w := e.do("GET", path, "", "", "X-Request-Id", tt.in)
				got := w.Header().Get("X-Request-Id")
				if tt.echo && got != tt.in {
					t.Errorf("%s with %q: got X-Request-Id %q, want it echoed", path, tt.in, got)
				}
				if !tt.echo && !generated.MatchString(got) {
					t.Errorf("%s with %q: got X-Request-Id %q, want a generated one", path, tt.in, got)
				}
			}
		}
		a := e.do("GET", "/healthz", "", "").Header().Get("X-Request-Id")
		b := e.do("GET", "/healthz", "", "").Header().Get("X-Request-Id")
		if a == b {
			t.Errorf("two requests got the same id %s", a)
		}
	})
}

func TestPanicRecovery(t *testing.T) {
	// A service without a store panics on first use: a real bug of the kind
	// recovery exists for.
	logs := &syncBuffer{}
	svc := sessions.NewService(nil, testConfig(), nil, nil)
	h := httpapi.NewServer(svc, slog.New(slog.NewJSONHandler(logs, nil)), prometheus.NewRegistry(), httpapi.Options{})
	key := sessions.NewAPIKeySecret()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("GET", "/api/users/u1/sessions", key, ""))
	p := wantProblem(t, w, http.StatusInternalServerError)
	if p.Detail != "internal error" {
		t.Errorf("detail: got %q, want %q", p.Detail, "internal error")
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"panic"`) || !strings.Contains(out, w.Header().Get("X-Request-Id")) {
		t.Errorf("the panic is not logged with its request id:\n%s", out)
	}
	if strings.Contains(out, key) {
		t.Errorf("the log holds the API key:\n%s", out)
	}
}
