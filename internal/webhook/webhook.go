// Package webhook delivers sessiond's events to the webhook endpoints of
// their tenant: signed POSTs, retried with exponential backoff, kept as
// dead letters when every attempt failed.
//
// The outbox is the store (see sessions.Event): the worker fans each new
// event out into one delivery per enabled webhook of its tenant, then
// claims due deliveries and POSTs them. Everything it knows is in the
// store, so deliveries survive restarts, and any number of nodes can run a
// worker at once: claims never overlap (one writer in SQLite, FOR UPDATE
// SKIP LOCKED in PostgreSQL).
//
// Guarantees:
//
//   - At least once. A delivery is marked delivered only after a 2xx
//     answer. A worker that dies between the POST and recording it leaves
//     a claim that runs out (the lease) and the event is sent again: a
//     receiver must drop duplicates by the Sessiond-Event-Id header (the
//     event's id).
//   - In order per user. A delivery is not attempted while an earlier
//     delivery of the same user's events to the same endpoint is pending
//     (waiting for a retry), so a session's events, and a user's erasure
//     after their sessions' events, arrive in the order they happened.
//     Other users' events are not held up by a failing one. A dead letter
//     no longer holds anything back: the user's later events go on, and a
//     dead letter retried later arrives after them.
//
// Each request carries Sessiond-Event-Id, Sessiond-Timestamp (Unix
// seconds) and Sessiond-Signature: "v1=" and the hex HMAC-SHA256, keyed
// with the webhook's secret, of the timestamp, ".", and the body. A
// receiver recomputes it, compares in constant time and refuses
// timestamps far from its clock (replays). Redirects are not followed (a
// 3xx is a failure), and only http and https URLs are called. Endpoints
// are configured by the operator through the command line, so the
// addresses they name are trusted as the operator's choice.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Headers of a delivery.
const (
	HeaderEventID   = "Sessiond-Event-Id"
	HeaderTimestamp = "Sessiond-Timestamp"
	HeaderSignature = "Sessiond-Signature"
)

// Config tunes the worker. Zero members take the defaults.
type Config struct {
	// MaxAttempts is how many attempts a delivery gets before it becomes
	// a dead letter.
	MaxAttempts int
	// Timeout bounds one attempt: connecting, sending and reading the
	// answer's head.
	Timeout time.Duration
	// Interval is the time between rounds when there was nothing to do.
	Interval time.Duration
	// BaseBackoff is the wait after the first failure; each further
	// failure doubles it, up to MaxBackoff. The wait actually taken is
	// between half of it and all of it (jitter), so that endpoints
	// coming back up are not hit by every retry at once.
	BaseBackoff, MaxBackoff time.Duration
	// Batch is how many deliveries one claim takes, and how many events
	// one fan-out takes per webhook.
	Batch int
	// Parallel is how many deliveries are in flight at once.
	Parallel int
}

// DefaultConfig returns the defaults: 8 attempts over about 4 minutes
// (1s, 2s, 4s ... 64s, less jitter), 10 s per attempt.
func DefaultConfig() Config {
	return Config{MaxAttempts: 8, Timeout: 10 * time.Second, Interval: time.Second,
		BaseBackoff: time.Second, MaxBackoff: time.Hour, Batch: 100, Parallel: 8}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = d.BaseBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	if c.Batch <= 0 {
		c.Batch = d.Batch
	}
	if c.Parallel <= 0 {
		c.Parallel = d.Parallel
	}
	return c
}

// Worker fans events out to webhooks and delivers them.
type Worker struct {
	store  sessions.WebhookStore
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
	client *http.Client
	jitter func() float64 // in [0, 1)
}

// New returns a Worker. now is the clock (time.Now in production, a fake
// in tests: backoffs are measured by it, so tests never sleep for them).
func New(store sessions.WebhookStore, cfg Config, now func() time.Time, logger *slog.Logger) *Worker {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.withDefaults()
	client := &http.Client{
		Timeout: cfg.Timeout,
		// A redirect is an answer like any other non-2xx: not followed,
		// so that an endpoint cannot send signed events elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Worker{store: store, cfg: cfg, now: now, logger: logger, client: client, jitter: rand.Float64}
}

// Run works in rounds until ctx is done, pausing Interval after a round.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := w.Round(ctx); err != nil && ctx.Err() == nil {
			w.logger.Warn("webhook round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round fans out the events recorded since the last round and delivers
// every delivery that is due, claiming again as long as a claim finds
// some (a success may let a user's next event go), and returns how many
// it delivered.
func (w *Worker) Round(ctx context.Context) (int, error) {
	if _, err := w.store.FanOut(ctx, w.now().Unix(), w.cfg.Batch); err != nil {
		return 0, err
	}
	delivered := 0
	for ctx.Err() == nil {
		now := w.now().Unix()
		// The lease outlasts an attempt, so that only a worker that died
		// loses its claim.
		lease := now + int64((2*w.cfg.Timeout+time.Second-1)/time.Second) + 5
		ds, err := w.store.ClaimDeliveries(ctx, now, lease, w.cfg.Batch)
		if err != nil || len(ds) == 0 {
			return delivered, err
		}
		n, err := w.deliverAll(ctx, ds)
		delivered += n
		if err != nil {
			return delivered, err
		}
	}
	return delivered, ctx.Err()
}

// deliverAll attempts ds, Parallel at a time, and records each outcome.
func (w *Worker) deliverAll(ctx context.Context, ds []*sessions.Delivery) (int, error) {
	var (
		mu        sync.Mutex
		delivered int
		firstErr  error
		wg        sync.WaitGroup
		slots     = make(chan struct{}, w.cfg.Parallel)
	)
	for _, d := range ds {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			err := w.attempt(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				delivered++
			} else if firstErr == nil && !errors.Is(err, errFailed) {
				firstErr = err
			}
		})
	}
	wg.Wait()
	return delivered, firstErr
}

// errFailed marks an attempt that failed at the endpoint (and was
// recorded as such), as opposed to a store error.
var errFailed = errors.New("webhook: delivery failed")

// attempt POSTs d and records the outcome: nil if delivered, errFailed if
// the endpoint failed, or the store's error.
func (w *Worker) attempt(ctx context.Context, d *sessions.Delivery) error {
	failure := w.post(ctx, d)
	seq := d.Event.Seq
	if failure == "" {
		return w.store.RecordDelivery(ctx, d.WebhookID, seq, sessions.DeliveryDelivered, w.now().Unix(), "")
	}
	state, next := sessions.DeliveryPending, w.now().Add(w.Backoff(d.Attempts)).Unix()
	if d.Attempts >= w.cfg.MaxAttempts {
		state = sessions.DeliveryDead
	}
	w.logger.Warn("webhook delivery failed", "webhook", d.WebhookID, "event", seq, "attempt", d.Attempts, "state", state, "err", failure)
	if err := w.store.RecordDelivery(ctx, d.WebhookID, seq, state, next, failure); err != nil {
		return err
	}
	return errFailed
}

// Backoff returns the wait after the attempt-th failed attempt:
// BaseBackoff doubled attempt-1 times, at most MaxBackoff, less up to half
// of it at random, and at least one second (times are stored in seconds).
func (w *Worker) Backoff(attempt int) time.Duration {
	d := w.cfg.BaseBackoff
	for i := 1; i < attempt && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxBackoff)
	d -= time.Duration(w.jitter() * float64(d) / 2)
	return max(d, time.Second)
}

// maxErrLen bounds the error text kept with a delivery.
const maxErrLen = 500

// post sends d once and returns "" on a 2xx answer, else why it failed.
func (w *Worker) post(ctx context.Context, d *sessions.Delivery) string {
	u, err := url.Parse(d.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "the URL is not an http or https URL"
	}
	body := d.Event.JSON()
	ts := w.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return truncate(err.Error())
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sessiond-webhook")
	req.Header.Set(HeaderEventID, d.Event.ID())
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(d.Secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return truncate(err.Error())
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return ""
}

func truncate(s string) string {
	if len(s) > maxErrLen {
		return s[:maxErrLen]
	}
	return s
}

// Sign returns the Sessiond-Signature header of body sent at timestamp
// ts: "v1=" and the hex HMAC-SHA256 of "<ts>.<body>" keyed with secret.
// The timestamp is signed with the body so that a captured request cannot
// be replayed later with a fresh timestamp.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}
