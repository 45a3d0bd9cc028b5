package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"path"
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
		key, err := svc.Authenticate(r.Context(), r.Header.Get("X-API-KEY"))
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
		if vals := r.Header.Values("Accept"); len(vals) > 0 && !acceptsJSON(strings.Join(vals, ",")) {
			return errStatus(http.StatusNotAcceptable, "the API answers only application/json and application/problem+json")
		}
		return h(w, r)
	}
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

// requestInfo is what the outer middleware learns about a request as it
// passes through the inner ones.
type requestInfo struct {
	id    string
	route string // mux pattern, or "unmatched"
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{route: unmatched}
}

func requestIDFrom(ctx context.Context) string { return infoFrom(ctx).id }

func routeFrom(ctx context.Context) string { return infoFrom(ctx).route }

// unmatched is the route label of requests no route matched; raw paths are
// never used as labels, to keep metric cardinality bounded.
const unmatched = "unmatched"

// requestID returns the client's X-Request-Id if it is well formed (1-64
// characters of A-Z a-z 0-9 - _ .), else a new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); wellFormedRequestID(id) {
		return id
	}
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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

// responseWriter records the status and size of a response.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
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
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// observe gives every request an X-Request-Id and, once it is answered,
// logs it and counts it. The log line holds the route pattern and the path,
// never headers, query strings or bodies: those carry API keys and tokens.
func observe(next http.Handler, logger *slog.Logger, m *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{id: requestID(r), route: unmatched}
		w.Header().Set("X-Request-Id", ri.id)
		rw := &responseWriter{ResponseWriter: w}
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		m.observe(r.Method, ri.route, status, elapsed)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		logger.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("route", ri.route),
			slog.String("path", r.URL.EscapedPath()),
			slog.Int("status", status),
			slog.Duration("duration", elapsed),
			slog.Int64("bytes", rw.bytes),
			slog.String("request_id", ri.id),
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
			logger.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("request_id", requestIDFrom(r.Context())),
				slog.String("route", routeFrom(r.Context())),
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
func route(mux *http.ServeMux, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !canonicalPath(r.URL.EscapedPath()) {
			writeError(w, r, logger, errStatus(http.StatusNotFound, "no such route: the path is not in canonical form"))
			return
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			infoFrom(r.Context()).route = pattern
			mux.ServeHTTP(w, r)
			return
		}
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusMethodNotAllowed:
			writeError(w, r, logger, &httpError{
				status: http.StatusMethodNotAllowed,
				detail: "the method " + r.Method + " is not allowed here; allowed: " + rec.header.Get("Allow"),
				header: http.Header{"Allow": rec.header.Values("Allow")},
			})
		default:
			writeError(w, r, logger, errStatus(http.StatusNotFound, "no such route"))
		}
	})
}

// canonicalPath reports whether p is absolute and has no empty, "." or
// ".." segment (a trailing slash is allowed), so that the mux serves it as
// it is instead of redirecting.
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	return p == clean || p == clean+"/"
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
