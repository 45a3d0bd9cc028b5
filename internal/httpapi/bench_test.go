package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sessiond/sessiond/internal/cache"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// The benchmarks measure the HTTP layer's own cost per request: routing,
// middleware, decoding and encoding. Keys and sessions come from the
// per-node cache (internal/cache) as in sessiond serve; lists, which the
// cache does not keep, are memoised here (memoStore) so that they cost a
// map lookup too. The response goes to a reused writer instead of a
// recorder, so that every allocation counted is the server's.

// memoStore answers list queries from memory after the first time. Only
// for read-only benchmarks.
type memoStore struct {
	sessions.Store
	mu    sync.Mutex
	lists map[sessions.ListQuery]memoList
}

type memoList struct {
	list  []*sessions.Session
	total int
}

func newMemoStore(st sessions.Store) *memoStore {
	return &memoStore{Store: st, lists: map[sessions.ListQuery]memoList{}}
}

func (m *memoStore) ListSessions(ctx context.Context, q sessions.ListQuery) ([]*sessions.Session, int, error) {
	m.mu.Lock()
	l, ok := m.lists[q]
	m.mu.Unlock()
	if ok {
		return l.list, l.total, nil
	}
	list, total, err := m.Store.ListSessions(ctx, q)
	if err == nil {
		m.mu.Lock()
		m.lists[q] = memoList{list, total}
		m.mu.Unlock()
	}
	return list, total, err
}

// discardWriter is a reusable http.ResponseWriter that keeps only the
// status, as the cheapest real writer would.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}
func (w *discardWriter) reset() { clear(w.h); w.status, w.n = 0, 0 }

// rewindBody is a request body that can be read again.
type rewindBody struct{ strings.Reader }

func (*rewindBody) Close() error { return nil }

// benchEnv is a server in front of a memoised store holding one user's
// sessions, with the loggers of the bench tool (discard) or of sessiond
// serve (JSON at info).
func benchEnv(b *testing.B, logger *slog.Logger) (h http.Handler, key string, token string, user string, id string) {
	b.Helper()
	sq := openSQLite(b).(*sqlite.Store)
	st := newMemoStore(cache.New(sq, cache.Options{Sessions: 100, Keys: true, Version: sq.DataVersion, SessionsExclusive: true}))
	cfg := testConfig()
	svc := sessions.NewService(st, cfg, (&fakeClock{now: t0}).Now, nil)
	h = httpapi.NewServer(svc, logger, prometheus.NewRegistry(), httpapi.Options{})
	k, key, err := svc.CreateAPIKey(context.Background(), "acme", "bench", sessions.Scopes)
	if err != nil {
		b.Fatal(err)
	}
	user = "user-42@example.com"
	for i := range 12 {
		s, tok, err := svc.Start(context.Background(), k.TenantID, user, sessions.Activity{
			ClientID: "app-" + strconv.Itoa(i%3), IPAddress: "203.0.113." + strconv.Itoa(i), UserAgent: "Mozilla/5.0 (X11; Linux x86_64) bench/" + strconv.Itoa(i),
		})
		if err != nil {
			b.Fatal(err)
		}
		token, id = tok, s.ID
	}
	return h, key, token, user, id
}

func benchLoggers() []struct {
	name   string
	logger *slog.Logger
} {
	return []struct {
		name   string
		logger *slog.Logger
	}{
		{"discard", slog.New(slog.DiscardHandler)},
		{"json", slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))},
	}
}

// runBench serves r b.N times and checks every answer's status.
func runBench(b *testing.B, h http.Handler, r *http.Request, body string, want int) {
	b.Helper()
	w := &discardWriter{h: http.Header{}}
	var rb *rewindBody
	if body != "" {
		rb = &rewindBody{}
		r.Body = rb
		r.ContentLength = int64(len(body))
	}
	b.ReportAllocs()
	for b.Loop() {
		if rb != nil {
			rb.Reset(body)
		}
		w.reset()
		h.ServeHTTP(w, r)
		if w.status != want {
			b.Fatalf("status %d, want %d", w.status, want)
		}
	}
}

func newBenchRequest(method, target, key string) *http.Request {
	r, _ := http.NewRequest(method, "http://127.0.0.1:8080"+target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-API-KEY", key)
	r.Header.Set("User-Agent", "Go-http-client/1.1")
	r.Header.Set("Accept-Encoding", "gzip")
	return r
}

func BenchmarkValidate(b *testing.B) {
	for _, l := range benchLoggers() {
		b.Run(l.name, func(b *testing.B) {
			h, key, token, _, _ := benchEnv(b, l.logger)
			r := newBenchRequest("POST", "/api/sessions/validate", key)
			r.Header.Set("Content-Type", "application/json")
			runBench(b, h, r, `{"session_token":"`+token+`"}`, http.StatusOK)
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, l := range benchLoggers() {
		b.Run(l.name, func(b *testing.B) {
			h, key, _, user, id := benchEnv(b, l.logger)
			r := newBenchRequest("GET", "/api/users/"+user+"/sessions/"+id, key)
			runBench(b, h, r, "", http.StatusOK)
		})
	}
}

func BenchmarkList(b *testing.B) {
	for _, l := range benchLoggers() {
		b.Run(l.name, func(b *testing.B) {
			h, key, _, user, _ := benchEnv(b, l.logger)
			r := newBenchRequest("GET", "/api/users/"+user+"/sessions?size=10&sort=last_updated:-1", key)
			runBench(b, h, r, "", http.StatusOK)
		})
	}
}

// BenchmarkUnauthorized is the cost of turning a request away: the
// problem details path.
func BenchmarkUnauthorized(b *testing.B) {
	h, _, _, user, id := benchEnv(b, slog.New(slog.DiscardHandler))
	r := newBenchRequest("GET", "/api/users/"+user+"/sessions/"+id, "sdk_nope")
	runBench(b, h, r, "", http.StatusUnauthorized)
}
