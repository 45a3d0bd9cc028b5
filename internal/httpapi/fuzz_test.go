package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// fuzzEnv is the server a fuzz target sends its inputs to, on the first
// store backend: fuzzing explores the HTTP layer, not the stores.
func fuzzEnv(f *testing.F) *env {
	f.Helper()
	return newEnv(f, storeFactories()[0].open, testConfig())
}

// checkResponse fails unless w has one of the allowed statuses and a body
// of the right kind for it.
func checkResponse(t *testing.T, w *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	ok := false
	for _, s := range allowed {
		ok = ok || w.Code == s
	}
	if !ok {
		t.Fatalf("status %d, want one of %v; body %s", w.Code, allowed, w.Body.String())
	}
	if w.Code == http.StatusNoContent {
		return
	}
	want := "application/json"
	if w.Code >= 400 {
		want = "application/problem+json"
	}
	if ct := w.Header().Get("Content-Type"); ct != want {
		t.Fatalf("status %d with Content-Type %q, want %q", w.Code, ct, want)
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("status %d with a body that is not JSON: %q", w.Code, w.Body.String())
	}
	if w.Code == http.StatusInternalServerError {
		t.Fatalf("500: %s", w.Body.String())
	}
}

func FuzzListQuery(f *testing.F) {
	e := fuzzEnv(f)
	for range 3 {
		e.start("u1", "app-1")
	}
	for _, q := range []string{
		"", "page=1", "page=2&size=1", "size=100", "sort=session_id:1", "sort=expires_at:-1&client_id=app-1",
		"page=0&size=500&sort=foo:2&client_id=!!", "page=1&page=2", "page=%zz", "a;b", "page=9223372036854775807",
		"page=-9223372036854775808&size=-1", "client_id=" + strings.Repeat("a", 200), "sort=:", "sort=last_updated:1:1",
		"page=%00", "&&&", "=", "size=1e2", "page=+1", "page=0x10",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := request("GET", "/api/users/u1/sessions", e.keys["all"], "")
		r.URL.RawQuery = rawQuery
		w := e.serve(r)
		checkResponse(t, w, http.StatusOK, http.StatusBadRequest, http.StatusUnprocessableEntity)
		if w.Code == http.StatusOK {
			var list []sessionBody
			if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || list == nil {
				t.Fatalf("200 body %q is not a JSON array: %v", w.Body.String(), err)
			}
			var pg map[string]any
			if err := json.Unmarshal([]byte(w.Header().Get("X-Pagination")), &pg); err != nil || len(pg) != 5 {
				t.Fatalf("X-Pagination %q: %v", w.Header().Get("X-Pagination"), err)
			}
		}
	})
}

func FuzzStartBody(f *testing.F) {
	e := fuzzEnv(f)
	for _, b := range []string{
		`{"client_id":"app-1"}`, `{"client_id":"app-1","ip_address":"1.1.1.1","user_agent":"UA"}`,
		`{"client_id":"app-1","ip_address":"::1"}`, `{}`, `null`, `[]`, `{"client_id":1}`, `{"client_id":"a","x":1}`,
		`{"client_id":"a"}{}`, `{"client_id":"a"`, ``, `{"client_id":"\u0000"}`, `{"client_id":"a","user_agent":"\ud800"}`,
		`{"client_id":"a","ip_address":"fe80::1%eth0"}`, `{"client_id":"` + strings.Repeat("a", 129) + `"}`,
		`{"client_id":"a","ip_address":"::ffff:1.2.3.4"}`, `{"CLIENT_ID":"a"}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/users/u1/sessions", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-API-KEY", e.keys["all"])
		w := e.serve(r)
		checkResponse(t, w, http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
		if w.Code == http.StatusCreated {
			var s sessionBody
			if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || !sessions.WellFormedToken(s.SessionToken) {
				t.Fatalf("201 body %q: %v", w.Body.String(), err)
			}
		}
	})
}

func FuzzValidateBody(f *testing.F) {
	e := fuzzEnv(f)
	s := e.start("u1", "app-1")
	for _, b := range []string{
		`{"session_token":"` + s.SessionToken + `"}`,
		`{"session_token":"` + s.SessionToken + `","client_id":"app-2","ip_address":"2.2.2.2","user_agent":"UA"}`,
		`{"session_token":"` + sessions.NewToken() + `"}`, `{"session_token":"x"}`, `{"session_token":""}`,
		`{}`, `null`, `{"session_token":1}`, `{"session_token":"x","y":1}`, `{"session_token":"x"} 1`, `{`,
		`{"session_token":"` + strings.Repeat("a", 300) + `"}`, `{"session_token":"` + s.SessionToken + `","ip_address":"::1%lo"}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/sessions/validate", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-API-KEY", e.keys["all"])
		w := e.serve(r)
		checkResponse(t, w, http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
	})
}
