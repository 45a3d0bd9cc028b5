package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that the server goroutine and the test can
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envFrom(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// runCmd runs one short command of the real program.
func runCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, envFrom(env), &out, &errb)
	return out.String(), errb.String(), err
}

var curlLine = regexp.MustCompile(`curl -s -H "X-API-KEY: (sdk_[A-Za-z0-9_-]+)" "(http://[^"]+)"`)

// TestServeDemo runs what the README tells a newcomer to run and checks
// that the printed curl line answers with the demo user's sessions.
func TestServeDemo(t *testing.T) {
	checkDemo(t, "sqlite:"+filepath.Join(t.TempDir(), "demo.db"))
}

// checkDemo starts serve --demo twice on db and follows the printed curl
// line each time.
func checkDemo(t *testing.T, db string) {
	t.Helper()
	for round := range 2 { // a second start finds the demo data and prints a fresh key
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--demo"}, envFrom(map[string]string{"SESSIOND_DB": db}), &out, &errb)
		}()
		var m []string
		for deadline := time.Now().Add(20 * time.Second); m == nil; {
			if m = curlLine.FindStringSubmatch(out.String()); m == nil {
				select {
				case err := <-done:
					t.Fatalf("round %d: serve ended early: %v\nstderr: %s", round, err, errb.String())
				case <-time.After(20 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("round %d: no curl line printed; stdout: %s\nstderr: %s", round, out.String(), errb.String())
				}
			}
		}
		key, url := m[1], m[2]
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-API-KEY", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list []struct {
			SessionID    string             `json:"session_id"`
			ClientIDs    []string           `json:"client_ids"`
			LastUpdated  int64              `json:"last_updated"`
			LastMetadata map[string]*string `json:"last_metadata"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("round %d: GET %s = %d, %v", round, url, resp.StatusCode, err)
		}
		if len(list) != 4 {
			t.Fatalf("round %d: demo user has %d sessions, want 4", round, len(list))
		}
		for i := 1; i < len(list); i++ {
			if list[i-1].LastUpdated < list[i].LastUpdated {
				t.Errorf("round %d: not sorted by last_updated descending: %d before %d", round, list[i-1].LastUpdated, list[i].LastUpdated)
			}
		}
		if c := list[0].LastMetadata["country"]; c == nil || *c == "" {
			t.Errorf("round %d: demo session has no country", round)
		}
		if !strings.Contains(resp.Header.Get("X-Pagination"), `"total_count":4`) {
			t.Errorf("round %d: X-Pagination = %s, want total_count 4", round, resp.Header.Get("X-Pagination"))
		}
		if strings.Contains(errb.String(), key) {
			t.Errorf("round %d: the API key reached the logs", round)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: serve returned %v after shutdown", round, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: serve did not stop", round)
		}
	}
}

func TestAPIKeyCommands(t *testing.T) {
	env := map[string]string{"SESSIOND_DB": "sqlite:" + filepath.Join(t.TempDir(), "keys.db")}
	out, errOut, err := runCmd(t, env, "apikey", "create", "--name", "billing", "--scopes", "sessions:read,sessions:revoke", "--tenant", "acme")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut)
	}
	secret := strings.TrimSpace(out)
	if !regexp.MustCompile(`^sdk_[A-Za-z0-9_-]{43}$`).MatchString(secret) || strings.Count(out, "\n") != 1 {
		t.Fatalf("apikey create stdout = %q, want the key alone on one line", out)
	}
	id := regexp.MustCompile(`key_[0-9a-f]{16}`).FindString(errOut)
	if id == "" {
		t.Fatalf("apikey create stderr = %q, want the key ID", errOut)
	}

	list, _, err := runCmd(t, env, "apikey", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, secret) || strings.Contains(list, secret[4:20]) {
		t.Errorf("apikey list shows the secret:\n%s", list)
	}
	for _, want := range []string{id, "acme", "billing", "sessions:read,sessions:revoke"} {
		if !strings.Contains(list, want) {
			t.Errorf("apikey list = %q, want it to contain %q", list, want)
		}
	}

	if _, errOut, err := runCmd(t, env, "apikey", "revoke", id); err != nil {
		t.Fatalf("apikey revoke: %v\n%s", err, errOut)
	}
	list, _, _ = runCmd(t, env, "apikey", "list")
	line := regexp.MustCompile(`(?m)^` + id + `.*$`).FindString(list)
	if f := strings.Fields(line); len(f) != 6 || f[5] == "-" {
		t.Errorf("after revoke, list line = %q, want a revocation time", line)
	}
	if _, _, err := runCmd(t, env, "apikey", "revoke", "key_0000000000000000"); err == nil {
		t.Error("revoking an unknown key succeeded, want an error")
	}
}

func TestCommandErrors(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "e.db")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no command", nil, nil, "no command"},
		{"unknown command", nil, []string{"frobnicate"}, "unknown command"},
		{"bad expiration", nil, []string{"serve", "--db", db, "--session-expiration", "forever"}, "session-expiration"},
		{"bad lifetime from env", map[string]string{"SESSIOND_SLIDING_LIFETIME": "soon"}, []string{"serve", "--db", db}, "SESSIOND_SLIDING_LIFETIME"},
		{"zero lifetime", nil, []string{"serve", "--db", db, "--absolute-lifetime", "0s"}, "absolute-lifetime"},
		{"bad db", nil, []string{"migrate", "--db", "mysql://x"}, "sqlite:PATH"},
		{"bad scopes", nil, []string{"apikey", "create", "--db", db, "--name", "x", "--scopes", "sessions:all"}, "unknown scope"},
		{"no name", nil, []string{"apikey", "create", "--db", db, "--scopes", "sessions:read"}, "name"},
		{"negative rate limit", nil, []string{"serve", "--db", db, "--rate-limit", "-1"}, "rate"},
		{"zero activity limit", nil, []string{"serve", "--db", db, "--activity-limit", "0"}, "activity-limit"},
		{"stray argument", nil, []string{"migrate", "--db", db, "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		_, errOut, err := runCmd(t, tt.env, tt.args...)
		if err == nil || !strings.Contains(err.Error()+errOut, tt.want) {
			t.Errorf("%s: err = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	if _, _, err := runCmd(t, nil, "migrate", "--db", db); err != nil {
		t.Errorf("migrate: %v", err)
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"db": "SESSIOND_DB", "touch-interval": "SESSIOND_TOUCH_INTERVAL", "session-expiration": "SESSIOND_SESSION_EXPIRATION"} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %s, want %s", flag, got, want)
		}
	}
}

// startServe runs serve in the background and returns its base URL once it
// listens; stop ends it and waits.
func startServe(t *testing.T, env map[string]string, args ...string) (base string, stderr *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	stderr = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), envFrom(env), &out, stderr)
	}()
	re := regexp.MustCompile(`url=(https?://[0-9.:]+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended early: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", stderr.String())
		}
	}
	return base, stderr, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// TestServeRateLimit turns on the per-key limit from the command line.
func TestServeRateLimit(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "rl.db")
	key := apiKey(t, db)
	base, _, stop := startServe(t, map[string]string{"SESSIOND_DB": db, "SESSIOND_RATE_LIMIT": "0.01"}, "--rate-burst", "2")
	defer stop()
	var codes []int
	var retry string
	for range 3 {
		req, _ := http.NewRequest("GET", base+"/api/users/nobody/sessions", nil)
		req.Header.Set("X-API-KEY", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		retry = resp.Header.Get("Retry-After")
	}
	if codes[0] != 404 || codes[1] != 404 || codes[2] != 429 || retry == "" {
		t.Fatalf("statuses %v, Retry-After %q; want 404 404 429 with Retry-After", codes, retry)
	}
}

// TestServeConsole checks the binary serves the console next to the API.
func TestServeConsole(t *testing.T) {
	base, _, stop := startServe(t, map[string]string{"SESSIOND_DB": "sqlite:" + filepath.Join(t.TempDir(), "c.db")})
	defer stop()
	resp, err := http.Get(base + "/console")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "sessiond") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /console = %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	resp, err = http.Get(base + "/api/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("GET /api/nope = %d %s, want a 404 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
