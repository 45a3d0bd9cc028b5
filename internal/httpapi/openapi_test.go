package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/sessions"
)

// loadOpenAPI fetches the served document and validates it.
func loadOpenAPI(t *testing.T, e *env) (*openapi3.T, routers.Router) {
	t.Helper()
	w := e.do("GET", "/api/openapi.json", "", "")
	wantStatus(t, w, http.StatusOK)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type: got %q, want application/json", ct)
	}
	doc, err := openapi3.NewLoader().LoadFromData(w.Body.Bytes())
	if err != nil {
		t.Fatalf("loading openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi: got %q, want 3.0.3", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return doc, router
}

// conformance validates real responses against the document, and records
// which operations and statuses were seen.
type conformance struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	seen   map[string]map[int]bool // operationId: statuses
}

// check validates the response w to r. A response to a request that no
// operation matches (404, 405) must still be a Problem.
func (c *conformance) check(r *http.Request, w *httptest.ResponseRecorder) {
	c.t.Helper()
	if err := c.validate(r, w.Code, w.Header(), w.Body.Bytes()); err != nil {
		c.t.Errorf("%s %s → %d: %v\nbody: %s", r.Method, r.URL, w.Code, err, w.Body.String())
	}
}

func (c *conformance) validate(r *http.Request, status int, header http.Header, body []byte) error {
	if header.Get("X-Request-Id") == "" {
		return errorString("no X-Request-Id")
	}
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		// Not an operation of the document: must be a documented 404/405.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return errorString("status " + strconv.Itoa(status) + " for a request the document has no operation for")
		}
		if status == http.StatusMethodNotAllowed && header.Get("Allow") == "" {
			return errorString("405 without Allow")
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return c.doc.Components.Schemas["Problem"].Value.VisitJSON(v)
	}
	if c.seen[route.Operation.OperationID] == nil {
		c.seen[route.Operation.OperationID] = map[int]bool{}
	}
	c.seen[route.Operation.OperationID][status] = true
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      route,
		},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

type errorString string

func (e errorString) Error() string { return string(e) }

// battery sends requests that cover every route and every status the
// server can give without faults, checking each response.
func battery(c *conformance, e *env) {
	t := c.t
	t.Helper()
	send := func(method, target, key, body string, hdr ...string) *httptest.ResponseRecorder {
		t.Helper()
		r := request(method, target, key, body, hdr...)
		w := e.serve(r)
		c.check(r, w)
		return w
	}
	all := e.keys["all"]
	none := sessions.NewAPIKeySecret()

	send("GET", "/api/openapi.json", "", "")
	send("GET", "/api/openapi.json", "", "", "Accept", "text/html")
	send("GET", "/healthz", "", "")
	send("GET", "/healthz", "", "", "Accept", "text/html")
	send("GET", "/readyz", "", "")
	send("GET", "/readyz", "", "", "Accept", "text/html")
	send("GET", "/metrics", "", "")

	// Start: 201, 400, 401, 403, 406, 413, 415, 422.
	w := send("POST", "/api/users/u1/sessions", all, `{"client_id":"app-1","ip_address":"1.1.1.1","user_agent":"UA"}`)
	s := decodeBody[sessionBody](t, w)
	s2 := decodeBody[sessionBody](t, send("POST", "/api/users/u1/sessions", all, `{"client_id":"app-2"}`))
	s3 := decodeBody[sessionBody](t, send("POST", "/api/users/u1/sessions", all, `{"client_id":"app-3"}`))
	send("POST", "/api/users/u1/sessions", all, `{"client_id":`)
	send("POST", "/api/users/u1/sessions", "", `{"client_id":"app-1"}`)
	send("POST", "/api/users/u1/sessions", e.keyWithout(sessions.ScopeSessionsWrite), `{"client_id":"app-1"}`)
	send("POST", "/api/users/u1/sessions", all, `{"client_id":"app-1"}`, "Accept", "text/html")
	send("POST", "/api/users/u1/sessions", all, `{"user_agent":"`+strings.Repeat("a", 70000)+`"}`)
	send("POST", "/api/users/u1/sessions", all, `{"client_id":"app-1"}`, "Content-Type", "text/plain")
	send("POST", "/api/users/u1/sessions", all, `{"client_id":"!","ip_address":"x"}`)
	send("POST", "/api/users/%21/sessions", all, `{"client_id":"app-1"}`)

	// List: 200 (with and without items), 400, 401, 403, 404, 406, 422.
	send("GET", "/api/users/u1/sessions", all, "")
	send("GET", "/api/users/u1/sessions?page=2&size=1&sort=expires_at:1&client_id=app-1", all, "")
	send("GET", "/api/users/u1/sessions?page=9", all, "")
	send("GET", "/api/users/u1/sessions?page=1&page=2", all, "")
	send("GET", "/api/users/u1/sessions", none, "")
	send("GET", "/api/users/u1/sessions", e.keyWithout(sessions.ScopeSessionsRead), "")
	send("GET", "/api/users/ghost/sessions", all, "")
	send("GET", "/api/users/u1/sessions", all, "", "Accept", "text/html")
	send("GET", "/api/users/u1/sessions?page=0&size=500&sort=foo:2&client_id=!!", all, "")

	// Get: 200, 401, 403, 404, 406, 422.
	send("GET", "/api/users/u1/sessions/"+s.SessionID, all, "")
	send("GET", "/api/users/u1/sessions/"+s.SessionID, "", "")
	send("GET", "/api/users/u1/sessions/"+s.SessionID, e.keyWithout(sessions.ScopeSessionsRead), "")
	send("GET", "/api/users/u1/sessions/"+sessions.NewSessionID(), all, "")
	send("GET", "/api/users/u1/sessions/"+s.SessionID, all, "", "Accept", "text/html")
	send("GET", "/api/users/u1/sessions/bad", all, "")

	// Activity: 200 (with and without items), 400, 401, 403, 404, 406, 422.
	act := "/api/users/u1/sessions/" + s.SessionID + "/activity"
	send("GET", act, all, "")
	send("GET", act+"?page=2&size=1", all, "")
	send("GET", act+"?page=9", all, "")
	send("GET", act+"?size=1&size=2", all, "")
	send("GET", act, none, "")
	send("GET", act, e.keyWithout(sessions.ScopeSessionsRead), "")
	send("GET", "/api/users/u1/sessions/"+sessions.NewSessionID()+"/activity", all, "")
	send("GET", "/api/users/ghost/sessions/"+s.SessionID+"/activity", all, "")
	send("GET", act, all, "", "Accept", "text/html")
	send("GET", "/api/users/!/sessions/bad/activity?page=0&size=500", all, "")

	// Validate: 200, 400, 401, 403, 404, 406, 413, 415, 422.
	send("POST", "/api/sessions/validate", all, `{"session_token":"`+s.SessionToken+`","client_id":"app-9"}`)
	send("POST", "/api/sessions/validate", all, `{"session_token":"`+s.SessionToken+`"} {}`)
	send("POST", "/api/sessions/validate", "", `{"session_token":"`+s.SessionToken+`"}`)
	send("POST", "/api/sessions/validate", e.keyWithout(sessions.ScopeSessionsWrite), `{"session_token":"`+s.SessionToken+`"}`)
	send("POST", "/api/sessions/validate", all, `{"session_token":"`+sessions.NewToken()+`"}`)
	send("POST", "/api/sessions/validate", all, `{}`, "Accept", "text/html")
	send("POST", "/api/sessions/validate", all, `{"session_token":"`+strings.Repeat("a", 70000)+`"}`)
	send("POST", "/api/sessions/validate", all, `{}`, "Content-Type", "application/xml")
	send("POST", "/api/sessions/validate", all, `{"session_token":""}`)

	// Sign out: 204, 400, 401, 403, 404, 406, 413, 415, 422.
	send("POST", "/api/sessions/revoke", all, `{"session_token":"`+s3.SessionToken+`"}`)
	send("POST", "/api/sessions/revoke", all, `{"token":"x"}`)
	send("POST", "/api/sessions/revoke", "", `{}`)
	send("POST", "/api/sessions/revoke", e.keyWithout(sessions.ScopeSessionsWrite), `{}`)
	send("POST", "/api/sessions/revoke", all, `{"session_token":"`+sessions.NewToken()+`"}`)
	send("POST", "/api/sessions/revoke", all, `{}`, "Accept", "text/html")
	send("POST", "/api/sessions/revoke", all, `{"session_token":"`+strings.Repeat("a", 70000)+`"}`)
	send("POST", "/api/sessions/revoke", all, `{}`, "Content-Type", "")
	send("POST", "/api/sessions/revoke", all, `{}`)

	// Revoke one: 204, 401, 403, 404, 406, 422.
	send("DELETE", "/api/users/u1/sessions/"+s2.SessionID, all, "")
	send("DELETE", "/api/users/u1/sessions/"+s2.SessionID, all, "")
	send("DELETE", "/api/users/u1/sessions/"+s.SessionID, "", "")
	send("DELETE", "/api/users/u1/sessions/"+s.SessionID, e.keyWithout(sessions.ScopeSessionsRevoke), "")
	send("DELETE", "/api/users/u1/sessions/"+s.SessionID, all, "", "Accept", "text/html")
	send("DELETE", "/api/users/u1/sessions/x", all, "")

	// Revoke all but one: 204, 400, 404, 422. s stays active.
	send("DELETE", "/api/users/u1/sessions?except="+s.SessionID, all, "")
	send("DELETE", "/api/users/u1/sessions?except="+s.SessionID+"&except="+s.SessionID, all, "")
	send("DELETE", "/api/users/u1/sessions?except="+sessions.NewSessionID(), all, "")
	send("DELETE", "/api/users/u1/sessions?except=x", all, "")

	// Ended sessions (s2 revoked, s3 signed out): 200 with ended_at and
	// end_reason; 422 for a bad status.
	if w := send("GET", "/api/users/u1/sessions?status=ended", all, ""); !strings.Contains(w.Body.String(), `"end_reason":"signed_out"`) {
		t.Errorf("status=ended: got %s, want ended sessions", w.Body.String())
	}
	send("GET", "/api/users/u1/sessions?status=active&sort=session_id:1", all, "")
	send("GET", "/api/users/u1/sessions?status=gone", all, "")

	// Bulk revocation: 200 (dry run with a sample, real run), 400, 401,
	// 403, 406, 413, 415, 422.
	bulk := "/api/sessions/revoke_bulk"
	if w := send("POST", bulk, all, `{"filter":{"user_id":"u1"},"dry_run":true}`); !strings.Contains(w.Body.String(), s.SessionID) {
		t.Errorf("dry run: got %s, want a sample with %s", w.Body.String(), s.SessionID)
	}
	send("POST", bulk, all, `{"filter":{"client_id":"app-1","idle_longer_than":1,"started_before":1,"country":"France"},"dry_run":true,"sample_size":0}`)
	send("POST", bulk, all, `{"filter":{"user_id":"u1","client_id":"app-1"}}`)
	send("POST", bulk, all, `{"filter":{"user":"u1"}}`)
	send("POST", bulk, "", `{"filter":{"user_id":"u1"}}`)
	send("POST", bulk, e.keyWithout(sessions.ScopeSessionsRevoke), `{"filter":{"user_id":"u1"}}`)
	send("POST", bulk, all, `{"filter":{"user_id":"u1"}}`, "Accept", "text/html")
	send("POST", bulk, all, `{"filter":{"country":"`+strings.Repeat("a", 70000)+`"}}`)
	send("POST", bulk, all, `{"filter":{"user_id":"u1"}}`, "Content-Type", "text/plain")
	send("POST", bulk, all, `{"filter":{}}`)
	send("POST", bulk, all, `{"filter":{"user_id":"!","idle_longer_than":0},"sample_size":101}`)

	// Revoke all: 204, 401, 403, 404, 406, 422.
	send("DELETE", "/api/users/u1/sessions", all, "")
	send("DELETE", "/api/users/u1/sessions", "", "")
	send("DELETE", "/api/users/u1/sessions", e.keyWithout(sessions.ScopeSessionsRevoke), "")
	send("DELETE", "/api/users/ghost/sessions", all, "")
	send("DELETE", "/api/users/u1/sessions", all, "", "Accept", "text/html")
	send("DELETE", "/api/users/-/sessions", all, "")

	// Erase: 204, 401, 403, 404, 406, 422.
	send("DELETE", "/api/users/u1", all, "")
	send("DELETE", "/api/users/u1", all, "")
	send("DELETE", "/api/users/u1", "", "")
	send("DELETE", "/api/users/u1", e.keyWithout(sessions.ScopeUsersDelete), "")
	send("DELETE", "/api/users/u1", all, "", "Accept", "text/html")
	send("DELETE", "/api/users/-", all, "")

	// Event feed: 200 (every type of event so far, a page, an empty
	// page), 400, 401, 403, 406, 422.
	w = send("GET", "/api/events", all, "")
	for _, typ := range sessions.EventTypes {
		if typ != sessions.EventSessionExpired && !strings.Contains(w.Body.String(), `"type":"`+string(typ)+`"`) {
			t.Errorf("GET /api/events: no %s event in %s", typ, w.Body.String())
		}
	}
	send("GET", "/api/events?after=2&limit=3", all, "")
	send("GET", "/api/events?after=999999", all, "")
	send("GET", "/api/events?after=1&after=2", all, "")
	send("GET", "/api/events", none, "")
	send("GET", "/api/events", e.keyWithout(sessions.ScopeSessionsRead), "")
	send("GET", "/api/events", all, "", "Accept", "text/html")
	send("GET", "/api/events?after=-1&limit=1001", all, "")

	// Outside the operations: 404 and 405.
	send("GET", "/api/nope", all, "")
	send("PUT", "/api/users/u1/sessions", all, "")
	send("GET", "/api/sessions/revoke", all, "")

	// 503 on every store route, once the store is gone.
	e.store.Close()
	send("GET", "/readyz", "", "")
	tok := `{"session_token":"` + sessions.NewToken() + `"}`
	for _, rt := range []struct{ method, target, body string }{
		{"GET", "/api/users/u2/sessions", ""},
		{"POST", "/api/users/u2/sessions", `{"client_id":"app-1"}`},
		{"GET", "/api/users/u2/sessions/" + s.SessionID, ""},
		{"GET", "/api/users/u2/sessions/" + s.SessionID + "/activity", ""},
		{"DELETE", "/api/users/u2/sessions/" + s.SessionID, ""},
		{"DELETE", "/api/users/u2/sessions", ""},
		{"DELETE", "/api/users/u2", ""},
		{"POST", "/api/sessions/validate", tok},
		{"POST", "/api/sessions/revoke", tok},
		{"POST", "/api/sessions/revoke_bulk", `{"filter":{"user_id":"u2"}}`},
		{"GET", "/api/events", ""},
	} {
		// The key cannot be checked either: 503 before anything else.
		send(rt.method, rt.target, all, rt.body)
	}
}

// rateLimited sends a request to every route that needs a key, once with a
// key over its rate and once from an address over its failed-authentication
// budget, checking each 429. e limits keys and failures to a burst of 1.
func rateLimited(c *conformance, e *env) {
	t := c.t
	t.Helper()
	s := e.start("u1", "app-1") // spends the burst of the key "all"
	tok := `{"session_token":"` + s.SessionToken + `"}`
	routes := []struct{ method, target, body string }{
		{"GET", "/api/users/u1/sessions", ""},
		{"POST", "/api/users/u1/sessions", `{"client_id":"app-1"}`},
		{"GET", "/api/users/u1/sessions/" + s.SessionID, ""},
		{"GET", "/api/users/u1/sessions/" + s.SessionID + "/activity", ""},
		{"DELETE", "/api/users/u1/sessions/" + s.SessionID, ""},
		{"DELETE", "/api/users/u1/sessions", ""},
		{"DELETE", "/api/users/u1", ""},
		{"POST", "/api/sessions/validate", tok},
		{"POST", "/api/sessions/revoke", tok},
		{"POST", "/api/sessions/revoke_bulk", `{"filter":{"user_id":"u1"},"dry_run":true}`},
		{"GET", "/api/events", ""},
	}
	failing := func(r *http.Request) *http.Request { r.RemoteAddr = "203.0.113.9:4000"; return r }
	w := e.serve(failing(request("GET", "/api/users/u1/sessions", sessions.NewAPIKeySecret(), "")))
	wantProblem(t, w, http.StatusUnauthorized)
	for _, rt := range routes {
		for _, r := range []*http.Request{
			request(rt.method, rt.target, e.keys["all"], rt.body),
			failing(request(rt.method, rt.target, e.keys["sessions:read"], rt.body)),
		} {
			w := e.serve(r)
			wantProblem(t, w, http.StatusTooManyRequests)
			c.check(r, w)
		}
	}
}

func TestOpenAPIConformance(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		doc, router := loadOpenAPI(t, e)
		c := &conformance{t: t, doc: doc, router: router, seen: map[string]map[int]bool{}}
		battery(c, e)

		// 500 on every route: a service without a store panics.
		broken := httpapi.NewServer(sessions.NewService(nil, testConfig(), nil, nil), slog.New(slog.DiscardHandler), prometheus.NewRegistry(), httpapi.Options{})
		for _, rt := range []struct{ method, target, body string }{
			{"GET", "/api/users/u2/sessions", ""},
			{"POST", "/api/users/u2/sessions", `{"client_id":"app-1"}`},
			{"GET", "/api/users/u2/sessions/" + sessions.NewSessionID(), ""},
			{"GET", "/api/users/u2/sessions/" + sessions.NewSessionID() + "/activity", ""},
			{"DELETE", "/api/users/u2/sessions/" + sessions.NewSessionID(), ""},
			{"DELETE", "/api/users/u2/sessions", ""},
			{"DELETE", "/api/users/u2", ""},
			{"POST", "/api/sessions/validate", `{}`},
			{"POST", "/api/sessions/revoke", `{}`},
			{"POST", "/api/sessions/revoke_bulk", `{"filter":{"user_id":"u2"}}`},
			{"GET", "/api/events", ""},
			{"GET", "/readyz", ""},
		} {
			r := request(rt.method, rt.target, sessions.NewAPIKeySecret(), rt.body)
			w := httptest.NewRecorder()
			broken.ServeHTTP(w, r)
			if w.Code != http.StatusInternalServerError {
				t.Errorf("%s %s on a broken service: got %d, want 500", rt.method, rt.target, w.Code)
			}
			c.check(r, w)
		}

		// 429 on every route that needs a key: from a key over its rate,
		// and from an address that failed authentication too often.
		rateLimited(c, newEnvWith(t, open, testConfig(), httpapi.Options{KeyRate: 1, KeyBurst: 1, AuthFailRate: 1, AuthFailBurst: 1}))

		// Every operation was exercised; report statuses documented but
		// not produced (409 needs an id collision).
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				seen := c.seen[op.OperationID]
				if len(seen) == 0 {
					t.Errorf("%s %s (%s) was never exercised", method, path, op.OperationID)
					continue
				}
				var missing []string
				for code := range op.Responses.Map() {
					n, _ := strconv.Atoi(code)
					if !seen[n] {
						missing = append(missing, code)
					}
				}
				slices.Sort(missing)
				for _, code := range missing {
					if code != "409" && !(op.OperationID == "healthz" && code == "500") &&
						!(op.OperationID == "getOpenAPI" && code == "500") {
						t.Errorf("%s: documented status %s was never produced", op.OperationID, code)
					}
				}
			}
		}
	})
}

// TestOpenAPIDetectsDrift makes sure the conformance check can fail: a
// response that differs from the document is caught.
func TestOpenAPIDetectsDrift(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		doc, router := loadOpenAPI(t, e)
		c := &conformance{t: t, doc: doc, router: router, seen: map[string]map[int]bool{}}
		s := e.start("u1", "app-1")
		listReq := request("GET", "/api/users/u1/sessions", e.keys["all"], "")
		w := e.serve(listReq)
		if err := c.validate(listReq, w.Code, w.Header(), w.Body.Bytes()); err != nil {
			t.Fatalf("the real response does not conform: %v", err)
		}
		getReq := request("GET", "/api/users/u1/sessions/"+s.SessionID, e.keys["all"], "")
		gw := e.serve(getReq)
		session := gw.Body.String()
		actReq := request("GET", "/api/users/u1/sessions/"+s.SessionID+"/activity", e.keys["all"], "")
		aw := e.serve(actReq)
		if err := c.validate(actReq, aw.Code, aw.Header(), aw.Body.Bytes()); err != nil {
			t.Fatalf("the real activity response does not conform: %v", err)
		}
		trail := aw.Body.String()
		if w := e.do("POST", "/api/sessions/revoke", "all", `{"session_token":"`+s.SessionToken+`"}`); w.Code != http.StatusNoContent {
			t.Fatalf("sign out: got %d", w.Code)
		}
		endedReq := request("GET", "/api/users/u1/sessions?status=ended", e.keys["all"], "")
		ew := e.serve(endedReq)
		if err := c.validate(endedReq, ew.Code, ew.Header(), ew.Body.Bytes()); err != nil {
			t.Fatalf("the real ended list does not conform: %v", err)
		}
		ended := ew.Body.String()
		if !strings.Contains(ended, `,"end_reason":"signed_out"`) {
			t.Fatalf("fixture: ended list %s has no signed_out", ended)
		}

		withHeader := func(k, v string) http.Header {
			h := w.Header().Clone()
			if v == "" {
				h.Del(k)
			} else {
				h.Set(k, v)
			}
			return h
		}
		drifts := []struct {
			name   string
			req    *http.Request
			status int
			header http.Header
			body   string
		}{
			{"undocumented status", listReq, http.StatusTeapot, w.Header(), w.Body.String()},
			{"no X-Pagination", listReq, 200, withHeader("X-Pagination", ""), w.Body.String()},
			{"X-Pagination extra member", listReq, 200, withHeader("X-Pagination", `{"page_size":10,"current_page":1,"total_count":1,"has_previous":false,"has_next":false,"pages":1}`), w.Body.String()},
			{"X-Pagination wrong type", listReq, 200, withHeader("X-Pagination", `{"page_size":"10","current_page":1,"total_count":1,"has_previous":false,"has_next":false}`), w.Body.String()},
			{"no Link", listReq, 200, withHeader("Link", ""), w.Body.String()},
			{"no X-Request-Id", listReq, 200, withHeader("X-Request-Id", ""), w.Body.String()},
			{"null list", listReq, 200, w.Header(), "null"},
			{"session member renamed", getReq, 200, gw.Header(), strings.Replace(session, `"last_updated"`, `"updated_at"`, 1)},
			{"extra member", getReq, 200, gw.Header(), strings.Replace(session, `{`, `{"user_id":"u1",`, 1)},
			{"metadata member missing", getReq, 200, gw.Header(), strings.Replace(session, `"city":null,`, ``, 1)},
			{"time as string", getReq, 200, gw.Header(), strings.Replace(session, `"initiated_at":`, `"initiated_at":"`, 1)},
			{"activity without X-Pagination", actReq, 200, http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"x"}, "Link": aw.Header()["Link"]}, trail},
			{"activity flag missing", actReq, 200, aw.Header(), strings.Replace(trail, `,"impossible_travel":false`, ``, 1)},
			{"activity flag as string", actReq, 200, aw.Header(), strings.Replace(trail, `"new_country":false`, `"new_country":"false"`, 1)},
			{"activity extra member", actReq, 200, aw.Header(), strings.Replace(trail, `{"at":`, `{"location":null,"at":`, 1)},
			{"activity client_id empty", actReq, 200, aw.Header(), strings.Replace(trail, `"client_id":"app-1"`, `"client_id":""`, 1)},
			{"ended session without end_reason", endedReq, 200, ew.Header(), strings.Replace(ended, `,"end_reason":"signed_out"`, ``, 1)},
			{"ended session with an unknown reason", endedReq, 200, ew.Header(), strings.Replace(ended, `"signed_out"`, `"logged_out"`, 1)},
			{"ended session without ended_at", endedReq, 200, ew.Header(), strings.Replace(ended, `"ended_at":`, `"ended":`, 1)},
			{"problem without type", getReq, 404, http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"x"}}, `{"title":"Not Found","status":404,"detail":"x","instance":"/"}`},
			{"problem with wrong status", getReq, 404, http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"x"}}, `{"type":"https://httpstatuses.io/404","title":"Not Found","status":400,"detail":"x","instance":"/"}`},
			{"problem as JSON", getReq, 404, http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"x"}}, `{"type":"https://httpstatuses.io/404","title":"Not Found","status":404,"detail":"x","instance":"/"}`},
			{"429 without Retry-After", getReq, 429, http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"x"}}, `{"type":"https://httpstatuses.io/429","title":"Too Many Requests","status":429,"detail":"x","instance":"/"}`},
			{"429 with Retry-After 0", getReq, 429, http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"x"}, "Retry-After": {"0"}}, `{"type":"https://httpstatuses.io/429","title":"Too Many Requests","status":429,"detail":"x","instance":"/"}`},
			{"validation problem without errors", getReq, 422, http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"x"}}, `{"type":"https://httpstatuses.io/422#validation-error","title":"Unprocessable Entity","status":422,"detail":"x","instance":"/"}`},
		}
		if !strings.Contains(session, `"city":null,`) {
			t.Fatalf("fixture: session %s has no null city", session)
		}
		for _, want := range []string{`{"at":`, `"client_id":"app-1"`, `"new_country":false`, `,"impossible_travel":false`} {
			if !strings.Contains(trail, want) {
				t.Fatalf("fixture: trail %s has no %s", trail, want)
			}
		}
		for _, d := range drifts {
			t.Run(d.name, func(t *testing.T) {
				if err := c.validate(d.req, d.status, d.header, []byte(d.body)); err == nil {
					t.Errorf("a drifted response passed validation")
				}
			})
		}
	})
}
