package janitor_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/janitor"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// clock is a fake time source the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRoundPurgesEndedSessionsAfterRetention(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg := sessions.Config{Expiration: sessions.Sliding, SlidingLifetime: time.Hour, AbsoluteLifetime: 24 * time.Hour}
	svc := sessions.NewService(store, cfg, clk.now, nil)
	k, _, err := svc.CreateAPIKey(ctx, "default", "t", sessions.Scopes)
	if err != nil {
		t.Fatal(err)
	}

	// 7 sessions that will expire, 5 revoked now, 3 that stay active.
	start := func(n int, user string) []*sessions.Session {
		var out []*sessions.Session
		for range n {
			s, _, err := svc.Start(ctx, k.TenantID, user, sessions.Activity{ClientID: "app"})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	start(7, "idle")
	for _, s := range start(5, "revoked") {
		if err := svc.Revoke(ctx, k.TenantID, "revoked", s.ID, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	clk.t = clk.t.Add(50 * time.Minute)
	active := start(3, "active")

	j := janitor.New(svc, janitor.Config{Retention: 30 * time.Minute, Interval: time.Hour, Batch: 2, Pause: time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	// 50 minutes in: revoked 50 minutes ago (past retention), idle ones not
	// yet expired.
	if n, err := j.Round(ctx); err != nil || n != 5 {
		t.Fatalf("first round purged %d, %v; want 5, nil", n, err)
	}
	// 100 minutes in: the idle ones expired at 60 minutes, 40 minutes ago.
	clk.t = clk.t.Add(50 * time.Minute)
	if n, err := j.Round(ctx); err != nil || n != 7 {
		t.Fatalf("second round purged %d, %v; want 7, nil", n, err)
	}
	if n, err := j.Round(ctx); err != nil || n != 0 {
		t.Fatalf("third round purged %d, %v; want 0, nil", n, err)
	}
	// The active ones (expiring at 110 minutes) are untouched and users stay known.
	for _, s := range active {
		if _, err := svc.Get(ctx, k.TenantID, "active", s.ID); err != nil {
			t.Errorf("active session %s: %v", s.ID, err)
		}
	}
	list, total, err := svc.List(ctx, sessions.ListQuery{TenantID: k.TenantID, UserID: "idle", Sort: sessions.SortInitiatedAt, Page: 1, Size: 10})
	if err != nil || total != 0 || len(list) != 0 {
		t.Errorf("purged user's list = %d sessions, total %d, %v; want 0, 0, nil", len(list), total, err)
	}

	// Each idle session's expiry was recorded once, before it was
	// purged, 100 minutes in; every earlier event (the last starts, 50
	// minutes in) is past the retention of 30 minutes and purged.
	events, err := svc.Events(ctx, k.TenantID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[sessions.EventType]int{}
	for _, e := range events {
		counts[e.Type]++
	}
	if want := map[sessions.EventType]int{sessions.EventSessionExpired: 7}; !maps.Equal(counts, want) {
		t.Errorf("events left: got %v, want %v", counts, want)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := sessions.NewService(store, sessions.DefaultConfig(), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		janitor.New(svc, janitor.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil))).Run(ctx)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestRoundScrubsEndedMetadata(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg := sessions.Config{Expiration: sessions.Sliding, SlidingLifetime: time.Hour, AbsoluteLifetime: 24 * time.Hour}
	svc := sessions.NewService(store, cfg, clk.now, nil)
	k, _, err := svc.CreateAPIKey(ctx, "private", "t", sessions.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetTenantPrivacy(ctx, "private", sessions.Privacy{DropEndedMetadataAfter: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	a := sessions.Activity{ClientID: "app", IPAddress: "203.0.113.7", UserAgent: "Firefox"}
	var ended []*sessions.Session
	for range 5 {
		s, _, err := svc.Start(ctx, k.TenantID, "u", a)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Revoke(ctx, k.TenantID, "u", s.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		ended = append(ended, s)
	}
	if _, _, err := svc.Start(ctx, k.TenantID, "u", a); err != nil {
		t.Fatal(err)
	}
	// Retention longer than the scrub delay: the sessions stay, emptied.
	j := janitor.New(svc, janitor.Config{Retention: 24 * time.Hour, Interval: time.Hour, Batch: 2, Pause: time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	isRevoked := map[string]bool{}
	for _, s := range ended {
		isRevoked[s.ID] = true
	}
	// check checks the revoked sessions' metadata, and that the other one
	// (which expires after an hour, and so ended less than two hours
	// before any check) keeps its own.
	lastDone := false
	check := func(when string, wantIP bool) {
		t.Helper()
		list, _, err := svc.List(ctx, sessions.ListQuery{TenantID: k.TenantID, UserID: "u", Status: sessions.StatusEnded, Sort: sessions.SortSessionID, Page: 1, Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			wantIP := wantIP || (!isRevoked[s.ID] && !lastDone)
			if got := s.LastMetadata.IPAddress != nil; got != wantIP {
				t.Errorf("%s: session %s has an IP: got %v, want %v", when, s.ID, got, wantIP)
			}
			if got := s.LastMetadata.UserAgent != nil; got != wantIP {
				t.Errorf("%s: session %s has a user agent: got %v, want %v", when, s.ID, got, wantIP)
			}
		}
	}
	clk.t = clk.t.Add(30 * time.Minute)
	if _, err := j.Round(ctx); err != nil {
		t.Fatal(err)
	}
	check("30 minutes after the end", true)

	clk.t = clk.t.Add(2 * time.Hour)
	if _, err := j.Round(ctx); err != nil {
		t.Fatal(err)
	}
	check("2.5 hours after the end", false)
	if n, err := svc.ScrubEndedMetadata(ctx, 10); err != nil || n != 0 {
		t.Errorf("a further scrub took %d, %v; want 0, nil", n, err)
	}
	// Two hours after the last one expired, its turn comes.
	clk.t = clk.t.Add(time.Hour)
	if n, err := svc.ScrubEndedMetadata(ctx, 10); err != nil || n != 1 {
		t.Errorf("the scrub after the expiry took %d, %v; want 1, nil", n, err)
	}
	lastDone = true
	check("after the last one's turn", false)
}
