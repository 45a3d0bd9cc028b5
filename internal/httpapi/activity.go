package httpapi

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/sessions"
)

// activityParams are the query parameters of the activity endpoint.
var activityParams = [...]string{"page", "size"}

// handleSessionActivity serves
// GET /api/users/{user_id}/sessions/{session_id}/activity: one page of an
// active session's activity trail, newest first, paged like the session
// list (X-Pagination and Link headers) so that clients reuse its code.
func handleSessionActivity(svc *sessions.Service) keyFunc {
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		userID, sessionID := r.PathValue("user_id"), r.PathValue("session_id")
		vals, err := parseQuery(r.URL.RawQuery, activityParams[:]...)
		if err != nil {
			return err
		}
		// The ids are checked here too, so that one 422 names every
		// invalid parameter, in the path and in the query alike.
		var p problems
		if msg := sessions.CheckID(userID); msg != "" {
			p.add("user_id", msg)
		}
		if msg := sessions.CheckSessionID(sessionID); msg != "" {
			p.add("session_id", msg)
		}
		page, size := parsePaging(&vals, &p)
		if err := p.err(); err != nil {
			return err
		}
		trail, err := fetchPage(w, r, page, size, nil, func(page int) ([]*sessions.ActivityEntry, int, error) {
			return svc.Activity(r.Context(), key.TenantID, userID, sessionID, page, size)
		})
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, activityListJSON(trail))
	}
}
