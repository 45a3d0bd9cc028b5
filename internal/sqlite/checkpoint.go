package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Checkpoints. SQLite copies the WAL back into the database file
// (a checkpoint) by default inside the commit that takes the WAL past
// 1,000 pages: that commit, and every write queued behind it, waits.
// Profiles of session starts showed the checkpoint at a quarter of a
// start's CPU. So a goroutine of the store checkpoints in the background
// (PASSIVE: it never waits for readers or the writer), on a connection of
// its own, and the writer only checkpoints itself if the WAL outgrows
// writerCheckpointPages, as a backstop.
const (
	checkpointEvery       = 50 * time.Millisecond
	writerCheckpointPages = 10_000 // about 40 MiB of WAL
)

type checkpointer struct {
	db   *sql.DB
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// startCheckpointer opens the checkpointer's connection and starts it.
func startCheckpointer(path string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", sideDSN(path))
	if err != nil {
		return nil, err
	}
	keepOne(db)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, stop: cancel}
	c.wg.Go(func() {
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Failures (a busy file) are retried on the next tick;
				// the writer's own checkpoint is the backstop.
				db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	})
	return c, nil
}

func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	c.stop()
	c.wg.Wait()
	return c.db.Close()
}
