package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/sessions"
)

// maxBodyBytes is the largest request body accepted.
const maxBodyBytes = 64 << 10

// jsonAppender is implemented by response types that write their own JSON
// into a buffer: the hot paths (list, validate) then cost no reflection and
// few allocations.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// marshal is json.Marshal without HTML escaping: these bodies are never
// embedded in HTML, and messages such as ">= 1" should read as written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encode writes v as a JSON response with the status.
func encode[T any](w http.ResponseWriter, status int, v T) error {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 { // don't keep huge buffers alive
			bufPool.Put(bp)
		}
	}()
	b := (*bp)[:0]
	if a, ok := any(v).(jsonAppender); ok {
		b = a.appendJSON(b)
	} else {
		m, err := marshal(v)
		if err != nil {
			return fmt.Errorf("encode %T: %w", v, err)
		}
		b = append(b, m...)
	}
	*bp = b
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err // the client went away: nothing more can be said to it
}

// decode reads a JSON request body into a T. It answers 415 for another
// content type, 413 for a body over 64 KiB and 400 for a body that is not
// exactly one JSON object of the expected shape (unknown fields included).
// Values are left to the service to validate (422).
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return v, err
	}
	if r.ContentLength > maxBodyBytes {
		// Refused without reading a byte of it; the server closes the
		// connection rather than drain it.
		return v, errBodyTooLarge
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err)
	}
	// Exactly one value: anything but white space after it is an error.
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return v, badRequest("the request body must hold a single JSON object")
		}
		return v, decodeError(err)
	}
	return v, nil
}

func checkContentType(ct string) error {
	unsupported := errStatus(http.StatusUnsupportedMediaType, "the request body must be application/json")
	if ct == "" {
		return unsupported
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return unsupported
		}
	}
	return nil
}

// errBodyTooLarge is the 413 of a body over maxBodyBytes. It closes the
// connection: otherwise net/http would first try to read up to 256 KiB more
// of the body to keep the connection alive, waiting on a client that may
// never send it (http.MaxBytesReader would tell the server so itself, but
// the middleware's ResponseWriter hides the unexported method it uses).
var errBodyTooLarge = &httpError{
	status: http.StatusRequestEntityTooLarge,
	detail: "the request body must be at most 64 KiB",
	header: http.Header{"Connection": {"close"}},
}

// decodeError turns a JSON decoding error into a client-safe 400 or 413.
func decodeError(err error) error {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return errBodyTooLarge
	case errors.Is(err, io.EOF):
		return badRequest("the request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the request body is not valid JSON: unexpected end")
	case errors.As(err, &syntaxErr):
		return badRequest(fmt.Sprintf("the request body is not valid JSON at byte %d", syntaxErr.Offset))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badRequest("the request body must be a JSON object")
		}
		return badRequest(fmt.Sprintf("the field %s must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for this; the field name is the
		// client's own input and safe to echo.
		return badRequest("the request body has an " + strings.TrimPrefix(err.Error(), "json: "))
	default:
		return badRequest("the request body is not valid JSON")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	default:
		return "number"
	}
}

// appendString appends s as a JSON string, escaped as encoding/json does
// (HTML-safe, invalid UTF-8 replaced by U+FFFD).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendOptString appends *s as a JSON string, or null.
func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendSessionFields appends the members of the session object, without
// the braces, so that callers can add their own members.
func appendSessionFields(b []byte, s *sessions.Session) []byte {
	b = append(b, `"session_id":`...)
	b = appendString(b, s.ID)
	b = append(b, `,"session_key":`...)
	b = appendString(b, s.Key)
	b = append(b, `,"client_ids":[`...)
	for i, c := range s.ClientIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c)
	}
	b = append(b, `],"initiated_at":`...)
	b = strconv.AppendInt(b, s.InitiatedAt, 10)
	b = append(b, `,"expires_at":`...)
	b = strconv.AppendInt(b, s.ExpiresAt, 10)
	b = append(b, `,"last_updated":`...)
	b = strconv.AppendInt(b, s.LastUpdated, 10)
	b = append(b, `,"last_metadata":{`...)
	b = appendMetadataFields(b, s.LastMetadata.IPAddress, s.LastMetadata.UserAgent, &s.LastMetadata.Location)
	return append(b, '}')
}

// appendMetadataFields appends the members of the last_metadata object,
// without the braces: the location, the IP address and the user agent,
// each a string or null. Activity entries carry the same members, so that
// a client reads both with one type.
func appendMetadataFields(b []byte, ip, ua *string, loc *sessions.Location) []byte {
	b = append(b, `"country":`...)
	b = appendOptString(b, loc.Country)
	b = append(b, `,"city":`...)
	b = appendOptString(b, loc.City)
	b = append(b, `,"region":`...)
	b = appendOptString(b, loc.Region)
	b = append(b, `,"latitude":`...)
	b = appendOptString(b, loc.Latitude)
	b = append(b, `,"longitude":`...)
	b = appendOptString(b, loc.Longitude)
	b = append(b, `,"ip_address":`...)
	b = appendOptString(b, ip)
	b = append(b, `,"user_agent":`...)
	return appendOptString(b, ua)
}

// sessionJSON is the session object of the API.
type sessionJSON struct{ s *sessions.Session }

func (v sessionJSON) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendSessionFields(b, v.s)
	return append(b, '}')
}

// sessionListJSON is a JSON array of session objects; never null.
type sessionListJSON []*sessions.Session

func (v sessionListJSON) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendSessionFields(b, s)
		b = append(b, '}')
	}
	return append(b, ']')
}

// endedListJSON is a JSON array of ended sessions: each is the session
// object followed by "ended_at" and "end_reason" (see Config.EndOf), so
// that a client reads both kinds with one type. Never null.
type endedListJSON struct {
	list []*sessions.Session
	cfg  sessions.Config
}

func (v endedListJSON) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, s := range v.list {
		if i > 0 {
			b = append(b, ',')
		}
		at, reason := v.cfg.EndOf(s)
		b = append(b, '{')
		b = appendSessionFields(b, s)
		b = append(b, `,"ended_at":`...)
		b = strconv.AppendInt(b, at, 10)
		b = append(b, `,"end_reason":`...)
		b = appendString(b, string(reason))
		b = append(b, '}')
	}
	return append(b, ']')
}

// userSessionJSON is a session object with its "user_id" and, once when
// the session starts, its "session_token".
type userSessionJSON struct {
	s     *sessions.Session
	token string // empty: no session_token member
}

func (v userSessionJSON) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendSessionFields(b, v.s)
	b = append(b, `,"user_id":`...)
	b = appendString(b, v.s.UserID)
	if v.token != "" {
		b = append(b, `,"session_token":`...)
		b = appendString(b, v.token)
	}
	return append(b, '}')
}

// activityListJSON is a JSON array of activity entries; never null. Each
// entry is flat: when it was recorded, the client that reported it (null
// if none was named), the last_metadata members as the activity carried
// them, and what was unusual about it.
type activityListJSON []*sessions.ActivityEntry

func (v activityListJSON) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, e := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"at":`...)
		b = strconv.AppendInt(b, e.At, 10)
		b = append(b, `,"client_id":`...)
		if e.ClientID == "" {
			b = append(b, "null"...)
		} else {
			b = appendString(b, e.ClientID)
		}
		b = append(b, ',')
		b = appendMetadataFields(b, e.IPAddress, e.UserAgent, &e.Location)
		b = append(b, `,"new_country":`...)
		b = strconv.AppendBool(b, e.NewCountry)
		b = append(b, `,"impossible_travel":`...)
		b = strconv.AppendBool(b, e.ImpossibleTravel)
		b = append(b, '}')
	}
	return append(b, ']')
}

// rawJSON is a pre-encoded JSON document.
type rawJSON []byte

func (v rawJSON) appendJSON(b []byte) []byte { return append(b, v...) }
