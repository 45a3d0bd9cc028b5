package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
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

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 { // don't keep huge buffers alive
		bufPool.Put(bp)
	}
}

// encode writes v as a JSON response with the status. T is a type
// parameter rather than an interface so that v is not boxed.
func encode[T jsonAppender](w http.ResponseWriter, status int, v T) error {
	bp := getBuf()
	defer putBuf(bp)
	b := v.appendJSON((*bp)[:0])
	*bp = b
	setHeader(w, "Content-Type", "application/json")
	setHeader(w, "Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err // the client went away: nothing more can be said to it
}

// flatBody describes a request type whose body is an object of string
// members only, so that decode can read the usual body without
// reflection: names are the members, and build makes a T of their values
// in that order ("" for members the body does not have).
type flatBody[T any] struct {
	names []string
	build func(vals [maxFlatMembers]string) T
}

const maxFlatMembers = 4

// decode reads a JSON request body into a T. It answers 415 for another
// content type, 413 for a body over 64 KiB and 400 for a body that is not
// exactly one JSON object of the expected shape (unknown fields included).
// Values are left to the service to validate (422).
//
// With flat, a body that is plainly one object of flat's members, each an
// ASCII string without escapes, is read by hand; any other body, and every
// error, is left to encoding/json, so that both ways give the same result.
func decode[T any](w http.ResponseWriter, r *http.Request, flat *flatBody[T]) (T, error) {
	var zero T
	if err := checkContentType(r.Header["Content-Type"]); err != nil {
		return zero, err
	}
	if r.ContentLength > maxBodyBytes {
		// Refused without reading a byte of it; the server closes the
		// connection rather than drain it.
		return zero, errBodyTooLarge
	}
	bp := getBuf()
	defer putBuf(bp)
	body, rest := readBody(r, (*bp)[:0])
	*bp = body
	if rest == nil && flat != nil {
		var vals [maxFlatMembers]string
		if parseFlat(body, flat.names, &vals) {
			return flat.build(vals), nil
		}
	}
	return decodeJSON[T](w, body, rest)
}

// readBody reads r's body into buf, up to one byte past maxBodyBytes. If
// it reads the whole body, rest is nil; otherwise (too large, or a read
// error) rest yields what follows buf, the error included.
func readBody(r *http.Request, buf []byte) (body []byte, rest io.Reader) {
	if r.Body == nil {
		return buf, nil
	}
	if n := r.ContentLength; n > 0 && int64(cap(buf)) < n+1 {
		buf = slices.Grow(buf, int(n+1))
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > maxBodyBytes {
				return buf, r.Body
			}
			buf = slices.Grow(buf, min(cap(buf), maxBodyBytes+1-len(buf)))
		}
		n, err := r.Body.Read(buf[len(buf):min(cap(buf), maxBodyBytes+1)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, errReader{err}
		case len(buf) > maxBodyBytes:
			return buf, r.Body
		}
	}
}

// errReader is a reader that fails with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// decodeJSON decodes body, followed by rest if not nil, with
// encoding/json: exactly one object of T's members, at most maxBodyBytes.
func decodeJSON[T any](w http.ResponseWriter, body []byte, rest io.Reader) (T, error) {
	var v T
	var src io.Reader = bytes.NewReader(body)
	if rest != nil {
		src = http.MaxBytesReader(w, io.NopCloser(io.MultiReader(src, rest)), maxBodyBytes)
	}
	dec := json.NewDecoder(src)
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

// parseFlat parses body into vals if it is one JSON object whose members
// are all among names (matched exactly) and all strings of printable
// ASCII without escapes, with only JSON white space around the tokens. A
// member given twice keeps its last value, as with encoding/json. It
// reports false, leaving the body to encoding/json, for anything else,
// valid or not.
func parseFlat(body []byte, names []string, vals *[maxFlatMembers]string) bool {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return skipSpace(body, i+1) == len(body)
	}
	for {
		key, j, ok := plainString(body, i)
		if !ok {
			return false
		}
		field := -1
		for k, name := range names {
			if string(key) == name {
				field = k
				break
			}
		}
		if field < 0 {
			return false
		}
		j = skipSpace(body, j)
		if j == len(body) || body[j] != ':' {
			return false
		}
		val, j, ok := plainString(body, skipSpace(body, j+1))
		if !ok {
			return false
		}
		vals[field] = string(val)
		j = skipSpace(body, j)
		if j == len(body) {
			return false
		}
		switch body[j] {
		case ',':
			i = skipSpace(body, j+1)
		case '}':
			return skipSpace(body, j+1) == len(body)
		default:
			return false
		}
	}
}

// plainString returns the contents of the JSON string at body[i] and the
// index after it, if it is printable ASCII without escapes.
func plainString(body []byte, i int) ([]byte, int, bool) {
	if i == len(body) || body[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(body); j++ {
		switch c := body[j]; {
		case c == '"':
			return body[i+1 : j], j + 1, true
		case c < 0x20 || c == '\\' || c >= utf8.RuneSelf:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// errUnsupportedMediaType is the 415 of a body that is not JSON.
var errUnsupportedMediaType = errStatus(http.StatusUnsupportedMediaType, "the request body must be application/json")

// checkContentType accepts application/json, with at most a charset
// parameter of utf-8; vals are the request's Content-Type header values,
// of which the first counts.
func checkContentType(vals []string) error {
	if len(vals) == 0 || vals[0] == "" {
		return errUnsupportedMediaType
	}
	ct := vals[0]
	if ct == "application/json" { // what nearly every client sends
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errUnsupportedMediaType
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return errUnsupportedMediaType
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
// by default (HTML-safe, invalid UTF-8 replaced by U+FFFD).
func appendString(b []byte, s string) []byte { return appendJSONString(b, s, true) }

// appendJSONString appends s as a JSON string exactly as encoding/json
// does, with or without escaping <, > and &.
func appendJSONString(b []byte, s string, escapeHTML bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Most strings need no escaping at all: skip plain bytes 8 at a time.
		i += plainRun(s[i:], escapeHTML)
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
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

// plainRun returns the length of the longest prefix of s, in whole blocks of
// 8 bytes, that is ASCII a JSON string holds as it is: no byte below 0x20
// or above 0x7F, no '"' or '\\', and with escapeHTML no '<', '>' or '&'.
// It tests 8 bytes at once (SWAR): (y-ones)&^y&highs is non-zero if and
// only if a byte of y is zero, and y = x^(ones*c) is zero where x has c.
func plainRun(s string, escapeHTML bool) int {
	const (
		ones   = 0x0101010101010101
		highs  = 0x8080808080808080
		quote  = ones * '"'
		bslash = ones * '\\'
		lt     = ones * '<'
		gt     = ones * '>'
		amp    = ones * '&'
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		x := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		bad := x | (x-ones*0x20)&^x // high bit: >= 0x80, or < 0x20
		y := x ^ quote
		bad |= (y - ones) &^ y
		y = x ^ bslash
		bad |= (y - ones) &^ y
		if escapeHTML {
			y = x ^ lt
			bad |= (y - ones) &^ y
			y = x ^ gt
			bad |= (y - ones) &^ y
			y = x ^ amp
			bad |= (y - ones) &^ y
		}
		if bad&highs != 0 {
			break
		}
	}
	return i
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
