package geoip

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

var cloudflare = netip.MustParseAddr("1.1.1.1")

// cityDB is a database that places 1.1.1.0/24 in city.
func cityDB(t testing.TB, city string) []byte {
	t.Helper()
	return buildDB(t, "GeoLite2-City", 6, []network{{"1.1.1.0/24", maxmindRecord("US", "NA", city, 34.05, -118.25)}})
}

// cityOf is the city Locate gives for 1.1.1.1, "<nil>" if none.
func cityOf(l sessions.Locator) string {
	return fields(l.Locate(cloudflare))[1]
}

// newReloader opens path and closes the Reloader when the test ends. Its
// log goes to the returned buffer.
func newReloader(t *testing.T, path string) (*Reloader, *syncBuffer) {
	t.Helper()
	var log syncBuffer
	r, err := NewReloader(path, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, &log
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	replaceFile(t, path, cityDB(t, "Before"))
	r, log := newReloader(t, path)
	if got, want := cityOf(r), "Before"; got != want {
		t.Fatalf("city = %q, want %q", got, want)
	}
	if !strings.Contains(log.String(), "geoip database loaded") {
		t.Errorf("log = %q, want a line saying the database loaded", log.String())
	}

	replaceFile(t, path, cityDB(t, "After"))
	if got, want := cityOf(r), "Before"; got != want {
		t.Fatalf("before Reload: city = %q, want %q (no reload without being asked)", got, want)
	}
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got, want := cityOf(r), "After"; got != want {
		t.Fatalf("after Reload: city = %q, want %q", got, want)
	}

	// A broken update leaves the working database in place.
	for name, data := range map[string][]byte{
		"garbage":   []byte("not a database"),
		"truncated": cityDB(t, "Truncated")[:64],
		"empty":     {},
	} {
		replaceFile(t, path, data)
		if err := r.Reload(); err == nil {
			t.Errorf("Reload of %s file: got nil error, want one", name)
		}
		if got, want := cityOf(r), "After"; got != want {
			t.Errorf("after Reload of %s file: city = %q, want %q", name, got, want)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Error("Reload of a missing file: got nil error, want one")
	}
	if got, want := cityOf(r), "After"; got != want {
		t.Errorf("after Reload of a missing file: city = %q, want %q", got, want)
	}
}

func TestReloaderClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	replaceFile(t, path, cityDB(t, "Before"))
	r, _ := newReloader(t, path)
	done := make(chan struct{})
	go func() {
		r.Watch(context.Background(), time.Millisecond)
		close(done)
	}()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fields(r.Locate(cloudflare)); got != none {
		t.Errorf("Locate after Close = %q, want all nil", got)
	}
	if err := r.Reload(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload after Close = %v, want ErrClosed", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch still running 10s after Close")
	}
}

func TestNewReloaderErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mmdb")
	replaceFile(t, good, cityDB(t, "Good"))
	bad := filepath.Join(dir, "bad.mmdb")
	replaceFile(t, bad, []byte("not a database"))
	for _, path := range []string{"", " , ", filepath.Join(dir, "missing.mmdb"), bad, good + "," + bad} {
		if r, err := NewReloader(path, nil); err == nil {
			r.Close()
			t.Errorf("NewReloader(%q) succeeded, want an error", path)
		}
	}
}

// TestReloaderSplitFiles: DB-IP City Lite from ip-location-db comes as an
// IPv4 and an IPv6 file; one Reloader over both answers for either.
func TestReloaderSplitFiles(t *testing.T) {
	dir := t.TempDir()
	v4, v6 := filepath.Join(dir, "dbip-city-ipv4.mmdb"), filepath.Join(dir, "dbip-city-ipv6.mmdb")
	writeDB(t, v4, "dbip-city-ipv4", 4, dbipNetworks[:1])
	writeDB(t, v6, "dbip-city-ipv6", 6, dbipNetworks[1:2])
	r, _ := newReloader(t, v4+", "+v6)
	for ip, want := range map[string]string{"8.8.8.8": "Mountain View", "2001:4860::1": "Tokyo", "9.9.9.9": "<nil>"} {
		if got := fields(r.Locate(netip.MustParseAddr(ip)))[1]; got != want {
			t.Errorf("Locate(%s) city = %q, want %q", ip, got, want)
		}
	}
}

func TestWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	replaceFile(t, path, cityDB(t, "First"))
	r, log := newReloader(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Watch(ctx, time.Millisecond)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// The monthly update: a new file renamed over the old.
	replaceFile(t, path, cityDB(t, "Second"))
	waitFor(t, "Watch to load the renamed file", func() bool { return cityOf(r) == "Second" })

	// A broken file is logged and the old database keeps serving.
	replaceFile(t, path, []byte("not a database"))
	waitFor(t, "Watch to log the broken file", func() bool { return strings.Contains(log.String(), "could not be loaded") })
	if got, want := cityOf(r), "Second"; got != want {
		t.Errorf("after a broken update: city = %q, want %q", got, want)
	}

	// A file rewritten in place (same inode) is picked up too, once the
	// write is complete.
	if err := os.WriteFile(path, cityDB(t, "Third"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Watch to load the rewritten file", func() bool { return cityOf(r) == "Third" })

	// A file that goes missing is logged; the loaded database stays.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Watch to log the missing file", func() bool { return strings.Contains(log.String(), "unavailable") })
	if got, want := cityOf(r), "Third"; got != want {
		t.Errorf("with the file missing: city = %q, want %q", got, want)
	}
	replaceFile(t, path, cityDB(t, "Fourth"))
	waitFor(t, "Watch to load the file that came back", func() bool { return cityOf(r) == "Fourth" })
}

// TestLocateDuringReloads runs lookups while databases are swapped; run
// with -race. Every answer must come whole from one database or the other.
func TestLocateDuringReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	dbs := [][]byte{cityDB(t, "Even"), cityDB(t, "Odd")}
	replaceFile(t, path, dbs[0])
	r, _ := newReloader(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, time.Millisecond)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got := fields(r.Locate(cloudflare))
				if (got[1] != "Even" && got[1] != "Odd") || got[0] != "United States of America" || got[3] != "34.05" {
					select {
					case errs <- strings.Join(got[:], "|"):
					default:
					}
				}
			}
		})
	}
	for i := range 50 {
		replaceFile(t, path, dbs[i%2])
		if err := r.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("Locate during reloads = %s, want a whole answer from one database", e)
	}
}
