// Package janitor purges sessions that ended long enough ago, records the
// expiry of sessions as events (expiry happens without a write, so someone
// has to notice it), erases the metadata of ended sessions of tenants that
// ask for it (sessions.Privacy), and purges events older than the
// retention period.
// It works in small batches with a pause between them so that a large
// backlog never holds the store's write lock for long and never starves
// the API.
package janitor

import (
	"context"
	"log/slog"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Config says how the janitor works.
type Config struct {
	// Retention is how long an ended (expired or revoked) session, and an
	// event, is kept before it is purged.
	Retention time.Duration
	// Interval is the time between purge rounds.
	Interval time.Duration
	// Batch is the most sessions deleted by one statement.
	Batch int
	// Pause is the wait between two batches of one round, leaving the
	// store to the API.
	Pause time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Retention: 24 * time.Hour, Interval: time.Minute, Batch: 500, Pause: 20 * time.Millisecond}
}

// Janitor purges ended sessions through a Service.
type Janitor struct {
	svc    *sessions.Service
	cfg    Config
	logger *slog.Logger
}

// New returns a Janitor.
func New(svc *sessions.Service, cfg Config, logger *slog.Logger) *Janitor {
	return &Janitor{svc: svc, cfg: cfg, logger: logger}
}

// Run purges every Interval until ctx is done.
func (j *Janitor) Run(ctx context.Context) {
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		if n, err := j.Round(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			j.logger.Warn("purge failed", "err", err, "purged", n)
		} else if n > 0 {
			j.logger.Info("purged ended sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round records the expiry of every session that expired since the last
// round, then erases the metadata of ended sessions whose tenant's
// DropEndedMetadataAfter has passed, then purges ended sessions and old
// events, each in batches until a batch comes back short, and returns how
// many sessions it purged. Expiries go first: the store keeps an expired
// session until its expiry is recorded (and scrubs it only then), and a
// round that cannot record them purges nothing.
func (j *Janitor) Round(ctx context.Context) (int, error) {
	expired, err := j.batches(ctx, func() (int, error) { return j.svc.EmitExpired(ctx, j.cfg.Batch) })
	if expired > 0 {
		j.logger.Info("recorded session expiries", "count", expired)
	}
	if err != nil {
		return 0, err
	}
	scrubbed, err := j.batches(ctx, func() (int, error) { return j.svc.ScrubEndedMetadata(ctx, j.cfg.Batch) })
	if scrubbed > 0 {
		j.logger.Info("erased metadata of ended sessions", "count", scrubbed)
	}
	if err != nil {
		return 0, err
	}
	purged, err := j.batches(ctx, func() (int, error) { return j.svc.Purge(ctx, j.cfg.Retention, j.cfg.Batch) })
	if err != nil {
		return purged, err
	}
	events, err := j.batches(ctx, func() (int, error) { return j.svc.PurgeEvents(ctx, j.cfg.Retention, j.cfg.Batch) })
	if events > 0 {
		j.logger.Info("purged old events", "count", events)
	}
	return purged, err
}

// batches calls batch until it does less than a full batch, pausing
// between calls, and returns the sum of what it did.
func (j *Janitor) batches(ctx context.Context, batch func() (int, error)) (int, error) {
	total := 0
	for {
		n, err := batch()
		total += n
		if err != nil || n < j.cfg.Batch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(j.cfg.Pause):
		}
	}
}
