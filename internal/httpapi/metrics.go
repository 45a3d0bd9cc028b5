package httpapi

import (
	"context"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sessiond/sessiond/internal/sessions"
)

// activeCacheSeconds is how long the active-session count is reused, so
// that frequent scrapes do not each count sessions in the store.
const activeCacheSeconds = 15

// metrics are the Prometheus series of the HTTP API. A nil *metrics
// records nothing.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	limited  *prometheus.CounterVec

	// series caches the children of requests and duration by their label
	// values: WithLabelValues hashes and checks every value on each call.
	// The map is copied on write, so that lookups take no lock; it holds
	// one entry per method, route and status seen, a bounded number.
	series   atomic.Pointer[map[seriesKey]series]
	seriesMu sync.Mutex
}

type seriesKey struct {
	method, route string
	status        int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// newMetrics registers the API's series on reg, or returns nil if reg is
// nil. It panics if reg already holds them (NewServer twice on one
// registry is a wiring bug).
func newMetrics(reg *prometheus.Registry, svc *sessions.Service, logger *slog.Logger) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sessiond_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_http_rate_limited_total",
			Help: "Requests answered 429, by reason: api_key (the key's request rate) or auth_failures (the client address failed authentication too often).",
		}, []string{"reason"}),
	}
	// Both series exist from the start, so that alerts on their rate work
	// before the first 429.
	m.limited.WithLabelValues(reasonAPIKey)
	m.limited.WithLabelValues(reasonAuthFailures)
	active := &activeCount{svc: svc, logger: logger}
	reg.MustRegister(m.requests, m.duration, m.limited, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sessiond_active_sessions",
		Help: "Active sessions of all tenants (counted at most every 15 seconds).",
	}, active.value))
	return m
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	k := seriesKey{methodLabel(method), route, status}
	s, ok := series{}, false
	if cur := m.series.Load(); cur != nil {
		s, ok = (*cur)[k]
	}
	if !ok {
		s = m.addSeries(k)
	}
	s.requests.Inc()
	s.duration.Observe(d.Seconds())
}

// addSeries looks up the children of k's label values and caches them.
func (m *metrics) addSeries(k seriesKey) series {
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	var cur map[seriesKey]series
	if p := m.series.Load(); p != nil {
		cur = *p
	}
	if s, ok := cur[k]; ok {
		return s
	}
	s := series{
		requests: m.requests.WithLabelValues(k.method, k.route, strconv.Itoa(k.status)),
		duration: m.duration.WithLabelValues(k.method, k.route),
	}
	next := make(map[seriesKey]series, len(cur)+1)
	maps.Copy(next, cur)
	next[k] = s
	m.series.Store(&next)
	return s
}

// rateLimited counts a 429 for reason.
func (m *metrics) rateLimited(reason string) {
	if m == nil {
		return
	}
	m.limited.WithLabelValues(reason).Inc()
}

// methodLabel bounds the method label: clients may send any token as a method.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return m
	default:
		return "OTHER"
	}
}

// activeCount caches svc.CountActive for activeCacheSeconds by the
// service's clock.
type activeCount struct {
	svc    *sessions.Service
	logger *slog.Logger

	mu    sync.Mutex
	at    int64 // when n was counted; 0: never
	n     float64
	valid bool
}

func (a *activeCount) value() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.svc.Now()
	if a.valid && now-a.at < activeCacheSeconds && now >= a.at {
		return a.n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := a.svc.CountActive(ctx)
	if err != nil {
		a.logger.LogAttrs(ctx, slog.LevelWarn, "counting active sessions", slog.String("error", err.Error()))
		return a.n // the last known count is better than a gap
	}
	a.at, a.n, a.valid = now, float64(n), true
	return a.n
}
