package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// eventBody is an event as a client reads it.
type eventBody struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt int64           `json:"occurred_at"`
	UserID     string          `json:"user_id"`
	SessionID  *string         `json:"session_id"`
	Data       json.RawMessage `json:"data"`
}

type eventPageBody struct {
	Events     []eventBody `json:"events"`
	NextCursor string      `json:"next_cursor"`
}

// show is the event without its id, for comparisons.
func (e eventBody) show() string {
	sid := "null"
	if e.SessionID != nil {
		sid = *e.SessionID
	}
	return fmt.Sprintf("%s %s %s @%d %s", e.Type, e.UserID, sid, e.OccurredAt, e.Data)
}

// poll reads the feed from cursor with the key, in pages of limit, until
// it is drained, and returns the events and the cursor to go on from.
func (e *env) poll(t *testing.T, key, cursor string, limit int) ([]eventBody, string) {
	t.Helper()
	var out []eventBody
	for {
		target := fmt.Sprintf("/api/events?limit=%d", limit)
		if cursor != "" {
			target += "&after=" + cursor
		}
		w := e.do("GET", target, key, "")
		wantStatus(t, w, http.StatusOK)
		page := decodeBody[eventPageBody](t, w)
		if len(page.Events) > 0 && page.NextCursor != page.Events[len(page.Events)-1].ID {
			t.Fatalf("next_cursor %s, want the last event's id %s", page.NextCursor, page.Events[len(page.Events)-1].ID)
		}
		if len(page.Events) == 0 && cursor != "" && page.NextCursor != cursor {
			t.Fatalf("next_cursor of an empty page: got %s, want the cursor %s", page.NextCursor, cursor)
		}
		out = append(out, page.Events...)
		cursor = page.NextCursor
		if len(page.Events) < limit {
			return out, cursor
		}
	}
}

// TestEventFeed follows the feed through every kind of change, on both
// stores: each change shows up once, in order, in its tenant only.
func TestEventFeed(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) sessions.Store) {
		e := newEnv(t, open, testConfig())
		got, cursor := e.poll(t, "all", "", 2)
		if len(got) != 0 || cursor != "0" {
			t.Fatalf("feed of a new tenant: got %v, cursor %s; want nothing, cursor 0", got, cursor)
		}
		s1 := e.start("alice", "app-1")
		s2 := e.start("alice", "app-1")
		s3 := e.start("bob", "app-1")
		other := e.start("alice", "app-1")
		wantStatus(t, e.do("POST", "/api/users/alice/sessions", "other", `{"client_id":"elsewhere"}`), http.StatusCreated)
		e.clock.Advance(10 * time.Second)
		wantStatus(t, e.do("POST", "/api/sessions/validate", "all", `{"session_token":"`+s1.SessionToken+`","client_id":"app-2"}`), http.StatusOK)
		wantStatus(t, e.do("DELETE", "/api/users/alice/sessions/"+s1.SessionID, "all", ""), http.StatusNoContent)
		wantStatus(t, e.do("POST", "/api/sessions/revoke", "all", `{"session_token":"`+s2.SessionToken+`"}`), http.StatusNoContent)
		wantStatus(t, e.do("DELETE", "/api/users/bob", "all", ""), http.StatusNoContent)

		at := t0.Unix()
		key := e.keyIDs["all"]
		want := []string{
			fmt.Sprintf(`session.started alice %s @%d {"client_id":"app-1"}`, s1.SessionID, at),
			fmt.Sprintf(`session.started alice %s @%d {"client_id":"app-1"}`, s2.SessionID, at),
			fmt.Sprintf(`session.started bob %s @%d {"client_id":"app-1"}`, s3.SessionID, at),
			fmt.Sprintf(`session.started alice %s @%d {"client_id":"app-1"}`, other.SessionID, at),
			fmt.Sprintf(`session.client_joined alice %s @%d {"client_id":"app-2"}`, s1.SessionID, at+10),
			fmt.Sprintf(`session.revoked alice %s @%d {"reason":"revoked","ended_by":"%s"}`, s1.SessionID, at+10, key),
			fmt.Sprintf(`session.signed_out alice %s @%d {"reason":"signed_out","ended_by":"%s"}`, s2.SessionID, at+10, key),
			fmt.Sprintf(`user.erased bob null @%d {"session_ids":["%s"]}`, at+10, s3.SessionID),
		}
		got, cursor = e.poll(t, "all", "", 3)
		var shown []string
		for _, ev := range got {
			shown = append(shown, ev.show())
		}
		if strings.Join(shown, "\n") != strings.Join(want, "\n") {
			t.Errorf("feed:\ngot  %s\nwant %s", strings.Join(shown, "\n     "), strings.Join(want, "\n     "))
		}

		// Expiry is recorded by the janitor's round.
		e.clock.Advance(2 * time.Hour)
		if n, err := e.svc.EmitExpired(t.Context(), 100); err != nil || n != 2 {
			t.Fatalf("EmitExpired: got %d, %v; want 2 (alice's last session, and the other tenant's)", n, err)
		}
		more, next := e.poll(t, "all", cursor, 3)
		if len(more) != 1 || more[0].Type != "session.expired" || *more[0].SessionID != other.SessionID ||
			string(more[0].Data) != fmt.Sprintf(`{"reason":"expired_idle","expired_at":%d}`, other.ExpiresAt) {
			t.Errorf("feed after the expiry: got %+v, want alice's session.expired", more)
		}
		if again, c := e.poll(t, "all", next, 3); len(again) != 0 || c != next {
			t.Errorf("feed once drained: got %d events, cursor %s; want none, %s", len(again), c, next)
		}

		// Another tenant sees only its own.
		theirs, _ := e.poll(t, "other", "", 10)
		if len(theirs) != 2 || !strings.Contains(string(theirs[0].Data), "elsewhere") || theirs[1].Type != "session.expired" {
			t.Errorf("feed of another tenant: got %+v, want its start and expiry", theirs)
		}

		// Bad cursors and limits: one 422 naming both.
		w := e.do("GET", "/api/events?after=abc&limit=0", "all", "")
		wantStatus(t, w, http.StatusUnprocessableEntity)
		p := decodeBody[problemBody](t, w)
		if len(p.Errors["after"]) == 0 || len(p.Errors["limit"]) == 0 {
			t.Errorf("422 errors: got %v, want after and limit", p.Errors)
		}
		wantStatus(t, e.do("GET", "/api/events?after=99999999999999999999", "all", ""), http.StatusUnprocessableEntity)
		wantStatus(t, e.do("GET", "/api/events", "sessions:write", ""), http.StatusForbidden)
	})
}
