package httpapi

import (
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/internal/sessions"
)

// eventsParams are the query parameters of the event feed.
var eventsParams = [...]string{"after", "limit"}

// handleEvents serves GET /api/events: the tenant's events after the
// cursor `after` (an event ID; absent or "0" for the oldest retained), at
// most `limit` (1-1000, default 100), oldest first, with next_cursor to
// pass as `after` next time: the last event's ID, or the given cursor when
// there is nothing new. Gateways that validate tokens themselves poll it
// to learn of revocations; events are never made visible out of order, so
// a poller that always passes next_cursor misses none (within the
// retention period).
func handleEvents(svc *sessions.Service) keyFunc {
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		vals, err := parseQuery(r.URL.RawQuery, eventsParams[:]...)
		if err != nil {
			return err
		}
		var p problems
		var after int64
		if v, ok := vals.get("after"); ok {
			n, ok := sessions.ParseCursor(v)
			if !ok {
				p.add("after", "must be an event ID (a decimal integer >= 0)")
			}
			after = n
		}
		limit := sessions.DefaultEventLimit
		if v, ok := vals.get("limit"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > sessions.MaxEventLimit {
				p.add("limit", "must be an integer from 1 to 1000")
			}
			limit = n
		}
		if err := p.err(); err != nil {
			return err
		}
		events, err := svc.Events(r.Context(), key.TenantID, after, limit)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, eventPageJSON{events, after})
	}
}

// eventPageJSON is a page of the feed.
type eventPageJSON struct {
	events []*sessions.Event
	after  int64
}

func (v eventPageJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"events":[`...)
	next := v.after
	for i, e := range v.events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.JSON()...)
		next = e.Seq
	}
	b = append(b, `],"next_cursor":"`...)
	b = strconv.AppendInt(b, next, 10)
	return append(b, `"}`...)
}
