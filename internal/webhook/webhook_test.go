package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
	"github.com/sessiond/sessiond/internal/webhook"
)

// verify is the receiver's check of a delivery, exactly as the README
// shows it: recompute the signature of timestamp "." body, compare in
// constant time, and refuse a timestamp more than five minutes from now.
func verify(secret, timestamp, body, header string) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "." + body))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(header), []byte(want))
}

// store is a store with both interfaces, as both backends are.
type store interface {
	sessions.Store
	sessions.WebhookStore
}

// forEachStore runs fn once per backend; reopen opens the same database
// again (a restart), or returns the same store where that is all it can.
func forEachStore(t *testing.T, fn func(t *testing.T, st store, reopen func() store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "w.db")
		open := func() store {
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		fn(t, open(), open)
	})
	t.Run("postgres", func(t *testing.T) {
		st := pgtest.Open(t)
		fn(t, st, func() store { return st })
	})
}

// clock is the worker's and the service's clock: time moves when told.
// Deliveries are signed with it, and the receivers verify against the
// real clock, so it starts at the real time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// receiver is a real local HTTP endpoint that verifies each delivery and
// answers as fail says for the nth request (0-based) of an event ID.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server
	fail   func(id string, n int) int // status to answer; 0 hangs past the timeout

	mu       sync.Mutex
	tries    map[string]int
	accepted []received // delivered events, in order of arrival
}

type received struct {
	id, typ, user, session string
}

func newReceiver(t *testing.T, fail func(id string, n int) int) *receiver {
	r := &receiver{t: t, fail: fail, tries: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(webhook.HeaderEventID)
	if !verify(r.secret, req.Header.Get(webhook.HeaderTimestamp), string(body), req.Header.Get(webhook.HeaderSignature)) {
		r.t.Errorf("delivery of event %s: signature does not verify", id)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var e struct {
		ID        string  `json:"id"`
		Type      string  `json:"type"`
		UserID    string  `json:"user_id"`
		SessionID *string `json:"session_id"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.ID != id || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("delivery of event %s: body %s (%v), want the event as JSON", id, body, err)
	}
	r.mu.Lock()
	n := r.tries[id]
	r.tries[id]++
	r.mu.Unlock()
	status := http.StatusNoContent
	if r.fail != nil {
		status = r.fail(id, n)
	}
	if status == 0 {
		time.Sleep(300 * time.Millisecond) // past the worker's timeout
		return
	}
	if status/100 == 2 {
		r.mu.Lock()
		sid := ""
		if e.SessionID != nil {
			sid = *e.SessionID
		}
		r.accepted = append(r.accepted, received{e.ID, e.Type, e.UserID, sid})
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (r *receiver) triesOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries[id]
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted)
}

// fixture is a tenant with a service on st and a webhook to rcv.
type fixture struct {
	st     store
	clk    *clock
	svc    *sessions.Service
	tenant int64
	hook   *sessions.Webhook
}

func newFixture(t *testing.T, st store, rcv *receiver) *fixture {
	t.Helper()
	f := &fixture{st: st, clk: &clock{now: time.Now().Truncate(time.Second)}}
	f.svc = sessions.NewService(st, sessions.DefaultConfig(), f.clk.Now, nil)
	k, _, err := f.svc.CreateAPIKey(t.Context(), "acme", "test", sessions.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	f.tenant = k.TenantID
	f.hook = &sessions.Webhook{ID: sessions.NewWebhookID(), TenantName: "acme", URL: rcv.srv.URL + "/hook",
		Secret: sessions.NewWebhookSecret(), CreatedAt: f.clk.Now().Unix()}
	rcv.secret = f.hook.Secret
	if err := st.CreateWebhook(t.Context(), f.hook); err != nil {
		t.Fatal(err)
	}
	return f
}

// worker returns a worker on st with short timeouts and no jitter left
// to chance: backoffs are then at most BaseBackoff * 2^(n-1).
func (f *fixture) worker(st store) *webhook.Worker {
	return webhook.New(st, webhook.Config{MaxAttempts: 3, Timeout: 150 * time.Millisecond, BaseBackoff: time.Second,
		MaxBackoff: time.Minute, Batch: 10, Parallel: 4}, f.clk.Now, slog.New(slog.DiscardHandler))
}

// start starts a session of user.
func (f *fixture) start(t *testing.T, user string) *sessions.Session {
	t.Helper()
	s, _, err := f.svc.Start(t.Context(), f.tenant, user, sessions.Activity{ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// round runs one round of w and returns how many it delivered.
func round(t *testing.T, w *webhook.Worker) int {
	t.Helper()
	n, err := w.Round(t.Context())
	if err != nil {
		t.Fatalf("Round: %v", err)
	}
	return n
}

// types returns the event types in rs.
func types(rs []received) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.typ+" "+r.user)
	}
	return out
}

func TestDeliverSigned(t *testing.T) {
	forEachStore(t, func(t *testing.T, st store, _ func() store) {
		rcv := newReceiver(t, nil)
		f := newFixture(t, st, rcv)
		s := f.start(t, "alice")
		f.start(t, "bob")
		if err := f.svc.Revoke(t.Context(), f.tenant, "alice", s.ID, "key_1"); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.EraseUser(t.Context(), f.tenant, "bob"); err != nil {
			t.Fatal(err)
		}
		// Another tenant's events do not reach acme's webhook.
		k, _, _ := f.svc.CreateAPIKey(t.Context(), "globex", "test", sessions.Scopes)
		if _, _, err := f.svc.Start(t.Context(), k.TenantID, "carol", sessions.Activity{ClientID: "app"}); err != nil {
			t.Fatal(err)
		}
		w := f.worker(st)
		if n := round(t, w); n != 4 {
			t.Errorf("Round: delivered %d, want 4", n)
		}
		// Deliveries run in parallel: each user's events arrive in order,
		// different users' in any.
		var alice, bob []string
		for _, r := range rcv.got() {
			if r.user == "alice" {
				alice = append(alice, r.typ)
			} else {
				bob = append(bob, r.typ)
			}
		}
		if want := []string{"session.started", "session.revoked"}; !slices.Equal(alice, want) {
			t.Errorf("alice's events: got %v, want %v", alice, want)
		}
		if want := []string{"session.started", "user.erased"}; !slices.Equal(bob, want) {
			t.Errorf("bob's events: got %v, want %v", bob, want)
		}
		if n := round(t, w); n != 0 {
			t.Errorf("second Round: delivered %d, want 0", n)
		}
		ds, err := st.ListDeliveries(t.Context(), f.hook.ID, sessions.DeliveryDelivered, 100)
		if err != nil || len(ds) != 4 {
			t.Errorf("delivered deliveries: got %d, %v; want 4", len(ds), err)
		}
	})
}

// TestRetries checks each kind of receiver failure: an error status, a
// hang past the timeout and a refused connection, each retried after its
// backoff until the event is delivered once.
func TestRetries(t *testing.T) {
	forEachStore(t, func(t *testing.T, st store, _ func() store) {
		// Event 1: 500 then timeout then 200. Others: 200.
		var first atomic.Value
		first.Store("")
		rcv := newReceiver(t, func(id string, n int) int {
			if id != first.Load().(string) {
				return 200
			}
			return []int{500, 0, 200}[min(n, 2)]
		})
		f := newFixture(t, st, rcv)
		s := f.start(t, "alice")
		evs, _ := f.svc.Events(t.Context(), f.tenant, 0, 10)
		first.Store(evs[0].ID())
		w := f.worker(st)
		if n := round(t, w); n != 0 {
			t.Fatalf("first round: delivered %d, want 0 (500)", n)
		}
		pending := func() *sessions.Delivery {
			t.Helper()
			ds, err := st.ListDeliveries(t.Context(), f.hook.ID, sessions.DeliveryPending, 10)
			if err != nil || len(ds) != 1 {
				t.Fatalf("pending deliveries: got %d, %v; want 1", len(ds), err)
			}
			return ds[0]
		}
		d := pending()
		now := f.clk.Now().Unix()
		if d.Attempts != 1 || d.LastError != "HTTP 500" || d.NextAttemptAt < now+1 || d.NextAttemptAt > now+1 {
			t.Errorf("after a 500: attempts %d, error %q, next in %ds; want 1, HTTP 500, 1s", d.Attempts, d.LastError, d.NextAttemptAt-now)
		}
		// Not due yet: nothing happens, and a later event of the same
		// user waits behind it.
		if err := f.svc.Revoke(t.Context(), f.tenant, "alice", s.ID, "key_1"); err != nil {
			t.Fatal(err)
		}
		if n := round(t, w); n != 0 || rcv.triesOf(evs[0].ID()) != 1 {
			t.Fatalf("round before the backoff: delivered %d, tries %d; want 0, 1", n, rcv.triesOf(evs[0].ID()))
		}
		f.clk.Advance(time.Second)
		if n := round(t, w); n != 0 {
			t.Fatalf("second round: delivered %d, want 0 (timeout)", n)
		}
		ds, _ := st.ListDeliveries(t.Context(), f.hook.ID, sessions.DeliveryPending, 10)
		if len(ds) != 2 || ds[0].Attempts != 2 || !strings.Contains(ds[0].LastError, "Timeout") {
			t.Fatalf("after a timeout: got %+v, want attempt 2 with a timeout", ds[0])
		}
		if wait := ds[0].NextAttemptAt - f.clk.Now().Unix(); wait < 1 || wait > 2 {
			t.Errorf("backoff after the second failure: %ds, want 1-2s", wait)
		}
		f.clk.Advance(2 * time.Second)
		if n := round(t, w); n != 2 {
			t.Fatalf("third round: delivered %d, want 2", n)
		}
		want := []string{"session.started alice", "session.revoked alice"}
		if got := types(rcv.got()); !slices.Equal(got, want) {
			t.Errorf("received %v, want %v (each once, in order)", got, want)
		}
	})
}

// TestDeadLetterAndRetry sends to an endpoint that refuses connections
// until the attempts run out, then brings it up and retries the dead
// letter.
func TestDeadLetterAndRetry(t *testing.T) {
	forEachStore(t, func(t *testing.T, st store, _ func() store) {
		rcv := newReceiver(t, nil)
		addr := rcv.srv.Listener.Addr().String()
		rcv.srv.Close() // connections are refused from now on
		f := newFixture(t, st, rcv)
		f.start(t, "alice")
		w := f.worker(st)
		for i := range 3 {
			if n := round(t, w); n != 0 {
				t.Fatalf("round %d: delivered %d, want 0", i, n)
			}
			f.clk.Advance(10 * time.Second)
		}
		dead, err := st.ListDeliveries(t.Context(), "", sessions.DeliveryDead, 10)
		if err != nil || len(dead) != 1 || dead[0].Attempts != 3 || !strings.Contains(dead[0].LastError, "refused") {
			t.Fatalf("dead letters: got %+v, %v; want one after 3 refused attempts", dead, err)
		}
		if n := round(t, w); n != 0 {
			t.Errorf("round after the last attempt: delivered %d, want 0 (dead)", n)
		}
		// A dead letter holds no later event of the user back.
		f.start(t, "alice")

		// The endpoint comes back on the same address.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s again: %v", addr, err)
		}
		back := &receiver{t: t, secret: rcv.secret, tries: map[string]int{}}
		srv := &http.Server{Handler: http.HandlerFunc(back.serve)}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		if n := round(t, w); n != 1 {
			t.Fatalf("round with the endpoint back: delivered %d, want 1 (the second start)", n)
		}
		if n, err := st.RetryDead(t.Context(), f.hook.ID, f.clk.Now().Unix()); err != nil || n != 1 {
			t.Fatalf("RetryDead: got %d, %v; want 1", n, err)
		}
		if n := round(t, w); n != 1 {
			t.Fatalf("round after RetryDead: delivered %d, want 1", n)
		}
		if got := types(back.got()); len(got) != 2 {
			t.Errorf("received %v, want both starts", got)
		}
		if dead, _ := st.ListDeliveries(t.Context(), "", sessions.DeliveryDead, 10); len(dead) != 0 {
			t.Errorf("dead letters after the retry: %d, want 0", len(dead))
		}
		_, err = st.RetryDead(t.Context(), "wh_nope", 0)
		if sessions.ErrorCode(err) != sessions.ENOTFOUND {
			t.Errorf("RetryDead(unknown): got %v, want not found", err)
		}
	})
}

// TestOrderPerUser fails every first attempt of one user's events and
// checks that they still arrive in order, while another user's are not
// held up.
func TestOrderPerUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, st store, _ func() store) {
		var mu sync.Mutex
		users := map[string]string{} // event ID -> user
		rcv := newReceiver(t, func(id string, n int) int {
			mu.Lock()
			defer mu.Unlock()
			if users[id] == "alice" && n == 0 {
				return 503
			}
			return 200
		})
		f := newFixture(t, st, rcv)
		for range 3 {
			s := f.start(t, "alice")
			f.start(t, "bob")
			if err := f.svc.Revoke(t.Context(), f.tenant, "alice", s.ID, "key_1"); err != nil {
				t.Fatal(err)
			}
		}
		evs, _ := f.svc.Events(t.Context(), f.tenant, 0, 100)
		var wantAlice []string
		for _, e := range evs {
			users[e.ID()] = e.UserID
			if e.UserID == "alice" {
				wantAlice = append(wantAlice, e.ID())
			}
		}
		w := f.worker(st)
		if n := round(t, w); n != 3 {
			t.Errorf("first round: delivered %d, want bob's 3", n)
		}
		for range 10 {
			f.clk.Advance(5 * time.Second)
			round(t, w)
		}
		var gotAlice []string
		for _, r := range rcv.got() {
			if r.user == "alice" {
				gotAlice = append(gotAlice, r.id)
			}
		}
		if !slices.Equal(gotAlice, wantAlice) {
			t.Errorf("alice's events arrived as %v, want %v", gotAlice, wantAlice)
		}
	})
}

// TestSurvivesRestart records events, stops a worker that claimed a
// delivery without finishing it (as if it died), and checks that a new
// worker, on the store opened again, delivers everything: the claimed
// event after its lease ran out, possibly a second time.
func TestSurvivesRestart(t *testing.T) {
	forEachStore(t, func(t *testing.T, st store, reopen func() store) {
		rcv := newReceiver(t, nil)
		f := newFixture(t, st, rcv)
		f.start(t, "alice")
		f.start(t, "bob")
		// A worker fans out and claims, then dies.
		if _, err := st.FanOut(t.Context(), f.clk.Now().Unix(), 10); err != nil {
			t.Fatal(err)
		}
		claimed, err := st.ClaimDeliveries(t.Context(), f.clk.Now().Unix(), f.clk.Now().Unix()+30, 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("ClaimDeliveries: got %d, %v; want 1", len(claimed), err)
		}
		st2 := reopen()
		w := f.worker(st2)
		if n := round(t, w); n != 1 {
			t.Errorf("round during the lease: delivered %d, want 1 (the unclaimed one)", n)
		}
		f.clk.Advance(31 * time.Second)
		if n := round(t, w); n != 1 {
			t.Errorf("round after the lease: delivered %d, want 1 (the claimed one)", n)
		}
		if got := types(rcv.got()); len(got) != 2 {
			t.Errorf("received %v, want both starts", got)
		}
	})
}

func TestBackoff(t *testing.T) {
	w := webhook.New(nil, webhook.Config{BaseBackoff: time.Second, MaxBackoff: 10 * time.Second}, nil, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{{1, time.Second, time.Second}, {2, time.Second, 2 * time.Second}, {3, 2 * time.Second, 4 * time.Second},
		{4, 4 * time.Second, 8 * time.Second}, {5, 5 * time.Second, 10 * time.Second}, {50, 5 * time.Second, 10 * time.Second}} {
		for range 20 {
			if d := w.Backoff(tc.attempt); d < tc.min || d > tc.max {
				t.Errorf("Backoff(%d) = %v, want %v-%v", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}

// TestREADMEVerify checks that the README shows the verify function that
// these tests run, character for character.
func TestREADMEVerify(t *testing.T) {
	src, err := os.ReadFile("webhook_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(src), "func verify(")
	end := strings.Index(string(src)[start:], "\n}\n")
	fn := string(src)[start : start+end+3]
	if !strings.Contains(string(readme), fn) {
		t.Errorf("README.md does not show the verify function of the tests:\n%s", fn)
	}
}

func TestSignVerifies(t *testing.T) {
	body := `{"id":"1"}`
	ts := time.Now().Unix()
	sig := webhook.Sign("whsec_x", ts, []byte(body))
	if !verify("whsec_x", strconv.FormatInt(ts, 10), body, sig) {
		t.Error("verify of Sign: got false, want true")
	}
	for name, tc := range map[string][4]string{
		"other secret":  {"whsec_y", strconv.FormatInt(ts, 10), body, sig},
		"other body":    {"whsec_x", strconv.FormatInt(ts, 10), body + " ", sig},
		"other time":    {"whsec_x", strconv.FormatInt(ts+1, 10), body, sig},
		"old timestamp": {"whsec_x", strconv.FormatInt(ts-3600, 10), body, webhook.Sign("whsec_x", ts-3600, []byte(body))},
		"no header":     {"whsec_x", strconv.FormatInt(ts, 10), body, ""},
	} {
		if verify(tc[0], tc[1], tc[2], tc[3]) {
			t.Errorf("verify with %s: got true, want false", name)
		}
	}
}
