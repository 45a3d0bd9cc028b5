package httpapi

// Tests of the hand-written fast paths against what they stand in for:
// each must give exactly the result of the general code (encoding/json,
// net/url, path.Clean), which serves as the reference.

import (
	"bytes"
	"encoding/json"
	"net/url"
	"path"
	"testing"
)

// marshal is json.Marshal without HTML escaping, which problem details
// are written as.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// stringSeeds are strings that exercise every escaping rule.
var stringSeeds = []string{
	"", "a", "plain ASCII text of some length", "0123456789ABCDEF0123456789ABCDEF",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", `quote " and \ backslash`,
	"<script>&amp;</script>", "ctl \x00\x01\b\f\n\r\t\x1f\x7f", "ünïcödé ✓ 😀", "bad \xff\xfe utf-8 \xc3",
	"line\u2028sep\u2029", "exactly8", "exactly8<", "1234567\"", "12345678\\12345678",
}

// TestAppendJSONStringBytes puts every byte value at every position of a
// 16-byte string, so that the 8-byte blocks of plainRun meet each of them
// at each of their lanes.
func TestAppendJSONStringBytes(t *testing.T) {
	for c := range 256 {
		for p := range 16 {
			b := []byte("abcdefghijklmnop")
			b[p] = byte(c)
			checkJSONString(t, string(b))
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkJSONString(t, s) })
}

func checkJSONString(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	if got := appendJSONString(nil, s, true); !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(%q, html) = %s, want %s", s, got, want)
	}
	want, _ = marshal(s)
	if got := appendJSONString(nil, s, false); !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
	}
}

func FuzzProblemJSON(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s, 400, s)
	}
	f.Fuzz(func(t *testing.T, s string, status int, field string) {
		for _, p := range []problem{
			{Type: s, Title: s, Status: status, Detail: s, Instance: s},
			{Status: status, Errors: map[string][]string{field: {s, "b"}, "a": {s}, "z": nil}},
			{Errors: map[string][]string{}},
		} {
			want, err := marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.appendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("appendJSON(%+v) = %s, want %s", p, got, want)
			}
		}
	})
}

// flatRequest is a request type read by parseFlat.
type flatRequest struct {
	SessionToken string `json:"session_token"`
	ClientID     string `json:"client_id"`
	IPAddress    string `json:"ip_address"`
	UserAgent    string `json:"user_agent"`
}

var flatRequestBody = &flatBody[flatRequest]{
	names: []string{"session_token", "client_id", "ip_address", "user_agent"},
	build: func(v [maxFlatMembers]string) flatRequest { return flatRequest{v[0], v[1], v[2], v[3]} },
}

func FuzzParseFlat(f *testing.F) {
	for _, b := range []string{
		`{"session_token":"sdt_x"}`, ` { "session_token" : "a" , "client_id":"b","ip_address":"1.2.3.4","user_agent":"UA <1>" } `,
		`{}`, ` {} `, `{"client_id":"a","client_id":"b"}`, `{"Client_ID":"a"}`, `{"other":"a"}`, `{"client_id":null}`,
		`{"client_id":1}`, `{"client_id":"\u0041"}`, `{"client_id":"é"}`, `{"client_id":"a"}x`, `{"client_id":"a"}{}`,
		`{"client_id":"a",}`, `{"client_id" "a"}`, `{"client_id":"a"`, `[]`, ``, `   `, "{\"client_id\":\"a\tb\"}",
		"\ufeff{}", `{"client_id":"a"}` + "\n", "{\v}",
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var vals [maxFlatMembers]string
		if !parseFlat(body, flatRequestBody.names, &vals) {
			return // encoding/json decides
		}
		got := flatRequestBody.build(vals)
		want, err := decodeJSON[flatRequest](nil, body, nil)
		if err != nil {
			t.Fatalf("parseFlat took %q, which encoding/json refuses: %v", body, err)
		}
		if got != want {
			t.Fatalf("parseFlat(%q) = %+v, encoding/json %+v", body, got, want)
		}
	})
}

// TestParseFlatTakesPlainBodies checks that the bodies clients send do
// take the fast path.
func TestParseFlatTakesPlainBodies(t *testing.T) {
	for _, b := range []string{`{"session_token":"sdt_abc-_0"}`, `{"session_token": "sdt_x", "client_id": "app-1", "ip_address": "2001:db8::1", "user_agent": "Mozilla/5.0 (X11)"}` + "\n", `{}`} {
		var vals [maxFlatMembers]string
		if !parseFlat([]byte(b), flatRequestBody.names, &vals) {
			t.Errorf("parseFlat(%q) left it to encoding/json", b)
		}
	}
}

// canonicalPathReference is canonicalPath by its definition.
func canonicalPathReference(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	return p == clean || p == clean+"/"
}

func FuzzCanonicalPath(f *testing.F) {
	for _, p := range []string{"", "/", "//", "/a", "/a/", "/a//", "/a//b", "/.", "/..", "/a/.", "/a/./b", "/a/../b", "/...", "/a/..b", "a/b", "/a/b/.", "/./"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := canonicalPath(p), canonicalPathReference(p); got != want {
			t.Fatalf("canonicalPath(%q) = %v, want %v", p, got, want)
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{"", "page=1&size=2", "page=1&page=2", "a;b", "page=%zz", "%zz=1", "page", "page=", "&&page=1&", "sort=a%3Ab", "client_id=a+b", "size=1;", "p%61ge=3"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseQuery(raw, listParams[:]...)
		ref, refErr := url.ParseQuery(raw)
		dup := false
		for _, n := range listParams {
			dup = dup || len(ref[n]) > 1
		}
		if (err != nil) != (refErr != nil || dup) {
			t.Fatalf("parseQuery(%q): error %v; url.ParseQuery error %v, duplicates %v", raw, err, refErr, dup)
		}
		if err != nil {
			return
		}
		for _, n := range listParams {
			v, ok := got.get(n)
			if rv, rok := ref[n]; ok != rok || ok && v != rv[0] {
				t.Fatalf("parseQuery(%q).get(%s) = %q, %v; want %v", raw, n, v, ok, rv)
			}
		}
	})
}

func FuzzAppendQueryEscape(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendQueryEscape(nil, s)), url.QueryEscape(s); got != want {
			t.Fatalf("appendQueryEscape(%q) = %q, want %q", s, got, want)
		}
	})
}

// TestPaginationHeaders pins the Link header's form, also when it is
// appended after the X-Pagination value it shares an allocation with.
func TestPaginationHeaders(t *testing.T) {
	q, err := parseQuery("client_id=a%20b&sort=last_updated:-1&status=active", listParams[:]...)
	if err != nil {
		t.Fatal(err)
	}
	got := string(appendLinkHeader(nil, "/api/users/u%2F1/sessions", 10, 2, 3, &q))
	want := `</api/users/u%2F1/sessions?page=1&size=10&client_id=a+b&sort=last_updated%3A-1&status=active>; rel="first", ` +
		`</api/users/u%2F1/sessions?page=1&size=10&client_id=a+b&sort=last_updated%3A-1&status=active>; rel="prev", ` +
		`</api/users/u%2F1/sessions?page=3&size=10&client_id=a+b&sort=last_updated%3A-1&status=active>; rel="next", ` +
		`</api/users/u%2F1/sessions?page=3&size=10&client_id=a+b&sort=last_updated%3A-1&status=active>; rel="last"`
	if got != want {
		t.Errorf("Link:\n got %s\nwant %s", got, want)
	}
	if got := string(appendLinkHeader([]byte("prefix"), "/p", 5, 1, 1, nil)); got != `prefix</p?page=1&size=5>; rel="first", </p?page=1&size=5>; rel="last"` {
		t.Errorf("Link after a prefix: %s", got)
	}
}

var benchSink []byte

// BenchmarkAppendString encodes the strings of a typical session.
func BenchmarkAppendString(b *testing.B) {
	strs := []string{"0123456789ABCDEF0123456789ABCDEF", "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F9",
		"app-1", "203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "user-42@example.com"}
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		buf = buf[:0]
		for _, s := range strs {
			buf = appendString(buf, s)
		}
	}
	benchSink = buf
}
