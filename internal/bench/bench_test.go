package bench

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/cache"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 10_000; i++ {
		h.record(time.Duration(i) * time.Microsecond) // 1 µs .. 10 ms, uniform
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5 * time.Millisecond},
		{0.9, 9 * time.Millisecond},
		{0.99, 9900 * time.Microsecond},
	} {
		got := h.quantile(tc.q)
		if diff := got - tc.want; diff < -tc.want/50 || diff > tc.want/50 {
			t.Errorf("quantile(%v): got %v, want %v within 2%%", tc.q, got, tc.want)
		}
	}
	if h.max != 10*time.Millisecond {
		t.Errorf("max: got %v, want 10ms", h.max)
	}
	for us := uint64(0); us < 1<<20; us += 997 {
		if i := bucketOf(us); lowerBound(i) > us || lowerBound(i+1) <= us {
			t.Fatalf("bucketOf(%d) = %d: got bounds [%d, %d), want them around it", us, i, lowerBound(i), lowerBound(i+1))
		}
	}
}

// TestGenerator checks that seeding makes every user, the heavy user's
// sessions, and disjoint samples of active sessions.
func TestGenerator(t *testing.T) {
	now := int64(1_700_000_000)
	g := newGenerator(sessions.DefaultConfig(), now, 30, 300, 50)
	counts := map[string]int{}
	var stored []*sessions.Session
	seed, err := g.seed(t.Context(), 1, func(_ context.Context, ss []*sessions.Session) error {
		for _, s := range ss {
			counts[s.UserID]++
			if !s.Active(now) || sessions.CheckSessionID(s.ID) != "" || len(s.ClientIDs) == 0 {
				t.Errorf("session %+v: want active, with a valid ID and a client", s)
			}
			c := *s
			stored = append(stored, &c)
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 350 || counts[heavyUser] != 50 || len(counts) != 31 || seed.users != 30 {
		t.Errorf("got %d sessions, %d of the heavy user, %d users (%d listed); want 350, 50, 31 (30)",
			len(stored), counts[heavyUser], len(counts), seed.users)
	}
	keys := map[string]bool{}
	for _, s := range stored {
		keys[s.Key] = true
	}
	ids := map[string]bool{}
	for _, p := range append(append([]sampled{}, seed.sample...), seed.revoke...) {
		if ids[p.id] {
			t.Errorf("session %s sampled twice", p.id)
		}
		ids[p.id] = true
		if !keys[sessions.SessionKey(p.token)] {
			t.Errorf("sampled token of session %s: its key was not stored", p.id)
		}
	}
	if len(seed.sample) == 0 || len(seed.revoke) == 0 {
		t.Errorf("got samples of %d and %d sessions, want some of each", len(seed.sample), len(seed.revoke))
	}
}

// closingBuffer is a profile's destination that records its Close.
type closingBuffer struct {
	bytes.Buffer
	closed bool
}

func (b *closingBuffer) Close() error { b.closed = true; return nil }

// TestRun runs every scenario briefly against a real SQLite store behind
// the per-node cache, as sessiond bench does.
func TestRun(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "bench.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var progress, table bytes.Buffer
	profiles := map[string]*closingBuffer{}
	rep, err := Run(t.Context(), st, Config{Users: 20, Sessions: 200, Heavy: 40, Duration: 100 * time.Millisecond, Concurrency: 4,
		CPUProfile: func(scenario string) (io.WriteCloser, error) {
			profiles[scenario] = &closingBuffer{}
			return profiles[scenario], nil
		},
		Serve: func(st sessions.Store) (sessions.Store, func(), error) {
			return cache.New(st, cache.Options{Sessions: 100, Keys: true}), func() {}, nil
		},
		Progress: &progress})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	for _, name := range Scenarios {
		if p := profiles[name]; p == nil || p.Len() == 0 || !p.closed {
			t.Errorf("%s: no closed, non-empty CPU profile", name)
		}
	}
	if len(rep.Results) != len(Scenarios) {
		t.Fatalf("got %d results, want %d", len(rep.Results), len(Scenarios))
	}
	for _, r := range rep.Results {
		if r.Requests == 0 || r.Errors != 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms {
			t.Errorf("%s: got %d requests, %d errors (%s), p50 %v, p99 %v", r.Scenario, r.Requests, r.Errors, r.FirstErr, r.P50Ms, r.P99Ms)
		}
	}
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "validate_write") {
		t.Errorf("WriteTable: %v\n%s", err, table.String())
	}
	if _, err := Run(t.Context(), st, Config{Users: 1, Sessions: 1, Duration: time.Second, Concurrency: 1, Scenarios: []string{"nope"}}); err == nil {
		t.Error("Run with an unknown scenario: got no error, want one")
	}
}
