package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/postgres/pgtest"
)

func TestServeDemoPostgres(t *testing.T) {
	checkDemo(t, pgtest.URL(t))
}

// apiKey creates a key with every scope in db through the CLI.
func apiKey(t *testing.T, db string) string {
	t.Helper()
	out, errOut, err := runCmd(t, map[string]string{"SESSIOND_DB": db}, "apikey", "create", "--name", "test",
		"--scopes", "sessions:read,sessions:write,sessions:revoke,users:delete")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut)
	}
	return strings.TrimSpace(out)
}

// call sends one API request and decodes a JSON answer into out (if not nil).
func call(t *testing.T, method, url, key string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("X-API-KEY", key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

type started struct {
	SessionID string   `json:"session_id"`
	Token     string   `json:"session_token"`
	ClientIDs []string `json:"client_ids"`
}

// TestTwoNodesSeeRevocationAtOnce runs two real servers on one PostgreSQL
// database: what one node ends, the other stops validating at once.
func TestTwoNodesSeeRevocationAtOnce(t *testing.T) {
	db := pgtest.URL(t)
	key := apiKey(t, db)
	env := map[string]string{"SESSIOND_DB": db}
	a, _, stopA := startServe(t, env)
	defer stopA()
	b, _, stopB := startServe(t, env)
	defer stopB()

	for _, how := range []string{"delete one", "delete all", "sign out", "erase user"} {
		user := strings.ReplaceAll(how, " ", "-")
		var s started
		if code := call(t, "POST", a+"/api/users/"+user+"/sessions", key, map[string]string{"client_id": "web"}, &s); code != 201 {
			t.Fatalf("%s: start on A = %d", how, code)
		}
		validate := func(node string) int {
			return call(t, "POST", node+"/api/sessions/validate", key, map[string]string{"session_token": s.Token, "client_id": "mobile"}, nil)
		}
		if code := validate(b); code != 200 {
			t.Fatalf("%s: validate on B = %d, want 200", how, code)
		}
		var got started
		if code := call(t, "GET", a+"/api/users/"+user+"/sessions/"+s.SessionID, key, nil, &got); code != 200 || strings.Join(got.ClientIDs, ",") != "web,mobile" {
			t.Fatalf("%s: A sees clients %v (%d), want web,mobile joined on B", how, got.ClientIDs, code)
		}
		var code int
		switch how {
		case "delete one":
			code = call(t, "DELETE", a+"/api/users/"+user+"/sessions/"+s.SessionID, key, nil, nil)
		case "delete all":
			code = call(t, "DELETE", a+"/api/users/"+user+"/sessions", key, nil, nil)
		case "sign out":
			code = call(t, "POST", a+"/api/sessions/revoke", key, map[string]string{"session_token": s.Token}, nil)
		case "erase user":
			code = call(t, "DELETE", a+"/api/users/"+user, key, nil, nil)
		}
		if code != 204 {
			t.Fatalf("%s on A = %d, want 204", how, code)
		}
		// No waiting: the very next validation on the other node fails.
		if code := validate(b); code != 404 {
			t.Errorf("%s on A, then validate on B = %d, want 404", how, code)
		}
		if code := validate(a); code != 404 {
			t.Errorf("%s on A, then validate on A = %d, want 404", how, code)
		}
	}
}

// TestPostgresOutage kills the database connection under load: requests
// fail fast with 503, /readyz turns 503, the node recovers by itself when
// the database returns, and every acknowledged session is there.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test is not short")
	}
	// killed: the server is gone (connections reset, new ones refused).
	// partitioned: packets vanish, so only the query timeout ends a call.
	for _, mode := range []string{"killed", "partitioned"} {
		t.Run(mode, func(t *testing.T) { testOutage(t, mode) })
	}
}

func testOutage(t *testing.T, mode string) {
	db, proxy := pgtest.ViaProxy(t)
	key := apiKey(t, db)
	base, _, stop := startServe(t, map[string]string{"SESSIOND_DB": db}, "--db-timeout", "1s")
	defer stop()

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		statuses = map[int]int{}
		slowest  time.Duration
		running  atomic.Bool
	)
	running.Store(true)
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; running.Load() && i < 100000; i++ {
				req, _ := http.NewRequest("POST", base+"/api/users/load/sessions", strings.NewReader(fmt.Sprintf(`{"client_id":"w%d"}`, w)))
				req.Header.Set("X-API-KEY", key)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				d := time.Since(t0)
				if err != nil {
					t.Errorf("request failed outright: %v", err)
					return
				}
				var s started
				if resp.StatusCode == 201 {
					json.NewDecoder(resp.Body).Decode(&s)
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if s.SessionID != "" {
					acked[s.SessionID] = true
				}
				slowest = max(slowest, d)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	count := func(code int) int {
		mu.Lock()
		defer mu.Unlock()
		return statuses[code]
	}
	waitFor := func(what string, cond func() bool) time.Duration {
		t.Helper()
		t0 := time.Now()
		for !cond() {
			if time.Since(t0) > 20*time.Second {
				t.Fatalf("timed out waiting for %s; statuses so far %v", what, statuses)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(t0)
	}
	ready := func() int {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	waitFor("sessions before the outage", func() bool { return count(201) >= 50 })
	if mode == "killed" {
		proxy.Kill()
	} else {
		proxy.Freeze(true)
	}
	killed := time.Now()
	before503 := count(503)
	firstFail := waitFor("503s after the database went away", func() bool { return count(503) > before503 })
	waitFor("/readyz 503", func() bool { return ready() == 503 })
	time.Sleep(1500 * time.Millisecond) // let the outage last past the query timeout
	mu.Lock()
	slowDuringOutage := slowest
	mu.Unlock()

	if mode == "killed" {
		proxy.Restart(t)
	} else {
		proxy.Freeze(false)
	}
	back := count(201)
	recovery := waitFor("201s after the database returned", func() bool { return count(201) > back+20 })
	waitFor("/readyz 200", func() bool { return ready() == 200 })
	running.Store(false)
	wg.Wait()

	if slowDuringOutage > 3*time.Second {
		t.Errorf("slowest request during the outage took %v, want well under 3s (query timeout 1s)", slowDuringOutage)
	}
	// Every acknowledged start is stored.
	stored := map[string]bool{}
	for page := 1; ; page++ {
		var list []started
		if code := call(t, "GET", fmt.Sprintf("%s/api/users/load/sessions?size=100&page=%d&sort=session_id:1", base, page), key, nil, &list); code != 200 {
			t.Fatalf("list page %d = %d", page, code)
		}
		for _, s := range list {
			stored[s.SessionID] = true
		}
		if len(list) < 100 {
			break
		}
	}
	lost := 0
	for id := range acked {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged sessions are missing", lost, len(acked))
	}
	t.Logf("outage (%s): first 503 %v after the kill, slowest request %v, recovery %v after restart; statuses %v; %d acknowledged, %d stored, %d lost (down for %v)",
		mode, firstFail, slowDuringOutage, recovery, statuses, len(acked), len(stored), lost, time.Since(killed)-recovery)
}
