package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/postgres/pgtest"
)

// The crash test's size; CI runs the default, a soak run raises it:
// go test ./cmd/sessiond -run CrashSafety -kills 100
var kills = flag.Int("kills", 6, "how many times TestCrashSafety kills the server per store")

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real sessiond once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sessiond-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sessiond")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a sessiond process under test.
type proc struct {
	cmd    *exec.Cmd
	base   string
	mu     sync.Mutex
	logs   strings.Builder
	exited chan error
}

func (p *proc) log() string { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.String() }

// startProc starts `sessiond serve` on a free port and waits until it
// listens.
func startProc(t *testing.T, db string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "SESSIOND_DEMO=") // nothing from the caller's SESSIOND_* may leak in
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "sessiond listening" {
				urls <- rec.URL
			}
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case p.base = <-urls:
	case err := <-p.exited:
		t.Fatalf("sessiond exited at start: %v\n%s", err, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("sessiond did not start:\n%s", p.log())
	}
	return p
}

// rssKB reads the process's resident set size.
func (p *proc) rssKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Skip("no VmRSS")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// api is a small client of one server that reports transport errors to the
// caller instead of failing the test: under a kill they are expected.
type api struct {
	base, key string
	client    *http.Client
}

func (a *api) do(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	req.Header.Set("X-API-KEY", a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return 0, err
		}
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, nil
}

// ledger is what the server acknowledged.
type ledger struct {
	mu      sync.Mutex
	live    map[string]started // session ID → started, acknowledged and not ended
	users   map[string]string  // session ID → user
	revoked map[string]started // acknowledged revocations
	erased  map[string]bool    // acknowledged erasures
	tokens  []string           // every token seen, to check the logs
}

func newLedger() *ledger {
	return &ledger{live: map[string]started{}, users: map[string]string{}, revoked: map[string]started{}, erased: map[string]bool{}}
}

// drive runs one worker's operations until ctx ends: start sessions for a
// few users of its own, revoke some, erase some users.
func drive(ctx context.Context, a *api, l *ledger, worker int, round int) {
	rng := rand.New(rand.NewPCG(uint64(worker), uint64(round)))
	for n := 0; ctx.Err() == nil; n++ {
		user := fmt.Sprintf("w%d-r%d-u%d", worker, round, n/8)
		switch op := rng.IntN(10); {
		case op < 6: // start
			var s started
			code, err := a.do("POST", "/api/users/"+user+"/sessions", map[string]string{"client_id": "app", "user_agent": "crash-test"}, &s)
			if err == nil && code == 201 {
				l.mu.Lock()
				l.live[s.SessionID] = s
				l.users[s.SessionID] = user
				l.tokens = append(l.tokens, s.Token)
				l.mu.Unlock()
			}
		case op < 9: // revoke one of this user's live sessions
			l.mu.Lock()
			var id string
			for sid, u := range l.users {
				if u == user {
					if _, ok := l.live[sid]; ok {
						id = sid
						break
					}
				}
			}
			l.mu.Unlock()
			if id == "" {
				continue
			}
			code, err := a.do("DELETE", "/api/users/"+user+"/sessions/"+id, nil, nil)
			l.mu.Lock()
			if err == nil && code == 204 {
				l.revoked[id] = l.live[id]
			}
			// Unacknowledged, the revocation may or may not have happened:
			// the session is no longer known to be live either way.
			delete(l.live, id)
			l.mu.Unlock()
		default: // erase the user; the worker moves on to a new one
			code, err := a.do("DELETE", "/api/users/"+user, nil, nil)
			l.mu.Lock()
			if err == nil && code == 204 {
				l.erased[user] = true
			}
			// Acknowledged or not, the user's sessions are no longer known
			// to be live.
			for sid, u := range l.users {
				if u == user {
					delete(l.live, sid)
				}
			}
			l.mu.Unlock()
			n = (n/8 + 1) * 8
		}
	}
}

// verify checks every acknowledged write against the server.
func verify(t *testing.T, a *api, l *ledger) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, s := range l.live {
		user := l.users[id]
		if l.erased[user] {
			continue
		}
		var got started
		if code, err := a.do("GET", "/api/users/"+user+"/sessions/"+id, nil, &got); err != nil || code != 200 || len(got.ClientIDs) == 0 {
			t.Errorf("acknowledged session %s of %s: GET = %d, %v, clients %v; want 200", id, user, code, err, got.ClientIDs)
		}
		if code, _ := a.do("POST", "/api/sessions/validate", map[string]string{"session_token": s.Token}, nil); code != 200 {
			t.Errorf("acknowledged session %s: validate = %d, want 200", id, code)
		}
	}
	for id, s := range l.revoked {
		if code, _ := a.do("POST", "/api/sessions/validate", map[string]string{"session_token": s.Token}, nil); code != 404 {
			t.Errorf("acknowledged revocation of %s: validate = %d, want 404", id, code)
		}
	}
	for user := range l.erased {
		if code, _ := a.do("GET", "/api/users/"+user+"/sessions", nil, nil); code != 404 {
			t.Errorf("acknowledged erasure of %s: list = %d, want 404", user, code)
		}
	}
}

// TestCrashSafety drives starts, revocations and erasures against the real
// binary, kills it with SIGKILL at random moments, restarts it, and checks
// that everything acknowledged survived and nothing is half there.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is not short")
	}
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "crash.db") },
		"postgres": func(t *testing.T) string { return pgtest.URL(t) },
	}
	for name, dbFor := range stores {
		t.Run(name, func(t *testing.T) {
			db := dbFor(t)
			a := &api{key: apiKey(t, db), client: &http.Client{Timeout: 10 * time.Second}}
			l := newLedger()
			var logs strings.Builder
			rng := rand.New(rand.NewPCG(1, 2))
			for round := range *kills {
				p := startProc(t, db)
				a.base = p.base
				verify(t, a, l) // what the previous incarnation acknowledged
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				for w := range 6 {
					wg.Go(func() { drive(ctx, a, l, w, round) })
				}
				time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
				p.cmd.Process.Signal(syscall.SIGKILL) // in the middle of whatever it is doing
				<-p.exited
				cancel()
				wg.Wait()
				logs.WriteString(p.log())
			}
			p := startProc(t, db)
			a.base = p.base
			verify(t, a, l)
			// Nothing half there: every stored session of the test's users
			// is whole, and erased users have nothing left.
			checkWhole(t, a, l)
			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.exited
			logs.WriteString(p.log())
			noSecrets(t, logs.String(), a.key, l.tokens)
			t.Logf("%s: %d kills survived; %d sessions live, %d revocations and %d erasures acknowledged, all intact",
				name, *kills, len(l.live), len(l.revoked), len(l.erased))
		})
	}
}

// checkWhole lists every user the test touched and checks each session in
// the store has all of what a start writes.
func checkWhole(t *testing.T, a *api, l *ledger) {
	t.Helper()
	users := map[string]bool{}
	for _, u := range l.users {
		users[u] = true
	}
	for u := range users {
		var list []struct {
			SessionID   string             `json:"session_id"`
			SessionKey  string             `json:"session_key"`
			ClientIDs   []string           `json:"client_ids"`
			InitiatedAt int64              `json:"initiated_at"`
			ExpiresAt   int64              `json:"expires_at"`
			Meta        map[string]*string `json:"last_metadata"`
		}
		code, err := a.do("GET", "/api/users/"+u+"/sessions?size=100", nil, &list)
		if l.erased[u] {
			if code != 404 {
				t.Errorf("erased user %s: list = %d, want 404", u, code)
			}
			continue
		}
		if err != nil || (code != 200 && code != 404) {
			t.Errorf("list %s = %d, %v", u, code, err)
			continue
		}
		for _, s := range list {
			if len(s.SessionKey) != 64 || len(s.ClientIDs) != 1 || s.ClientIDs[0] != "app" || s.InitiatedAt == 0 || s.ExpiresAt <= s.InitiatedAt ||
				s.Meta["user_agent"] == nil || *s.Meta["user_agent"] != "crash-test" {
				t.Errorf("session %s of %s is not whole: %+v", s.SessionID, u, s)
			}
		}
	}
}

// noSecrets fails if an API key or a session token reached the logs.
func noSecrets(t *testing.T, logs, key string, tokens []string) {
	t.Helper()
	if strings.Contains(logs, key) || strings.Contains(logs, key[4:]) {
		t.Error("the API key reached the logs")
	}
	for _, tok := range tokens {
		if strings.Contains(logs, tok[4:]) {
			t.Error("a session token reached the logs")
			return
		}
	}
}

// TestGracefulShutdown sends SIGTERM while a request is in flight: the
// request completes, then the process exits cleanly.
func TestGracefulShutdown(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "term.db")
	key := apiKey(t, db)
	p := startProc(t, db)

	conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"client_id":"app","user_agent":"slow client"}`
	head := fmt.Sprintf("POST /api/users/term/sessions HTTP/1.1\r\nHost: x\r\nX-API-KEY: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", key, len(body))
	if _, err := io.WriteString(conn, head+body[:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server is now reading the body
	p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond) // shutdown has begun and waits for us
	select {
	case err := <-p.exited:
		t.Fatalf("exited before the in-flight request finished: %v\n%s", err, p.log())
	default:
	}
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("in-flight request = %d, want 201", resp.StatusCode)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
	if !strings.Contains(p.log(), "stopped") {
		t.Errorf("no clean stop in the logs:\n%s", p.log())
	}
}
