package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
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

func FuzzSort(f *testing.F) {
	e := fuzzEnv(f)
	e.start("u1", "app-1")
	valid := map[string]bool{}
	for _, field := range sessions.SortFields {
		for _, order := range []string{"1", "-1"} {
			valid[string(field)+":"+order] = true
			f.Add(string(field) + ":" + order)
		}
	}
	for _, s := range []string{
		"", ":", "session_id", "session_id:", ":1", "session_id:0", "session_id:+1", "session_id:-1:1", "SESSION_ID:1",
		"session_id :1", "session_id: 1", "initiated_at:-01", "initiated_at:1\x00", "last_updated:１", "expires_at:−1",
		"session_id;DROP TABLE sessions:1", "user_id:1", "session_id,initiated_at:1", "\xff:1", strings.Repeat("a", 1000) + ":1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sort string) {
		r := request("GET", "/api/users/u1/sessions", e.keys["all"], "")
		r.URL.RawQuery = "sort=" + url.QueryEscape(sort)
		w := e.serve(r)
		checkResponse(t, w, http.StatusOK, http.StatusUnprocessableEntity)
		if (w.Code == http.StatusOK) != valid[sort] {
			t.Fatalf("sort %q: got %d, want 200 only for the %d valid values", sort, w.Code, len(valid))
		}
		if w.Code == http.StatusUnprocessableEntity {
			var p problemBody
			json.Unmarshal(w.Body.Bytes(), &p)
			if len(p.Errors) != 1 || len(p.Errors["sort"]) == 0 {
				t.Fatalf("sort %q: errors %v, want only sort", sort, p.Errors)
			}
		}
	})
}

func FuzzAccept(f *testing.F) {
	e := fuzzEnv(f)
	e.start("u1", "app-1")
	for _, a := range []string{
		"", "*/*", "application/json", "application/problem+json", "application/*", "text/html", "application/json;q=0",
		"application/json;q=0.5, */*;q=0", "*/*;q=0, application/json;q=0.001", "application/json;q=1.0001", "application/json;q=-0",
		"application/json;q=NaN", "application/json;q=1e-3", "application/json;Q=0", "application/json;q", ";;;,,,", "*/*;q=0;q=1",
		"application/json" + strings.Repeat(";a=b", 500), "APPLICATION/PROBLEM+JSON;q=0.1", "application/json\x00", "/", "*/",
		"application/json;q=0, application/json", "text/*, application/xml;q=1",
	} {
		f.Add(a)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		w := e.do("GET", "/api/users/u1/sessions", "all", "", "Accept", accept)
		if accept == "" {
			checkResponse(t, w, http.StatusOK)
			return
		}
		checkResponse(t, w, http.StatusOK, http.StatusNotAcceptable)
		// Whatever else it says, a header that also names JSON plainly
		// accepts it.
		w = e.do("GET", "/api/users/u1/sessions", "all", "", "Accept", accept+", application/json")
		checkResponse(t, w, http.StatusOK)
	})
}

func FuzzAPIKeyHeader(f *testing.F) {
	e := fuzzEnv(f)
	e.start("u1", "app-1")
	good := e.keys["all"]
	revoked := e.addKey("revoked", "acme", sessions.Scopes...)
	if err := e.store.RevokeAPIKey(context.Background(), e.keyIDs["revoked"], e.clock.Unix()); err != nil {
		f.Fatal(err)
	}
	for _, k := range []string{
		good, revoked, e.keys["other"], e.keys["sessions:write"], sessions.NewAPIKeySecret(), "", "sdk_", good[:len(good)-1],
		good + "A", strings.ToUpper(good), " " + good, good + " ", "Bearer " + good, "sdt_" + good[4:], "sdk_" + strings.Repeat("!", 43),
		good[:10] + "\x00" + good[11:], good + "," + good, strings.Repeat("sdk_", 1000), "sdk_" + strings.Repeat("é", 22),
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		r := request("GET", "/api/users/u1/sessions", "", "")
		r.Header["X-Api-Key"] = []string{key}
		w := e.serve(r)
		want := http.StatusUnauthorized
		switch key {
		case good:
			want = http.StatusOK
		case e.keys["other"]:
			want = http.StatusNotFound
		case e.keys["sessions:write"]:
			want = http.StatusForbidden
		}
		checkResponse(t, w, want)
		// The answer never echoes what was sent.
		if strings.HasPrefix(key, "sdk_") && strings.Contains(w.Body.String(), key) {
			t.Fatalf("the body echoes the key: %s", w.Body.String())
		}
	})
}

func FuzzPathIDs(f *testing.F) {
	e := fuzzEnv(f)
	s := e.start("u1", "app-1")
	for _, ids := range [][2]string{
		{"u1", s.SessionID}, {"u1", strings.ToLower(s.SessionID)}, {"u2", s.SessionID}, {"", ""}, {".", ".."}, {"u1/sessions", "x"},
		{"a%2Fb", "%00"}, {"alice@example.com", sessions.NewSessionID()}, {strings.Repeat("a", 129), strings.Repeat("A", 33)},
		{"ü", "Ａ"}, {"u1\x00", s.SessionID + "\x00"}, {"-u1", "0123456789abcdefABCDEF0123456789"}, {"u1?x=1", "#"},
		{"auth0|5f7c8ec7", "G0000000000000000000000000000000"}, {"../../etc/passwd", "..%2F"},
	} {
		f.Add(ids[0], ids[1])
	}
	f.Fuzz(func(t *testing.T, userID, sessionID string) {
		// Each id as one path segment, and as it is (it may then span
		// several segments or be cleaned away).
		for _, seg := range []func(string) string{url.PathEscape, func(s string) string { return s }} {
			u, sid := seg(userID), seg(sessionID)
			idsValid := sessions.CheckID(userID) == "" && sessions.CheckSessionID(sessionID) == ""
			for _, rt := range []struct{ method, path, body string }{
				{"GET", "/api/users/" + u + "/sessions", ""},
				{"GET", "/api/users/" + u + "/sessions/" + sid, ""},
				{"GET", "/api/users/" + u + "/sessions/" + sid + "/activity", ""},
				{"POST", "/api/users/" + u + "/sessions", `{"client_id":"app-1"}`},
				{"DELETE", "/api/users/" + u + "/sessions/" + sid, ""},
				{"DELETE", "/api/users/" + u + "/sessions", ""},
				{"DELETE", "/api/users/" + u, ""},
			} {
				r := request(rt.method, "/", e.keys["all"], rt.body)
				r.URL.Path, r.URL.RawPath = "", ""
				if p, err := url.PathUnescape(rt.path); err == nil {
					r.URL.Path = p
					r.URL.RawPath = rt.path
				} else {
					r.URL.Path = rt.path
				}
				w := e.serve(r)
				checkResponse(t, w, http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnprocessableEntity)
				// A success with one-segment ids means both were valid.
				if w.Code < 300 && strings.Contains(rt.path, "/sessions/") && !strings.Contains(sid+u, "/") && !idsValid {
					t.Fatalf("%s %s: %d for invalid ids %q, %q", rt.method, rt.path, w.Code, userID, sessionID)
				}
			}
		}
	})
}

func FuzzActivityMetadata(f *testing.F) {
	e := fuzzEnv(f)
	s := e.start("u1", "app-1")
	for _, in := range [][2]string{
		{"Mozilla/5.0 (X11; Linux x86_64)", "1.1.1.1"}, {"", ""}, {"ctl \x01\x1f\x7f", "::1"}, {"nul \x00", "fe80::1%eth0"},
		{"\u2028\u2029", "::ffff:1.2.3.4"}, {"\ufeffbom", "1.1.1.01"}, {"bidi \u202e evil", "2001:db8::1"}, {"\xff\xfe", "256.1.1.1"},
		{"😀" + strings.Repeat("é", 1023), " 1.1.1.1"}, {strings.Repeat("a", 1025), "1.1.1.1\n"}, {"<script>&amp;", "0.0.0.0"},
		{`" OR 1=1 --`, "::"}, {"\U0010FFFF\uFFFD", "1::1.2.3.4"}, {"combining e\u0301", "1.1.1.1/24"},
	} {
		f.Add(in[0], in[1])
	}
	// readBack fails unless the stored session has the user agent ua and
	// the IP address ip, as sent.
	readBack := func(t *testing.T, id, ua, ip string) {
		t.Helper()
		w := e.do("GET", "/api/users/u1/sessions/"+id, "all", "")
		checkResponse(t, w, http.StatusOK)
		var got sessionBody
		json.Unmarshal(w.Body.Bytes(), &got)
		if ua != "" {
			if g := got.LastMetadata["user_agent"]; g == nil || *g != ua {
				t.Fatalf("user agent %q read back as %s", ua, deref(g))
			}
		}
		if ip != "" {
			want := netip.MustParseAddr(ip).Unmap().String()
			if g := got.LastMetadata["ip_address"]; g == nil || *g != want {
				t.Fatalf("IP address %q read back as %s, want %q", ip, deref(g), want)
			}
		}
	}
	f.Fuzz(func(t *testing.T, ua, ip string) {
		// What the server reads: encoding/json replaces invalid UTF-8.
		body, _ := json.Marshal(map[string]string{"client_id": "app-1", "user_agent": ua, "ip_address": ip})
		var sent map[string]string
		json.Unmarshal(body, &sent)
		ua, ip = sent["user_agent"], sent["ip_address"]

		w := e.do("POST", "/api/users/u1/sessions", "all", string(body))
		checkResponse(t, w, http.StatusCreated, http.StatusUnprocessableEntity)
		if w.Code == http.StatusCreated {
			var started sessionBody
			json.Unmarshal(w.Body.Bytes(), &started)
			readBack(t, started.SessionID, ua, ip)
		}
		body, _ = json.Marshal(map[string]string{"session_token": s.SessionToken, "user_agent": ua, "ip_address": ip})
		w = e.do("POST", "/api/sessions/validate", "all", string(body))
		checkResponse(t, w, http.StatusOK, http.StatusUnprocessableEntity)
		if w.Code == http.StatusOK {
			readBack(t, s.SessionID, ua, ip)
		}
	})
}
