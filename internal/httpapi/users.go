package httpapi

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/sessions"
)

// handleUserErase serves DELETE /api/users/{user_id}: it erases the user
// and every session and activity record of theirs.
func handleUserErase(svc *sessions.Service) keyFunc {
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		if err := svc.EraseUser(r.Context(), key.TenantID, r.PathValue("user_id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
