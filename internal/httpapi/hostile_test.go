package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// maxHeaderBytes is what the sessiond command sets as the server's
// http.Server.MaxHeaderBytes.
const maxHeaderBytes = 64 << 10

// realServer serves h on a loopback port with srv's settings until the test
// ends, and returns its address.
func realServer(t *testing.T, h http.Handler, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Handler = h
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// countingBody counts what a handler reads of request bodies.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// countReads wraps h so that *n counts the body bytes its requests read.
func countReads(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = countingBody{r.Body, n}
		h.ServeHTTP(w, r)
	})
}

func TestHeadersTooLarge(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		addr := realServer(t, e.h, &http.Server{MaxHeaderBytes: maxHeaderBytes, ReadHeaderTimeout: 5 * time.Second})
		client := &http.Client{Timeout: 10 * time.Second}
		e.start("u1", "app-1")
		tests := []struct {
			name   string
			header string
			size   int
			want   int
		}{
			{"filler under the limit", "X-Filler", 60 << 10, http.StatusOK},
			{"filler over the limit", "X-Filler", 80 << 10, http.StatusRequestHeaderFieldsTooLarge},
			{"API key over the limit", "X-API-KEY", 1 << 20, http.StatusRequestHeaderFieldsTooLarge},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequest("GET", "http://"+addr+"/api/users/u1/sessions", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-API-KEY", e.keys["all"])
				req.Header.Set(tt.header, strings.Repeat("a", tt.size))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request: %v", err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("status: got %d, want %d", resp.StatusCode, tt.want)
				}
			})
		}
	})
}

// streamBody sends a POST whose body is size bytes of one endless JSON
// string, chunked or with a Content-Length, over a raw connection, and
// returns the response and how many body bytes were written before the
// server stopped taking them.
func streamBody(t *testing.T, addr, key string, size int, chunked bool) (*http.Response, int64) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	framing := "Transfer-Encoding: chunked"
	if !chunked {
		framing = fmt.Sprintf("Content-Length: %d", size)
	}
	fmt.Fprintf(conn, "POST /api/users/u1/sessions HTTP/1.1\r\nHost: sessiond\r\nX-API-KEY: %s\r\nContent-Type: application/json\r\n%s\r\n\r\n", key, framing)
	var written atomic.Int64
	go func() {
		chunk := []byte(`{"client_id":"app-1","user_agent":"` + strings.Repeat("a", 32<<10-35))
		for sent := 0; sent < size; {
			var err error
			if chunked {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
			} else {
				_, err = conn.Write(chunk)
			}
			if err != nil {
				return // the server closed the connection
			}
			sent += len(chunk)
			written.Store(int64(sent))
			chunk = []byte(strings.Repeat("a", 32<<10))
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !json.Valid(b) {
		t.Errorf("body %q is not JSON", b)
	}
	return resp, written.Load()
}

func TestBodyTooLarge(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		var read atomic.Int64
		addr := realServer(t, countReads(e.h, &read), &http.Server{MaxHeaderBytes: maxHeaderBytes, ReadHeaderTimeout: 5 * time.Second})
		const tenMiB = 10 << 20
		tests := []struct {
			name    string
			size    int
			chunked bool
			maxRead int64 // the most the server may read of the body
		}{
			// Just over the limit: read up to the limit, then refused at
			// once, though the client sends no more and does not end the
			// body.
			{"65 KiB chunked", 65 << 10, true, 64<<10 + 1},
			{"65 KiB with length", 65 << 10, false, 0},
			// A 10 MiB stream is refused at the limit, not read to its end.
			{"10 MiB chunked", tenMiB, true, 64<<10 + 1},
			// A declared 10 MiB is refused before a byte is read.
			{"10 MiB with length", tenMiB, false, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				read.Store(0)
				start := time.Now()
				resp, written := streamBody(t, addr, e.keys["all"], tt.size, tt.chunked)
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("status: got %d, want 413", resp.StatusCode)
				}
				if !resp.Close {
					t.Errorf("the 413 keeps the connection open, with a body left unread")
				}
				if got := read.Load(); got > tt.maxRead {
					t.Errorf("the server read %d bytes of the body, want at most %d", got, tt.maxRead)
				}
				if tt.size == tenMiB && written >= tenMiB {
					t.Errorf("the client could write the whole 10 MiB: the server drained it")
				}
				t.Logf("413 after %v; server read %d bytes, client wrote %d", time.Since(start).Round(time.Millisecond), read.Load(), written)
			})
		}
	})
}

// TestSlowloris opens connections that send a request header one byte at
// a time and never finish it, checks that a normal client is still served
// promptly meanwhile, and that the server closes each slow connection once
// ReadHeaderTimeout has passed.
func TestSlowloris(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) { slowloris(t, newEnv(t, open, testConfig())) })
}

func slowloris(t *testing.T, e *env) {
	const (
		conns             = 50
		readHeaderTimeout = 500 * time.Millisecond
		drip              = 20 * time.Millisecond // between two bytes
	)
	addr := realServer(t, e.h, &http.Server{MaxHeaderBytes: maxHeaderBytes, ReadHeaderTimeout: readHeaderTimeout})
	partial := "GET /api/users/u1/sessions HTTP/1.1\r\nHost: sessiond\r\nX-API-KEY: " + e.keys["all"] + "\r\nX-Slow: " + strings.Repeat("z", 200)

	var wg sync.WaitGroup
	closedAfter := make([]time.Duration, conns)
	errs := make(chan error, conns)
	started := make(chan struct{}, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			start := time.Now()
			started <- struct{}{}
			closed := make(chan struct{})
			go func() {
				// The server says nothing; the read ends when it closes.
				conn.SetReadDeadline(start.Add(5 * time.Second))
				io.Copy(io.Discard, conn)
				closedAfter[i] = time.Since(start)
				close(closed)
			}()
			for j := 0; j < len(partial); j++ {
				select {
				case <-closed:
					return
				case <-time.After(drip):
				}
				if _, err := conn.Write([]byte{partial[j]}); err != nil {
					break
				}
			}
			<-closed
		}()
	}
	for range conns {
		<-started
	}

	// A normal client keeps being answered while the slow ones drip.
	client := &http.Client{Timeout: 5 * time.Second}
	var slowest time.Duration
	n := 0
	for deadline := time.Now().Add(readHeaderTimeout * 3 / 4); time.Now().Before(deadline); n++ {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/users/u1/sessions/"+sessions.NewSessionID(), nil)
		req.Header.Set("X-API-KEY", e.keys["all"])
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("normal request %d: %v", n, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slowest = max(slowest, time.Since(start))
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("normal request %d: got %d, want 404", n, resp.StatusCode)
		}
	}
	// Had the slow connections held the server up, a normal request would
	// wait for their ReadHeaderTimeout.
	if slowest > 300*time.Millisecond {
		t.Errorf("the slowest normal request took %v, want under 300ms", slowest)
	}

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("slow connection: %v", err)
	}
	var first, last time.Duration = time.Hour, 0
	for i, d := range closedAfter {
		first, last = min(first, d), max(last, d)
		if d < readHeaderTimeout/2 || d > readHeaderTimeout+time.Second {
			t.Errorf("slow connection %d was closed after %v, want about %v", i, d, readHeaderTimeout)
		}
	}
	t.Logf("%d normal requests answered while %d connections dripped, slowest %v; slow connections closed after %v to %v (ReadHeaderTimeout %v)",
		n, conns, slowest.Round(time.Microsecond), first.Round(time.Millisecond), last.Round(time.Millisecond), readHeaderTimeout)
}

// TestNonCanonicalPaths checks that paths with empty, "." or ".." segments
// are 404 rather than redirected: following the redirect of a DELETE could
// hit another resource.
func TestNonCanonicalPaths(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("sessions", "app-1")
		for _, tt := range []struct{ method, path string }{
			{"DELETE", "/api/users/./sessions"},
			{"DELETE", "/api/users//sessions"},
			{"DELETE", "/api/users/x/../sessions"},
			{"GET", "/api//users/sessions/sessions"},
			{"GET", "/api/users/sessions/sessions/."},
			{"GET", "/api/users/sessions/sessions/" + s.SessionID + "/.."},
			{"POST", "/./api/sessions/validate"},
		} {
			w := e.do(tt.method, tt.path, "all", "")
			wantProblem(t, w, http.StatusNotFound)
			if loc := w.Header().Get("Location"); loc != "" {
				t.Errorf("%s %s: redirected to %s", tt.method, tt.path, loc)
			}
		}
		wantStatus(t, e.validate(s.SessionToken), http.StatusOK)
	})
}

// sqlPayloads are classic SQL injection strings.
var sqlPayloads = []string{
	`' OR '1'='1`,
	`' OR 1=1 --`,
	`"; DROP TABLE sessions; --`,
	`'; DELETE FROM sessions; --`,
	`%27`,
	`%27%20OR%20%271%27%3D%271`,
	`' UNION SELECT session_key, user_agent FROM sessions --`,
	`1 UNION ALL SELECT NULL,NULL,NULL--`,
	`u1' AND SLEEP(5)--`,
	`u1'); SELECT pg_sleep(5); --`,
	`u1` + "\x00" + `' OR '1'='1`,
	"\x00",
	`\'; --`,
	`u1%00`,
	`app-1' OR client_id LIKE '%`,
	`*`,
	`%`,
	`_`,
}

// TestSQLInjection sends the payloads in every string that reaches a
// query, and checks that each answer is a client error or a normal one,
// that the data is intact afterwards, and that a payload that is a legal
// value (a user agent) is stored verbatim.
func TestSQLInjection(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		f := newFixture(t, open)
		before := f.snapshot()
		check := func(t *testing.T, what string, w *httptest.ResponseRecorder, allowed ...int) {
			t.Helper()
			resp := w.Result()
			ok := false
			for _, s := range allowed {
				ok = ok || resp.StatusCode == s
			}
			body, _ := io.ReadAll(resp.Body)
			if !ok {
				t.Errorf("%s: got %d, want one of %v; body %s", what, resp.StatusCode, allowed, body)
			}
			if resp.StatusCode != http.StatusNoContent && !json.Valid(body) {
				t.Errorf("%s: body %q is not JSON", what, body)
			}
		}
		tok := f.s.SessionToken
		for _, p := range sqlPayloads {
			esc := url.PathEscape(p)
			q := url.QueryEscape(p)
			jp, _ := json.Marshal(p)
			js := string(jp)
			t.Run(fmt.Sprintf("%q", p), func(t *testing.T) {
				for _, rt := range []struct{ method, target, key, body string }{
					{"GET", "/api/users/" + esc + "/sessions", "all", ""},
					{"GET", "/api/users/" + esc + "/sessions/" + f.s.SessionID, "all", ""},
					{"GET", "/api/users/u1/sessions/" + esc, "all", ""},
					{"GET", "/api/users/" + esc + "/sessions/" + f.s.SessionID + "/activity", "all", ""},
					{"GET", "/api/users/u1/sessions/" + esc + "/activity", "all", ""},
					{"GET", "/api/users/u1/sessions/" + f.s.SessionID + "/activity?page=" + q + "&size=" + q, "all", ""},
					{"DELETE", "/api/users/u1/sessions/" + esc, "all", ""},
					{"DELETE", "/api/users/" + esc + "/sessions/" + f.s.SessionID, "all", ""},
					{"DELETE", "/api/users/" + esc + "/sessions", "all", ""},
					{"DELETE", "/api/users/" + esc, "all", ""},
					{"GET", "/api/users/u1/sessions?client_id=" + q, "all", ""},
					{"GET", "/api/users/u1/sessions?sort=" + q, "all", ""},
					{"GET", "/api/users/u1/sessions?page=" + q + "&size=" + q, "all", ""},
					{"POST", "/api/users/" + esc + "/sessions", "all", `{"client_id":"app-1"}`},
					{"POST", "/api/users/u1/sessions", "all", `{"client_id":` + js + `}`},
					{"POST", "/api/users/u1/sessions", "all", `{"client_id":"app-1","ip_address":` + js + `}`},
					{"POST", "/api/sessions/validate", "all", `{"session_token":` + js + `}`},
					{"POST", "/api/sessions/validate", "all", `{"session_token":"` + tok + `","client_id":` + js + `}`},
					{"POST", "/api/sessions/validate", "all", `{"session_token":"` + tok + `","ip_address":` + js + `}`},
					{"POST", "/api/sessions/revoke", "all", `{"session_token":` + js + `}`},
				} {
					w := f.serve(request(rt.method, rt.target, f.env.keys[rt.key], rt.body))
					check(t, rt.method+" "+rt.target+" "+rt.body, w, 400, 404, 422)
				}
				// The raw payload in the path, unescaped where the URL
				// allows it.
				r := request("GET", "/api/users/x/sessions", f.env.keys["all"], "")
				r.URL.Path, r.URL.RawPath = "/api/users/"+p+"/sessions", ""
				check(t, "raw path", f.serve(r), 404, 422)
				// The payload as the API key.
				for _, key := range []string{p, "sdk_" + p, f.env.keys["all"] + p} {
					r := request("GET", "/api/users/u1/sessions", "", "")
					r.Header["X-Api-Key"] = []string{key}
					check(t, "X-API-KEY "+key, f.serve(r), 401)
				}
			})
		}
		if after := f.snapshot(); after != before {
			t.Fatalf("the payloads changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
		}

		// A user agent is free text: each payload is a legal one and is
		// stored verbatim, except U+0000, which no store can keep.
		var started int
		for _, p := range sqlPayloads {
			body, _ := json.Marshal(map[string]string{"client_id": "app-1", "user_agent": p, "ip_address": "203.0.113.1"})
			w := f.do("POST", "/api/users/ua-tester/sessions", "all", string(body))
			if strings.ContainsRune(p, 0) {
				wantProblem(t, w, http.StatusUnprocessableEntity)
				continue
			}
			wantStatus(t, w, http.StatusCreated)
			started++
			s := decodeBody[sessionBody](t, w)
			got := decodeBody[sessionBody](t, f.do("GET", "/api/users/ua-tester/sessions/"+s.SessionID, "all", ""))
			if ua := got.LastMetadata["user_agent"]; ua == nil || *ua != p {
				t.Errorf("user agent %q read back as %v", p, deref(ua))
			}
			// And again through validation, on a session of u1.
			v := f.validate(tok, "user_agent", p)
			wantStatus(t, v, http.StatusOK)
			if ua := decodeBody[sessionBody](t, v).LastMetadata["user_agent"]; ua == nil || *ua != p {
				t.Errorf("validated user agent %q read back as %v", p, deref(ua))
			}
		}
		list, w := f.list("ua-tester", "size=100")
		if total := xPaginationTotal(t, w.Header().Get("X-Pagination")); total != started || len(list) != started {
			t.Errorf("ua-tester sessions: got %d (total %d), want %d", len(list), total, started)
		}
		// Nothing else moved: every other session and user is as it was,
		// but for the user agent of the validated one.
		wantSessionCount(t, f, "acme", "u1", 2)
		wantSessionCount(t, f, "acme", "u2", 1)
		wantSessionCount(t, f, "globex", "g1", 1)
		if keys, err := f.store.ListAPIKeys(t.Context()); err != nil || len(keys) != 7 {
			t.Errorf("API keys: got %d (%v), want 7", len(keys), err)
		}
	})
}

// xPaginationTotal reads total_count from an X-Pagination header.
func xPaginationTotal(t *testing.T, h string) int {
	t.Helper()
	var p struct {
		Total int `json:"total_count"`
	}
	if err := json.Unmarshal([]byte(h), &p); err != nil {
		t.Fatalf("X-Pagination %q: %v", h, err)
	}
	return p.Total
}

// wantSessionCount checks, through the store, how many active sessions a
// user of a tenant has.
func wantSessionCount(t *testing.T, f *fixture, tenant, user string, want int) {
	t.Helper()
	keys, err := f.store.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	for _, k := range keys {
		if k.TenantName == tenant {
			id = k.TenantID
		}
	}
	_, total, err := f.store.ListSessions(t.Context(), sessions.ListQuery{
		TenantID: id, UserID: user, Sort: sessions.SortSessionID, Page: 1, Size: 1, Now: f.clock.Unix(),
	})
	if err != nil || total != want {
		t.Errorf("%s's %s: got %d active sessions (%v), want %d", tenant, user, total, err, want)
	}
}
