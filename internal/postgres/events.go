package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/sessions"
)

// eventsLockClass is the first half of the advisory lock key that orders
// event writers against feed readers ("evnt"); the second half is the
// schema's key.
const eventsLockClass = 0x65766e74

// Writing events: take the lock in shared mode, then insert them in one
// statement, in the order given (unnest keeps the arrays' order, and the
// identity is drawn row by row as the insert reads them). Reading the
// feed: take the lock in exclusive mode first (see queueEvents).
const (
	lockEventsSQL    = `SELECT pg_advisory_xact_lock_shared($1::int4, $2::int4)`
	barrierEventsSQL = `SELECT pg_advisory_xact_lock($1::int4, $2::int4)`
	insertEventsSQL  = `INSERT INTO events (tenant_id, type, user_id, session_id, occurred_at, data)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])`
)

// queueEvents queues, at the end of a transaction's writes, the shared
// lock that keeps feed readers from overtaking it, and the insert of es.
//
// The problem: seqs are drawn when rows are inserted, but transactions
// commit in their own order, so a reader of "seq > cursor" could see seq 8
// commit, move its cursor past it, and never see seq 7 that committed a
// moment later. The fix, without making writers wait for each other:
//
//   - A writer takes the events lock in shared mode before it draws a seq
//     and holds it until its commit is visible to everyone (a
//     transaction-level advisory lock is released after that). Shared
//     holders do not conflict, so writers commit concurrently and
//     PostgreSQL can flush their commits together (group commit); with an
//     exclusive lock here, every event-recording commit in the cluster
//     waited for the previous one's WAL flush, which capped starts at one
//     fsync each.
//   - A reader of the feed (queueBarrier) first takes the lock in exclusive
//     mode, in the same transaction, and reads in a later statement, hence
//     with a snapshot taken after it got the lock. Getting it means that no
//     writer holds the lock: every seq drawn so far belongs to a
//     transaction that has committed (visible to that snapshot) or rolled
//     back (its seqs are gaps for ever), and while the reader holds it no
//     writer can draw a seq. So the reader sees every event below the
//     highest seq it sees, and a later seq can only come from a later
//     draw: a cursor never skips an event. A waiting exclusive request
//     also holds back new shared ones, so readers are not starved.
//
// Order: a writer draws its seqs last, after every row lock of its
// transaction. Two transactions that write the same rows (one user's
// session or user row) are serialised by those row locks: the second
// draws its seqs only after the first committed, so a user's events are
// numbered, and therefore listed and delivered, in the order they
// happened.
//
// No deadlock: the shared lock comes after every other statement, so its
// holder waits for nothing after it but its own commit; a reader takes the
// exclusive lock as the first statement of its transaction, holding no
// other lock while it waits.
//
// Nodes of an older sessiond took the lock exclusively to write and read
// the feed without it: their readers can skip an event that a newer
// node's writer commits late, so in a cluster where the feed matters, do
// not run old and new nodes side by side (or stop the old ones' janitors
// first).
func (s *Store) queueEvents(b *pgx.Batch, es ...sessions.Event) {
	if len(es) == 0 {
		return
	}
	n := len(es)
	tenants, occurred := make([]int64, n), make([]int64, n)
	types, users, data := make([]string, n), make([]string, n), make([]string, n)
	ids := make([]*string, n)
	for i := range es {
		e := &es[i]
		tenants[i], types[i], users[i], ids[i], occurred[i], data[i] =
			e.TenantID, string(e.Type), e.UserID, nullString(e.SessionID), e.OccurredAt, string(e.DataJSON())
	}
	b.Queue(lockEventsSQL, int32(eventsLockClass), s.schemaKey)
	b.Queue(insertEventsSQL, tenants, types, users, ids, occurred, data)
}

// queueBarrier queues, as the first statement of a feed reader's
// transaction, the exclusive lock after which every event below the
// highest visible seq is visible (see queueEvents).
func (s *Store) queueBarrier(b *pgx.Batch) {
	b.Queue(barrierEventsSQL, int32(eventsLockClass), s.schemaKey)
}

// eventsHorizon returns a seq at or below which every event is settled:
// committed and visible to any later snapshot, or rolled back. It holds
// the exclusive lock only for its own short transaction (one round trip),
// so that a reader with more to do than one query does not hold up
// writers meanwhile.
func (s *Store) eventsHorizon(ctx context.Context) (int64, error) {
	var b pgx.Batch
	var h int64
	s.queueBarrier(&b)
	b.Queue(`SELECT coalesce(max(seq), 0) FROM events`).QueryRow(func(row pgx.Row) error { return row.Scan(&h) })
	err := s.pool.SendBatch(ctx, &b).Close()
	return h, err
}

// writeEvents records es in tx (see queueEvents), as its last writes.
func (s *Store) writeEvents(ctx context.Context, tx pgx.Tx, es ...sessions.Event) error {
	if len(es) == 0 {
		return nil
	}
	var b pgx.Batch
	s.queueEvents(&b, es...)
	return tx.SendBatch(ctx, &b).Close()
}

// eventColumns are read by scanEvent, in its order.
const eventColumns = `e.seq, e.tenant_id, e.type, e.user_id, e.session_id, e.occurred_at, e.data`

func scanEvent(row pgx.Row, extra ...any) (*sessions.Event, error) {
	var e sessions.Event
	var session *string
	var data string
	if err := row.Scan(append(extra, &e.Seq, &e.TenantID, &e.Type, &e.UserID, &session, &e.OccurredAt, &data)...); err != nil {
		return nil, err
	}
	if session != nil {
		e.SessionID = *session
	}
	d, err := sessions.ParseEventData([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("event %d: data: %w", e.Seq, err)
	}
	e.Data = d
	return &e, nil
}

// listEventsSQL reads a page of a tenant's feed along events_by_tenant.
const listEventsSQL = `SELECT ` + eventColumns + ` FROM events e
WHERE e.tenant_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`

// ListEvents returns up to limit events of the tenant after the cursor
// after, in seq order. It waits for event-recording transactions in
// progress to commit (see queueEvents), about one commit's time.
func (s *Store) ListEvents(ctx context.Context, tenantID, after int64, limit int) ([]*sessions.Event, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// One round trip: the barrier, then the page under it (see
	// queueEvents); the lock is released when the batch's implicit
	// transaction ends.
	var b pgx.Batch
	var out []*sessions.Event
	s.queueBarrier(&b)
	b.Queue(listEventsSQL, tenantID, after, limit).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sessions.Event, error) { return scanEvent(row) })
		return err
	})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, storeErr(err)
	}
	if out == nil {
		out = []*sessions.Event{}
	}
	return out, nil
}

// expiredSQL locks the oldest sessions whose expiry has no event yet,
// skipping those that another node's janitor (or the API) holds, and
// marks them. The partial index holds exactly the unreported ones.
const expiredSQL = `WITH picked AS (
	SELECT id FROM sessions WHERE revoked_at = 0 AND NOT expiry_emitted AND expires_at <= $1
	ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
UPDATE sessions s SET expiry_emitted = true FROM picked WHERE s.id = picked.id
RETURNING s.tenant_id, s.user_id, s.session_id, s.initiated_at, s.expires_at`

// EmitExpired records session.expired for up to limit sessions that
// expired by now and have none yet, and marks them, in one transaction.
func (s *Store) EmitExpired(ctx context.Context, now int64, limit int, reasonOf func(*sessions.Session) sessions.EndReason) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, expiredSQL, now, limit)
		if err != nil {
			return err
		}
		expired, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sessions.Session, error) {
			var x sessions.Session
			err := row.Scan(&x.TenantID, &x.UserID, &x.ID, &x.InitiatedAt, &x.ExpiresAt)
			return x, err
		})
		if err != nil {
			return err
		}
		// RETURNING gives rows in no promised order.
		slices.SortFunc(expired, func(a, b sessions.Session) int {
			return cmp.Or(cmp.Compare(a.ExpiresAt, b.ExpiresAt), strings.Compare(a.ID, b.ID))
		})
		es := make([]sessions.Event, len(expired))
		for i := range expired {
			es[i] = sessions.ExpiredEvent(&expired[i], reasonOf(&expired[i]), now)
		}
		n = len(es)
		return s.writeEvents(ctx, tx, es...)
	})
	if err != nil {
		return 0, storeErr(err)
	}
	return n, nil
}

// PurgeEvents deletes at most limit events recorded before `before`,
// oldest first, skipping rows another node is deleting; deliveries go by
// the foreign key's cascade.
func (s *Store) PurgeEvents(ctx context.Context, before int64, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE seq IN (
	SELECT seq FROM events WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, storeErr(err)
	}
	return int(tag.RowsAffected()), nil
}
