package httpapi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/sessions"
)

func TestHealth(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		for _, path := range []string{"/healthz", "/readyz"} {
			w := e.do("GET", path, "", "")
			wantStatus(t, w, http.StatusOK)
			if got := w.Body.String(); got != `{"status":"ok"}` {
				t.Errorf("%s body: got %s, want {\"status\":\"ok\"}", path, got)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s Content-Type: got %q, want application/json", path, ct)
			}
		}
		e.store.Close()
		w := e.do("GET", "/readyz", "", "")
		p := wantProblem(t, w, http.StatusServiceUnavailable)
		if w.Header().Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		if strings.Contains(p.Detail, "sql") {
			t.Errorf("detail leaks internals: %q", p.Detail)
		}
		wantStatus(t, e.do("GET", "/healthz", "", ""), http.StatusOK)
	})
}

func TestMetrics(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		s := e.start("u1", "app-1")
		e.start("u1", "app-1")
		e.list("u1", "")
		e.list("u1", "")
		e.do("GET", "/nope/"+s.SessionToken, "", "")
		e.do("BREW", "/api/users/u1/sessions", "", "")

		w := e.do("GET", "/metrics", "", "")
		wantStatus(t, w, http.StatusOK)
		body := w.Body.String()
		for _, want := range []string{
			`sessiond_http_requests_total{method="GET",route="GET /api/users/{user_id}/sessions",status="200"} 2`,
			`sessiond_http_requests_total{method="POST",route="POST /api/users/{user_id}/sessions",status="201"} 2`,
			`sessiond_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
			`sessiond_http_requests_total{method="OTHER",route="unmatched",status="405"} 1`,
			`sessiond_http_request_duration_seconds_count{method="GET",route="GET /api/users/{user_id}/sessions"} 2`,
			"sessiond_active_sessions 2\n",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(body, s.SessionToken) || strings.Contains(body, "/nope") {
			t.Errorf("/metrics holds a raw path")
		}

		// The active count is cached for 15 s by the service's clock.
		e.start("u1", "app-1")
		if body := e.do("GET", "/metrics", "", "").Body.String(); !strings.Contains(body, "sessiond_active_sessions 2\n") {
			t.Errorf("active count was not cached:\n%s", grep(body, "sessiond_active_sessions"))
		}
		e.clock.Advance(15 * time.Second)
		if body := e.do("GET", "/metrics", "", "").Body.String(); !strings.Contains(body, "sessiond_active_sessions 3\n") {
			t.Errorf("active count was not refreshed:\n%s", grep(body, "sessiond_active_sessions"))
		}
	})
}

func newServerWithoutRegistry(e *env) http.Handler {
	return httpapi.NewServer(e.svc, slog.New(slog.NewJSONHandler(e.logs, nil)), nil, httpapi.Options{})
}

func grep(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestNoMetricsWithoutRegistry(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		e.h = newServerWithoutRegistry(e)
		wantProblem(t, e.do("GET", "/metrics", "", ""), http.StatusNotFound)
		wantStatus(t, e.do("GET", "/healthz", "", ""), http.StatusOK)
	})
}

// TestLogsHoldNoSecrets runs a full flow, and requests that fail in every
// way (401, 404, 413, 422, 429, a panic, 503), and checks that the log names
// every request but never an API key, a session token or a hash of either.
func TestLogsHoldNoSecrets(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnvWith(t, open, testConfig(), httpapi.Options{AuthFailRate: 0.01, AuthFailBurst: 3})
		var served atomic.Int64
		counted := func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				h.ServeHTTP(w, r)
			})
		}
		e.h = counted(e.h)
		key := e.keys["all"]
		unknownKey := sessions.NewAPIKeySecret()
		revokedKey := e.addKey("revoked", "acme", sessions.Scopes...)
		if err := e.store.RevokeAPIKey(context.Background(), e.keyIDs["revoked"], e.clock.Unix()); err != nil {
			t.Fatal(err)
		}
		s := e.start("u1", "app-1", "ip_address", "1.1.1.1", "user_agent", "UA")
		ghost := sessions.NewToken()                      // well formed, never issued
		long := s.SessionToken + strings.Repeat("x", 300) // too long: 422
		e.validate(s.SessionToken, "client_id", "app-2")
		e.list("u1", "client_id=app-2")
		e.do("GET", "/api/users/u1/sessions/"+s.SessionID, "all", "")

		// Bodies that fail, each holding a token.
		e.do("POST", "/api/sessions/validate", "all", `{"session_token":"`+s.SessionToken+`","bad":1}`)
		e.do("POST", "/api/sessions/validate", "all", `{"session_token":"`+s.SessionToken+`","ip_address":"x"}`)
		e.do("POST", "/api/sessions/validate", "all", `{"session_token":"`+long+`"}`)
		e.do("POST", "/api/sessions/validate", "all", `{"session_token":"`+ghost+`"}`)
		e.do("POST", "/api/sessions/validate", "all", `{"session_token":"`+s.SessionToken+`"`)
		e.do("POST", "/api/sessions/validate", "all", `{"session_token":"`+s.SessionToken+`","user_agent":"`+strings.Repeat("a", 70000)+`"}`)
		e.do("POST", "/api/sessions/validate", "all", `{"session_token":"`+s.SessionToken+`"}`, "Content-Type", "text/plain")
		e.do("POST", "/api/sessions/revoke", "all", `{"session_token":"`+ghost+`"}`)
		e.do("POST", "/api/sessions/revoke", "all", `{"session_token":"`+s.SessionToken+`"}`)
		e.validate(s.SessionToken)

		// Keys that fail: 401 until the address is over its budget, then 429.
		for _, k := range []string{unknownKey, key + "x", "Bearer " + key, revokedKey, key} {
			e.do("GET", "/api/users/u1/sessions", "", "", "X-API-KEY", k)
		}
		e.do("GET", "/api/users/u1/sessions", "sessions:write", "")
		e.do("POST", "/api/sessions/validate", "", `{"session_token":"`+s.SessionToken+`"}`, "X-API-KEY", key)

		// A panic, with a key and a token in the request.
		broken := counted(httpapi.NewServer(sessions.NewService(nil, testConfig(), nil, nil), slog.New(slog.NewJSONHandler(e.logs, nil)), nil, httpapi.Options{}))
		broken.ServeHTTP(httptest.NewRecorder(), request("POST", "/api/sessions/validate", key, `{"session_token":"`+s.SessionToken+`"}`))
		broken.ServeHTTP(httptest.NewRecorder(), request("GET", "/api/users/u1/sessions", key, ""))

		e.clock.Advance(time.Hour)
		e.do("DELETE", "/api/users/u1", "all", "")
		e.store.Close()
		e.validate(s.SessionToken)

		out := e.logs.String()
		if !strings.Contains(out, `"msg":"panic"`) || !strings.Contains(out, `"status":429`) || !strings.Contains(out, `"status":413`) {
			t.Fatalf("the log lacks the panic, the 429 or the 413:\n%s", out)
		}
		secrets := map[string]string{}
		for name, k := range map[string]string{"API key": key, "unknown API key": unknownKey, "revoked API key": revokedKey} {
			h := hex.EncodeToString(sessions.HashAPIKey(k))
			secrets[name] = k
			secrets[name+" hash"] = h
			secrets[name+" hash (uc)"] = strings.ToUpper(h)
		}
		for name, tok := range map[string]string{"session token": s.SessionToken, "unknown token": ghost, "long token": long} {
			secrets[name] = tok
			secrets[name+" hash"] = sessions.SessionKey(tok)
			secrets[name+" hash (lc)"] = strings.ToLower(sessions.SessionKey(tok))
		}
		for name, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("the log holds the %s", name)
			}
		}
		lower := strings.ToLower(out)
		for _, word := range []string{"x-api-key", "sdt_", "sdk_", "bearer"} {
			if strings.Contains(lower, word) {
				t.Errorf("the log mentions %q", word)
			}
		}
		// Every request is logged with its route pattern and request id.
		var n int64
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if rec["msg"] != "request" {
				continue
			}
			n++
			for _, k := range []string{"method", "route", "path", "status", "duration", "bytes", "request_id", "remote_addr"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("request log line lacks %s: %s", k, line)
				}
			}
		}
		if want := served.Load(); n != want {
			t.Errorf("request log lines: got %d, want %d", n, want)
		}
		if !strings.Contains(out, `"route":"POST /api/sessions/validate"`) {
			t.Errorf("no request line with the route pattern:\n%s", out)
		}
	})
}

// TestJSONEscaping checks that strings from clients are encoded as
// encoding/json would encode them.
func TestJSONEscaping(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		for _, ua := range []string{
			`plain`, `quote " and \ backslash`, "ctl \x01\x1f\t\n\r", `<script>&amp;</script>`,
			"sep \u2028 \u2029 end", "bad utf8 \xff\xfe", "emoji 😀 é",
		} {
			body, _ := json.Marshal(map[string]string{"client_id": "app-1", "user_agent": ua})
			w := e.do("POST", "/api/users/u1/sessions", "all", string(body))
			wantStatus(t, w, http.StatusCreated)
			var sent map[string]string
			json.Unmarshal(body, &sent) // what the server reads, invalid UTF-8 replaced
			want, _ := json.Marshal(sent["user_agent"])
			if !strings.Contains(w.Body.String(), `"user_agent":`+string(want)) {
				t.Errorf("user agent %q: body %s lacks %s", ua, w.Body.String(), want)
			}
		}
	})
}
