// Package httpapi serves sessiond's HTTP API: the routes of the contract,
// problem details for every error, API key authentication with scopes,
// optional rate limiting, request logs and Prometheus metrics.
//
// It follows the shape of Mat Ryer's "How I write HTTP services": NewServer
// takes every dependency as an argument, routes.go lists the whole API
// surface, handlers are made by functions that receive what they need and
// return an error, and problem.go is the one place where an error becomes
// an HTTP status.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sessiond/sessiond/internal/sessions"
)

// NewServer returns the HTTP handler of the whole API. reg receives the
// API's metrics and is served at /metrics; if it is nil, there are neither.
// The global Prometheus registry is never used, so that several servers
// (or tests) can live in one process. opts tune rate limiting; the zero
// Options limit nothing. NewServer panics if opts.Validate fails.
func NewServer(svc *sessions.Service, logger *slog.Logger, reg *prometheus.Registry, opts Options) http.Handler {
	lim := newLimits(opts)
	m := newMetrics(reg, svc, logger)
	mux := http.NewServeMux()
	addRoutes(mux, svc, logger, reg, lim, m)
	var h http.Handler = route(mux, logger)
	h = recoverPanics(h, logger)
	h = observe(h, logger, m)
	return h
}
