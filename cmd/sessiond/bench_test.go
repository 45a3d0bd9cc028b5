package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/bench"
)

// TestBench runs a tiny benchmark of every scenario on SQLite and checks
// that the table is printed, the JSON is written and parses, and no
// request failed.
func TestBench(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	db := "sqlite:" + filepath.Join(t.TempDir(), "bench.db")
	stdout, stderr, err := runCmd(t, nil, "bench", "--db", db, "--users", "50", "--sessions", "500", "--heavy", "100",
		"--duration", "200ms", "--concurrency", "4", "--json", out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, b)
	}
	if rep.Store != "sqlite" || rep.Seed.Sessions != 600 || !rep.Seed.Bulk {
		t.Errorf("got store %q, %d sessions seeded (bulk %v); want sqlite, 600, bulk", rep.Store, rep.Seed.Sessions, rep.Seed.Bulk)
	}
	var ran []string
	for _, r := range rep.Results {
		ran = append(ran, r.Scenario)
		if r.Requests == 0 || r.Errors != 0 {
			t.Errorf("%s: got %d requests, %d errors (%s); want some, none", r.Scenario, r.Requests, r.Errors, r.FirstErr)
		}
		if !strings.Contains(stdout, r.Scenario) {
			t.Errorf("the table lacks %s:\n%s", r.Scenario, stdout)
		}
		if r.Scenario != bench.Ceiling && r.OfCeiling <= 0 {
			t.Errorf("%s: got ratio to the ceiling %v, want it set", r.Scenario, r.OfCeiling)
		}
	}
	if !slices.Equal(ran, bench.Scenarios) {
		t.Errorf("got scenarios %v, want %v", ran, bench.Scenarios)
	}
}

// TestBenchFlags checks that bad input is refused before anything runs.
func TestBenchFlags(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--scenarios", "list,nope", "--sessions", "10", "--users", "5", "--heavy", "0"},
		{"--concurrency", "0"},
		{"--db", "sqlite:" + existing},
		{"--db", "mysql://x"},
	} {
		if _, _, err := runCmd(t, nil, append([]string{"bench"}, args...)...); err == nil {
			t.Errorf("bench %v: got no error, want one", args)
		}
	}
}
