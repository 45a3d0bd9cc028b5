package sessions

import (
	"errors"
	"fmt"
	"maps"
)

// Error codes: the one vocabulary every layer speaks. Only the HTTP package
// turns them into statuses, so the domain and the stores never know about HTTP.
const (
	EINVALID      = "invalid"      // a value is invalid; Fields says which
	EBADREQUEST   = "bad_request"  // the request cannot be read at all
	ENOTFOUND     = "not_found"    // the user, session or key does not exist (in this tenant)
	EUNAUTHORIZED = "unauthorized" // no usable API key
	EFORBIDDEN    = "forbidden"    // the key lacks the scope
	ECONFLICT     = "conflict"     // the write collides with existing data
	EUNAVAILABLE  = "unavailable"  // the store cannot be reached; nothing was written
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is the domain's error. Message is safe to show to a client;
// anything internal is wrapped in Err and never leaves the process.
type Error struct {
	Code    string
	Message string
	// Fields lists every invalid parameter or field with its problems,
	// for EINVALID: callers report all of them at once.
	Fields map[string][]string
	// Err is the underlying cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("sessiond: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("sessiond: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a store connectivity failure.
func Unavailable(err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: "the session store is unavailable", Err: err}
}

// ErrorCode returns the code of err's *Error, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err, and a generic
// one for errors that are not *Error (their text may hold internals).
func ErrorMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "internal error"
}

// Problems collects invalid fields so that a caller can report every one
// of them in a single EINVALID error.
type Problems map[string][]string

// Add records a problem with field.
func (p Problems) Add(field, msg string) { p[field] = append(p[field], msg) }

// Err returns nil if nothing was added, else an EINVALID *Error.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	// A copy, so that p itself never escapes: a Problems{} that stays
	// empty then costs no allocation on the hot paths.
	return &Error{Code: EINVALID, Message: "one or more values are invalid", Fields: maps.Clone(p)}
}
