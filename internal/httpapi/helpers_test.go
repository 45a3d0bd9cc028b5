package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// storeFactory opens an empty store for one test; the store is closed when
// the test ends.
type storeFactory struct {
	name string
	open func(testing.TB) sessions.Store
}

// storeFactories lists every Store the HTTP tests run against. A backend
// that needs outside resources (PostgreSQL) adds itself here when they are
// configured, and skips otherwise.
func storeFactories() []storeFactory {
	return []storeFactory{
		{name: "sqlite", open: openSQLite},
		{name: "postgres", open: func(t testing.TB) sessions.Store { return pgtest.Open(t) }},
	}
}

func openSQLite(t testing.TB) sessions.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// forEachStore runs fn as a subtest once per store backend.
func forEachStore(t *testing.T, fn func(t *testing.T, open func(testing.TB) sessions.Store)) {
	t.Helper()
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) { fn(t, f.open) })
	}
}

// t0 is when every test's clock starts.
var t0 = time.Unix(1_700_000_000, 0)

// fakeClock is the service's clock in tests: time moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Unix is the clock's time in Unix seconds.
func (c *fakeClock) Unix() int64 { return c.Now().Unix() }

// syncBuffer is a log destination that handlers may write concurrently.
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

// env is one server on one fresh store, with API keys of every useful kind.
type env struct {
	t     testing.TB
	store sessions.Store
	svc   *sessions.Service
	clock *fakeClock
	reg   *prometheus.Registry
	logs  *syncBuffer
	h     http.Handler
	// keys by name: "all" (every scope), one per scope named after it,
	// "other" (every scope, another tenant).
	keys map[string]string
	// keyIDs by the same names.
	keyIDs map[string]string
}

// testConfig is the expiry configuration of most tests: short lifetimes in
// round numbers.
func testConfig() sessions.Config {
	return sessions.Config{
		Expiration:       sessions.Sliding,
		SlidingLifetime:  time.Hour,
		AbsoluteLifetime: 3 * time.Hour,
		TouchInterval:    time.Minute,
	}
}

func newEnv(t testing.TB, open func(testing.TB) sessions.Store, cfg sessions.Config) *env {
	t.Helper()
	return newEnvWith(t, open, cfg, httpapi.Options{})
}

// newEnvWith is newEnv with server options; a nil opts.Now is the env's
// fake clock.
func newEnvWith(t testing.TB, open func(testing.TB) sessions.Store, cfg sessions.Config, opts httpapi.Options) *env {
	t.Helper()
	return newEnvLocated(t, open, cfg, opts, nil)
}

// newEnvLocated is newEnvWith with a service that locates IP addresses
// with loc (nil: locations unknown).
func newEnvLocated(t testing.TB, open func(testing.TB) sessions.Store, cfg sessions.Config, opts httpapi.Options, loc sessions.Locator) *env {
	t.Helper()
	e := &env{
		t:      t,
		store:  open(t),
		clock:  &fakeClock{now: t0},
		reg:    prometheus.NewRegistry(),
		logs:   &syncBuffer{},
		keys:   map[string]string{},
		keyIDs: map[string]string{},
	}
	e.svc = sessions.NewService(e.store, cfg, e.clock.Now, loc)
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	e.h = httpapi.NewServer(e.svc, logger, e.reg, opts)
	e.addKey("all", "acme", sessions.Scopes...)
	for _, sc := range sessions.Scopes {
		e.addKey(string(sc), "acme", sc)
	}
	e.addKey("other", "globex", sessions.Scopes...)
	return e
}

// addKey creates an API key in tenant with scopes and remembers it as name.
func (e *env) addKey(name, tenant string, scopes ...sessions.Scope) string {
	e.t.Helper()
	k, secret, err := e.svc.CreateAPIKey(context.Background(), tenant, "test "+name, scopes)
	if err != nil {
		e.t.Fatalf("CreateAPIKey(%s): %v", name, err)
	}
	e.keys[name], e.keyIDs[name] = secret, k.ID
	return secret
}

// keyWithout creates a key of the main tenant with every scope but one.
func (e *env) keyWithout(scope sessions.Scope) string {
	e.t.Helper()
	var scopes []sessions.Scope
	for _, s := range sessions.Scopes {
		if s != scope {
			scopes = append(scopes, s)
		}
	}
	return e.addKey("without "+string(scope), "acme", scopes...)
}

// request builds a request. A string body is sent as application/json
// unless hdr sets another Content-Type; hdr holds header name/value pairs.
func request(method, target, key string, body string, hdr ...string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		r.Header.Set("X-API-KEY", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	return r
}

// serve runs r through the server and returns the response.
func (e *env) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// do sends a request with the named key ("" for none).
func (e *env) do(method, target, keyName, body string, hdr ...string) *httptest.ResponseRecorder {
	return e.serve(request(method, target, e.keys[keyName], body, hdr...))
}

// sessionBody is a session object as a client reads it.
type sessionBody struct {
	SessionID    string             `json:"session_id"`
	SessionKey   string             `json:"session_key"`
	ClientIDs    []string           `json:"client_ids"`
	InitiatedAt  int64              `json:"initiated_at"`
	ExpiresAt    int64              `json:"expires_at"`
	LastUpdated  int64              `json:"last_updated"`
	LastMetadata map[string]*string `json:"last_metadata"`
	UserID       string             `json:"user_id"`
	SessionToken string             `json:"session_token"`
}

// problemBody is problem details as a client reads them.
type problemBody struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail"`
	Instance string              `json:"instance"`
	Errors   map[string][]string `json:"errors"`
}

// decodeBody decodes the response body into a T, failing the test if it
// is not JSON of that shape.
func decodeBody[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decoding %T from %q: %v", v, w.Body.String(), err)
	}
	return v
}

// wantStatus fails the test if w's status is not want.
func wantStatus(t testing.TB, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status: got %d, want %d; body %s", w.Code, want, w.Body.String())
	}
}

// wantProblem checks that w is problem details with status and returns them.
func wantProblem(t testing.TB, w *httptest.ResponseRecorder, status int) problemBody {
	t.Helper()
	wantStatus(t, w, status)
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type: got %q, want application/problem+json", ct)
	}
	keys := jsonKeys(t, w.Body.Bytes())
	want := []string{"detail", "instance", "status", "title", "type"}
	if status == http.StatusUnprocessableEntity {
		want = []string{"detail", "errors", "instance", "status", "title", "type"}
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("problem members: got %v, want %v", keys, want)
	}
	p := decodeBody[problemBody](t, w)
	if p.Status != status {
		t.Errorf("problem status: got %d, want %d", p.Status, status)
	}
	wantType := "https://httpstatuses.io/" + strconv.Itoa(status)
	if status == http.StatusUnprocessableEntity {
		wantType = "https://httpstatuses.io/422#validation-error"
	}
	if p.Type != wantType {
		t.Errorf("problem type: got %q, want %q", p.Type, wantType)
	}
	if p.Title != http.StatusText(status) {
		t.Errorf("problem title: got %q, want %q", p.Title, http.StatusText(status))
	}
	if p.Detail == "" {
		t.Errorf("problem detail is empty")
	}
	return p
}

// jsonKeys returns the sorted member names of a JSON object.
func jsonKeys(t testing.TB, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %q: %v", b, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// errorKeys returns the sorted names in a 422's errors member.
func errorKeys(p problemBody) []string {
	keys := make([]string, 0, len(p.Errors))
	for k := range p.Errors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// start starts a session of user through the API and returns it.
func (e *env) start(user, client string, extra ...string) sessionBody {
	e.t.Helper()
	body := map[string]string{"client_id": client}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	b, _ := json.Marshal(body)
	w := e.do("POST", "/api/users/"+user+"/sessions", "all", string(b))
	wantStatus(e.t, w, http.StatusCreated)
	return decodeBody[sessionBody](e.t, w)
}

// validate validates token through the API, with optional extra body
// members as name/value pairs, and returns the response.
func (e *env) validate(token string, extra ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	body := map[string]string{"session_token": token}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	b, _ := json.Marshal(body)
	return e.do("POST", "/api/sessions/validate", "all", string(b))
}

// list lists user's sessions with the query string q (without "?").
func (e *env) list(user, q string) ([]sessionBody, *httptest.ResponseRecorder) {
	e.t.Helper()
	w := e.do("GET", "/api/users/"+user+"/sessions?"+q, "all", "")
	wantStatus(e.t, w, http.StatusOK)
	return decodeBody[[]sessionBody](e.t, w), w
}

// ids returns the session ids of list, in order.
func ids(list []sessionBody) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.SessionID
	}
	return out
}
