package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/sessiond/sessiond/internal/sessions"
)

// matchWhere selects the tenant's sessions active at now that match f,
// and returns the condition with its arguments. With a user the per-user
// indexes lead; without one the tenant's sessions are read, which a rare,
// operator-driven revocation can afford.
func matchWhere(tenantID int64, f sessions.BulkFilter, now int64) (string, []any) {
	where := `s.tenant_id = ? AND s.revoked_at = 0 AND s.expires_at > ?`
	args := []any{tenantID, now}
	if f.UserID != "" {
		where += ` AND s.user_id = ?`
		args = append(args, f.UserID)
	}
	if f.ClientID != "" {
		where += ` AND EXISTS (SELECT 1 FROM session_clients c WHERE c.session = s.id AND c.client_id = ?)`
		args = append(args, f.ClientID)
	}
	if f.Country != "" {
		where += ` AND s.country = ?`
		args = append(args, f.Country)
	}
	if f.IdleLongerThan > 0 {
		where += ` AND s.last_updated < ?`
		args = append(args, now-f.IdleLongerThan)
	}
	if f.StartedBefore > 0 {
		where += ` AND s.initiated_at < ?`
		args = append(args, f.StartedBefore)
	}
	if f.After != "" {
		where += ` AND s.session_id > ?`
		args = append(args, f.After)
	}
	return where, args
}

// walkIndex names the index that the sample and the batches walk, in
// session ID order, so that a batch stops after its last row instead of
// sorting every match first (once per batch): the user's, or else the
// table-wide one of the session_id UNIQUE constraint, from the cursor on.
func walkIndex(f sessions.BulkFilter) string {
	if f.UserID != "" {
		return "sessions_by_user_session_id"
	}
	return "sqlite_autoindex_sessions_1" // session_id, the first UNIQUE column
}

// matchCountQuery and matchSampleQuery return the dry run's queries.
func matchCountQuery(tenantID int64, f sessions.BulkFilter, now int64) (string, []any) {
	where, args := matchWhere(tenantID, f, now)
	return `SELECT count(*) FROM sessions s WHERE ` + where, args
}

func matchSampleQuery(tenantID int64, f sessions.BulkFilter, now int64, limit int) (string, []any) {
	where, args := matchWhere(tenantID, f, now)
	return `SELECT ` + sessionColumns + ` FROM sessions s INDEXED BY ` + walkIndex(f) + ` WHERE ` + where +
		` ORDER BY s.session_id LIMIT ?`, append(args, limit)
}

// revokeMatchingQuery revokes the next batch and returns the IDs it took.
// SQLite has one writer, so the rows the subquery picks are still active
// when the UPDATE writes them.
func revokeMatchingQuery(tenantID int64, f sessions.BulkFilter, now int64, by string, limit int) (string, []any) {
	where, args := matchWhere(tenantID, f, now)
	return `UPDATE sessions SET revoked_at = ?, end_reason = ?, ended_by = ?
		WHERE id IN (SELECT s.id FROM sessions s INDEXED BY ` + walkIndex(f) + ` WHERE ` + where + ` ORDER BY s.session_id LIMIT ?)
		RETURNING session_id, user_id`,
		append(append([]any{now, sessions.ReasonBulkRevoked, nullString(by)}, args...), limit)
}

// CountMatching counts the tenant's sessions active at now that match f
// and returns the first sampleSize of them in session ID order, from one
// snapshot.
func (s *Store) CountMatching(ctx context.Context, tenantID int64, f sessions.BulkFilter, now int64, sampleSize int) (int, []*sessions.Session, error) {
	var (
		total  int
		sample = []*sessions.Session{}
	)
	err := s.read(ctx, func(tx *sql.Tx) error {
		cq, cargs := matchCountQuery(tenantID, f, now)
		if err := tx.QueryRowContext(ctx, cq, cargs...).Scan(&total); err != nil {
			return err
		}
		if total == 0 || sampleSize <= 0 {
			return nil
		}
		sq, sargs := matchSampleQuery(tenantID, f, now, sampleSize)
		var err error
		sample, err = querySessions(ctx, tx, sq, sargs...)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return total, sample, nil
}

// RevokeMatching revokes, in one transaction, the first limit of the
// tenant's sessions active at now that match f, in session ID order,
// recording ReasonBulkRevoked and by and a session.revoked per session in
// session ID order. It returns how many it revoked and
// the last ID it took, or "" if it took fewer than limit. Returns EINVALID
// if limit < 1.
func (s *Store) RevokeMatching(ctx context.Context, tenantID int64, f sessions.BulkFilter, now int64, by string, limit int) (int, string, error) {
	if limit < 1 {
		return 0, "", sessions.Errorf(sessions.EINVALID, "the batch must take at least one session")
	}
	var (
		n    int
		last string
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		n, last = 0, ""
		q, args := revokeMatchingQuery(tenantID, f, now, by, limit)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		var events []sessions.Event
		for rows.Next() {
			var id, user string
			if err := rows.Scan(&id, &user); err != nil {
				rows.Close()
				return err
			}
			n++
			// RETURNING gives rows in no promised order.
			last = max(last, id)
			events = append(events, sessions.EndedEvent(tenantID, user, id, sessions.ReasonBulkRevoked, by, now))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slices.SortFunc(events, func(a, b sessions.Event) int { return strings.Compare(a.SessionID, b.SessionID) })
		return insertEvents(ctx, tx, events...)
	})
	if err != nil {
		return 0, "", err
	}
	if n < limit {
		last = ""
	}
	return n, last, nil
}
