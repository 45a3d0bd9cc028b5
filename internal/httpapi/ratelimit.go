package httpapi

import (
	"container/list"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Options tune the server. The zero value serves the API without any rate
// limiting, which suits a service that only trusted back ends can reach.
type Options struct {
	// KeyRate is how many requests per second one API key may make,
	// sustained, counted after the key is authenticated and whatever the
	// answer. A request over it is 429 with Retry-After. 0 (the default)
	// means unlimited.
	KeyRate float64
	// KeyBurst is how many requests one API key may make at once before
	// KeyRate applies. 0 (the default) means ceil(KeyRate), at least 1.
	KeyBurst int

	// AuthFailRate is how many failed authentications (401) per second one
	// client address may make, sustained. Once an address has spent its
	// budget, every request it makes to an authenticated route is 429 with
	// Retry-After until the budget refills, before its key is looked up:
	// a correct key from that address is refused too, so that guessing
	// learns nothing while limited. Addresses that never fail are never
	// limited by it. 0 (the default) means unlimited.
	AuthFailRate float64
	// AuthFailBurst is how many failed authentications one client address
	// may make at once before AuthFailRate applies. 0 (the default) means
	// DefaultAuthFailBurst.
	AuthFailBurst int

	// MaxTracked bounds how many API keys, and how many client addresses,
	// the limiters remember (each limiter keeps at most this many entries,
	// about 200 bytes each). Entries whose budget is full again are dropped
	// as they are met, which changes nothing; past the bound the least
	// recently seen entry is dropped, which forgets its spent budget. 0
	// (the default) means DefaultMaxTracked.
	MaxTracked int
	// ClientAddr returns the address that failed authentications are
	// counted against. nil (the default) means the host of r.RemoteAddr,
	// with IPv6 addresses grouped by their /64 prefix (one host usually
	// holds a whole /64). Headers such as X-Forwarded-For are never read
	// unless this function reads them: set it only behind a proxy that
	// overwrites them.
	ClientAddr func(r *http.Request) string
	// Now is the limiters' clock. nil (the default) means time.Now; tests
	// inject a fake one.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultAuthFailBurst = 10
	DefaultMaxTracked    = 10_000
)

// Validate reports the first invalid option. NewServer panics on options
// that do not validate, so options that come from users are checked first.
func (o Options) Validate() error {
	switch {
	case math.IsNaN(o.KeyRate) || o.KeyRate < 0:
		return errors.New("the API key rate must be a number >= 0")
	case o.KeyBurst < 0:
		return errors.New("the API key burst must be >= 0")
	case math.IsNaN(o.AuthFailRate) || o.AuthFailRate < 0:
		return errors.New("the failed authentication rate must be a number >= 0")
	case o.AuthFailBurst < 0:
		return errors.New("the failed authentication burst must be >= 0")
	case o.MaxTracked < 0:
		return errors.New("the number of tracked keys and addresses must be >= 0")
	}
	return nil
}

// limits holds the server's rate limiters; its zero parts limit nothing.
type limits struct {
	now        func() time.Time
	clientAddr func(*http.Request) string
	keys       *limiterSet // by API key ID; nil: unlimited
	authFails  *limiterSet // by client address; nil: unlimited
}

func newLimits(o Options) *limits {
	if err := o.Validate(); err != nil {
		panic("httpapi: " + err.Error())
	}
	l := &limits{now: o.Now, clientAddr: o.ClientAddr}
	if l.now == nil {
		l.now = time.Now
	}
	if l.clientAddr == nil {
		l.clientAddr = remoteHost
	}
	maxTracked := o.MaxTracked
	if maxTracked == 0 {
		maxTracked = DefaultMaxTracked
	}
	if o.KeyRate > 0 {
		burst := o.KeyBurst
		if burst == 0 {
			burst = int(max(1, math.Ceil(min(o.KeyRate, math.MaxInt32))))
		}
		l.keys = newLimiterSet(rate.Limit(o.KeyRate), burst, maxTracked)
	}
	if o.AuthFailRate > 0 {
		burst := o.AuthFailBurst
		if burst == 0 {
			burst = DefaultAuthFailBurst
		}
		l.authFails = newLimiterSet(rate.Limit(o.AuthFailRate), burst, maxTracked)
	}
	return l
}

// Reasons a request was rate limited: the label values of
// sessiond_http_rate_limited_total.
const (
	reasonAPIKey       = "api_key"
	reasonAuthFailures = "auth_failures"
)

// tooManyRequests is the 429 problem, with Retry-After in whole seconds
// (at least 1, so that a client never retries at once).
func tooManyRequests(wait time.Duration, detail string) *httpError {
	secs := max(1, int64(math.Ceil(wait.Seconds())))
	return &httpError{
		status: http.StatusTooManyRequests,
		detail: detail,
		header: http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}},
	}
}

// gateAuthFailures returns a 429 error if the request's client address has
// spent its failed-authentication budget, else nil. It never records
// anything: only failures do (authFailed).
func (l *limits) gateAuthFailures(r *http.Request) error {
	if l.authFails == nil {
		return nil
	}
	lim := l.authFails.lookup(l.clientAddr(r))
	if lim == nil {
		return nil
	}
	now := l.now()
	res := lim.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	res.CancelAt(now) // a look, not a use: the request may well succeed
	if wait <= 0 {
		return nil
	}
	return tooManyRequests(wait, "too many failed authentications from this address; retry later")
}

// authFailed spends one unit of the client address's failed-authentication
// budget.
func (l *limits) authFailed(r *http.Request) {
	if l.authFails == nil {
		return
	}
	now := l.now()
	l.authFails.get(l.clientAddr(r), now).AllowN(now, 1)
}

// allowKey spends one request of the key's budget, or returns a 429 error
// if there is none left.
func (l *limits) allowKey(keyID string) error {
	if l.keys == nil {
		return nil
	}
	now := l.now()
	res := l.keys.get(keyID, now).ReserveN(now, 1)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now) // a refused request costs nothing
		return tooManyRequests(wait, "too many requests with this API key; retry later")
	}
	return nil
}

// remoteHost is the default client address: the host of r.RemoteAddr, with
// an IPv6 address reduced to its /64 prefix.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return ip.String()
}

// limiterSet is a token bucket per identifier, with bounded memory: at most
// maxEntries entries, kept in least-recently-used order. Each use also drops up to
// two of the least recently used entries whose bucket is full again: such an
// entry is the same as a new one, so dropping it changes no answer. An
// attack with more identifiers than maxEntries inside one refill period makes the
// set forget the oldest spent budgets, never grow.
type limiterSet struct {
	limit      rate.Limit
	burst      int
	maxEntries int

	mu      sync.Mutex
	entries map[string]*list.Element // of *limiterEntry
	lru     list.List                // front: most recently used
}

type limiterEntry struct {
	id  string
	lim *rate.Limiter
}

func newLimiterSet(limit rate.Limit, burst, maxEntries int) *limiterSet {
	return &limiterSet{limit: limit, burst: burst, maxEntries: maxEntries, entries: map[string]*list.Element{}}
}

// lookup returns id's limiter, or nil if id has none.
func (s *limiterSet) lookup(id string) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.entries[id]
	if !ok {
		return nil
	}
	s.lru.MoveToFront(el)
	return el.Value.(*limiterEntry).lim
}

// get returns id's limiter, making one with a full bucket if there is none.
func (s *limiterSet) get(id string, now time.Time) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now, 2)
	if el, ok := s.entries[id]; ok {
		s.lru.MoveToFront(el)
		return el.Value.(*limiterEntry).lim
	}
	for s.lru.Len() >= s.maxEntries {
		s.remove(s.lru.Back())
	}
	e := &limiterEntry{id: id, lim: rate.NewLimiter(s.limit, s.burst)}
	s.entries[id] = s.lru.PushFront(e)
	return e.lim
}

// sweep drops up to n least recently used entries whose bucket is full.
func (s *limiterSet) sweep(now time.Time, n int) {
	for ; n > 0; n-- {
		el := s.lru.Back()
		if el == nil || el.Value.(*limiterEntry).lim.TokensAt(now) < float64(s.burst) {
			return
		}
		s.remove(el)
	}
}

func (s *limiterSet) remove(el *list.Element) {
	delete(s.entries, el.Value.(*limiterEntry).id)
	s.lru.Remove(el)
}

// len returns how many identifiers the set remembers.
func (s *limiterSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}
