// Package bench measures sessiond end to end: it seeds a fresh store with
// realistic sessions through the store's bulk path, serves the real HTTP
// stack (sessions.Service and httpapi) on loopback, and drives it with a
// closed-loop load generator over the API's hot paths, next to a ceiling
// (the same net/http server answering precomputed bytes) that tells how
// much of the cost is sessiond's and how much is HTTP's on this machine.
//
// Server and load generator share the process and its cores, as they
// share the machine in any loopback benchmark; the ceiling pays the same
// client costs, so the ratio to it is the fair figure. The command is
// `sessiond bench`; BENCHMARKS.md records results.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/sessions"
)

// Scenario names, in the order they run.
const (
	Ceiling       = "ceiling"
	List          = "list"
	ListClient    = "list_client"
	ListHeavy     = "list_heavy"
	ListDeep      = "list_deep"
	Get           = "get"
	Validate      = "validate"
	ValidateWrite = "validate_write"
	Start         = "start"
	Revoke        = "revoke"
)

// Scenarios lists every scenario in the order they run: revoke last, since
// it ends sessions, and start just before it.
var Scenarios = []string{Ceiling, List, ListClient, ListHeavy, ListDeep, Get, Validate, ValidateWrite, Start, Revoke}

// Config is one benchmark run.
type Config struct {
	// Users and Sessions are the seeded users and sessions; Heavy more
	// sessions belong to one user, whose deep pages list_deep reads.
	Users, Sessions, Heavy int
	// Duration is how long each scenario runs, Concurrency how many
	// workers (each with its own keep-alive connection) send requests.
	Duration    time.Duration
	Concurrency int
	// Scenarios to run, in Scenarios' order whatever their order here;
	// nil runs all.
	Scenarios []string
	// Server makes the http.Server that serves a handler, so that the
	// benchmark runs the same timeouts as production; nil uses net/http's
	// defaults.
	Server func(http.Handler) *http.Server
	// CPUProfile, if not nil, is asked for a writer per scenario, which
	// receives a CPU profile of that scenario's load (not of its
	// preparation, nor of seeding); it is closed after.
	// (seeding excluded).
	CPUProfile func(scenario string) (io.WriteCloser, error)
	// Progress, if not nil, receives a line per step.
	Progress io.Writer
	// Serve, if not nil, returns what the servers serve from once the
	// store is seeded: the store with what sessiond serve puts in front
	// of it (the per-node cache), and what stops that at the end.
	Serve func(sessions.Store) (sessions.Store, func(), error)
}

// Report is the outcome of a run; its JSON form is what --json writes.
type Report struct {
	Store       string    `json:"store"` // set by the caller, e.g. "sqlite"
	Started     time.Time `json:"started"`
	GoVersion   string    `json:"go_version"`
	NumCPU      int       `json:"num_cpu"`
	GOMAXPROCS  int       `json:"gomaxprocs"`
	Users       int       `json:"users"`
	Sessions    int       `json:"sessions"`
	Heavy       int       `json:"heavy_sessions"`
	Concurrency int       `json:"concurrency"`
	Duration    string    `json:"duration_per_scenario"`
	Loop        string    `json:"loop"`
	Seed        Seed      `json:"seed"`
	Results     []Result  `json:"results"`
}

// Seed is how seeding went.
type Seed struct {
	Sessions   int     `json:"sessions"`
	Bulk       bool    `json:"bulk"` // false: the store has no bulk path
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// Result is one scenario's figures. Latencies are client-side, from
// sending the request to reading the whole response.
type Result struct {
	Scenario  string  `json:"scenario"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"`
	P50Ms     float64 `json:"p50_ms"`
	P90Ms     float64 `json:"p90_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	OfCeiling float64 `json:"of_ceiling,omitempty"` // RPS / the ceiling's RPS
	// PeakRSSMiB is the process's peak resident set since seeding ended,
	// as of the end of this scenario.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// Run seeds store (fresh and empty) and runs the scenarios against it.
func Run(ctx context.Context, store sessions.Store, cfg Config) (*Report, error) {
	if cfg.Sessions < 1 || cfg.Users < 1 || cfg.Heavy < 0 || cfg.Concurrency < 1 || cfg.Duration <= 0 {
		return nil, errors.New("bench: users, sessions, concurrency and duration must be positive, heavy not negative")
	}
	run := cfg.Scenarios
	if run == nil {
		run = Scenarios
	}
	for _, s := range run {
		if !slices.Contains(Scenarios, s) {
			return nil, fmt.Errorf("bench: unknown scenario %q (want some of %s)", s, strings.Join(Scenarios, ","))
		}
	}
	logf := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	rep := &Report{
		Started: time.Now().UTC(), GoVersion: runtime.Version(), NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Users: cfg.Users, Sessions: cfg.Sessions, Heavy: cfg.Heavy, Concurrency: cfg.Concurrency,
		Duration: cfg.Duration.String(), Loop: fmt.Sprintf("closed: %d workers, each sends its next request when the last is answered", cfg.Concurrency),
	}

	// The API key and tenant, then the sessions.
	throttled := sessions.DefaultConfig()
	svc := sessions.NewService(store, throttled, time.Now, nil)
	key, secret, err := svc.CreateAPIKey(ctx, sessions.DefaultTenant, "bench", sessions.Scopes)
	if err != nil {
		return nil, fmt.Errorf("bench: create API key: %w", err)
	}
	load := func(ctx context.Context, ss []*sessions.Session) error {
		for _, s := range ss {
			if err := store.CreateSession(ctx, s, nil); err != nil {
				return err
			}
		}
		return nil
	}
	bl, bulk := store.(sessions.BulkLoader)
	if bulk {
		load = func(ctx context.Context, ss []*sessions.Session) error { return bl.BulkLoad(ctx, key.TenantID, ss) }
	}
	gen := newGenerator(throttled, time.Now().Unix(), cfg.Users, cfg.Sessions, cfg.Heavy)
	logf("seeding %d sessions of %d users (+%d of %s), bulk path: %v", cfg.Sessions, gen.users, cfg.Heavy, heavyUser, bulk)
	start := time.Now()
	lastLog := start
	seed, err := gen.seed(ctx, key.TenantID, load, func(done int) {
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			logf("  %d sessions, %.0f/s", done, float64(done)/time.Since(start).Seconds())
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bench: seed: %w", err)
	}
	el := time.Since(start).Seconds()
	rep.Seed = Seed{Sessions: gen.n, Bulk: bulk, Seconds: el, PerSecond: float64(gen.n) / el, PeakRSSMiB: peakRSSMiB()}
	logf("seeded %d sessions in %.1fs: %.0f/s, peak RSS %.0f MiB", gen.n, el, rep.Seed.PerSecond, rep.Seed.PeakRSSMiB)
	if cfg.Serve != nil {
		var stop func()
		if store, stop, err = cfg.Serve(store); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer stop()
		svc = sessions.NewService(store, throttled, time.Now, nil)
	}
	// Give the seeding's memory back, so that the serving phase's peak is
	// its own.
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	logf("after seeding: RSS %.0f MiB, of which Go heap in use %.0f MiB (sys %.0f, released %.0f)", currentRSSMiB(), float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20), float64(ms.HeapReleased)/(1<<20))
	resetPeakRSS()

	// The servers: the API with the default touch interval, the API
	// writing every validation (touch interval 0) on the same store, and
	// the ceiling.
	writing := throttled
	writing.TouchInterval = 0
	newServer := cfg.Server
	if newServer == nil {
		newServer = func(h http.Handler) *http.Server { return &http.Server{Handler: h} }
	}
	logger := slog.New(slog.DiscardHandler)
	api, err := serve(newServer, httpapi.NewServer(svc, logger, prometheus.NewRegistry(), httpapi.Options{}))
	if err != nil {
		return nil, err
	}
	defer api.close()
	apiWrite, err := serve(newServer, httpapi.NewServer(sessions.NewService(store, writing, time.Now, nil), logger, prometheus.NewRegistry(), httpapi.Options{}))
	if err != nil {
		return nil, err
	}
	defer apiWrite.close()

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        cfg.Concurrency * 4,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
	defer client.CloseIdleConnections()
	b := &bencher{cfg: cfg, client: client, secret: secret, api: api.url, apiWrite: apiWrite.url, seed: seed, heavy: cfg.Heavy}

	// The ceiling answers what a list answers: the same headers and body.
	hdr, body, err := b.sample(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: sample list response: %w", err)
	}
	ceiling, err := serve(newServer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range hdr {
			h[k] = v
		}
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}))
	if err != nil {
		return nil, err
	}
	defer ceiling.close()
	b.ceiling = ceiling.url

	var ceilingRPS float64
	for _, name := range Scenarios {
		if !slices.Contains(run, name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sc := b.scenario(name)
		if sc.prepare != nil {
			logf("%s: preparing", name)
			if err := sc.prepare(ctx); err != nil {
				return nil, fmt.Errorf("bench: %s: %w", name, err)
			}
		}
		logf("%s: %s at concurrency %d", name, cfg.Duration, cfg.Concurrency)
		stop, err := startProfile(cfg.CPUProfile, name)
		if err != nil {
			return nil, err
		}
		res := b.drive(ctx, name, sc)
		if err := stop(); err != nil {
			return nil, err
		}
		if name == Ceiling {
			ceilingRPS = res.RPS
		} else if ceilingRPS > 0 {
			res.OfCeiling = res.RPS / ceilingRPS
		}
		res.PeakRSSMiB = peakRSSMiB()
		rep.Results = append(rep.Results, res)
		logf("  %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors", res.RPS, res.P50Ms, res.P99Ms, res.Errors)
	}
	return rep, nil
}

// startProfile starts a CPU profile of one scenario, if profiles are
// wanted, and returns what stops it.
func startProfile(open func(string) (io.WriteCloser, error), scenario string) (stop func() error, err error) {
	if open == nil {
		return func() error { return nil }, nil
	}
	w, err := open(scenario)
	if err != nil {
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return w.Close()
	}, nil
}

// server is a running http.Server on a loopback port.
type server struct {
	srv *http.Server
	url string
}

func serve(newServer func(http.Handler) *http.Server, h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	srv := newServer(h)
	go srv.Serve(ln)
	return &server{srv: srv, url: "http://" + ln.Addr().String()}, nil
}

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// bencher holds what the scenarios share.
type bencher struct {
	cfg                    Config
	client                 *http.Client
	secret                 string
	api, apiWrite, ceiling string
	seed                   *seeded
	heavy                  int
	revoked                atomic.Int64 // next index into seed.revoke
}

// scenario is a kind of request: prepare (optional) runs once before the
// clock starts; next makes the next request and the status that answers
// it rightly, or returns ok false when the scenario has run out of work.
type scenario struct {
	prepare func(ctx context.Context) error
	next    func(r *rand.Rand) (req *http.Request, want int, ok bool)
}

var sortKeys = []string{"session_id", "initiated_at", "expires_at", "last_updated"}

func randomSort(r *rand.Rand) string {
	dir := ":1"
	if r.IntN(2) == 0 {
		dir = ":-1"
	}
	return sortKeys[r.IntN(len(sortKeys))] + dir
}

func (b *bencher) get(url string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-API-KEY", b.secret)
	return req
}

func (b *bencher) post(url, body string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-API-KEY", b.secret)
	req.Header.Set("Content-Type", "application/json")
	return req
}

func (b *bencher) sessionsURL(user string) string { return b.api + "/api/users/" + user + "/sessions" }

// sample fetches one list page for the ceiling to answer with.
func (b *bencher) sample(ctx context.Context) (http.Header, []byte, error) {
	resp, err := b.client.Do(b.get(b.sessionsURL(userID(0)) + "?size=10&sort=initiated_at:-1").WithContext(ctx))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	hdr := resp.Header.Clone()
	hdr.Del("Date") // the server sets its own
	return hdr, body, nil
}

func (b *bencher) scenario(name string) scenario {
	s := b.seed
	randomUser := func(r *rand.Rand) string { return userID(r.IntN(s.users)) }
	pick := func(r *rand.Rand) sampled { return s.sample[r.IntN(len(s.sample))] }
	validate := func(base string) func(r *rand.Rand) (*http.Request, int, bool) {
		return func(r *rand.Rand) (*http.Request, int, bool) {
			return b.post(base+"/api/sessions/validate", `{"session_token":"`+pick(r).token+`"}`), http.StatusOK, true
		}
	}
	deepPage := max(1, b.heavy/10/2) // the middle of the heavy user's list
	switch name {
	case Ceiling:
		return scenario{next: func(r *rand.Rand) (*http.Request, int, bool) {
			return b.get(b.ceiling + "/api/users/" + randomUser(r) + "/sessions?size=10&sort=" + randomSort(r)), http.StatusOK, true
		}}
	case List:
		return scenario{next: func(r *rand.Rand) (*http.Request, int, bool) {
			return b.get(b.sessionsURL(randomUser(r)) + "?size=10&sort=" + randomSort(r)), http.StatusOK, true
		}}
	case ListClient:
		return scenario{next: func(r *rand.Rand) (*http.Request, int, bool) {
			return b.get(b.sessionsURL(randomUser(r)) + "?size=10&client_id=" + clientIDs[r.IntN(len(clientIDs))] + "&sort=" + randomSort(r)), http.StatusOK, true
		}}
	case ListHeavy:
		return scenario{next: func(r *rand.Rand) (*http.Request, int, bool) {
			return b.get(b.sessionsURL(heavyUser) + "?size=10&sort=" + randomSort(r)), http.StatusOK, true
		}}
	case ListDeep:
		return scenario{next: func(r *rand.Rand) (*http.Request, int, bool) {
			return b.get(b.sessionsURL(heavyUser) + "?size=10&page=" + strconv.Itoa(deepPage) + "&sort=" + randomSort(r)), http.StatusOK, true
		}}
	case Get:
		return scenario{next: func(r *rand.Rand) (*http.Request, int, bool) {
			p := pick(r)
			return b.get(b.sessionsURL(p.user) + "/" + p.id), http.StatusOK, true
		}}
	case Validate:
		// Each sampled session is validated once first, so that during
		// the run every validation is within the touch interval of the
		// last write, as for an application that validates on each of
		// its requests: the throttled path, which only reads.
		return scenario{prepare: b.touchAll, next: validate(b.api)}
	case ValidateWrite:
		return scenario{next: validate(b.apiWrite)}
	case Start:
		return scenario{next: func(r *rand.Rand) (*http.Request, int, bool) {
			body := fmt.Sprintf(`{"client_id":%q,"ip_address":"%d.%d.%d.%d","user_agent":%q}`,
				clientIDs[r.IntN(len(clientIDs))], 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254), userAgents[r.IntN(len(userAgents))])
			return b.post(b.sessionsURL(randomUser(r)), body), http.StatusCreated, true
		}}
	case Revoke:
		return scenario{next: func(r *rand.Rand) (*http.Request, int, bool) {
			i := b.revoked.Add(1) - 1
			if i >= int64(len(s.revoke)) {
				return nil, 0, false
			}
			p := s.revoke[i]
			req, _ := http.NewRequest(http.MethodDelete, b.sessionsURL(p.user)+"/"+p.id, nil)
			req.Header.Set("X-API-KEY", b.secret)
			return req, http.StatusNoContent, true
		}}
	}
	panic("bench: no scenario " + name)
}

// touchAll validates every sampled token once, concurrently.
func (b *bencher) touchAll(ctx context.Context) error {
	var next atomic.Int64
	errs := make(chan error, b.cfg.Concurrency)
	var wg sync.WaitGroup
	for range b.cfg.Concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(b.seed.sample)) || ctx.Err() != nil {
					return
				}
				req := b.post(b.api+"/api/sessions/validate", `{"session_token":"`+b.seed.sample[i].token+`"}`)
				if err := b.do(req.WithContext(ctx), http.StatusOK); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// do sends req and reads the whole response; an error is a failure to
// get one or a status other than want.
func (b *bencher) do(req *http.Request, want int) error {
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	var buf [512]byte
	n, _ := io.ReadFull(resp.Body, buf[:])
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, bytes.TrimSpace(buf[:n]))
	}
	return nil
}

// drive runs sc for the configured duration with the configured number of
// workers, in a closed loop.
func (b *bencher) drive(ctx context.Context, name string, sc scenario) Result {
	type tally struct {
		hist     histogram
		errs     int64
		firstErr error
	}
	tallies := make([]*tally, b.cfg.Concurrency)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range tallies {
		t := &tally{}
		tallies[w] = t
		r := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
		wg.Go(func() {
			for ctx.Err() == nil {
				req, want, ok := sc.next(r)
				if !ok {
					return
				}
				t0 := time.Now()
				err := b.do(req.WithContext(ctx), want)
				if ctx.Err() != nil {
					return // cut off by the end of the run: not counted
				}
				t.hist.record(time.Since(t0))
				if err != nil {
					if t.errs++; t.firstErr == nil {
						t.firstErr = err
					}
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	var all histogram
	res := Result{Scenario: name, Seconds: el.Seconds()}
	for _, t := range tallies {
		all.merge(&t.hist)
		res.Errors += t.errs
		if t.firstErr != nil && res.FirstErr == "" {
			res.FirstErr = t.firstErr.Error()
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	res.Requests = int64(all.n)
	res.RPS = float64(all.n) / el.Seconds()
	res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = ms(all.quantile(0.50)), ms(all.quantile(0.90)), ms(all.quantile(0.99)), ms(all.max)
	return res
}

// peakRSSMiB returns the process's peak resident set size (VmHWM), or 0
// where /proc is not available.
func peakRSSMiB() float64 { return statusMiB("VmHWM:") }

// currentRSSMiB is the process's resident set now, in MiB.
func currentRSSMiB() float64 { return statusMiB("VmRSS:") }

// statusMiB reads a kB figure of /proc/self/status (0 where there is none).
func statusMiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// resetPeakRSS starts VmHWM again from the current resident set, so that
// the load phase's peak is not seeding's (Linux: clear_refs 5).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
