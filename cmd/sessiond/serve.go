package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/geoip"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/janitor"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tlscert"
	"github.com/sessiond/sessiond/internal/webhook"
)

// Server timeouts: long enough for any request of this API, short enough
// that a slow or stalled client cannot hold a connection for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// geoipWatchInterval is how often the GeoIP file is checked for a
	// replacement; SIGHUP reloads at once.
	geoipWatchInterval = 30 * time.Second
)

func runServe(ctx context.Context, env *environment, args []string) error {
	def := sessions.DefaultConfig()
	jdef := janitor.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	db := fs.String("db", defaultDB, dbHelp)
	dbMaxConns := fs.Int("db-max-conns", postgres.DefaultMaxConns, "PostgreSQL: connections in this node's pool")
	dbTimeout := fs.Duration("db-timeout", postgres.DefaultQueryTimeout, "PostgreSQL: longest a store call may take before the request fails with 503")
	cacheSessions := fs.Int("cache-sessions", defaultCacheSessions, "sessions kept in memory for validation and get (0: none); on SQLite it takes the file's serving lock")
	demo := fs.Bool("demo", false, "seed demo users and sessions into an empty store and print a new admin API key")
	expiration := fs.String("session-expiration", string(def.Expiration), "expiration type: sliding or absolute")
	sliding := fs.Duration("sliding-lifetime", def.SlidingLifetime, "idle lifetime of a session under sliding expiration")
	absolute := fs.Duration("absolute-lifetime", def.AbsoluteLifetime, "longest lifetime of a session, from its start")
	touch := fs.Duration("touch-interval", def.TouchInterval, "how often at most a validation that changes nothing else is written (0s: every time)")
	retention := fs.Duration("retention", jdef.Retention, "how long ended sessions are kept before they are purged")
	purgeInterval := fs.Duration("purge-interval", jdef.Interval, "time between purges of ended sessions")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish on SIGINT/SIGTERM")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	activityLimit := fs.Int("activity-limit", sessions.DefaultTrailLimit, "activity trail entries kept per session")
	travelSpeed := fs.Float64("travel-speed", sessions.DefaultMaxTravelSpeed, "km/h above which moving between two located activities is flagged impossible_travel")
	keyRate := fs.Float64("rate-limit", 0, "requests per second one API key may make, sustained (0: unlimited)")
	keyBurst := fs.Int("rate-burst", 0, "requests one API key may make at once (0: the rate, at least 1)")
	authFailRate := fs.Float64("auth-fail-limit", 0, "failed authentications per second one client address may make before it gets 429 (0: unlimited)")
	authFailBurst := fs.Int("auth-fail-burst", 0, "failed authentications one client address may make at once (0: 10)")
	geoipDB := fs.String("geoip-db", "", "MaxMind DB (.mmdb) city database(s) to locate IP addresses, comma-separated (e.g. separate IPv4 and IPv6 files); reloaded on SIGHUP and when replaced")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS (HTTP/2) with this PEM certificate file (with --tls-key); reloaded on SIGHUP")
	tlsKey := fs.String("tls-key", "", "PEM private key file for --tls-cert")
	if err := env.parse(fs, args); err != nil {
		return err
	}

	cfg := sessions.Config{
		Expiration:       sessions.ExpirationMode(*expiration),
		SlidingLifetime:  *sliding,
		AbsoluteLifetime: *absolute,
		TouchInterval:    *touch,
		TrailLimit:       *activityLimit,
		MaxTravelSpeed:   *travelSpeed,
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("serve: %s", problems(err))
	}
	if *activityLimit < 1 || *travelSpeed <= 0 {
		return errors.New("serve: --activity-limit must be at least 1 and --travel-speed positive")
	}
	limits := httpapi.Options{KeyRate: *keyRate, KeyBurst: *keyBurst, AuthFailRate: *authFailRate, AuthFailBurst: *authFailBurst}
	if err := limits.Validate(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if *dbMaxConns < 1 || *dbMaxConns > 10000 || *dbTimeout <= 0 {
		return errors.New("serve: --db-max-conns must be 1-10000 and --db-timeout positive")
	}
	if *retention < 0 || *purgeInterval <= 0 || *shutdownTimeout <= 0 {
		return errors.New("serve: --retention must not be negative; --purge-interval and --shutdown-timeout must be positive")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	logger, err := newLogger(env, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	// Catch SIGHUP before anything is announced, so a reload signal sent
	// right after start-up cannot kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// reloads are what SIGHUP re-reads: files that are replaced in place.
	var reloads []reload
	var certs *tlscert.Reloader
	if *tlsCert != "" {
		if certs, err = tlscert.New(*tlsCert, *tlsKey); err != nil {
			return err
		}
		reloads = append(reloads, reload{"tls certificate", certs.Reload})
	}

	store, err := openStore(ctx, *db, postgres.Options{MaxConns: int32(*dbMaxConns), QueryTimeout: *dbTimeout})
	if err != nil {
		return err
	}
	defer store.Close()
	served, stopCache, err := withCache(store, *cacheSessions, cfg.TouchInterval, logger)
	if err != nil {
		return err
	}
	defer stopCache()
	var locator sessions.Locator
	if *geoipDB != "" {
		geo, err := geoip.NewReloader(*geoipDB, logger)
		if err != nil {
			return err
		}
		defer geo.Close()
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go geo.Watch(wctx, geoipWatchInterval)
		reloads = append(reloads, reload{"geoip database", geo.Reload})
		locator = geo
	}
	svc := sessions.NewService(served, cfg, time.Now, locator)

	var demoKey string
	if *demo {
		if demoKey, err = seedDemo(ctx, svc, store); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := &http.Server{
		Handler:           newHandler(httpapi.NewServer(svc, logger, reg, limits)),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if certs != nil {
		srv.TLSConfig = certs.Config()
		scheme = "https"
	}
	base := scheme + "://" + dialable(ln.Addr())
	logger.Info("sessiond listening", "url", base, "db", redactDB(*db), "expiration", cfg.Expiration,
		"sliding_lifetime", cfg.SlidingLifetime, "absolute_lifetime", cfg.AbsoluteLifetime, "touch_interval", cfg.TouchInterval)
	if demoKey != "" {
		printDemo(env, base, demoKey)
	}

	// The janitor and the webhook worker stop with the server, after
	// in-flight requests.
	jctx, stopJanitor := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		janitor.New(svc, janitor.Config{Retention: *retention, Interval: *purgeInterval, Batch: jdef.Batch, Pause: jdef.Pause}, logger).Run(jctx)
	})
	// The webhook worker delivers events on every node; claims never
	// overlap (see internal/webhook).
	if ws, ok := store.(sessions.WebhookStore); ok {
		wg.Go(func() { webhook.New(ws, webhook.DefaultConfig(), time.Now, logger).Run(jctx) })
	}
	defer func() { stopJanitor(); wg.Wait() }()

	serveErr := make(chan error, 1)
	go func() {
		if certs != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
wait:
	for {
		select {
		case err := <-serveErr:
			return err
		case <-hup:
			for _, r := range reloads {
				if err := r.do(); err != nil {
					logger.Error("reload failed; keeping the previous one", "what", r.what, "err", err)
				} else {
					logger.Info("reloaded", "what", r.what)
				}
			}
		case <-ctx.Done():
			break wait
		}
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", *shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// newHandler serves the web console next to the API. The console only
// calls the public API, from the browser, with the operator's key.
func newHandler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/console/", console.Handler())
	mux.Handle("/console", console.Handler())
	mux.Handle("/", api)
	return mux
}

// reload is something SIGHUP re-reads from disk.
type reload struct {
	what string
	do   func() error
}

func newLogger(env *environment, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// dialable turns a listening address into one a client can dial: an
// unspecified host (0.0.0.0, ::) becomes loopback.
func dialable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// redactDB hides a password in a database URL before it is logged.
func redactDB(db string) string {
	if u, err := url.Parse(db); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
	}
	return db
}
