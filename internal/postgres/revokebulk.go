package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/sessions"
)

// matchWhere returns the condition that selects the tenant's sessions
// active at now that match f, with its arguments from $1. With a user the
// per-user indexes lead; without one the tenant's sessions are read, which
// a rare, operator-driven revocation can afford.
func matchWhere(tenantID int64, f sessions.BulkFilter, now int64) (string, []any) {
	args := []any{tenantID, now}
	next := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := `s.tenant_id = $1 AND s.revoked_at = 0 AND s.expires_at > $2`
	if f.UserID != "" {
		where += ` AND s.user_id = ` + next(f.UserID)
	}
	if f.ClientID != "" {
		where += ` AND ` + next(f.ClientID) + `::text = ANY (s.client_ids)`
	}
	if f.Country != "" {
		where += ` AND s.country = ` + next(f.Country)
	}
	if f.IdleLongerThan > 0 {
		where += ` AND s.last_updated < ` + next(now-f.IdleLongerThan)
	}
	if f.StartedBefore > 0 {
		where += ` AND s.initiated_at < ` + next(f.StartedBefore)
	}
	if f.After != "" {
		where += ` AND s.session_id > ` + next(f.After)
	}
	return where, args
}

// matchCountSQL and matchSampleSQL are the dry run's queries.
func matchCountSQL(tenantID int64, f sessions.BulkFilter, now int64) (string, []any) {
	where, args := matchWhere(tenantID, f, now)
	return `SELECT count(*) FROM sessions s WHERE ` + where, args
}

func matchSampleSQL(tenantID int64, f sessions.BulkFilter, now int64, limit int) (string, []any) {
	where, args := matchWhere(tenantID, f, now)
	args = append(args, limit)
	return `SELECT ` + sessionColumns + ` FROM sessions s WHERE ` + where +
		` ORDER BY s.session_id LIMIT $` + strconv.Itoa(len(args)), args
}

// revokeMatchingSQL locks the next batch in session ID order and revokes
// it. A row that a concurrent write changed is checked again once its
// lock is granted and skipped if it no longer matches, and the LIMIT then
// takes the next one, so a batch is short only when nothing is left.
// It returns how many rows it picked, the IDs and users of those it
// revoked in session ID order, and the last ID picked.
func revokeMatchingSQL(tenantID int64, f sessions.BulkFilter, now int64, by string, limit int) (string, []any) {
	where, args := matchWhere(tenantID, f, now)
	n := len(args)
	args = append(args, limit, sessions.ReasonBulkRevoked, nullString(by))
	p := func(i int) string { return "$" + strconv.Itoa(n+i) }
	return `WITH picked AS (
	SELECT s.id, s.session_id FROM sessions s WHERE ` + where + `
	ORDER BY s.session_id LIMIT ` + p(1) + ` FOR UPDATE
), revoked AS (
	UPDATE sessions s SET revoked_at = $2, end_reason = ` + p(2) + `, ended_by = ` + p(3) + `
	FROM picked WHERE s.id = picked.id
	RETURNING s.session_id, s.user_id
)
SELECT (SELECT count(*) FROM picked),
	coalesce((SELECT array_agg(session_id ORDER BY session_id) FROM revoked), '{}'),
	coalesce((SELECT array_agg(user_id ORDER BY session_id) FROM revoked), '{}'),
	coalesce((SELECT max(session_id) FROM picked), '')`, args
}

// CountMatching counts the tenant's sessions active at now that match f
// and returns the first sampleSize of them in session ID order, in one
// round trip.
func (s *Store) CountMatching(ctx context.Context, tenantID int64, f sessions.BulkFilter, now int64, sampleSize int) (int, []*sessions.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var b pgx.Batch
	var total int
	sample := []*sessions.Session{}
	cq, cargs := matchCountSQL(tenantID, f, now)
	b.Queue(cq, cargs...).QueryRow(func(row pgx.Row) error { return row.Scan(&total) })
	if sampleSize > 0 {
		sq, sargs := matchSampleSQL(tenantID, f, now, sampleSize)
		b.Queue(sq, sargs...).Query(func(rows pgx.Rows) error {
			var err error
			sample, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sessions.Session, error) { return scanSession(row) })
			return err
		})
	}
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return 0, nil, storeErr(err)
	}
	return total, sample, nil
}

// RevokeMatching revokes, in one transaction, the first limit of the
// tenant's sessions active at now that match f, in session ID order,
// recording ReasonBulkRevoked and by and a session.revoked per session. It returns how many it
// revoked and the last ID it took, or "" if it took fewer than limit.
// Returns EINVALID if limit < 1.
func (s *Store) RevokeMatching(ctx context.Context, tenantID int64, f sessions.BulkFilter, now int64, by string, limit int) (int, string, error) {
	if limit < 1 {
		return 0, "", sessions.Errorf(sessions.EINVALID, "the batch must take at least one session")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	q, args := revokeMatchingSQL(tenantID, f, now, by, limit)
	var picked int
	var ids, users []string
	var last string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, q, args...).Scan(&picked, &ids, &users, &last); err != nil {
			return err
		}
		es := make([]sessions.Event, len(ids))
		for i, id := range ids {
			es[i] = sessions.EndedEvent(tenantID, users[i], id, sessions.ReasonBulkRevoked, by, now)
		}
		return s.writeEvents(ctx, tx, es...)
	})
	if err != nil {
		return 0, "", storeErr(err)
	}
	if picked < limit {
		last = ""
	}
	return len(ids), last, nil
}
