package httpapi

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// apiFunc is a handler that returns its error instead of writing it, so
// that one place (writeError) turns every error into a response.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// keyFunc is an apiFunc of an authenticated route; key is the caller's
// API key, whose tenant scopes everything the handler does.
type keyFunc func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error

// handle adapts an apiFunc to http.Handler, writing its error as problem
// details.
func handle(logger *slog.Logger, h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, logger, err)
		}
	})
}

// requireKey authenticates the X-API-KEY header and checks that the key
// carries scope: 401 without a valid key, 403 without the scope. With rate
// limiting on, a client address that has failed authentication too often
// is 429 before its key is looked up, and a key over its request rate is
// 429 before its scope is checked.
func requireKey(svc *sessions.Service, lim *limits, m *metrics, scope sessions.Scope, h keyFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := lim.gateAuthFailures(r); err != nil {
			m.rateLimited(reasonAuthFailures)
			return err
		}
		key, err := svc.Authenticate(r.Context(), headerGet(r.Header, "X-Api-Key"))
		if err != nil {
			if sessions.ErrorCode(err) == sessions.EUNAUTHORIZED {
				lim.authFailed(r)
			}
			return err
		}
		if err := lim.allowKey(key.ID); err != nil {
			m.rateLimited(reasonAPIKey)
			return err
		}
		if !key.Has(scope) {
			return sessions.Errorf(sessions.EFORBIDDEN, "the API key lacks the scope %s", scope)
		}
		return h(w, r, key)
	}
}

// negotiate answers 406 when the Accept header admits neither JSON nor
// problem details, the only media types the API speaks.
func negotiate(h apiFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if vals := r.Header["Accept"]; len(vals) > 0 && !acceptsAny(vals) {
			return errStatus(http.StatusNotAcceptable, "the API answers only application/json and application/problem+json")
		}
		return h(w, r)
	}
}

// acceptsAny reports whether the Accept header values, taken as one list,
// admit JSON (see acceptsJSON).
func acceptsAny(vals []string) bool {
	if len(vals) == 1 {
		switch vals[0] {
		case "application/json", "*/*", "application/problem+json":
			return true // what nearly every client sends
		}
		return acceptsJSON(vals[0])
	}
	return acceptsJSON(strings.Join(vals, ","))
}

// headerGet is h.Get(canonicalKey) without canonicalizing the key again.
func headerGet(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// acceptsJSON reports whether an Accept header admits application/json or
// application/problem+json with a non-zero quality. For each of the two,
// the most specific media range that matches decides (RFC 9110 12.5.1).
func acceptsJSON(accept string) bool {
	for _, want := range [...]string{"json", "problem+json"} {
		spec, q := -1, 0.0
		for _, rng := range strings.Split(accept, ",") {
			mt, params, _ := strings.Cut(rng, ";")
			typ, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(mt)), "/")
			if !ok {
				continue
			}
			s := -1
			switch {
			case typ == "application" && sub == want:
				s = 2
			case typ == "application" && sub == "*":
				s = 1
			case typ == "*" && sub == "*":
				s = 0
			}
			switch {
			case s < 0 || s < spec:
			case s > spec:
				spec, q = s, qualityOf(params)
			default: // the same range twice: the kinder one wins
				q = max(q, qualityOf(params))
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// qualityOf returns the q parameter of a media range's parameters; 1 when
// absent, 0 when malformed.
func qualityOf(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(q >= 0 && q <= 1) { // NaN too
			return 0
		}
		return q
	}
	return 1
}

// unmatched is the route label of requests no route matched; raw paths are
// never used as labels, to keep metric cardinality bounded.
const unmatched = "unmatched"

// requestID returns the client's X-Request-Id if it is well formed (1-64
// characters of A-Z a-z 0-9 - _ .), else a new random one: 128 bits from
// math/rand/v2, which is unpredictable enough for an identifier that is no
// secret and far cheaper than crypto/rand on every request.
func requestID(r *http.Request) string {
	if v := r.Header["X-Request-Id"]; len(v) > 0 && wellFormedRequestID(v[0]) {
		return v[0]
	}
	const digits = "0123456789abcdef"
	var b [32]byte
	for i, n := 0, rand.Uint64(); i < 16; i, n = i+1, n>>4 {
		b[i] = digits[n&0xF]
	}
	for i, n := 16, rand.Uint64(); i < 32; i, n = i+1, n>>4 {
		b[i] = digits[n&0xF]
	}
	return string(b[:])
}

func wellFormedRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(alnum(c) || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// responseWriter is the one allocation the middleware makes per request:
// it records the status and size of the response, carries what the outer
// middleware learns about the request as it passes through the inner ones
// (instead of a context value, which would copy the request), and holds
// the value slices of the headers the API sets.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64

	id    string // the request ID
	route string // mux pattern, or unmatched
	path  string // r.URL.EscapedPath(), computed once

	// probing is set while the mux chooses a handler: if it chooses none,
	// its plain-text 404 or 405 goes to rec instead of the client, and
	// route answers with problem details.
	probing bool
	rec     headerRecorder

	// vals back the header values set through headerValue, so that setting
	// a header costs no allocation. net/http reads them after the handler
	// returns, so a responseWriter is never reused.
	vals  [6]string
	nvals int
}

// headerValue returns a header value slice holding s, from w's own
// storage while it lasts.
func (w *responseWriter) headerValue(s string) []string {
	if w.nvals == len(w.vals) {
		return []string{s}
	}
	i := w.nvals
	w.nvals++
	w.vals[i] = s
	return w.vals[i : i+1 : i+1]
}

// Header returns the response's headers, or while the mux is probing for a
// handler, a scratch map that rec keeps.
func (w *responseWriter) Header() http.Header {
	if w.probing {
		if w.rec.header == nil {
			w.rec.header = http.Header{}
		}
		return w.rec.header
	}
	return w.ResponseWriter.Header()
}

func (w *responseWriter) WriteHeader(status int) {
	if w.probing {
		w.rec.WriteHeader(status)
		return
	}
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.probing {
		return w.rec.Write(b)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes on, for handlers that stream.
func (w *responseWriter) Flush() {
	if w.probing {
		return
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// infoOf returns the middleware's responseWriter behind w, or nil if w has
// none (a handler served outside NewServer).
func infoOf(w http.ResponseWriter) *responseWriter {
	for {
		switch v := w.(type) {
		case *responseWriter:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// requestIDOf returns the ID of the request whose response w writes.
func requestIDOf(w http.ResponseWriter) string {
	if rw := infoOf(w); rw != nil {
		return rw.id
	}
	return ""
}

// routeOf returns the route label of the request whose response w writes.
func routeOf(w http.ResponseWriter) string {
	if rw := infoOf(w); rw != nil {
		return rw.route
	}
	return unmatched
}

// pathOf returns r.URL.EscapedPath(), computed once per request.
func pathOf(w http.ResponseWriter, r *http.Request) string {
	if rw := infoOf(w); rw != nil {
		return rw.path
	}
	return r.URL.EscapedPath()
}

// setHeader sets a header with a canonical key to one value, without the
// allocations of http.Header.Set where w allows.
func setHeader(w http.ResponseWriter, canonicalKey, value string) {
	if rw := infoOf(w); rw != nil {
		rw.Header()[canonicalKey] = rw.headerValue(value)
		return
	}
	w.Header()[canonicalKey] = []string{value}
}

// observe gives every request an X-Request-Id and, once it is answered,
// logs it and counts it. The log line holds the route pattern and the path,
// never headers, query strings or bodies: those carry API keys and tokens.
func observe(next http.Handler, logger *slog.Logger, m *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &responseWriter{ResponseWriter: w, route: unmatched, path: r.URL.EscapedPath()}
		rw.id = requestID(r)
		w.Header()["X-Request-Id"] = rw.headerValue(rw.id)
		next.ServeHTTP(rw, r)
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		m.observe(r.Method, rw.route, status, elapsed)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		if !logger.Enabled(r.Context(), level) {
			return
		}
		logger.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("route", rw.route),
			slog.String("path", rw.path),
			slog.Int("status", status),
			slog.Duration("duration", elapsed),
			slog.Int64("bytes", rw.bytes),
			slog.String("request_id", rw.id),
			slog.String("remote_addr", r.RemoteAddr))
	})
}

// recoverPanics turns a panic into a 500 problem (if nothing was written
// yet) and logs it with its stack, without the request's headers or body.
func recoverPanics(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw, _ := w.(*responseWriter)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if rw != nil {
				rw.probing = false
			}
			logger.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("request_id", requestIDOf(w)),
				slog.String("route", routeOf(w)),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if rw != nil && rw.status != 0 {
				// Too late for a problem: the status is on the wire.
				panic(http.ErrAbortHandler)
			}
			// Drop what the handler had set for its own response.
			for k := range w.Header() {
				if k != "X-Request-Id" {
					delete(w.Header(), k)
				}
			}
			writeError(w, r, logger, fmt.Errorf("panic: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}

// route resolves the request to one of mux's patterns. Requests that no
// pattern matches get a 404 problem, or a 405 problem with the Allow header
// when another method would match; the mux would answer those in plain text.
// A path that is not in canonical form ("//", "." or ".." segments) is 404
// too: the mux would redirect it to the cleaned path, and a client that
// follows the redirect of DELETE /api/users/./sessions would erase the user
// "sessions".
//
// The mux matches each request once: every handler it holds is wrapped by
// matched, which ends the probing and names the route; if the probing
// never ends, the mux chose its own 404 or 405 handler.
func route(mux *http.ServeMux, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := infoOf(w)
		if rw == nil {
			rw = &responseWriter{ResponseWriter: w, route: unmatched, path: r.URL.EscapedPath()}
			w = rw
		}
		if !canonicalPath(rw.path) {
			writeError(w, r, logger, errStatus(http.StatusNotFound, "no such route: the path is not in canonical form"))
			return
		}
		rw.probing = true
		mux.ServeHTTP(w, r)
		if !rw.probing {
			return
		}
		rw.probing = false
		switch rw.rec.status {
		case http.StatusMethodNotAllowed:
			writeError(w, r, logger, &httpError{
				status: http.StatusMethodNotAllowed,
				detail: "the method " + r.Method + " is not allowed here; allowed: " + rw.rec.header.Get("Allow"),
				header: http.Header{"Allow": rw.rec.header.Values("Allow")},
			})
		default:
			writeError(w, r, logger, errStatus(http.StatusNotFound, "no such route"))
		}
	})
}

// matched wraps a handler of the mux: the mux chose it for the request,
// whose route is then its pattern.
func matched(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rw := infoOf(w); rw != nil {
			rw.probing = false
			rw.route = r.Pattern
		}
		h.ServeHTTP(w, r)
	})
}

// canonicalPath reports whether p is absolute and has no empty, "." or
// ".." segment (a trailing slash is allowed), so that the mux serves it as
// it is instead of redirecting: the path.Clean of p is p, or p without its
// trailing slash.
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if p == "//" {
		return true // "/" and a trailing slash, by the definition
	}
	for rest := p[1:]; rest != ""; {
		seg, after, more := strings.Cut(rest, "/")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		if more && after == "" {
			return true // the trailing slash
		}
		rest = after
	}
	return true
}

// headerRecorder captures the status and headers the mux's own 404/405
// handler would write, discarding its plain-text body.
type headerRecorder struct {
	header http.Header
	status int
}

func (rec *headerRecorder) Header() http.Header { return rec.header }

func (rec *headerRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return len(b), nil
}

func (rec *headerRecorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
}
