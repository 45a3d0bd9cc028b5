package httpapi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// fixture is a store with sessions in two tenants, for tests that check
// what requests change.
type fixture struct {
	*env
	s           sessionBody         // acme's u1, the target of the routes
	sessionKeys map[string][]string // by tenant name: every session made
	users       []string            // user ids known in some tenant
}

// newFixture makes an env with: acme's u1 with two active sessions and a
// revoked one, acme's u2 with one, globex's g1 with one, and a revoked
// API key named "revoked" with every scope.
func newFixture(t testing.TB, open func(testing.TB) sessions.Store) *fixture {
	t.Helper()
	f := &fixture{env: newEnv(t, open, testConfig()), sessionKeys: map[string][]string{}, users: []string{"u1", "u2", "g1"}}
	add := func(tenant string, s sessionBody) sessionBody {
		f.sessionKeys[tenant] = append(f.sessionKeys[tenant], s.SessionKey)
		return s
	}
	f.s = add("acme", f.start("u1", "app-1", "ip_address", "1.1.1.1", "user_agent", "UA 1"))
	add("acme", f.start("u1", "app-2"))
	ended := add("acme", f.start("u1", "app-1"))
	wantStatus(t, f.do("DELETE", "/api/users/u1/sessions/"+ended.SessionID, "all", ""), http.StatusNoContent)
	add("acme", f.start("u2", "app-1"))
	w := f.do("POST", "/api/users/g1/sessions", "other", `{"client_id":"app-1"}`)
	wantStatus(t, w, http.StatusCreated)
	add("globex", decodeBody[sessionBody](t, w))
	f.addKey("revoked", "acme", sessions.Scopes...)
	if err := f.store.RevokeAPIKey(context.Background(), f.keyIDs["revoked"], f.clock.Unix()); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	f.clock.Advance(2 * testConfig().TouchInterval) // so that a validation writes
	return f
}

// snapshot reads, through the store's own methods, everything a request
// could change: every API key, every listing of every known user id in
// both tenants, and every known session by its key, whatever its state.
func (f *fixture) snapshot() string {
	f.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	asJSON := func(v any) string {
		j, err := json.Marshal(v)
		if err != nil {
			f.t.Fatalf("snapshot: %v", err)
		}
		return string(j)
	}
	keys, err := f.store.ListAPIKeys(ctx)
	if err != nil {
		f.t.Fatalf("ListAPIKeys: %v", err)
	}
	tenants := map[string]int64{}
	for _, k := range keys {
		tenants[k.TenantName] = k.TenantID
		line("key %s %d %s %q %v %s %d %d", k.ID, k.TenantID, k.TenantName, k.Name, k.Scopes, hex.EncodeToString(k.Hash), k.CreatedAt, k.RevokedAt)
	}
	for _, tenant := range []string{"acme", "globex"} {
		id, ok := tenants[tenant]
		if !ok {
			f.t.Fatalf("snapshot: no tenant %s", tenant)
		}
		for _, user := range f.users {
			list, total, err := f.store.ListSessions(ctx, sessions.ListQuery{
				TenantID: id, UserID: user, Sort: sessions.SortSessionID, Page: 1, Size: sessions.MaxPageSize, Now: f.clock.Unix(),
			})
			line("list %s %s: %d %s %s", tenant, user, total, sessions.ErrorCode(err), asJSON(list))
		}
		for _, key := range f.sessionKeys[tenant] {
			s, err := f.store.SessionByKey(ctx, id, key)
			line("session %s %s: %s %s", tenant, key, sessions.ErrorCode(err), asJSON(s))
		}
	}
	return b.String()
}

// authzRoute is a route with a request that succeeds with the right key.
type authzRoute struct {
	scope                sessions.Scope // "": the route needs no key
	method, target, body string
	ok                   int // status with the right key
	otherTenant          int // status with a key of another tenant with every scope
}

// authzRoutes lists every route of routes.go, aimed at f's data.
func authzRoutes(f *fixture) []authzRoute {
	s := f.s
	return []authzRoute{
		{sessions.ScopeSessionsRead, "GET", "/api/users/u1/sessions", "", 200, 404},
		{sessions.ScopeSessionsRead, "GET", "/api/users/u1/sessions/" + s.SessionID, "", 200, 404},
		{sessions.ScopeSessionsRead, "GET", "/api/users/u1/sessions/" + s.SessionID + "/activity", "", 200, 404},
		{sessions.ScopeSessionsRevoke, "DELETE", "/api/users/u1/sessions/" + s.SessionID, "", 204, 404},
		{sessions.ScopeSessionsRevoke, "DELETE", "/api/users/u1/sessions", "", 204, 404},
		{sessions.ScopeUsersDelete, "DELETE", "/api/users/u1", "", 204, 404},
		{sessions.ScopeSessionsRevoke, "DELETE", "/api/users/u1/sessions?except=" + s.SessionID, "", 204, 404},
		{sessions.ScopeSessionsRead, "GET", "/api/users/u1/sessions?status=ended", "", 200, 404},
		// Every tenant has sessions of app-1: another tenant's key revokes
		// its own.
		{sessions.ScopeSessionsRevoke, "POST", "/api/sessions/revoke_bulk", `{"filter":{"client_id":"app-1"}}`, 200, 200},
		// The feed is the key's tenant's: another tenant reads its own.
		{sessions.ScopeSessionsRead, "GET", "/api/events?after=0&limit=10", "", 200, 200},
		// Starting a session for u1 with another tenant's key makes another
		// user u1, in that tenant.
		{sessions.ScopeSessionsWrite, "POST", "/api/users/u1/sessions", `{"client_id":"app-3","ip_address":"2.2.2.2","user_agent":"UA 2"}`, 201, 201},
		{sessions.ScopeSessionsWrite, "POST", "/api/sessions/validate", `{"session_token":"` + s.SessionToken + `","client_id":"app-9"}`, 200, 404},
		{sessions.ScopeSessionsWrite, "POST", "/api/sessions/revoke", `{"session_token":"` + s.SessionToken + `"}`, 204, 404},
		{"", "GET", "/api/openapi.json", "", 200, 200},
		{"", "GET", "/healthz", "", 200, 200},
		{"", "GET", "/readyz", "", 200, 200},
		{"", "GET", "/metrics", "", 200, 200},
	}
}

// authzColumns are the keys of the matrix, by name: a secret, or the name
// of one of the env's keys.
var authzColumns = []string{
	"no key", "malformed key", "unknown key", "revoked",
	string(sessions.ScopeSessionsRead), string(sessions.ScopeSessionsWrite),
	string(sessions.ScopeSessionsRevoke), string(sessions.ScopeUsersDelete),
	"other", "all",
}

// secretOf returns the X-API-KEY value of a column.
func (f *fixture) secretOf(column string) string {
	switch column {
	case "no key":
		return ""
	case "malformed key":
		return "sdk_" + strings.Repeat("!", 43)
	case "unknown key":
		return sessions.NewAPIKeySecret()
	}
	return f.env.keys[column]
}

// want is the status the contract gives rt with the column's key.
func (rt authzRoute) want(column string) int {
	switch {
	case rt.scope == "":
		return rt.ok
	case column == "no key" || column == "malformed key" || column == "unknown key" || column == "revoked":
		return http.StatusUnauthorized
	case column == "other":
		return rt.otherTenant
	case column == "all" || column == string(rt.scope):
		return rt.ok
	default:
		return http.StatusForbidden
	}
}

// TestAuthorizationMatrix sends every route with every kind of key and
// checks the exact status of each, and that a refused or read-only request
// changed nothing in the store, while each allowed write did change it.
// Removing a scope check, an authentication or a tenant filter from any
// route fails a cell.
func TestAuthorizationMatrix(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		shared := newFixture(t, open)
		before := shared.snapshot()
		for i := range authzRoutes(shared) {
			for _, column := range authzColumns {
				rt := authzRoutes(shared)[i]
				want := rt.want(column)
				writes := want < 300 && rt.method != "GET"
				name := rt.method + " " + strings.Replace(rt.target, shared.s.SessionID, "{session_id}", 1) + " " + column
				t.Run(name, func(t *testing.T) {
					f := shared
					if writes {
						// A write that succeeds gets a store of its own.
						f = newFixture(t, open)
						rt = authzRoutes(f)[i]
					}
					start := f.snapshot()
					w := f.serve(request(rt.method, rt.target, f.secretOf(column), rt.body))
					if w.Code != want {
						t.Fatalf("status: got %d, want %d; body %s", w.Code, want, w.Body.String())
					}
					if want >= 400 {
						wantProblem(t, w, want)
					}
					end := f.snapshot()
					switch {
					case writes && end == start:
						t.Errorf("the allowed write changed nothing in the store")
					case !writes && end != start:
						t.Errorf("the store changed:\nbefore:\n%s\nafter:\n%s", start, end)
					}
				})
			}
		}
		if after := shared.snapshot(); after != before {
			t.Errorf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}
