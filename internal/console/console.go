// Package console serves sessiond's web console: a static page, embedded in
// the binary, on which an operator signs in with an API key, looks a user
// up, sees their sessions in a table and on a world map, and revokes them.
//
// The console is a client of the public management API and nothing more:
// the browser calls /api with the operator's key, so the console can do
// exactly what that key may do and needs no access of its own. This package
// therefore only serves files, with headers strict enough that the page
// can run no script, style or connection but its own.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

// static holds the page, its style sheet, its JavaScript modules and the
// world outline the map is drawn from.
//
//go:embed static
var static embed.FS

// contentSecurityPolicy allows only the console's own files and calls to
// its own origin: no inline script or style, no other host, no framing,
// no form that could post the API key anywhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'"

// contentTypes maps the extensions the console uses to their media types.
// The system's MIME table is not consulted: some map .js to a type that
// browsers refuse for modules under nosniff.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
}

// file is one embedded file, read once when the handler is made.
type file struct {
	name        string
	data        []byte
	contentType string
	etag        string
}

// Handler returns the console's handler. Mount it at Prefix; it also
// answers the bare "/console" with a redirect to Prefix.
//
// Files carry no version in their names, so they are served with
// "Cache-Control: no-cache" and a strong ETag from their content: browsers
// revalidate on each load (a cheap 304) and never mix the modules of two
// releases.
func Handler() http.Handler {
	files := loadFiles()
	// modTime is zero so that ServeContent relies on the ETag alone.
	var modTime time.Time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")

		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if name == "" {
			name = "index.html"
		}
		f, ok := files[name]
		if !ok {
			// Directories and anything not embedded alike: no listings.
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, f.name, modTime, bytes.NewReader(f.data))
	})
}

// loadFiles reads every embedded regular file whose type is known, keyed by
// its path below static/. Reading them up front leaves the handler with
// nothing that can fail on a request.
func loadFiles() map[string]file {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := map[string]file{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil
		}
		data, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		files[name] = file{
			name:        name,
			data:        data,
			contentType: ct,
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic(err) // embedded files cannot fail to read
	}
	return files
}
