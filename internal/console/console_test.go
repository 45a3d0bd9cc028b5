package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/console"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// get serves one request with the console's handler alone.
func get(t *testing.T, h http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestHandler(t *testing.T) {
	h := console.Handler()
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string // prefix; "" to skip
		body         string // substring; "" to skip
		location     string
	}{
		{"GET", "/console/", 200, "text/html; charset=utf-8", "<!doctype html>", ""},
		{"GET", "/console/index.html", 200, "text/html; charset=utf-8", "<!doctype html>", ""},
		{"HEAD", "/console/", 200, "text/html; charset=utf-8", "", ""},
		{"GET", "/console/app.js", 200, "text/javascript; charset=utf-8", "import", ""},
		{"GET", "/console/api.js", 200, "text/javascript; charset=utf-8", "X-API-KEY", ""},
		{"GET", "/console/world.js", 200, "text/javascript; charset=utf-8", "export const LAND", ""},
		{"GET", "/console/console.css", 200, "text/css; charset=utf-8", ":root", ""},
		{"GET", "/console/favicon.svg", 200, "image/svg+xml", "<svg", ""},
		{"GET", "/console", 301, "", "", "/console/"},
		{"GET", "/console/nope.js", 404, "text/plain", "not found", ""},
		{"GET", "/console/static/index.html", 404, "text/plain", "", ""},
		{"GET", "/console/static/", 404, "text/plain", "", ""},
		{"GET", "/console/.", 404, "text/plain", "", ""},
		{"GET", "/console/../console.go", 404, "text/plain", "", ""},
		{"GET", "/elsewhere", 404, "text/plain", "", ""},
		{"POST", "/console/", 405, "text/plain", "", ""},
		{"DELETE", "/console/app.js", 405, "text/plain", "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res := get(t, h, tc.method, tc.path, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status: got %d, want %d", res.StatusCode, tc.status)
			}
			// Every answer, errors and redirects too, carries the headers.
			for k, want := range map[string]string{
				"Content-Security-Policy": wantCSP,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if ct := res.Header.Get("Content-Type"); tc.contentType != "" && !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type: got %q, want %q", ct, tc.contentType)
			}
			if tc.body != "" && !strings.Contains(string(body), tc.body) {
				t.Errorf("body does not contain %q", tc.body)
			}
			if got := res.Header.Get("Location"); got != tc.location {
				t.Errorf("Location: got %q, want %q", got, tc.location)
			}
			if tc.status == 405 {
				if got := res.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow: got %q, want %q", got, "GET, HEAD")
				}
			}
			if tc.status == 200 {
				if got := res.Header.Get("Cache-Control"); got != "no-cache" {
					t.Errorf("Cache-Control: got %q, want no-cache", got)
				}
				if res.Header.Get("ETag") == "" {
					t.Errorf("no ETag")
				}
			}
			// A directory never lists its files.
			if strings.Contains(string(body), `<a href="app.js">`) {
				t.Errorf("the answer lists a directory")
			}
		})
	}
}

// TestHandlerRevalidates checks that a browser's revalidation with the
// ETag costs a 304 and no body.
func TestHandlerRevalidates(t *testing.T) {
	h := console.Handler()
	first := get(t, h, "GET", "/console/app.js", nil)
	etag := first.Header.Get("ETag")
	res := get(t, h, "GET", "/console/app.js", http.Header{"If-None-Match": {etag}})
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("status with If-None-Match: got %d, want 304", res.StatusCode)
	}
	if got := res.Header.Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("304 Content-Security-Policy: got %q, want %q", got, wantCSP)
	}
	other := get(t, h, "GET", "/console/api.js", nil).Header.Get("ETag")
	if other == etag {
		t.Errorf("two files share the ETag %s", etag)
	}
}

// TestHandlerOnMux checks the console mounted as the binary mounts it,
// next to another handler at "/".
func TestHandlerOnMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, console.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "api", http.StatusTeapot) })
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/console/", 200},
		{"/console", 0}, // a redirect, by the mux or the handler
		{"/console/app.js", 200},
		{"/consolex", http.StatusTeapot},
		{"/api/users/a/sessions", http.StatusTeapot},
	} {
		res := get(t, mux, "GET", tc.path, nil)
		if tc.status == 0 {
			if loc := res.Header.Get("Location"); res.StatusCode/100 != 3 || loc != "/console/" {
				t.Errorf("GET %s: got %d to %q, want a redirect to /console/", tc.path, res.StatusCode, loc)
			}
			continue
		}
		if res.StatusCode != tc.status {
			t.Errorf("GET %s: got %d, want %d", tc.path, res.StatusCode, tc.status)
		}
	}
}

// TestStaticFilesObeyCSP reads the page's sources for what the policy
// would block or what would undo its point: inline scripts, inline styles,
// event handler attributes, remote URLs, and HTML built from strings
// (everything from the API is placed with textContent).
func TestStaticFilesObeyCSP(t *testing.T) {
	forbidden := map[string][]*regexp.Regexp{
		".html": {
			regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`), // inline script
			regexp.MustCompile(`<style`),
			regexp.MustCompile(`\sstyle=`),
			regexp.MustCompile(`\son[a-z]+=`),
			regexp.MustCompile(`<(?:input|select|textarea)[^>]*\sname=`), // a named field could be submitted in a URL
			regexp.MustCompile(`https?://`),
		},
		".js": {
			regexp.MustCompile(`\.innerHTML\s*=|insertAdjacentHTML|document\.write`),
			regexp.MustCompile(`\beval\(|new Function\(`),
			regexp.MustCompile(`\.style\.`),
			regexp.MustCompile(`localStorage|document\.cookie`),
			regexp.MustCompile(`https?://(?:[^w]|w[^w]|ww[^w])`), // only the SVG namespace URL
		},
		".css": {
			regexp.MustCompile(`@import|url\(`),
		},
	}
	err := filepath.WalkDir("static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if filepath.Ext(p) == ".html" {
			for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAll(b, -1) {
				if !strings.Contains(string(tag), ` src="`) {
					t.Errorf("%s: %s is an inline script", p, tag)
				}
			}
		}
		for _, re := range forbidden[filepath.Ext(p)] {
			if loc := re.FindIndex(b); loc != nil {
				t.Errorf("%s: %q matches %s", p, b[loc[0]:loc[1]], re)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestModulesServed checks that every module a module imports, and every
// file the page links, is served.
func TestModulesServed(t *testing.T) {
	h := console.Handler()
	ref := regexp.MustCompile(`(?:from|import\()\s*"\./([^"]+)"|(?:src|href)="([^"#:]+)"`)
	for _, name := range []string{"index.html", "app.js", "api.js", "map.js", "format.js", "ua.js"} {
		res := get(t, h, "GET", "/console/"+name, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: got %d, want 200", name, res.StatusCode)
		}
		for _, m := range ref.FindAllStringSubmatch(string(body), -1) {
			target := m[1] + m[2]
			if got := get(t, h, "GET", "/console/"+target, nil).StatusCode; got != 200 {
				t.Errorf("%s refers to %s: got %d, want 200", name, target, got)
			}
		}
	}
}

// TestWorldOutlineSmall keeps the embedded map outline small.
func TestWorldOutlineSmall(t *testing.T) {
	fi, err := os.Stat(filepath.Join("static", "world.js"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 200<<10 {
		t.Errorf("world.js: got %d bytes, want at most 200 KiB", fi.Size())
	}
}
