package httpapi

import (
	"context"
	_ "embed"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// openAPI is the OpenAPI document of the API, served as is.
//
//go:embed openapi.json
var openAPI []byte

// handleOpenAPI serves GET /api/openapi.json.
func handleOpenAPI() apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(openAPI)))
		_, err := w.Write(openAPI)
		return err
	}
}

// statusOK is the body of a passing health check.
var statusOK = rawJSON(`{"status":"ok"}`)

// handleHealthz serves GET /healthz: the process is alive and serving.
func handleHealthz() apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return encode(w, http.StatusOK, statusOK)
	}
}

// readyTimeout bounds the store check of /readyz, so that a hung store
// fails the probe instead of hanging it.
const readyTimeout = 2 * time.Second

// handleReadyz serves GET /readyz: 200 while the store answers, 503 while it
// does not.
func handleReadyz(svc *sessions.Service) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := svc.Ping(ctx); err != nil {
			return sessions.Unavailable(err)
		}
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusOK, statusOK)
	}
}
