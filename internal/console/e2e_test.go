package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// The end-to-end tests drive the console in a real headless Chromium
// against a real sessiond stack: the SQLite store, the Service and the HTTP
// API, with the console mounted next to it as the binary mounts it.

var skipNotice sync.Once

// chromiumPath finds a Chromium to drive, or skips the test loudly; with
// SESSIOND_REQUIRE_CHROMIUM=1 a missing browser fails the test instead, so
// that CI cannot pass by skipping.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "NO CHROMIUM FOUND (looked for chromium, chromium-browser, google-chrome on PATH): " +
		"the console's end-to-end tests did NOT run"
	if os.Getenv("SESSIOND_REQUIRE_CHROMIUM") == "1" {
		t.Fatal(msg + " and SESSIOND_REQUIRE_CHROMIUM=1 requires them")
	}
	// go test hides skip messages unless -v; say it on stderr too, once.
	skipNotice.Do(func() { fmt.Fprintln(os.Stderr, "WARNING: "+msg) })
	t.Skip(msg + "; install Chromium, or set SESSIOND_REQUIRE_CHROMIUM=1 to make this a failure")
	return ""
}

// stack is a running sessiond: store, service, API and console behind one
// test server.
type stack struct {
	srv      *httptest.Server
	url      string
	store    sessions.Store
	svc      *sessions.Service
	tenantID int64
	admin    string // key with every scope
	reader   string // key with sessions:read only
	now      time.Time
}

// newStack serves a fresh sessiond. The clock is fixed near the real time,
// because the browser formats "5 minutes ago" against its own clock.
// extra, if not nil, registers more routes on the mux (a stand-in for an
// endpoint the API does not have yet).
func newStack(t *testing.T, extra func(mux *http.ServeMux)) *stack {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sessiond.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().Truncate(time.Second)
	svc := sessions.NewService(st, sessions.DefaultConfig(), func() time.Time { return now }, nil)
	api := httpapi.NewServer(svc, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), httpapi.Options{})

	mux := http.NewServeMux()
	mux.Handle("/console/", console.Handler())
	mux.Handle("/", api)
	if extra != nil {
		extra(mux)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	s := &stack{srv: srv, url: srv.URL, store: st, svc: svc, now: now}
	k, admin, err := svc.CreateAPIKey(ctx, sessions.DefaultTenant, "console-admin", sessions.Scopes)
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	_, reader, err := svc.CreateAPIKey(ctx, sessions.DefaultTenant, "console-reader", []sessions.Scope{sessions.ScopeSessionsRead})
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	s.tenantID, s.admin, s.reader = k.TenantID, admin, reader
	return s
}

// seedSession is a session as the demo seeds it, with a location set
// directly so that no GeoIP database is needed.
type seedSession struct {
	clients               []string
	ip, ua                string
	country, city         string
	lat, lon              string // "" leaves the location unknown
	startedAgo, activeAgo time.Duration
}

const (
	uaMacSafari     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	uaIPhoneApp     = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	uaWindowsFox    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	uaAndroidChrome = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
	uaWindowsEdge   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0"
)

// demoAlice are the demo's sessions of its user alice, most recently
// active first.
var demoAlice = []seedSession{
	{[]string{"web-app"}, "203.0.113.10", uaMacSafari, "United States of America", "Los Angeles", "34.043238", "-118.250918", 3 * time.Hour, 5 * time.Minute},
	{[]string{"mobile-app", "web-app"}, "198.51.100.23", uaIPhoneApp, "United Kingdom", "London", "51.507351", "-0.127758", 26 * time.Hour, 2 * time.Hour},
	{[]string{"web-app", "admin-console"}, "192.0.2.77", uaWindowsFox, "Germany", "Berlin", "52.520008", "13.404954", 50 * time.Hour, 20 * time.Hour},
	{[]string{"mobile-app"}, "2001:db8::42", uaAndroidChrome, "Japan", "Tokyo", "35.689487", "139.691711", 5 * 24 * time.Hour, 30 * time.Hour},
}

// seed stores the user's sessions through the store, as the demo does, and
// returns their IDs in the order given.
func (s *stack) seed(t *testing.T, user string, list []seedSession) []string {
	t.Helper()
	cfg := s.svc.Config()
	var ids []string
	for _, d := range list {
		sess := &sessions.Session{
			TenantID:    s.tenantID,
			UserID:      user,
			ID:          sessions.NewSessionID(),
			Key:         sessions.SessionKey(sessions.NewToken()),
			ClientIDs:   d.clients,
			InitiatedAt: s.now.Add(-d.startedAgo).Unix(),
			LastUpdated: s.now.Add(-d.activeAgo).Unix(),
			LastMetadata: sessions.Metadata{
				IPAddress: &d.ip, UserAgent: &d.ua,
			},
		}
		if d.lat != "" {
			sess.LastMetadata.Location = sessions.Location{Country: &d.country, City: &d.city, Latitude: &d.lat, Longitude: &d.lon}
		}
		sess.ExpiresAt = cfg.ExpiresAt(sess.InitiatedAt, sess.LastUpdated)
		if err := s.store.CreateSession(context.Background(), sess, nil); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		ids = append(ids, sess.ID)
	}
	return ids
}

// activeIDs lists the user's active sessions as the service sees them.
func (s *stack) activeIDs(t *testing.T, user string) []string {
	t.Helper()
	list, _, err := s.svc.List(context.Background(), sessions.ListQuery{
		TenantID: s.tenantID, UserID: user, Sort: sessions.SortSessionID, Page: 1, Size: 100, Now: s.svc.Now(),
	})
	if err != nil {
		t.Fatalf("List(%s): %v", user, err)
	}
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	return ids
}

// newBrowser starts one headless Chromium for the whole test, with a fresh
// profile (chromedp makes a temporary user-data-dir and removes it).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 900),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		chromedp.Cancel(bctx)
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return bctx
}

// tab is one browser tab (its own sessionStorage) on a stack. It records
// what the page writes to the console and fails the test on uncaught
// exceptions and Content-Security-Policy violations.
type tab struct {
	t   *testing.T
	ctx context.Context
	s   *stack
}

func newTab(t *testing.T, browser context.Context, s *stack) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	var (
		mu   sync.Mutex
		bad  []string
		done = make(chan struct{})
	)
	msgs := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s: %s", m.Type, m.Text))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, b := range bad {
			t.Errorf("browser console: %s", b)
		}
	})
	return &tab{t: t, ctx: ctx, s: s}
}

// do runs the steps, failing the test on error or after 20 seconds.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor waits until the JavaScript expression's value, as JSON, equals
// want's; on timeout it fails with the last value seen.
func (b *tab) waitFor(expr string, want any) {
	b.t.Helper()
	wantJSON, err := json.Marshal(want)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	pred := fmt.Sprintf("JSON.stringify(%s) === %s", expr, mustJSON(string(wantJSON)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](pred, chromedp.WithPollingTimeout(8*time.Second))); err != nil {
		got := eval[string](b, fmt.Sprintf("JSON.stringify(%s)", expr))
		state := eval[string](b, `JSON.stringify({dialog: document.querySelector("#confirm").open, status: document.querySelector("#status").textContent, alert: document.querySelector("#alert").innerText, focus: document.activeElement?.outerHTML.slice(0, 80)})`)
		b.t.Fatalf("waiting for %s: got %s, want %s (page: %s)", expr, got, wantJSON, state)
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// JavaScript snippets the tests read the page with.
const (
	jsRowIDs     = `[...document.querySelectorAll("#sessions-body tr[data-session-id]")].map(r => r.dataset.sessionId)`
	jsMarkerIDs  = `[...document.querySelectorAll("#markers .marker")].map(m => m.dataset.sessionId).sort()`
	jsAlert      = `document.querySelector("#alert").hidden ? "" : document.querySelector("#alert").innerText.split("\n").filter(Boolean).join("\n")`
	jsSelected   = `[...document.querySelectorAll(".selected")].map(e => e.tagName.toLowerCase() + ":" + e.dataset.sessionId).sort()`
	jsActiveID   = `document.activeElement?.dataset?.sessionId ?? document.activeElement?.id ?? ""`
	jsSignedOut  = `!document.querySelector("#sign-in").hidden && document.querySelector("#workspace").hidden`
	jsStoredKey  = `sessionStorage.getItem("sessiond.apiKey")`
	jsDialogOpen = `document.querySelector("#confirm").open`
)

func (b *tab) open() {
	b.t.Helper()
	b.do(chromedp.Navigate(b.s.url+"/console/"), chromedp.WaitVisible(chromedp.ID("api-key")))
}

func (b *tab) signIn(key string) {
	b.t.Helper()
	b.open()
	b.do(
		chromedp.SendKeys(chromedp.ID("api-key"), key),
		chromedp.Click(chromedp.CSS("#sign-in-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("user-id")),
	)
}

// lookUp looks the user up and waits until the page has an answer: rows,
// or an error.
func (b *tab) lookUp(user string) {
	b.t.Helper()
	b.do(
		chromedp.SetValue(chromedp.ID("user-id"), user),
		chromedp.Click(chromedp.CSS("#lookup-form button[type=submit]")),
	)
	b.waitFor(`document.querySelector("#status").textContent.includes("active session") || !document.querySelector("#alert").hidden`, true)
}

// change sets a control of the controls form and fires its change event,
// as picking a value does.
func (b *tab) change(id, value string) {
	b.t.Helper()
	eval[chromedp.Void](b, fmt.Sprintf(`(() => { const e = document.getElementById(%s); e.value = %s;
		e.dispatchEvent(new Event("change", {bubbles: true})); })()`, mustJSON(id), mustJSON(value)))
}

func (b *tab) rowIDs() []string { return eval[[]string](b, jsRowIDs) }

func TestConsoleEndToEnd(t *testing.T) {
	browser := newBrowser(t)
	s := newStack(t, nil)
	alice := s.seed(t, "alice", demoAlice)
	la, london, berlin, tokyo := alice[0], alice[1], alice[2], alice[3]

	t.Run("sign in, list, map", func(t *testing.T) {
		b := newTab(t, browser, s)
		b.signIn(s.admin)
		if got := eval[string](b, jsStoredKey); got != s.admin {
			t.Errorf("sessionStorage key: got %q, want the admin key", got)
		}
		b.lookUp("alice")
		if got, want := b.rowIDs(), []string{la, london, berlin, tokyo}; !slices.Equal(got, want) {
			t.Fatalf("rows: got %v, want %v (last active first)", got, want)
		}
		want := slices.Sorted(slices.Values(alice))
		if got := eval[[]string](b, jsMarkerIDs); !slices.Equal(got, want) {
			t.Errorf("markers: got %v, want %v", got, want)
		}

		// The first row, column by column.
		cells := eval[[]string](b, `[...document.querySelectorAll("#sessions-body tr:first-child td")].map(td => td.innerText.replace(/\s+/g, " ").trim())`)
		wantCells := []string{"Mac Safari 17", "Los Angeles, United States of America", "203.0.113.10", "web-app", "3 hours ago", "5 minutes ago", "in 7 days", "Revoke"}
		if len(cells) != len(wantCells) {
			t.Fatalf("first row cells: got %q, want %q", cells, wantCells)
		}
		for i := range wantCells {
			if !strings.HasPrefix(cells[i], wantCells[i]) {
				t.Errorf("first row cell %d: got %q, want it to start with %q", i, cells[i], wantCells[i])
			}
		}
		// Exact times are in the tooltip and the datetime attribute.
		lastActive := eval[[]string](b, `(t => [t.title, t.dateTime])(document.querySelector("#sessions-body tr:first-child td[data-label='Last active'] time"))`)
		if wantISO := s.now.Add(-5 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z"); lastActive[1] != wantISO || lastActive[0] == "" {
			t.Errorf("last active time: got title %q datetime %q, want a title and datetime %q", lastActive[0], lastActive[1], wantISO)
		}
		devices := eval[[]string](b, `[...document.querySelectorAll("#sessions-body td[data-label=Device]")].map(td => td.innerText.split("\n")[0])`)
		if want := []string{"Mac Safari 17", "iPhone In-app browser", "Windows Firefox 128", "Android Chrome 126"}; !slices.Equal(devices, want) {
			t.Errorf("devices: got %q, want %q", devices, want)
		}
		if got := eval[string](b, `document.querySelector("#sessions-caption").textContent`); !strings.Contains(got, "4 active sessions") {
			t.Errorf("caption: got %q, want it to count 4 active sessions", got)
		}
		// The API has no activity trail yet: its 404 leaves no faint markers.
		if got := eval[int](b, `document.querySelectorAll("#trails *").length`); got != 0 {
			t.Errorf("trail elements: got %d, want 0", got)
		}

		// The key is in sessionStorage only: never a cookie, never the URL.
		if got := eval[string](b, `document.cookie`); got != "" {
			t.Errorf("document.cookie: got %q, want empty", got)
		}
		if got := eval[string](b, `location.href`); strings.Contains(got, s.admin) || strings.Contains(got, "sdk_") {
			t.Errorf("URL %q holds the key", got)
		}
		if got := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(got, s.admin) {
			t.Errorf("the page's DOM holds the key")
		}

		// Clicking a marker highlights and focuses its row.
		b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#markers .marker[data-session-id=%q]`, berlin))))
		b.waitFor(jsSelected, []string{"g:" + berlin, "tr:" + berlin})
		if got := eval[string](b, jsActiveID); got != berlin {
			t.Errorf("focus after clicking Berlin's marker: got %q, want its row", got)
		}
		// Focusing a row (the keyboard's way) highlights its marker.
		b.do(chromedp.Focus(chromedp.CSS(fmt.Sprintf(`#sessions-body tr[data-session-id=%q]`, tokyo))))
		b.waitFor(jsSelected, []string{"g:" + tokyo, "tr:" + tokyo})
		// Focusing a marker highlights its row; Enter moves focus to it.
		b.do(chromedp.Focus(chromedp.CSS(fmt.Sprintf(`#markers .marker[data-session-id=%q]`, london))))
		b.waitFor(jsSelected, []string{"g:" + london, "tr:" + london})
		b.do(chromedp.KeyEvent("\r"))
		b.waitFor(jsActiveID, london)
	})

	t.Run("sort", func(t *testing.T) {
		b := newTab(t, browser, s)
		b.signIn(s.reader)
		b.lookUp("alice")
		b.change("sort", "initiated_at:1")
		b.waitFor(jsRowIDs, []string{tokyo, berlin, london, la})
		b.waitFor(`document.querySelector("th[data-sort=initiated_at]").getAttribute("aria-sort")`, "ascending")
		// A column header sorts too; a second click reverses it.
		b.do(chromedp.Click(chromedp.CSS(`th[data-sort=last_updated] button`)))
		b.waitFor(jsRowIDs, []string{la, london, berlin, tokyo})
		b.waitFor(`document.querySelector("#sort").value`, "last_updated:-1")
		b.do(chromedp.Click(chromedp.CSS(`th[data-sort=last_updated] button`)))
		b.waitFor(jsRowIDs, []string{tokyo, berlin, london, la})
		b.waitFor(`document.querySelector("th[data-sort=last_updated]").getAttribute("aria-sort")`, "ascending")
	})

	t.Run("client filter", func(t *testing.T) {
		b := newTab(t, browser, s)
		b.signIn(s.reader)
		b.lookUp("alice")
		b.change("client-filter", "admin-console")
		b.waitFor(jsRowIDs, []string{berlin})
		b.waitFor(jsMarkerIDs, []string{berlin})
		b.change("client-filter", "mobile-app")
		b.waitFor(jsRowIDs, []string{london, tokyo})
		b.change("client-filter", "")
		b.waitFor(jsRowIDs, []string{la, london, berlin, tokyo})
		// The filter suggests every application seen.
		b.waitFor(`[...document.querySelectorAll("#client-list option")].map(o => o.value)`, []string{"admin-console", "mobile-app", "web-app"})
	})

	t.Run("pages", func(t *testing.T) {
		var many []seedSession
		for i := range 12 {
			d := demoAlice[i%len(demoAlice)]
			d.activeAgo = time.Duration(i+1) * time.Minute
			if i%4 == 3 {
				d.lat, d.lon = "", "" // unknown location
			}
			many = append(many, d)
		}
		ids := s.seed(t, "pat", many)
		b := newTab(t, browser, s)
		b.signIn(s.reader)
		b.lookUp("pat")
		b.waitFor(jsRowIDs, ids[:10])
		b.waitFor(`document.querySelector("#page-info").textContent`, "Page 1 of 2 · 12 in all")
		b.waitFor(`[document.querySelector("#prev").disabled, document.querySelector("#next").disabled]`, []bool{true, false})
		b.waitFor(`document.querySelector("#map-note").textContent`, "2 sessions have no known location.")
		b.do(chromedp.Click(chromedp.ID("next")))
		b.waitFor(jsRowIDs, ids[10:])
		b.waitFor(`[document.querySelector("#prev").disabled, document.querySelector("#next").disabled]`, []bool{false, true})
		// The Next button disabled itself; focus went to Previous, not lost.
		b.waitFor(jsActiveID, "prev")
		b.change("size", "25")
		b.waitFor(jsRowIDs, ids)
	})

	t.Run("revoke one", func(t *testing.T) {
		ids := s.seed(t, "dave", demoAlice[:3])
		b := newTab(t, browser, s)
		b.signIn(s.admin)
		b.lookUp("dave")
		revoke := chromedp.CSS(fmt.Sprintf(`tr[data-session-id=%q] button.danger`, ids[1]))
		// Cancel changes nothing.
		b.do(chromedp.Click(revoke))
		b.waitFor(jsDialogOpen, true)
		b.do(chromedp.Click(chromedp.CSS(`#confirm button[value=cancel]`)))
		b.waitFor(jsDialogOpen, false)
		// So does Escape.
		b.do(chromedp.Click(revoke))
		b.waitFor(jsDialogOpen, true)
		b.do(chromedp.KeyEvent(kb.Escape))
		b.waitFor(jsDialogOpen, false)
		if got := s.activeIDs(t, "dave"); len(got) != 3 {
			t.Fatalf("after cancel: %d active sessions, want 3", len(got))
		}
		// Confirming revokes it, and the row goes.
		b.do(chromedp.Click(revoke))
		b.waitFor(jsDialogOpen, true)
		if got := eval[string](b, `document.querySelector("#confirm-text").textContent`); !strings.Contains(got, "London") {
			t.Errorf("dialog text %q does not name the session's place", got)
		}
		b.do(chromedp.Click(chromedp.ID("confirm-ok")))
		b.waitFor(jsRowIDs, []string{ids[0], ids[2]})
		b.waitFor(`document.querySelector("#status").textContent.startsWith("Session revoked.")`, true)
		if got, want := s.activeIDs(t, "dave"), slices.Sorted(slices.Values([]string{ids[0], ids[2]})); !slices.Equal(got, want) {
			t.Errorf("active sessions: got %v, want %v", got, want)
		}
	})

	t.Run("revoke all", func(t *testing.T) {
		s.seed(t, "erin", demoAlice[:2])
		b := newTab(t, browser, s)
		b.signIn(s.admin)
		b.lookUp("erin")
		b.waitFor(`document.querySelectorAll("#sessions-body tr[data-session-id]").length`, 2)
		b.do(chromedp.Click(chromedp.ID("revoke-all")))
		b.waitFor(jsDialogOpen, true)
		b.do(chromedp.Click(chromedp.ID("confirm-ok")))
		b.waitFor(jsRowIDs, []string{})
		b.waitFor(`document.querySelector("#sessions-body td.empty").textContent`, "No active sessions.")
		b.waitFor(jsMarkerIDs, []string{})
		if got := s.activeIDs(t, "erin"); len(got) != 0 {
			t.Errorf("active sessions after revoke all: got %v, want none", got)
		}
	})

	t.Run("read-only key may not revoke", func(t *testing.T) {
		ids := s.seed(t, "frank", demoAlice[:1])
		b := newTab(t, browser, s)
		b.signIn(s.reader)
		b.lookUp("frank")
		b.do(chromedp.Click(chromedp.CSS(`#sessions-body button.danger`)))
		b.waitFor(jsDialogOpen, true)
		b.do(chromedp.Click(chromedp.ID("confirm-ok")))
		b.waitFor(`(`+jsAlert+`).startsWith("This API key may not revoke sessions (403).")`, true)
		if got := s.activeIDs(t, "frank"); !slices.Equal(got, ids) {
			t.Errorf("active sessions: got %v, want %v", got, ids)
		}
		b.waitFor(jsRowIDs, ids)
		if got := eval[string](b, jsAlert); strings.Contains(got, "{") {
			t.Errorf("alert shows raw JSON: %q", got)
		}
	})

	t.Run("unknown key gets 401 and is forgotten", func(t *testing.T) {
		b := newTab(t, browser, s)
		b.signIn(sessions.NewAPIKeySecret())
		b.lookUp("alice")
		b.waitFor(`(`+jsAlert+`).startsWith("The API key was not accepted (401)")`, true)
		b.waitFor(jsSignedOut, true)
		if got := eval[*string](b, jsStoredKey); got != nil {
			t.Errorf("sessionStorage key after 401: got %q, want none", *got)
		}
	})

	t.Run("problems are readable", func(t *testing.T) {
		b := newTab(t, browser, s)
		b.signIn(s.reader)
		b.lookUp("nobody")
		b.waitFor(`(`+jsAlert+`).startsWith("No user “nobody” in this tenant (404).")`, true)
		b.waitFor(`document.querySelector("#results").hidden`, true)
		b.lookUp("-bad")
		b.waitFor(jsAlert, "Some values were not accepted (422).\nuser_id: must start with a letter or digit")
		b.lookUp("alice")
		b.change("client-filter", "no spaces")
		b.waitFor(`(`+jsAlert+`).split("\n")[1]`, "client_id: may contain only letters, digits and . _ - @ : | + =")
	})

	t.Run("sign out forgets the key", func(t *testing.T) {
		b := newTab(t, browser, s)
		b.signIn(s.reader)
		b.lookUp("alice")
		b.do(chromedp.Click(chromedp.ID("sign-out")))
		b.waitFor(jsSignedOut, true)
		if got := eval[*string](b, jsStoredKey); got != nil {
			t.Errorf("sessionStorage key after sign out: got %q, want none", *got)
		}
		b.waitFor(`document.querySelector("#status").textContent`, "Signed out. The API key was forgotten.")
	})

	t.Run("phone layout", func(t *testing.T) {
		b := newTab(t, browser, s)
		b.do(chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile))
		b.signIn(s.reader)
		b.lookUp("alice")
		b.waitFor(`getComputedStyle(document.querySelector("#sessions-body tr")).display`, "block")
		b.waitFor(`getComputedStyle(document.querySelector("#sessions-body td"), "::before").content`, `"Device"`)
		if got := eval[bool](b, `document.documentElement.scrollWidth <= innerWidth`); !got {
			t.Errorf("the page scrolls sideways on a phone")
		}
	})

	t.Run("network error", func(t *testing.T) {
		s2 := newStack(t, nil)
		b := newTab(t, browser, s2)
		b.signIn(s2.reader)
		// The server goes away under the page.
		s2.srv.Close()
		b.lookUp("alice")
		b.waitFor(`(`+jsAlert+`).startsWith("Could not reach sessiond")`, true)
	})

	if os.Getenv("SESSIOND_UPDATE_SCREENSHOT") == "1" {
		t.Run("screenshot", func(t *testing.T) { screenshot(t, browser) })
	}
}

// TestConsoleTrail checks the faint markers of the activity trail against a
// stand-in for the trail endpoint, which the API does not serve yet.
func TestConsoleTrail(t *testing.T) {
	browser := newBrowser(t)
	s := newStack(t, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /api/users/{user_id}/sessions/{session_id}/activity", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			// Newest first, nested or flat: the console takes either.
			fmt.Fprint(w, `[{"at":3,"metadata":{"latitude":null,"longitude":null}},`+
				`{"at":2,"metadata":{"latitude":"48.8566","longitude":"2.3522"}},`+
				`{"at":1,"latitude":"40.4168","longitude":"-3.7038"}]`)
		})
	})
	s.seed(t, "alice", demoAlice[:2])
	b := newTab(t, browser, s)
	b.signIn(s.reader)
	b.lookUp("alice")
	// Two sessions, two earlier places each.
	b.waitFor(`document.querySelectorAll("#trails .trail-dot").length`, 4)
	b.waitFor(`document.querySelectorAll("#trails [aria-hidden=true]").length`, 2)
	b.waitFor(`document.querySelector("#trail-key").hidden`, false)
	// The dotted line runs oldest first: Madrid, Paris, then where the
	// session is now (Los Angeles).
	b.waitFor(`document.querySelector("#trails polyline").getAttribute("points")`, "176.2962,49.5832 182.3522,41.1434 61.749082,55.956762")
}

// TestUserAgents checks the console's user agent parser in the browser.
func TestUserAgents(t *testing.T) {
	browser := newBrowser(t)
	s := newStack(t, nil)
	b := newTab(t, browser, s)
	b.open()
	for _, tc := range []struct{ ua, device, browser string }{
		{uaMacSafari, "Mac", "Safari 17"},
		{uaIPhoneApp, "iPhone", "In-app browser"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "iPhone", "Safari 17"},
		{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1", "iPad", "Chrome 126"},
		{uaWindowsFox, "Windows", "Firefox 128"},
		{uaWindowsEdge, "Windows", "Edge 126"},
		{uaAndroidChrome, "Android", "Chrome 126"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36", "Linux", "Chrome 126"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "Linux", "Firefox 127"},
		{"curl/8.5.0", "Unknown device", "curl/8.5.0"},
		{"", "Unknown device", "Unknown browser"},
	} {
		got := eval[[]string](b, fmt.Sprintf(`import("./ua.js").then(m => { const r = m.parseUserAgent(%s); return [r.device, r.browser]; })`, mustJSON(tc.ua)))
		if want := []string{tc.device, tc.browser}; !slices.Equal(got, want) {
			t.Errorf("parseUserAgent(%q): got %q, want %q", tc.ua, got, want)
		}
	}
}

// screenshot writes docs/console.png: the console with the demo's data,
// one session picked. Only with SESSIOND_UPDATE_SCREENSHOT=1, so that test
// runs leave the tree as it was.
func screenshot(t *testing.T, browser context.Context) {
	s := newStack(t, nil)
	ids := s.seed(t, "alice", demoAlice)
	b := newTab(t, browser, s)
	b.do(chromedp.EmulateViewport(1280, 900))
	b.signIn(s.admin)
	b.lookUp("alice")
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#markers .marker[data-session-id=%q]`, ids[1]))))
	b.waitFor(jsActiveID, ids[1])
	eval[chromedp.Void](b, `(document.activeElement.blur(), window.scrollTo(0, 0))`)
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join("..", "..", "docs", "console.png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}
