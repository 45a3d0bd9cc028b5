package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/internal/sessions"
)

// sessionColumns are read by scanSession, in its order.
const sessionColumns = `s.tenant_id, s.user_id, s.session_id, s.session_key, s.client_ids,
s.initiated_at, s.expires_at, s.last_updated,
s.ip_address, s.user_agent, s.country, s.city, s.region, s.latitude, s.longitude,
s.revoked_at, s.countries, s.last_fix_at, s.last_fix_lat, s.last_fix_lon,
s.end_reason, s.ended_by`

func scanSession(row pgx.Row, extra ...any) (*sessions.Session, error) {
	var x sessions.Session
	var fixAt *int64
	var fixLat, fixLon *float64
	var reason, by *string
	m := &x.LastMetadata
	dest := append([]any{&x.TenantID, &x.UserID, &x.ID, &x.Key, &x.ClientIDs,
		&x.InitiatedAt, &x.ExpiresAt, &x.LastUpdated,
		&m.IPAddress, &m.UserAgent, &m.Country, &m.City, &m.Region, &m.Latitude, &m.Longitude,
		&x.RevokedAt, &x.Countries, &fixAt, &fixLat, &fixLon, &reason, &by}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if len(x.Countries) == 0 {
		x.Countries = nil // the domain's "none"
	}
	if fixAt != nil && fixLat != nil && fixLon != nil {
		x.LastLocated = &sessions.Fix{At: *fixAt, Latitude: *fixLat, Longitude: *fixLon}
	}
	if reason != nil {
		x.EndReason = sessions.EndReason(*reason)
	}
	if by != nil {
		x.EndedBy = *by
	}
	return &x, nil
}

// fixArgs returns the values of last_fix_at, last_fix_lat and
// last_fix_lon for f, all NULL when f is nil.
func fixArgs(f *sessions.Fix) (at *int64, lat, lon *float64) {
	if f == nil {
		return nil, nil, nil
	}
	return &f.At, &f.Latitude, &f.Longitude
}

// nullString returns s as a text value, NULL for "".
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// countriesArg returns countries as a never-NULL text[] value.
func countriesArg(countries []string) []string {
	if countries == nil {
		return []string{}
	}
	return countries
}

// createSessionSQL registers the user, stores the session and, if $21 is
// true, the first entry of its trail ($22-$32), in one statement, hence
// one transaction and one round trip. The foreign key checks run at the
// end of the statement and so see the user and session rows inserted by
// its earlier parts.
const createSessionSQL = `WITH u AS (
	INSERT INTO users (tenant_id, user_id, created_at) VALUES ($1, $2, $6)
	ON CONFLICT DO NOTHING
), s AS (
	INSERT INTO sessions (tenant_id, user_id, session_id, session_key, client_ids,
		initiated_at, expires_at, last_updated,
		ip_address, user_agent, country, city, region, latitude, longitude, revoked_at,
		countries, last_fix_at, last_fix_lat, last_fix_lon, end_reason, ended_by)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $33, $34)
	RETURNING id
)
INSERT INTO session_activity (session, at, client_id,
	ip_address, user_agent, country, city, region, latitude, longitude, new_country, impossible_travel)
SELECT s.id, $22::bigint, $23::text, $24::text, $25::text, $26::text, $27::text, $28::text,
	$29::text, $30::text, $31::boolean, $32::boolean
FROM s WHERE $21::boolean`

// CreateSession stores a new session, registering its user on their first
// session, and first, if not nil, as its trail's first entry, and records
// session.started. A session stored as revoked keeps its EndReason and
// EndedBy. Returns ECONFLICT if the ID or key is taken.
func (s *Store) CreateSession(ctx context.Context, x *sessions.Session, first *sessions.ActivityEntry) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	m := x.LastMetadata
	clients := appendNew(nil, x.ClientIDs)
	fixAt, fixLat, fixLon := fixArgs(x.LastLocated)
	e := first
	if e == nil {
		e = &sessions.ActivityEntry{} // not stored: $21 is false
	}
	var err error
	// If the user is erased between the INSERT that finds them and the
	// foreign key check, the check fails; the next attempt registers the
	// user again, as for a first session.
	for range 3 {
		// One batch is one implicit transaction and one round trip: the
		// session, then its event (see queueEvents).
		var b pgx.Batch
		b.Queue(createSessionSQL,
			x.TenantID, x.UserID, x.ID, x.Key, clients,
			x.InitiatedAt, x.ExpiresAt, x.LastUpdated,
			m.IPAddress, m.UserAgent, m.Country, m.City, m.Region, m.Latitude, m.Longitude, x.RevokedAt,
			countriesArg(x.Countries), fixAt, fixLat, fixLon,
			first != nil, e.At, e.ClientID,
			e.IPAddress, e.UserAgent, e.Country, e.City, e.Region, e.Latitude, e.Longitude,
			e.NewCountry, e.ImpossibleTravel, nullString(string(x.EndReason)), nullString(x.EndedBy))
		s.queueEvents(&b, sessions.StartedEvent(x))
		err = s.pool.SendBatch(ctx, &b).Close()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23503" { // foreign_key_violation
			break
		}
	}
	return storeErr(err)
}

// appendNew returns ids followed by those of more that it lacks, each
// once, in their order; never nil.
func appendNew(ids, more []string) []string {
	out := append(make([]string, 0, len(ids)+len(more)), ids...)
	for _, id := range more {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// listOrder is the ORDER BY of each sort key and direction: the sort
// column, then session_id in the same direction, as the indexes are.
func listOrder(f sessions.SortField, desc bool) (string, error) {
	if !f.Valid() {
		return "", sessions.Errorf(sessions.EINVALID, "unknown sort field %q", f)
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	if f == sessions.SortSessionID {
		return "s.session_id " + dir, nil
	}
	// f is one of the known column names, never caller text.
	return "s." + string(f) + " " + dir + ", s.session_id " + dir, nil
}

// activeOfUser selects a user's active sessions, optionally only those a
// client took part in (see clientFilter).
const activeOfUser = `s.tenant_id = $1 AND s.user_id = $2 AND s.revoked_at = 0 AND s.expires_at > $3`

// activeOfUserInOrder is activeOfUser for a page in another order than
// expires_at's. "expires_at + 0" keeps the expiry from being an index
// condition, which the planner would otherwise prefer in a generic plan:
// such a plan cannot know the user, estimates a handful of sessions, and
// picks sessions_by_user_expires_at for its extra condition, then sorts;
// for a user with 10,000 sessions that reads all of them for each page
// (30-250 ms at 1M sessions, against under 1 ms along the sort's own
// index). pgx prepares every statement, and PostgreSQL switches a
// prepared statement to its generic plan after five executions, so this
// is the plan that serves nearly every request.
const activeOfUserInOrder = `s.tenant_id = $1 AND s.user_id = $2 AND s.revoked_at = 0 AND s.expires_at + 0 > $3`

// endedOfUser selects a user's ended sessions: revoked, or expired at $3.
// It is the negation of activeOfUser, which the planner reads as
// "revoked_at <> 0 OR expires_at <= $3": no index can serve the first
// half, so it never turns into an OR over the tenant-wide purge indexes
// and, like the active filter, is checked on the rows that a per-user
// index leads to.
const endedOfUser = `s.tenant_id = $1 AND s.user_id = $2 AND NOT (s.revoked_at = 0 AND s.expires_at > $3)`

// ofUser returns the filter of q's status, or EINVALID.
func ofUser(q sessions.ListQuery) (string, error) {
	switch q.Status {
	case "", sessions.StatusActive:
		return activeOfUser, nil
	case sessions.StatusEnded:
		return endedOfUser, nil
	}
	return "", sessions.Errorf(sessions.EINVALID, "unknown status %q", q.Status)
}

// clientFilter keeps the sessions that the client in parameter $param
// took part in. It is checked on the rows the user's index leads to, so
// the cost stays the user's, whatever the size of the table.
func clientFilter(param int) string {
	return fmt.Sprintf(` AND $%d = ANY (s.client_ids)`, param)
}

// deepOffset is the offset from which a page is read by a deferred join
// (see listSQL).
const deepOffset = 100

// listSQL returns the page query of q and its arguments.
//
// A deep page (from deepOffset on, without a client filter) is read by a
// deferred join: the subquery walks the user's sort index past the skipped
// rows on the index alone (the index carries revoked_at, expires_at and
// id, migration 0007) and only the page's rows are read from the table,
// then sorted again (ten rows). Shallower pages read the table as they
// walk, as the extra primary key lookups would cost about what the join
// saves. The client filter needs the table's client_ids for every row it
// skips, so it never defers.
func listSQL(q sessions.ListQuery) (string, []any, error) {
	order, err := listOrder(q.Sort, q.Desc)
	if err != nil {
		return "", nil, err
	}
	where, err := ofUser(q)
	if err != nil {
		return "", nil, err
	}
	if where == activeOfUser && q.Sort != sessions.SortExpiresAt {
		where = activeOfUserInOrder
	}
	args := []any{q.TenantID, q.UserID, q.Now, q.Size, q.Offset()}
	if q.ClientID != "" {
		where += clientFilter(6)
		args = append(args, q.ClientID)
	} else if q.Offset() >= deepOffset {
		return `SELECT ` + sessionColumns + ` FROM sessions s WHERE s.id IN (
	SELECT s.id FROM sessions s WHERE ` + where + ` ORDER BY ` + order + ` LIMIT $4 OFFSET $5)
ORDER BY ` + order, args, nil
	}
	return `SELECT ` + sessionColumns + ` FROM sessions s WHERE ` + where +
		` ORDER BY ` + order + ` LIMIT $4 OFFSET $5`, args, nil
}

// countSQL returns the query of whether q's user exists and how many
// sessions match q in all, and its arguments.
func countSQL(q sessions.ListQuery) (string, []any) {
	where, err := ofUser(q)
	if err != nil {
		where = activeOfUser // listSQL, called first, refuses q
	}
	args := []any{q.TenantID, q.UserID, q.Now}
	if q.ClientID != "" {
		where += clientFilter(4)
		args = append(args, q.ClientID)
	}
	return `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2),
(SELECT count(*) FROM sessions s WHERE ` + where + `)`, args
}

// ListSessions returns one page of a user's active or ended sessions
// (q.Status) and how many match the query in all. Returns EINVALID for an
// unknown sort field or status, ENOTFOUND if the user is unknown in the
// tenant.
func (s *Store) ListSessions(ctx context.Context, q sessions.ListQuery) ([]*sessions.Session, int, error) {
	if q.Page < 1 || q.Size < 1 {
		return nil, 0, sessions.Errorf(sessions.EINVALID, "page and size must be positive")
	}
	list, listArgs, err := listSQL(q)
	if err != nil {
		return nil, 0, err
	}
	count, countArgs := countSQL(q)
	ctx, cancel := s.bound(ctx)
	defer cancel()

	// Both queries go in one round trip.
	var b pgx.Batch
	var known bool
	var total int
	var page []*sessions.Session
	b.Queue(count, countArgs...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&known, &total)
	})
	b.Queue(list, listArgs...).Query(func(rows pgx.Rows) error {
		var err error
		page, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sessions.Session, error) { return scanSession(row) })
		return err
	})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, 0, storeErr(err)
	}
	if !known {
		return nil, 0, errUserNotFound()
	}
	if page == nil {
		page = []*sessions.Session{}
	}
	return page, total, nil
}

// GetSession returns an active session of the user at now. Returns
// ENOTFOUND if the user or such a session does not exist.
func (s *Store) GetSession(ctx context.Context, tenantID int64, userID, sessionID string, now int64) (*sessions.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	x, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions s
WHERE s.session_id = $4 AND `+activeOfUser, tenantID, userID, now, sessionID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, s.notFound(ctx, tenantID, userID)
	}
	return x, storeErr(err)
}

// notFound returns the error for a missing session of a user: "user not
// found" if the user is unknown, else "session not found". Only a miss
// pays for the second query.
func (s *Store) notFound(ctx context.Context, tenantID int64, userID string) error {
	var known bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2)`,
		tenantID, userID).Scan(&known)
	switch {
	case err != nil:
		return storeErr(err)
	case !known:
		return errUserNotFound()
	default:
		return errSessionNotFound()
	}
}

// sessionByKeySQL finds a session by key, whatever its state.
const sessionByKeySQL = `SELECT ` + sessionColumns + ` FROM sessions s
WHERE s.tenant_id = $1 AND s.session_key = $2`

// SessionByKey returns the tenant's session with that session key,
// whatever its state, until it is purged. Returns ENOTFOUND if none.
func (s *Store) SessionByKey(ctx context.Context, tenantID int64, key string) (*sessions.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	x, err := scanSession(s.pool.QueryRow(ctx, sessionByKeySQL, tenantID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errSessionNotFound()
	}
	return x, storeErr(err)
}

// UpdateSession locks the session with that key, calls fn with its current
// state and, if fn returns no error, writes back fn's changes to ClientIDs
// (only appended to), ExpiresAt, LastUpdated, LastMetadata, Countries and
// LastLocated; an entry fn returns is appended to the trail, which is then
// trimmed to its newest keep entries; each client that joins records
// session.client_joined. The row lock (SELECT ... FOR UPDATE)
// serialises concurrent updates and revocations of the session: fn sees
// every change committed before it, and a revocation that comes later
// waits and then applies to the updated row. Returns EINVALID if keep < 1,
// fn's error, or ENOTFOUND if there is no such session.
func (s *Store) UpdateSession(ctx context.Context, tenantID int64, key string, fn func(*sessions.Session) (*sessions.ActivityEntry, error), keep int) (*sessions.Session, error) {
	if keep < 1 {
		return nil, sessions.Errorf(sessions.EINVALID, "the trail must keep at least one entry")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var id int64
	var cur *sessions.Session
	var read pgx.Batch
	read.Queue(`SELECT `+sessionColumns+`, s.id FROM sessions s
WHERE s.tenant_id = $1 AND s.session_key = $2 FOR UPDATE`, tenantID, key).QueryRow(func(row pgx.Row) error {
		var err error
		cur, err = scanSession(row, &id)
		return err
	})
	// Two round trips: BEGIN and the lock, then the writes and COMMIT.
	err := s.readWriteTx(ctx, &read, func() (*pgx.Batch, error) {
		before := slices.Clone(cur.ClientIDs)
		entry, err := fn(cur)
		if err != nil {
			return nil, err
		}
		// Clients only join: any that fn removed or reordered stay as
		// they were, and new ones follow in the order fn added them.
		cur.ClientIDs = appendNew(before, cur.ClientIDs)
		if len(cur.Countries) == 0 {
			cur.Countries = nil
		}
		m := cur.LastMetadata
		fixAt, fixLat, fixLon := fixArgs(cur.LastLocated)
		b := &pgx.Batch{}
		b.Queue(`UPDATE sessions SET client_ids = $2, expires_at = $3, last_updated = $4,
	ip_address = $5, user_agent = $6, country = $7, city = $8, region = $9, latitude = $10, longitude = $11,
	countries = $12, last_fix_at = $13, last_fix_lat = $14, last_fix_lon = $15
WHERE id = $1`,
			id, cur.ClientIDs, cur.ExpiresAt, cur.LastUpdated,
			m.IPAddress, m.UserAgent, m.Country, m.City, m.Region, m.Latitude, m.Longitude,
			countriesArg(cur.Countries), fixAt, fixLat, fixLon)
		if entry != nil {
			queueAppend(b, id, entry)
			b.Queue(trimActivitySQL, id, keep)
		}
		var joined []sessions.Event
		for _, c := range cur.ClientIDs[len(before):] {
			joined = append(joined, sessions.JoinedEvent(cur, c, cur.LastUpdated))
		}
		s.queueEvents(b, joined...)
		return b, nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errSessionNotFound()
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return cur, nil
}

// RevokeSession revokes an active session of the user at now, recording
// ReasonRevoked and by, and records session.revoked. Returns ENOTFOUND if
// the user or such a session does not exist.
func (s *Store) RevokeSession(ctx context.Context, tenantID int64, userID, sessionID string, now int64, by string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var revoked bool
	var read pgx.Batch
	read.Queue(`UPDATE sessions s SET revoked_at = $3, end_reason = $5, ended_by = $6
WHERE s.session_id = $4 AND `+activeOfUser, tenantID, userID, now, sessionID, sessions.ReasonRevoked, nullString(by)).Exec(func(tag pgconn.CommandTag) error {
		revoked = tag.RowsAffected() > 0
		return nil
	})
	err := s.readWriteTx(ctx, &read, func() (*pgx.Batch, error) {
		if !revoked {
			return nil, nil
		}
		b := &pgx.Batch{}
		s.queueEvents(b, sessions.EndedEvent(tenantID, userID, sessionID, sessions.ReasonRevoked, by, now))
		return b, nil
	})
	if err != nil {
		return storeErr(err)
	}
	if !revoked {
		return s.notFound(ctx, tenantID, userID)
	}
	return nil
}

// RevokeSessionByKey revokes the session with that key if it is still
// active, recording ReasonSignedOut and by and session.signed_out; an
// ended session keeps its reason and records nothing. Returns ENOTFOUND only if no session has that key. One
// statement: the UPDATE waits for a concurrent UpdateSession's lock and
// then revokes the row that it wrote.
func (s *Store) RevokeSessionByKey(ctx context.Context, tenantID int64, key string, now int64, by string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var found bool
	var userID, sessionID *string
	var read pgx.Batch
	read.Queue(`WITH target AS (
	SELECT id FROM sessions WHERE tenant_id = $1 AND session_key = $2
), revoked AS (
	UPDATE sessions s SET revoked_at = $3, end_reason = $4, ended_by = $5
	FROM target WHERE s.id = target.id AND s.revoked_at = 0 AND s.expires_at > $3
	RETURNING s.user_id, s.session_id
)
SELECT EXISTS (SELECT 1 FROM target), (SELECT user_id FROM revoked), (SELECT session_id FROM revoked)`,
		tenantID, key, now, sessions.ReasonSignedOut, nullString(by)).QueryRow(func(row pgx.Row) error {
		return row.Scan(&found, &userID, &sessionID)
	})
	err := s.readWriteTx(ctx, &read, func() (*pgx.Batch, error) {
		if userID == nil {
			return nil, nil
		}
		b := &pgx.Batch{}
		s.queueEvents(b, sessions.EndedEvent(tenantID, *userID, *sessionID, sessions.ReasonSignedOut, by, now))
		return b, nil
	})
	if err != nil {
		return storeErr(err)
	}
	if !found {
		return errSessionNotFound()
	}
	return nil
}

// revokeUserSQL revokes a user's active sessions but $6 ("" for none) in
// one statement, unless $6 names no active session of the user: then it
// revokes nothing. It returns whether the user exists, whether the kept
// session does (an empty $6 counts as yes) and how many it revoked. The kept
// session is locked (FOR SHARE) before the UPDATE, so that a concurrent
// revocation of it either commits first (and this finds it gone) or waits.
const revokeUserSQL = `WITH kept AS (
	SELECT $6::text = '' OR EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = $6 AND ` + activeOfUser + ` FOR SHARE) AS ok
), revoked AS (
	UPDATE sessions s SET revoked_at = $3, end_reason = $4, ended_by = $5
	WHERE ` + activeOfUser + ` AND s.session_id <> $6 AND (SELECT ok FROM kept)
	RETURNING s.session_id
)
SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2), (SELECT ok FROM kept),
	coalesce((SELECT array_agg(session_id ORDER BY session_id) FROM revoked), '{}')`

// RevokeUserSessions revokes every active session of the user but except
// (none if ""), recording ReasonRevokedAll and by and a session.revoked
// per session in session ID order, and returns how many.
// Returns ENOTFOUND, revoking nothing, if the user is unknown or except is
// not an active session of theirs.
func (s *Store) RevokeUserSessions(ctx context.Context, tenantID int64, userID string, now int64, by, except string) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var known, kept bool
	var ids []string
	var read pgx.Batch
	read.Queue(revokeUserSQL, tenantID, userID, now, sessions.ReasonRevokedAll, nullString(by), except).QueryRow(func(row pgx.Row) error {
		return row.Scan(&known, &kept, &ids)
	})
	err := s.readWriteTx(ctx, &read, func() (*pgx.Batch, error) {
		es := make([]sessions.Event, len(ids))
		for i, id := range ids {
			es[i] = sessions.EndedEvent(tenantID, userID, id, sessions.ReasonRevokedAll, by, now)
		}
		b := &pgx.Batch{}
		s.queueEvents(b, es...)
		return b, nil
	})
	if err != nil {
		return 0, storeErr(err)
	}
	n := len(ids)
	if !known {
		return 0, errUserNotFound()
	}
	if !kept {
		return 0, errSessionNotFound()
	}
	return n, nil
}

// DeleteUser erases the user and all their sessions (the foreign key
// cascades to sessions), and records user.erased at now with the IDs of
// the sessions it deleted. Returns ENOTFOUND if the user is unknown.
func (s *Store) DeleteUser(ctx context.Context, tenantID int64, userID string, now int64) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var found bool
	var ids []string
	// Lock the user first, so that the sessions listed (by the next
	// statement, with a snapshot taken after the lock) are all there are:
	// a session start takes a share lock on the user's row for its
	// foreign key, and waits.
	var read pgx.Batch
	read.Queue(`SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE)`,
		tenantID, userID).QueryRow(func(row pgx.Row) error { return row.Scan(&found) })
	read.Queue(`SELECT session_id FROM sessions WHERE tenant_id = $1 AND user_id = $2 ORDER BY session_id`,
		tenantID, userID).Query(func(rows pgx.Rows) error {
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	err := s.readWriteTx(ctx, &read, func() (*pgx.Batch, error) {
		if !found {
			return nil, nil
		}
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM users WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID)
		s.queueEvents(b, sessions.ErasedEvent(tenantID, userID, ids, now))
		return b, nil
	})
	if err != nil {
		return storeErr(err)
	}
	if !found {
		return errUserNotFound()
	}
	return nil
}

// The purge deletes revoked sessions first, then expired ones, oldest
// first, each batch picked with FOR UPDATE SKIP LOCKED: rows that another
// node's janitor is deleting, or that the API has locked, are left for a
// later round instead of waited on. FOR UPDATE cannot be combined with
// UNION, hence two statements; each commits on its own.
const (
	purgeExpiredSQL = `DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions WHERE expires_at < $1 AND (revoked_at > 0 OR expiry_emitted)
	ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`
	purgeRevokedSQL = `DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions WHERE revoked_at > 0 AND revoked_at < $1
	ORDER BY revoked_at LIMIT $2 FOR UPDATE SKIP LOCKED)`
)

// PurgeSessions deletes at most limit sessions that expired or were
// revoked before `before`, and returns how many it deleted. An expired
// session waits until EmitExpired has recorded its expiry.
func (s *Store) PurgeSessions(ctx context.Context, before int64, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := 0
	for _, q := range []string{purgeRevokedSQL, purgeExpiredSQL} {
		tag, err := s.pool.Exec(ctx, q, before, limit-n)
		if err != nil {
			return n, storeErr(err)
		}
		if n += int(tag.RowsAffected()); n >= limit {
			break
		}
	}
	return n, nil
}

// CountActiveSessions counts active sessions of all tenants at now.
func (s *Store) CountActiveSessions(ctx context.Context, now int64) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE revoked_at = 0 AND expires_at > $1`, now).Scan(&n)
	return n, storeErr(err)
}

func errUserNotFound() error    { return sessions.Errorf(sessions.ENOTFOUND, "user not found") }
func errSessionNotFound() error { return sessions.Errorf(sessions.ENOTFOUND, "session not found") }
func errKeyNotFound() error     { return sessions.Errorf(sessions.ENOTFOUND, "API key not found") }
