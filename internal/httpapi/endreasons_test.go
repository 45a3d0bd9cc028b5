package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// endedBody is an ended session as a client reads it.
type endedBody struct {
	sessionBody
	EndedAt   *int64  `json:"ended_at"`
	EndReason *string `json:"end_reason"`
}

// sessionMembers are the members of the session object, sorted.
var sessionMembers = []string{"client_ids", "expires_at", "initiated_at", "last_metadata", "last_updated", "session_id", "session_key"}

// listEnded lists user's ended sessions, sorted by session ID, and checks
// that each item has exactly the session members, ended_at and end_reason.
func (e *env) listEnded(user string) map[string]endedBody {
	e.t.Helper()
	w := e.do("GET", "/api/users/"+user+"/sessions?status=ended&size=100", "all", "")
	wantStatus(e.t, w, http.StatusOK)
	var raw []json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		e.t.Fatalf("ended list %s: %v", w.Body.String(), err)
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(sessionMembers), "end_reason", "ended_at")))
	out := map[string]endedBody{}
	for _, item := range raw {
		if got := jsonKeys(e.t, item); !slices.Equal(got, want) {
			e.t.Errorf("ended session members: got %v, want %v", got, want)
		}
		var b endedBody
		if err := json.Unmarshal(item, &b); err != nil {
			e.t.Fatal(err)
		}
		out[b.SessionID] = b
	}
	return out
}

// TestListEnded ends sessions in every way there is and checks that the
// ended listing shows each with when and why it ended, while the active
// listing keeps the seed's shape.
func TestListEnded(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		cfg := testConfig() // sliding 1 h, absolute 3 h
		e := newEnv(t, open, cfg)
		start := e.clock.Unix()

		// u's sessions end by revocation, w's by expiry.
		out := e.start("u", "app-1")
		rev := e.start("u", "app-1")
		all := e.start("u", "app-1")
		keep := e.start("u", "app-1")
		bulk := e.start("u", "bulk-app")
		idle := e.start("w", "app-1")
		abs := e.start("w", "app-1")

		e.clock.Advance(time.Minute)
		at := e.clock.Unix()
		wantStatus(t, e.do("POST", "/api/sessions/revoke", "sessions:write", `{"session_token":"`+out.SessionToken+`"}`), http.StatusNoContent)
		wantStatus(t, e.do("DELETE", "/api/users/u/sessions/"+rev.SessionID, "sessions:revoke", ""), http.StatusNoContent)
		w := e.do("POST", "/api/sessions/revoke_bulk", "all", `{"filter":{"client_id":"bulk-app"}}`)
		wantStatus(t, w, http.StatusOK)
		if got := w.Body.String(); got != `{"dry_run":false,"count":1}` {
			t.Errorf("bulk revocation: got %s, want count 1", got)
		}
		wantStatus(t, e.do("DELETE", "/api/users/u/sessions?except="+keep.SessionID, "all", ""), http.StatusNoContent)

		// The active listing is the seed's: only keep, in its shape.
		for _, q := range []string{"", "status=active"} {
			w := e.do("GET", "/api/users/u/sessions?"+q, "all", "")
			wantStatus(t, w, http.StatusOK)
			var raw []json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil || len(raw) != 1 {
				t.Fatalf("active list (%q): got %s, want keep alone", q, w.Body.String())
			}
			if got := jsonKeys(t, raw[0]); !slices.Equal(got, sessionMembers) {
				t.Errorf("active session members (%q): got %v, want %v", q, got, sessionMembers)
			}
		}

		// abs is kept alive until its absolute cap; idle (and keep) are
		// left alone.
		for range 3 {
			e.clock.Advance(50 * time.Minute)
			wantStatus(t, e.validate(abs.SessionToken), http.StatusOK)
		}
		e.clock.Advance(time.Hour)

		got := e.listEnded("u")
		type end struct {
			at     int64
			reason sessions.EndReason
			by     string
		}
		want := map[string]end{
			out.SessionID:  {at, sessions.ReasonSignedOut, e.keyIDs["sessions:write"]},
			rev.SessionID:  {at, sessions.ReasonRevoked, e.keyIDs["sessions:revoke"]},
			bulk.SessionID: {at, sessions.ReasonBulkRevoked, e.keyIDs["all"]},
			all.SessionID:  {at, sessions.ReasonRevokedAll, e.keyIDs["all"]},
		}
		wGot := e.listEnded("w")
		for id, b := range wGot {
			got[id] = b
		}
		want[idle.SessionID] = end{start + 3600, sessions.ReasonExpiredIdle, ""}
		want[keep.SessionID] = end{start + 3600, sessions.ReasonExpiredIdle, ""}
		want[abs.SessionID] = end{start + 3*3600, sessions.ReasonExpiredAbsolute, ""}
		if len(got) != len(want) {
			t.Errorf("ended sessions: got %d, want %d", len(got), len(want))
		}
		for id, wt := range want {
			b, ok := got[id]
			switch {
			case !ok:
				t.Errorf("session %s (%s) is not listed as ended", id, wt.reason)
			case b.EndedAt == nil || *b.EndedAt != wt.at || b.EndReason == nil || *b.EndReason != string(wt.reason):
				t.Errorf("session %s: got ended_at %v, end_reason %v; want %d, %s", id, b.EndedAt, b.EndReason, wt.at, wt.reason)
			}
			// The key that ended it is recorded, not shown.
			if wt.by == "" {
				continue
			}
			key := ""
			for _, s := range []sessionBody{out, rev, all, bulk} {
				if s.SessionID == id {
					key = s.SessionKey
				}
			}
			tenant, err := e.svc.Authenticate(t.Context(), e.keys["all"])
			if err != nil {
				t.Fatal(err)
			}
			s, err := e.store.SessionByKey(t.Context(), tenant.TenantID, key)
			if err != nil || s.EndedBy != wt.by {
				t.Errorf("session %s: got ended by %v (%v), want %s", id, s, err, wt.by)
			}
		}

	})
}

// TestListEndedPaging checks that the ended listing pages and sorts like
// the active one, with X-Pagination counting ended sessions and the Link
// header keeping the status.
func TestListEndedPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		var ended []string
		for i := range 5 {
			s := e.start("u", fmt.Sprintf("app-%d", i%2))
			ended = append(ended, s.SessionID)
			e.clock.Advance(time.Second)
		}
		e.start("u", "app-1") // active
		for _, id := range ended {
			wantStatus(t, e.do("DELETE", "/api/users/u/sessions/"+id, "all", ""), http.StatusNoContent)
		}

		sorted := slices.Sorted(slices.Values(ended))
		list, w := e.list("u", "status=ended&sort=session_id:1&size=2&page=2")
		if got := strings.Join(ids(list), ","); got != strings.Join(sorted[2:4], ",") {
			t.Errorf("page 2: got %s, want %s", got, strings.Join(sorted[2:4], ","))
		}
		if got, want := w.Header().Get("X-Pagination"), `{"page_size":2,"current_page":2,"total_count":5,"has_previous":true,"has_next":true}`; got != want {
			t.Errorf("X-Pagination: got %s, want %s", got, want)
		}
		if link := w.Header().Get("Link"); !strings.Contains(link, "&status=ended>") {
			t.Errorf("Link: got %s, want the status kept", link)
		}
		// Newest first by default; the client filter applies.
		list, w = e.list("u", "status=ended&client_id=app-0")
		if got, want := ids(list), []string{ended[4], ended[2], ended[0]}; !slices.Equal(got, want) {
			t.Errorf("ended, app-0: got %v, want %v", got, want)
		}
		if got := w.Header().Get("X-Pagination"); !strings.Contains(got, `"total_count":3`) {
			t.Errorf("X-Pagination of ended, app-0: got %s, want total 3", got)
		}
		// A known user without ended sessions: 200 []; an unknown one 404.
		e.start("fresh", "app-1")
		if list, _ := e.list("fresh", "status=ended"); len(list) != 0 {
			t.Errorf("ended sessions of a fresh user: got %v, want none", ids(list))
		}
		wantProblem(t, e.do("GET", "/api/users/ghost/sessions?status=ended", "all", ""), http.StatusNotFound)
	})
}

// TestListStatusInvalid checks that a bad status is a 422 reported with
// the other parameters, and that a repeated one is 400.
func TestListStatusInvalid(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		e.start("u", "app-1")
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"status=", []string{"status"}},
			{"status", []string{"status"}},
			{"status=ENDED", []string{"status"}},
			{"status=revoked&page=0&sort=x:1", []string{"page", "sort", "status"}},
		} {
			p := wantProblem(t, e.do("GET", "/api/users/u/sessions?"+tc.query, "all", ""), http.StatusUnprocessableEntity)
			if got := errorKeys(p); !slices.Equal(got, tc.want) {
				t.Errorf("?%s: got errors %v, want %v", tc.query, got, tc.want)
			}
		}
		wantProblem(t, e.do("GET", "/api/users/u/sessions?status=ended&status=active", "all", ""), http.StatusBadRequest)
	})
}

// TestRevokeAllExcept checks "sign out everywhere else".
func TestRevokeAllExcept(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		keep := e.start("u", "app-1")
		gone := []sessionBody{e.start("u", "app-1"), e.start("u", "app-2")}
		bobs := e.start("bob", "app-1")
		ended := e.start("u", "app-1")
		wantStatus(t, e.do("DELETE", "/api/users/u/sessions/"+ended.SessionID, "all", ""), http.StatusNoContent)

		activeIDs := func(user string) []string {
			list, _ := e.list(user, "sort=session_id:1")
			return ids(list)
		}
		before := activeIDs("u")
		for _, tc := range []struct {
			name, query string
			status      int
			errors      []string
		}{
			{"unknown session", "except=" + sessions.NewSessionID(), http.StatusNotFound, nil},
			{"another user's session", "except=" + bobs.SessionID, http.StatusNotFound, nil},
			{"an ended session", "except=" + ended.SessionID, http.StatusNotFound, nil},
			{"malformed", "except=abc", http.StatusUnprocessableEntity, []string{"except"}},
			{"lower case", "except=" + strings.ToLower(keep.SessionID), http.StatusUnprocessableEntity, []string{"except"}},
			{"empty", "except=", http.StatusUnprocessableEntity, []string{"except"}},
			{"repeated", "except=" + keep.SessionID + "&except=" + keep.SessionID, http.StatusBadRequest, nil},
		} {
			p := wantProblem(t, e.do("DELETE", "/api/users/u/sessions?"+tc.query, "all", ""), tc.status)
			if got := errorKeys(p); tc.errors != nil && !slices.Equal(got, tc.errors) {
				t.Errorf("%s: got errors %v, want %v", tc.name, got, tc.errors)
			}
			if got := activeIDs("u"); !slices.Equal(got, before) {
				t.Errorf("%s: active sessions changed from %v to %v", tc.name, before, got)
			}
		}
		p := wantProblem(t, e.do("DELETE", "/api/users/!/sessions?except=", "all", ""), http.StatusUnprocessableEntity)
		if got := errorKeys(p); !slices.Equal(got, []string{"except", "user_id"}) {
			t.Errorf("bad user and empty except: got errors %v, want both", got)
		}
		wantProblem(t, e.do("DELETE", "/api/users/ghost/sessions?except="+keep.SessionID, "all", ""), http.StatusNotFound)

		wantStatus(t, e.do("DELETE", "/api/users/u/sessions?except="+keep.SessionID, "all", ""), http.StatusNoContent)
		if got := activeIDs("u"); !slices.Equal(got, []string{keep.SessionID}) {
			t.Errorf("after signing out everywhere else: got %v, want only %s", got, keep.SessionID)
		}
		for _, s := range gone {
			wantProblem(t, e.validate(s.SessionToken), http.StatusNotFound)
		}
		wantStatus(t, e.validate(keep.SessionToken), http.StatusOK)
		if got := activeIDs("bob"); !slices.Equal(got, []string{bobs.SessionID}) {
			t.Errorf("bob's sessions: got %v, want untouched", got)
		}
	})
}

// bulkResult is the answer of POST /api/sessions/revoke_bulk.
type bulkResult struct {
	DryRun bool          `json:"dry_run"`
	Count  int           `json:"count"`
	Sample []sessionBody `json:"sample"`
}

// TestRevokeBulk runs a dry run and then the revocation, and checks that
// only the matching sessions of the key's tenant end, as bulk_revoked.
func TestRevokeBulk(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		var match, other []sessionBody
		for i := range 7 {
			match = append(match, e.start(fmt.Sprintf("u%d", i%3), "legacy"))
		}
		other = append(other, e.start("u0", "app-1"), e.start("u1", "app-1"))
		w := e.do("POST", "/api/users/u0/sessions", "other", `{"client_id":"legacy"}`)
		wantStatus(t, w, http.StatusCreated)
		namesake := decodeBody[sessionBody](t, w)
		e.clock.Advance(2 * time.Minute)
		wantStatus(t, e.validate(match[0].SessionToken), http.StatusOK) // no longer idle
		match = match[1:]

		body := `{"filter":{"client_id":"legacy","idle_longer_than":60},"dry_run":true,"sample_size":4}`
		w = e.do("POST", "/api/sessions/revoke_bulk", "sessions:revoke", body)
		wantStatus(t, w, http.StatusOK)
		dry := decodeBody[bulkResult](t, w)
		sorted := slices.Sorted(slices.Values(ids(match)))
		if !dry.DryRun || dry.Count != len(match) || !slices.Equal(ids(dry.Sample), sorted[:4]) {
			t.Errorf("dry run: got %+v, want count %d and sample %v", dry, len(match), sorted[:4])
		}
		for _, s := range dry.Sample {
			if !strings.HasPrefix(s.UserID, "u") {
				t.Errorf("sample session %s: got user_id %q", s.SessionID, s.UserID)
			}
		}
		// The dry run revoked nothing.
		for _, s := range match {
			wantStatus(t, e.do("GET", "/api/users/"+userOf(e, s)+"/sessions/"+s.SessionID, "all", ""), http.StatusOK)
		}
		// Default sample size.
		w = e.do("POST", "/api/sessions/revoke_bulk", "all", `{"filter":{"client_id":"legacy"},"dry_run":true}`)
		if got := decodeBody[bulkResult](t, w); len(got.Sample) != 7 || got.Count != 7 {
			t.Errorf("dry run with the default sample: got count %d, %d in the sample; want 7, 7", got.Count, len(got.Sample))
		}

		real := strings.Replace(body, `"dry_run":true`, `"dry_run":false`, 1)
		w = e.do("POST", "/api/sessions/revoke_bulk", "sessions:revoke", real)
		wantStatus(t, w, http.StatusOK)
		if got := w.Body.String(); got != fmt.Sprintf(`{"dry_run":false,"count":%d}`, len(match)) {
			t.Errorf("revocation: got %s, want count %d", got, len(match))
		}
		for _, s := range match {
			wantProblem(t, e.validate(s.SessionToken), http.StatusNotFound)
		}
		for _, s := range other {
			wantStatus(t, e.validate(s.SessionToken), http.StatusOK)
		}
		wantStatus(t, e.do("POST", "/api/sessions/validate", "other", `{"session_token":"`+namesake.SessionToken+`"}`), http.StatusOK)
		ended := e.listEnded("u1")
		for _, s := range match {
			if b, ok := ended[s.SessionID]; ok && (b.EndReason == nil || *b.EndReason != "bulk_revoked") {
				t.Errorf("session %s: got end_reason %v, want bulk_revoked", s.SessionID, b.EndReason)
			}
		}
		// Resuming finds nothing left.
		w = e.do("POST", "/api/sessions/revoke_bulk", "sessions:revoke", real)
		if got := w.Body.String(); got != `{"dry_run":false,"count":0}` {
			t.Errorf("revocation again: got %s, want count 0", got)
		}
	})
}

// userOf returns the user of a session started by e.start: the sample and
// the start responses carry it.
func userOf(e *env, s sessionBody) string {
	e.t.Helper()
	if s.UserID == "" {
		e.t.Fatalf("session %s without user_id", s.SessionID)
	}
	return s.UserID
}

// TestRevokeBulkInvalid checks the 422s and 400s of the bulk route: no
// filter, an empty one, invalid members, all reported at once.
func TestRevokeBulkInvalid(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u", "app-1")
		for _, tc := range []struct {
			body   string
			status int
			errors []string
		}{
			{`{}`, 422, []string{"filter"}},
			{`{"filter":null,"dry_run":true}`, 422, []string{"filter"}},
			{`{"filter":{}}`, 422, []string{"filter"}},
			{`{"filter":{"user_id":null}}`, 422, []string{"filter"}},
			{`{"filter":{"user_id":""}}`, 422, []string{"filter.user_id"}},
			{`{"filter":{"user_id":"!","client_id":"a b","country":"","idle_longer_than":0,"started_before":-5},"sample_size":101}`, 422,
				[]string{"filter.client_id", "filter.country", "filter.idle_longer_than", "filter.started_before", "filter.user_id", "sample_size"}},
			{`{"filter":{"country":"` + strings.Repeat("é", 201) + `"}}`, 422, []string{"filter.country"}},
			{`{"filter":{"user_id":"u"},"sample_size":-1,"dry_run":true}`, 422, []string{"sample_size"}},
			{`{"filter":{"user_id":"u"},"all":true}`, 400, nil},
			{`{"filter":{"user":"u"}}`, 400, nil},
			{`{"filter":{"idle_longer_than":1.5}}`, 400, nil},
			{`{"filter":{"idle_longer_than":"60"}}`, 400, nil},
			{`{"filter":["u"]}`, 400, nil},
		} {
			p := wantProblem(t, e.do("POST", "/api/sessions/revoke_bulk", "all", tc.body), tc.status)
			if got := errorKeys(p); tc.errors != nil && !slices.Equal(got, tc.errors) {
				t.Errorf("%s: got errors %v (%v), want %v", tc.body, got, p.Errors, tc.errors)
			}
		}
		// Nothing was revoked.
		wantStatus(t, e.validate(s.SessionToken), http.StatusOK)
	})
}
