package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/sessions"
)

// appendActivitySQL adds an entry to the trail of session $1.
const appendActivitySQL = `INSERT INTO session_activity (session, at, client_id,
	ip_address, user_agent, country, city, region, latitude, longitude, new_country, impossible_travel)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

// queueAppend queues the insert of e into the trail of session id.
func queueAppend(b *pgx.Batch, id int64, e *sessions.ActivityEntry) {
	b.Queue(appendActivitySQL, id, e.At, e.ClientID,
		e.IPAddress, e.UserAgent, e.Country, e.City, e.Region, e.Latitude, e.Longitude,
		e.NewCountry, e.ImpossibleTravel)
}

// trimActivitySQL deletes the entries of session $1 older than its newest
// $2: the subquery walks session_activity_by_session back from the
// session's last entry to the first one past the limit (none, deleting
// nothing, if the trail is short enough), and the delete takes the index
// range up to it.
const trimActivitySQL = `DELETE FROM session_activity WHERE session = $1 AND seq <= (
	SELECT seq FROM session_activity WHERE session = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`

// activeSessionIDSQL is the internal id of an active session of a user
// ($1 tenant, $2 user, $3 now, $4 session ID), as a scalar subquery.
const activeSessionIDSQL = `(SELECT s.id FROM sessions s WHERE s.session_id = $4 AND ` + activeOfUser + `)`

// Reading one session's trail, in one round trip: whether the user and
// the session exist with the trail's size, and one page newest first.
const (
	countActivitySQL = `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2),
	` + activeSessionIDSQL + ` IS NOT NULL,
	(SELECT count(*) FROM session_activity a WHERE a.session = ` + activeSessionIDSQL + `)`
	listActivitySQL = `SELECT a.at, a.client_id, a.ip_address, a.user_agent,
	a.country, a.city, a.region, a.latitude, a.longitude, a.new_country, a.impossible_travel
FROM session_activity a WHERE a.session = ` + activeSessionIDSQL + `
ORDER BY a.seq DESC LIMIT $5 OFFSET $6`
)

// ListActivity returns one page of the trail of an active session of the
// user at now, newest first, and how many entries it holds. Returns
// EINVALID for a page or size below 1, and ENOTFOUND if the user or such a
// session does not exist.
func (s *Store) ListActivity(ctx context.Context, tenantID int64, userID, sessionID string, now int64, page, size int) ([]*sessions.ActivityEntry, int, error) {
	if page < 1 || size < 1 {
		return nil, 0, sessions.Errorf(sessions.EINVALID, "page and size must be positive")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var b pgx.Batch
	var userKnown, sessionActive bool
	var total int
	var out []*sessions.ActivityEntry
	b.Queue(countActivitySQL, tenantID, userID, now, sessionID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&userKnown, &sessionActive, &total)
	})
	b.Queue(listActivitySQL, tenantID, userID, now, sessionID, size, (page-1)*size).Query(func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sessions.ActivityEntry, error) {
			var e sessions.ActivityEntry
			err := row.Scan(&e.At, &e.ClientID, &e.IPAddress, &e.UserAgent,
				&e.Country, &e.City, &e.Region, &e.Latitude, &e.Longitude, &e.NewCountry, &e.ImpossibleTravel)
			return &e, err
		})
		return err
	})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, 0, storeErr(err)
	}
	switch {
	case !userKnown:
		return nil, 0, errUserNotFound()
	case !sessionActive:
		return nil, 0, errSessionNotFound()
	}
	if out == nil {
		out = []*sessions.ActivityEntry{}
	}
	return out, total, nil
}
