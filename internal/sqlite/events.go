package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sessiond/sessiond/internal/sessions"
)

const insertEventQuery = `INSERT INTO events (tenant_id, type, user_id, session_id, occurred_at, data)
	VALUES (?, ?, ?, ?, ?, ?)`

// insertEvents records es in the transaction tx, in order. The writer is
// the only connection that writes, so the events become visible in seq
// order when tx commits.
func insertEvents(ctx context.Context, tx *sql.Tx, es ...sessions.Event) error {
	for i := range es {
		e := &es[i]
		if _, err := tx.ExecContext(ctx, insertEventQuery,
			e.TenantID, e.Type, e.UserID, nullString(e.SessionID), e.OccurredAt, string(e.DataJSON())); err != nil {
			return err
		}
	}
	return nil
}

const listEventsQuery = `SELECT seq, tenant_id, type, user_id, session_id, occurred_at, data
	FROM events WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`

// ListEvents returns up to limit events of the tenant after the cursor
// after, in seq order.
func (s *Store) ListEvents(ctx context.Context, tenantID, after int64, limit int) ([]*sessions.Event, error) {
	out := []*sessions.Event{}
	rows, err := s.reader.QueryContext(ctx, listEventsQuery, tenantID, after, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// scanEvent reads the columns of listEventsQuery, after extra.
func scanEvent(r scanner, extra ...any) (*sessions.Event, error) {
	var (
		e       sessions.Event
		session sql.NullString
		data    string
	)
	if err := r.Scan(append(extra, &e.Seq, &e.TenantID, &e.Type, &e.UserID, &session, &e.OccurredAt, &data)...); err != nil {
		return nil, err
	}
	e.SessionID = session.String
	d, err := sessions.ParseEventData([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("sqlite: event %d: data: %w", e.Seq, err)
	}
	e.Data = d
	return &e, nil
}

// expiredQuery finds sessions whose expiry has no event yet, oldest first,
// through the partial index that holds exactly the unreported ones.
const expiredQuery = `SELECT id, tenant_id, user_id, session_id, initiated_at, expires_at
	FROM sessions INDEXED BY sessions_expiry_pending
	WHERE revoked_at = 0 AND expiry_emitted = 0 AND expires_at <= ? ORDER BY expires_at LIMIT ?`

// EmitExpired records session.expired for up to limit sessions that
// expired by now and have none yet, and marks them, in one transaction.
func (s *Store) EmitExpired(ctx context.Context, now int64, limit int, reasonOf func(*sessions.Session) sessions.EndReason) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	n := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, expiredQuery, now, limit)
		if err != nil {
			return err
		}
		var ids []int64
		var events []sessions.Event
		for rows.Next() {
			var id int64
			var x sessions.Session
			if err := rows.Scan(&id, &x.TenantID, &x.UserID, &x.ID, &x.InitiatedAt, &x.ExpiresAt); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			events = append(events, sessions.ExpiredEvent(&x, reasonOf(&x), now))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET expiry_emitted = 1 WHERE id = ?`, id); err != nil {
				return err
			}
		}
		n = len(ids)
		return insertEvents(ctx, tx, events...)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PurgeEvents deletes at most limit events recorded before `before`,
// oldest first; their deliveries go by the foreign key's cascade.
func (s *Store) PurgeEvents(ctx context.Context, before int64, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE seq IN (SELECT seq FROM events
			WHERE occurred_at < ? ORDER BY occurred_at LIMIT ?)`, before, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
