package httpapi

import (
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestLimiterSetIsBounded floods a limiter set with more identifiers than
// it may hold, as an attack from many addresses would, and checks that it
// never holds more than its bound and that idle entries are dropped.
func TestLimiterSetIsBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newLimiterSet(rate.Limit(1), 2, 100)
	for i := range 10_000 {
		s.get("addr-"+strconv.Itoa(i), now).AllowN(now, 1)
		if n := s.len(); n > 100 {
			t.Fatalf("after %d identifiers the set holds %d, want at most 100", i+1, n)
		}
	}
	// The most recent ones are remembered with their spent budget.
	if lim := s.lookup("addr-9999"); lim == nil || lim.TokensAt(now) >= 2 {
		t.Errorf("addr-9999 was forgotten or its budget was not spent")
	}
	if s.lookup("addr-0") != nil {
		t.Errorf("addr-0 is still remembered")
	}
	// Once every bucket is full again, each use drops two idle entries.
	later := now.Add(time.Minute)
	for i := range 20 {
		s.get("new-"+strconv.Itoa(i), later)
	}
	if n := s.len(); n != 100-20 {
		t.Errorf("after 20 uses past the refill the set holds %d, want %d", n, 100-20)
	}
	// Looking up an unknown identifier remembers nothing.
	s.lookup("ghost")
	if n := s.len(); n != 80 {
		t.Errorf("a lookup added an entry: %d, want 80", n)
	}
}
