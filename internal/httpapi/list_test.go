package httpapi_test

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// startN starts n sessions of user, one second apart, and returns them in
// start order.
func (e *env) startN(user, client string, n int) []sessionBody {
	e.t.Helper()
	out := make([]sessionBody, n)
	for i := range out {
		out[i] = e.start(user, client)
		e.clock.Advance(time.Second)
	}
	return out
}

func TestListPagination(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		started := e.startN("u1", "app-1", 23)
		// Newest first by default.
		newest := ids(started)
		slices.Reverse(newest)

		const base = "/api/users/u1/sessions"
		tests := []struct {
			query      string
			wantIDs    []string
			pagination string
			link       string
		}{
			{
				query:      "",
				wantIDs:    newest[:10],
				pagination: `{"page_size":10,"current_page":1,"total_count":23,"has_previous":false,"has_next":true}`,
				link:       `<` + base + `?page=1&size=10>; rel="first", <` + base + `?page=2&size=10>; rel="next", <` + base + `?page=3&size=10>; rel="last"`,
			},
			{
				query:      "page=2",
				wantIDs:    newest[10:20],
				pagination: `{"page_size":10,"current_page":2,"total_count":23,"has_previous":true,"has_next":true}`,
				link:       `<` + base + `?page=1&size=10>; rel="first", <` + base + `?page=1&size=10>; rel="prev", <` + base + `?page=3&size=10>; rel="next", <` + base + `?page=3&size=10>; rel="last"`,
			},
			{
				query:      "page=3&size=10",
				wantIDs:    newest[20:],
				pagination: `{"page_size":10,"current_page":3,"total_count":23,"has_previous":true,"has_next":false}`,
				link:       `<` + base + `?page=1&size=10>; rel="first", <` + base + `?page=2&size=10>; rel="prev", <` + base + `?page=3&size=10>; rel="last"`,
			},
			{
				query:      "page=4",
				wantIDs:    []string{},
				pagination: `{"page_size":10,"current_page":4,"total_count":23,"has_previous":true,"has_next":false}`,
				link:       `<` + base + `?page=1&size=10>; rel="first", <` + base + `?page=3&size=10>; rel="prev", <` + base + `?page=3&size=10>; rel="last"`,
			},
			{
				query:      "size=1",
				wantIDs:    newest[:1],
				pagination: `{"page_size":1,"current_page":1,"total_count":23,"has_previous":false,"has_next":true}`,
				link:       `<` + base + `?page=1&size=1>; rel="first", <` + base + `?page=2&size=1>; rel="next", <` + base + `?page=23&size=1>; rel="last"`,
			},
			{
				query:      "size=1&page=23",
				wantIDs:    newest[22:],
				pagination: `{"page_size":1,"current_page":23,"total_count":23,"has_previous":true,"has_next":false}`,
				link:       `<` + base + `?page=1&size=1>; rel="first", <` + base + `?page=22&size=1>; rel="prev", <` + base + `?page=23&size=1>; rel="last"`,
			},
			{
				query:      "size=100",
				wantIDs:    newest,
				pagination: `{"page_size":100,"current_page":1,"total_count":23,"has_previous":false,"has_next":false}`,
				link:       `<` + base + `?page=1&size=100>; rel="first", <` + base + `?page=1&size=100>; rel="last"`,
			},
			{
				query:      "size=23&page=1",
				wantIDs:    newest,
				pagination: `{"page_size":23,"current_page":1,"total_count":23,"has_previous":false,"has_next":false}`,
				link:       `<` + base + `?page=1&size=23>; rel="first", <` + base + `?page=1&size=23>; rel="last"`,
			},
			{
				// Huge pages are past the end, not an overflow.
				query:      "page=9223372036854775807&size=100",
				wantIDs:    []string{},
				pagination: `{"page_size":100,"current_page":9223372036854775807,"total_count":23,"has_previous":true,"has_next":false}`,
				link:       `<` + base + `?page=1&size=100>; rel="first", <` + base + `?page=9223372036854775806&size=100>; rel="prev", <` + base + `?page=1&size=100>; rel="last"`,
			},
			{
				// client_id and sort are kept in the links, unknown parameters are not.
				query:      "size=5&page=2&client_id=app-1&sort=initiated_at:1&utm=x&utm=y",
				wantIDs:    ids(started[5:10]),
				pagination: `{"page_size":5,"current_page":2,"total_count":23,"has_previous":true,"has_next":true}`,
				link: `<` + base + `?page=1&size=5&client_id=app-1&sort=initiated_at%3A1>; rel="first", ` +
					`<` + base + `?page=1&size=5&client_id=app-1&sort=initiated_at%3A1>; rel="prev", ` +
					`<` + base + `?page=3&size=5&client_id=app-1&sort=initiated_at%3A1>; rel="next", ` +
					`<` + base + `?page=5&size=5&client_id=app-1&sort=initiated_at%3A1>; rel="last"`,
			},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				list, w := e.list("u1", tt.query)
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type: got %q, want application/json", ct)
				}
				if got := ids(list); !slices.Equal(got, tt.wantIDs) {
					t.Errorf("ids: got %v, want %v", got, tt.wantIDs)
				}
				if len(tt.wantIDs) == 0 && w.Body.String() != "[]" {
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

		// Each listed session is the full session object.
		list, w := e.list("u1", "size=1")
		wantKeys := []string{"client_ids", "expires_at", "initiated_at", "last_metadata", "last_updated", "session_id", "session_key"}
		if keys := jsonKeys(t, []byte(w.Body.String()[1:len(w.Body.String())-1])); !slices.Equal(keys, wantKeys) {
			t.Errorf("members: got %v, want %v", keys, wantKeys)
		}
		if s := list[0]; s.SessionKey != newestSession(started).SessionKey {
			t.Errorf("session_key: got %s, want %s", s.SessionKey, newestSession(started).SessionKey)
		}
	})
}

func newestSession(started []sessionBody) sessionBody { return started[len(started)-1] }

func TestListEmptyAndUnknown(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		// Never had a session: 404.
		p := wantProblem(t, e.do("GET", "/api/users/ghost/sessions", "all", ""), http.StatusNotFound)
		if p.Instance != "/api/users/ghost/sessions" {
			t.Errorf("instance: got %q, want /api/users/ghost/sessions", p.Instance)
		}
		// Known, no active sessions: 200 [].
		s := e.start("u1", "app-1")
		wantStatus(t, e.do("DELETE", "/api/users/u1/sessions/"+s.SessionID, "all", ""), http.StatusNoContent)
		list, w := e.list("u1", "")
		if len(list) != 0 || w.Body.String() != "[]" {
			t.Errorf("got %s, want []", w.Body.String())
		}
		if got, want := w.Header().Get("Link"), `</api/users/u1/sessions?page=1&size=10>; rel="first", </api/users/u1/sessions?page=1&size=10>; rel="last"`; got != want {
			t.Errorf("Link: got %s, want %s", got, want)
		}
		// A filter that matches nothing: 200 [].
		e.start("u1", "app-1")
		list, w = e.list("u1", "client_id=app-9")
		if len(list) != 0 || w.Header().Get("X-Pagination") != `{"page_size":10,"current_page":1,"total_count":0,"has_previous":false,"has_next":false}` {
			t.Errorf("got %s %s, want [] with total_count 0", w.Body.String(), w.Header().Get("X-Pagination"))
		}
		// Erased: 404.
		wantStatus(t, e.do("DELETE", "/api/users/u1", "all", ""), http.StatusNoContent)
		wantProblem(t, e.do("GET", "/api/users/u1/sessions", "all", ""), http.StatusNotFound)
	})
}

func TestListSortAndFilter(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		// Sessions with ties in every time field, so that the session_id
		// tie-break decides: pairs started in the same second, some touched.
		var all []sessionBody
		for i := range 4 {
			client := "app-a"
			if i%2 == 1 {
				client = "app-b"
			}
			all = append(all, e.start("u1", client), e.start("u1", "app-c"))
			e.clock.Advance(90 * time.Second)
		}
		// Touch some so last_updated and expires_at differ from initiated_at
		// order; two at the same moment (a tie), one joining app-b.
		e.clock.Advance(2 * time.Minute)
		wantStatus(t, e.validate(all[0].SessionToken), http.StatusOK)
		wantStatus(t, e.validate(all[5].SessionToken, "client_id", "app-b"), http.StatusOK)
		e.clock.Advance(2 * time.Minute)
		wantStatus(t, e.validate(all[3].SessionToken), http.StatusOK)
		e.start("u2", "app-a") // another user: never listed under u1

		full, _ := e.list("u1", "size=100&sort=session_id:1")
		if len(full) != len(all) {
			t.Fatalf("listed %d sessions, want %d", len(full), len(all))
		}
		field := map[string]func(s sessionBody) int64{
			"initiated_at": func(s sessionBody) int64 { return s.InitiatedAt },
			"expires_at":   func(s sessionBody) int64 { return s.ExpiresAt },
			"last_updated": func(s sessionBody) int64 { return s.LastUpdated },
			"session_id":   func(s sessionBody) int64 { return 0 },
		}
		for _, f := range sessions.SortFields {
			for _, order := range []string{"1", "-1"} {
				sortParam := string(f) + ":" + order
				t.Run(sortParam, func(t *testing.T) {
					want := slices.Clone(full)
					slices.SortFunc(want, func(a, b sessionBody) int {
						c := cmp.Or(cmp.Compare(field[string(f)](a), field[string(f)](b)), cmp.Compare(a.SessionID, b.SessionID))
						if order == "-1" {
							return -c
						}
						return c
					})
					got, _ := e.list("u1", "size=100&sort="+sortParam)
					if !slices.Equal(ids(got), ids(want)) {
						t.Errorf("order:\n got %v\nwant %v", ids(got), ids(want))
					}
					// Paging through with size 3 yields the same order: no
					// overlap, no gap.
					var paged []string
					for page := 1; page <= 3; page++ {
						p, _ := e.list("u1", fmt.Sprintf("size=3&page=%d&sort=%s", page, sortParam))
						paged = append(paged, ids(p)...)
					}
					if !slices.Equal(paged, ids(want)) {
						t.Errorf("paged order:\n got %v\nwant %v", paged, ids(want))
					}
				})
			}
		}

		// The default sort is initiated_at:-1.
		def, _ := e.list("u1", "size=100")
		explicit, _ := e.list("u1", "size=100&sort=initiated_at:-1")
		if !slices.Equal(ids(def), ids(explicit)) {
			t.Errorf("default order:\n got %v\nwant %v", ids(def), ids(explicit))
		}

		// client_id filters on every client that took part, and counts.
		for client, wantN := range map[string]int{"app-a": 2, "app-b": 3, "app-c": 4, "app-z": 0} {
			got, w := e.list("u1", "size=100&client_id="+client)
			if len(got) != wantN {
				t.Errorf("client_id=%s: got %d sessions, want %d", client, len(got), wantN)
			}
			for _, s := range got {
				if !slices.Contains(s.ClientIDs, client) {
					t.Errorf("client_id=%s listed session %s with client_ids %v", client, s.SessionID, s.ClientIDs)
				}
			}
			wantPag := `{"page_size":100,"current_page":1,"total_count":` + strconv.Itoa(wantN) + `,"has_previous":false,"has_next":false}`
			if got := w.Header().Get("X-Pagination"); got != wantPag {
				t.Errorf("client_id=%s X-Pagination: got %s, want %s", client, got, wantPag)
			}
		}
	})
}

func TestListQueryErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		e.start("u1", "app-1")
		invalid := []struct {
			query  string
			errors map[string]int // parameter: number of messages
		}{
			{"page=0&size=500&sort=foo:2&client_id=!!", map[string]int{"page": 1, "size": 1, "sort": 2, "client_id": 1}},
			{"page=abc", map[string]int{"page": 1}},
			{"page=-1", map[string]int{"page": 1}},
			{"page=", map[string]int{"page": 1}},
			{"page=1.5", map[string]int{"page": 1}},
			{"page=99999999999999999999", map[string]int{"page": 1}},
			{"size=0", map[string]int{"size": 1}},
			{"size=101", map[string]int{"size": 1}},
			{"size=ten", map[string]int{"size": 1}},
			{"sort=initiated_at", map[string]int{"sort": 1}},
			{"sort=", map[string]int{"sort": 1}},
			{"sort=foo:1", map[string]int{"sort": 1}},
			{"sort=initiated_at:0", map[string]int{"sort": 1}},
			{"sort=initiated_at:asc", map[string]int{"sort": 1}},
			{"sort=INITIATED_AT:1", map[string]int{"sort": 1}},
			{"client_id=", map[string]int{"client_id": 1}},
			{"client_id=-x", map[string]int{"client_id": 1}},
		}
		for _, tt := range invalid {
			t.Run(tt.query, func(t *testing.T) {
				p := wantProblem(t, e.do("GET", "/api/users/u1/sessions?"+tt.query, "all", ""), http.StatusUnprocessableEntity)
				if len(p.Errors) != len(tt.errors) {
					t.Errorf("errors: got %v, want members %v", p.Errors, tt.errors)
				}
				for k, n := range tt.errors {
					if len(p.Errors[k]) != n {
						t.Errorf("errors[%s]: got %q, want %d message(s)", k, p.Errors[k], n)
					}
				}
			})
		}
		// A bad user id is reported with the parameters.
		p := wantProblem(t, e.do("GET", "/api/users/-x/sessions?page=0", "all", ""), http.StatusUnprocessableEntity)
		if got := errorKeys(p); !slices.Equal(got, []string{"page", "user_id"}) {
			t.Errorf("errors: got %v, want [page user_id]", p.Errors)
		}

		unreadable := []string{
			"page=1&page=2",
			"size=1&size=1",
			"sort=session_id:1&sort=session_id:-1",
			"client_id=a&client_id=b",
			"page=%zz",
			"page=1;size=2",
		}
		for _, q := range unreadable {
			t.Run(q, func(t *testing.T) {
				wantProblem(t, e.do("GET", "/api/users/u1/sessions?"+q, "all", ""), http.StatusBadRequest)
			})
		}
		// Unknown parameters are ignored, even repeated.
		e.list("u1", "foo=1&foo=2&bar")
	})
}
