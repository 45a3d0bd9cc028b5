package httpapi

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/sessiond/sessiond/internal/sessions"
)

// validationType is the problem type of a 422: clients that know it read
// the "errors" member to show every invalid field at once.
const validationType = "https://httpstatuses.io/422#validation-error"

// retryAfterUnavailable is the Retry-After, in seconds, sent with a 503:
// the store is expected back soon and nothing was half-written.
const retryAfterUnavailable = "5"

// problem is an RFC 9457 problem details object.
type problem struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail"`
	Instance string              `json:"instance"`
	Errors   map[string][]string `json:"errors,omitempty"`
}

// httpError is a failure that only HTTP knows about (an unacceptable
// Accept header, a body that is too large, a wrong method...). It carries
// its status, a client-safe detail and any headers that go with it.
type httpError struct {
	status int
	detail string
	header http.Header
}

func (e *httpError) Error() string { return strconv.Itoa(e.status) + ": " + e.detail }

// errStatus returns an *httpError with a status and a client-safe detail.
func errStatus(status int, detail string) *httpError {
	return &httpError{status: status, detail: detail}
}

// badRequest is an EBADREQUEST error: the request cannot be read at all.
func badRequest(detail string) error { return sessions.Errorf(sessions.EBADREQUEST, "%s", detail) }

// statusOf maps a domain error code to an HTTP status. It is the only
// place where that happens.
func statusOf(code string) int {
	switch code {
	case sessions.EINVALID:
		return http.StatusUnprocessableEntity
	case sessions.EBADREQUEST:
		return http.StatusBadRequest
	case sessions.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case sessions.EFORBIDDEN:
		return http.StatusForbidden
	case sessions.ENOTFOUND:
		return http.StatusNotFound
	case sessions.ECONFLICT:
		return http.StatusConflict
	case sessions.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError writes err as problem details. Internal errors are logged with
// the request id and shown to the client only as "internal error".
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	p := problem{Instance: pathOf(w, r)}
	if he, ok := errors.AsType[*httpError](err); ok {
		p.Status, p.Detail = he.status, he.detail
		for k, v := range he.header {
			w.Header()[k] = v
		}
	} else {
		code := sessions.ErrorCode(err)
		p.Status = statusOf(code)
		switch p.Status {
		case http.StatusInternalServerError:
			logger.LogAttrs(r.Context(), slog.LevelError, "internal error",
				slog.String("request_id", requestIDOf(w)),
				slog.String("route", routeOf(w)),
				slog.String("error", err.Error()))
			p.Detail = "internal error"
		case http.StatusServiceUnavailable:
			logger.LogAttrs(r.Context(), slog.LevelWarn, "store unavailable",
				slog.String("request_id", requestIDOf(w)),
				slog.String("route", routeOf(w)),
				slog.String("error", err.Error()))
			setHeader(w, "Retry-After", retryAfterUnavailable)
			p.Detail = sessions.ErrorMessage(err)
		default:
			p.Detail = sessions.ErrorMessage(err)
		}
		if code == sessions.EINVALID {
			p.Errors = map[string][]string{}
			if e, ok := errors.AsType[*sessions.Error](err); ok {
				for k, v := range e.Fields {
					p.Errors[k] = v
				}
			}
		}
	}
	writeProblem(w, p)
}

// writeProblem fills in type and title from the status and writes p.
func writeProblem(w http.ResponseWriter, p problem) {
	if p.Type == "" {
		p.Type = "https://httpstatuses.io/" + strconv.Itoa(p.Status)
		if p.Status == http.StatusUnprocessableEntity {
			p.Type = validationType
		}
	}
	p.Title = http.StatusText(p.Status)
	if p.Detail == "" {
		p.Detail = p.Title
	}
	bp := getBuf()
	defer putBuf(bp)
	b := p.appendJSON((*bp)[:0])
	*bp = b
	setHeader(w, "Content-Type", "application/problem+json")
	setHeader(w, "Content-Length", strconv.Itoa(len(b)))
	setHeader(w, "X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	w.Write(b)
}

// appendJSON appends p as encoding/json would marshal it without HTML
// escaping: members in field order, errors omitted when empty, its keys
// sorted.
func (p *problem) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, p.Type, false)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, p.Title, false)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	b = append(b, `,"detail":`...)
	b = appendJSONString(b, p.Detail, false)
	b = append(b, `,"instance":`...)
	b = appendJSONString(b, p.Instance, false)
	if len(p.Errors) > 0 {
		b = append(b, `,"errors":{`...)
		for i, k := range slices.Sorted(maps.Keys(p.Errors)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k, false)
			b = append(b, ':')
			msgs := p.Errors[k]
			if msgs == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for j, m := range msgs {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, m, false)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
