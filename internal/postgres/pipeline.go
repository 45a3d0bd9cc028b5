package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// readWriteTx runs a transaction that reads (or writes), decides in Go on
// what it got, then writes, in two round trips where pgx.BeginFunc takes
// four: BEGIN travels with the statements queued in read, and COMMIT with
// those that write queues (given their results, which read's callbacks
// have stored). A nil write batch commits read's statements alone. On any error the transaction is
// rolled back and the error returned: the first one, a read callback's
// (such as pgx.ErrNoRows) or write's own included.
func (s *Store) readWriteTx(ctx context.Context, read *pgx.Batch, write func() (*pgx.Batch, error)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	begin := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(read.QueuedQueries)+1)}
	begin.Queue("BEGIN")
	begin.QueuedQueries = append(begin.QueuedQueries, read.QueuedQueries...)
	err = conn.SendBatch(ctx, begin).Close()
	var w *pgx.Batch
	if err == nil {
		w, err = write()
	}
	if err == nil {
		if w == nil {
			w = &pgx.Batch{}
		}
		w.Queue("COMMIT")
		err = conn.SendBatch(ctx, w).Close()
	}
	if err != nil && !conn.Conn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
		// The transaction is still open, or aborted by a failed
		// statement. If the rollback fails too, Release closes the
		// connection rather than pool it inside a transaction.
		conn.Exec(ctx, "ROLLBACK")
	}
	return err
}
