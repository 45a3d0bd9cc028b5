package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sessiond/sessiond/internal/sessions"
)

// appendEntry adds e to the trail of the session with rowid session.
func appendEntry(ctx context.Context, tx *sql.Tx, session int64, e *sessions.ActivityEntry) error {
	args := []any{session, e.At, e.ClientID}
	args = append(args, stringArgs(e.IPAddress, e.UserAgent, e.Location)...)
	args = append(args, e.NewCountry, e.ImpossibleTravel)
	_, err := tx.ExecContext(ctx, `INSERT INTO session_activity (session, at, client_id,
		ip_address, user_agent, country, city, region, latitude, longitude, new_country, impossible_travel)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// trimActivityQuery deletes the entries of session ?1 older than its newest
// ?2: the subquery walks session_activity_by_session back from the
// session's last entry to the first one past the limit (NULL, deleting
// nothing, if there is none), and the delete takes the index range up to
// it.
const trimActivityQuery = `DELETE FROM session_activity WHERE session = ?1 AND seq <= (
	SELECT seq FROM session_activity WHERE session = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)`

// activeSessionQuery finds the rowid of an active session of a user.
const activeSessionQuery = `SELECT s.id FROM sessions s
	WHERE s.session_id = ? AND s.tenant_id = ? AND s.user_id = ? AND s.revoked_at = 0 AND s.expires_at > ?`

// Reading one session's trail: its size, and one page newest first.
const (
	countActivityQuery = `SELECT count(*) FROM session_activity WHERE session = ?`
	listActivityQuery  = `SELECT at, client_id, ip_address, user_agent, country, city, region, latitude, longitude,
		new_country, impossible_travel
		FROM session_activity WHERE session = ? ORDER BY seq DESC LIMIT ? OFFSET ?`
)

// ListActivity returns one page of the trail of an active session of the
// user at now, newest first, and how many entries it holds. Returns
// EINVALID for a page or size below 1, and ENOTFOUND if the user or such a
// session does not exist.
func (s *Store) ListActivity(ctx context.Context, tenantID int64, userID, sessionID string, now int64, page, size int) ([]*sessions.ActivityEntry, int, error) {
	if page < 1 || size < 1 {
		return nil, 0, sessions.Errorf(sessions.EINVALID, "page and size must be positive")
	}
	out := []*sessions.ActivityEntry{}
	var total int
	err := s.read(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, activeSessionQuery, sessionID, tenantID, userID, now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(ctx, tx, tenantID, userID)
		} else if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, countActivityQuery, id).Scan(&total); err != nil {
			return err
		}
		offset := (page - 1) * size
		if offset >= total {
			return nil
		}
		rows, err := tx.QueryContext(ctx, listActivityQuery, id, size, offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e sessions.ActivityEntry
				m [7]sql.NullString
			)
			if err := rows.Scan(&e.At, &e.ClientID, &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &m[6],
				&e.NewCountry, &e.ImpossibleTravel); err != nil {
				return err
			}
			setStrings(m[:], &e.IPAddress, &e.UserAgent, &e.Location)
			out = append(out, &e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}
