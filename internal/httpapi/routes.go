package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sessiond/sessiond/internal/sessions"
)

// addRoutes registers the whole API surface. Every /api route but the
// OpenAPI document needs an API key with the scope named next to it, and
// only those routes are rate limited.
//
// Every handler is registered through matched (see route), so that a route
// must be added here and nowhere else.
func addRoutes(serveMux *http.ServeMux, svc *sessions.Service, logger *slog.Logger, reg *prometheus.Registry, lim *limits, m *metrics) {
	mux := routeMux{serveMux}
	// api serves an authenticated route that needs scope.
	api := func(scope sessions.Scope, h keyFunc) http.Handler {
		return handle(logger, negotiate(requireKey(svc, lim, m, scope, h)))
	}
	// open serves a route that needs no key.
	open := func(h apiFunc) http.Handler { return handle(logger, negotiate(h)) }

	// Management API.
	mux.Handle("GET /api/users/{user_id}/sessions", api(sessions.ScopeSessionsRead, handleSessionsList(svc)))
	mux.Handle("GET /api/users/{user_id}/sessions/{session_id}", api(sessions.ScopeSessionsRead, handleSessionGet(svc)))
	mux.Handle("GET /api/users/{user_id}/sessions/{session_id}/activity", api(sessions.ScopeSessionsRead, handleSessionActivity(svc)))
	mux.Handle("DELETE /api/users/{user_id}/sessions/{session_id}", api(sessions.ScopeSessionsRevoke, handleSessionRevoke(svc)))
	mux.Handle("DELETE /api/users/{user_id}/sessions", api(sessions.ScopeSessionsRevoke, handleSessionsRevokeAll(svc)))
	mux.Handle("DELETE /api/users/{user_id}", api(sessions.ScopeUsersDelete, handleUserErase(svc)))
	mux.Handle("POST /api/sessions/revoke_bulk", api(sessions.ScopeSessionsRevoke, handleSessionsRevokeBulk(svc)))
	mux.Handle("GET /api/events", api(sessions.ScopeSessionsRead, handleEvents(svc)))

	// Application API.
	mux.Handle("POST /api/users/{user_id}/sessions", api(sessions.ScopeSessionsWrite, handleSessionStart(svc)))
	mux.Handle("POST /api/sessions/validate", api(sessions.ScopeSessionsWrite, handleSessionValidate(svc)))
	mux.Handle("POST /api/sessions/revoke", api(sessions.ScopeSessionsWrite, handleSessionSignOut(svc)))

	// Around the API.
	mux.Handle("GET /api/openapi.json", open(handleOpenAPI()))
	mux.Handle("GET /healthz", open(handleHealthz()))
	mux.Handle("GET /readyz", open(handleReadyz(svc)))
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
}

// routeMux registers handlers wrapped by matched.
type routeMux struct{ *http.ServeMux }

func (m routeMux) Handle(pattern string, h http.Handler) { m.ServeMux.Handle(pattern, matched(h)) }

func (m routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}
