package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sessiond/sessiond/internal/sessions"
)

// sessionColumns are the columns scanSession reads, in its order.
const sessionColumns = `s.tenant_id, s.user_id, s.session_id, s.session_key, s.client_ids,
	s.initiated_at, s.expires_at, s.last_updated,
	s.ip_address, s.user_agent, s.country, s.city, s.region, s.latitude, s.longitude,
	s.revoked_at, s.countries, s.last_fix_at, s.last_fix_lat, s.last_fix_lon,
	s.end_reason, s.ended_by`

// scanSession scans sessionColumns, after the extra leading destinations.
// querySessions runs a query whose rows are sessions (the columns
// scanSession reads) and returns them.
func querySessions(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]*sessions.Session, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sessions.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}

func scanSession(r scanner, extra ...any) (*sessions.Session, error) {
	var (
		ss               sessions.Session
		clients, visited string
		m                [7]sql.NullString
		fixAt            sql.NullInt64
		fixLat, fixLon   sql.NullFloat64
		reason, by       sql.NullString
	)
	err := r.Scan(append(extra, &ss.TenantID, &ss.UserID, &ss.ID, &ss.Key, &clients,
		&ss.InitiatedAt, &ss.ExpiresAt, &ss.LastUpdated,
		&m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &m[6],
		&ss.RevokedAt, &visited, &fixAt, &fixLat, &fixLon, &reason, &by)...)
	if err != nil {
		return nil, err
	}
	if ss.ClientIDs, err = decodeStrings(clients); err != nil {
		return nil, fmt.Errorf("sqlite: session %s: client_ids: %w", ss.ID, err)
	}
	if ss.Countries, err = decodeStrings(visited); err != nil {
		return nil, fmt.Errorf("sqlite: session %s: countries: %w", ss.ID, err)
	}
	if len(ss.Countries) == 0 {
		ss.Countries = nil // the domain's "none"
	}
	if fixAt.Valid && fixLat.Valid && fixLon.Valid {
		ss.LastLocated = &sessions.Fix{At: fixAt.Int64, Latitude: fixLat.Float64, Longitude: fixLon.Float64}
	}
	setStrings(m[:], &ss.LastMetadata.IPAddress, &ss.LastMetadata.UserAgent, &ss.LastMetadata.Location)
	ss.EndReason, ss.EndedBy = sessions.EndReason(reason.String), by.String
	return &ss, nil
}

// setStrings sets ip, ua and loc's fields from the nullable strings m, in
// that order (as the metadata columns are): NULL leaves a field nil.
func setStrings(m []sql.NullString, ip, ua **string, loc *sessions.Location) {
	for i, p := range []**string{ip, ua, &loc.Country, &loc.City, &loc.Region, &loc.Latitude, &loc.Longitude} {
		if m[i].Valid {
			v := m[i].String
			*p = &v
		}
	}
}

// metadataArgs returns the metadata columns' values in sessionColumns order.
func metadataArgs(m sessions.Metadata) []any {
	return stringArgs(m.IPAddress, m.UserAgent, m.Location)
}

// stringArgs returns ip, ua and loc's fields as column values, NULL for
// nil, in the order of the metadata columns.
func stringArgs(ip, ua *string, loc sessions.Location) []any {
	out := make([]any, 0, 7)
	for _, p := range []*string{ip, ua, loc.Country, loc.City, loc.Region, loc.Latitude, loc.Longitude} {
		if p == nil {
			out = append(out, nil)
		} else {
			out = append(out, *p)
		}
	}
	return out
}

// pastArgs returns the values of the columns countries, last_fix_at,
// last_fix_lat and last_fix_lon of ss.
func pastArgs(ss *sessions.Session) []any {
	out := []any{clientsJSON(ss.Countries), nil, nil, nil}
	if f := ss.LastLocated; f != nil {
		out[1], out[2], out[3] = f.At, f.Latitude, f.Longitude
	}
	return out
}

// decodeStrings decodes a JSON array of strings as clientsJSON writes it.
// Arrays of plain ASCII strings (no escapes), which is what client IDs and
// most country names are, are split directly: json.Unmarshal was half of
// scanSession's time on the list path. Anything else goes through
// json.Unmarshal, so the result is the same either way ([] included: an
// empty, not nil, slice).
func decodeStrings(s string) ([]string, error) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return slowDecodeStrings(s)
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return []string{}, nil
	}
	out := make([]string, 0, 1+strings.Count(body, ","))
	for {
		if len(body) < 2 || body[0] != '"' {
			return slowDecodeStrings(s)
		}
		end := 1
		for end < len(body) && body[end] != '"' {
			if c := body[end]; c < 0x20 || c >= 0x80 || c == '\\' {
				return slowDecodeStrings(s)
			}
			end++
		}
		if end == len(body) {
			return slowDecodeStrings(s)
		}
		out = append(out, body[1:end])
		body = body[end+1:]
		if body == "" {
			return out, nil
		}
		if body[0] != ',' {
			return slowDecodeStrings(s)
		}
		body = body[1:]
	}
}

func slowDecodeStrings(s string) ([]string, error) {
	var out []string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}

// clientsJSON encodes client IDs (or country names) as a JSON array.
func clientsJSON(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids) // a []string always encodes
	return string(b)
}

// dedup returns ids without repeats, first occurrence kept.
func dedup(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// userExists reports whether the tenant knows the user.
func userExists(ctx context.Context, tx *sql.Tx, tenantID int64, userID string) (bool, error) {
	var ok bool
	err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = ? AND user_id = ?)`, tenantID, userID).Scan(&ok)
	return ok, err
}

// nullString returns s as a column value, NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateSession stores a new session, registering its user on their first
// session, and first, if not nil, as its trail's first entry, and records
// session.started. A session stored as revoked keeps its EndReason and
// EndedBy. Returns ECONFLICT if the ID or key is taken.
func (s *Store) CreateSession(ctx context.Context, ss *sessions.Session, first *sessions.ActivityEntry) error {
	clients := dedup(ss.ClientIDs)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO users (tenant_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			ss.TenantID, ss.UserID, ss.InitiatedAt); err != nil {
			return err
		}
		args := []any{ss.TenantID, ss.UserID, ss.ID, ss.Key, clientsJSON(clients),
			ss.InitiatedAt, ss.ExpiresAt, ss.LastUpdated}
		args = append(args, metadataArgs(ss.LastMetadata)...)
		args = append(args, ss.RevokedAt)
		args = append(args, pastArgs(ss)...)
		args = append(args, nullString(string(ss.EndReason)), nullString(ss.EndedBy))
		res, err := tx.ExecContext(ctx, `INSERT INTO sessions (tenant_id, user_id, session_id, session_key, client_ids,
			initiated_at, expires_at, last_updated,
			ip_address, user_agent, country, city, region, latitude, longitude, revoked_at,
			countries, last_fix_at, last_fix_lat, last_fix_lon, end_reason, ended_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if err := addClients(ctx, tx, id, clients); err != nil {
			return err
		}
		if first != nil {
			if err := appendEntry(ctx, tx, id, first); err != nil {
				return err
			}
		}
		return insertEvents(ctx, tx, sessions.StartedEvent(ss))
	})
	if sessions.ErrorCode(err) == sessions.ECONFLICT {
		return &sessions.Error{Code: sessions.ECONFLICT, Message: "a session with this ID or key already exists", Err: err}
	}
	return err
}

func addClients(ctx context.Context, tx *sql.Tx, session int64, clients []string) error {
	for _, c := range clients {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO session_clients (session, client_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, session, c); err != nil {
			return err
		}
	}
	return nil
}

// sortColumns maps each sort field to its column; each has an index on
// (tenant_id, user_id, column, session_id) named sessions_by_user_<column>.
var sortColumns = map[sessions.SortField]string{
	sessions.SortSessionID:   "session_id",
	sessions.SortInitiatedAt: "initiated_at",
	sessions.SortExpiresAt:   "expires_at",
	sessions.SortLastUpdated: "last_updated",
}

// activeWhere selects a user's sessions of q.Status (active, or ended:
// revoked or expired), optionally with a client. The ended filter is the
// negation of the active one, written so that the planner cannot turn it
// into an OR over the tenant-wide purge indexes: like the active filter,
// it is checked on the rows that a per-user index leads to.
func activeWhere(q sessions.ListQuery) (string, []any) {
	where := `s.tenant_id = ? AND s.user_id = ? AND s.revoked_at = 0 AND s.expires_at > ?`
	if q.Status == sessions.StatusEnded {
		where = `s.tenant_id = ? AND s.user_id = ? AND NOT (s.revoked_at = 0 AND s.expires_at > ?)`
	}
	args := []any{q.TenantID, q.UserID, q.Now}
	if q.ClientID != "" {
		where += ` AND EXISTS (SELECT 1 FROM session_clients c WHERE c.session = s.id AND c.client_id = ?)`
		args = append(args, q.ClientID)
	}
	return where, args
}

// listQuery returns the query for one page of q. It names the index of the
// sort key: the planner, lacking statistics, might otherwise prefer the
// expires_at range and sort the user's whole history for every page.
func listQuery(q sessions.ListQuery) (string, []any, error) {
	col, ok := sortColumns[q.Sort]
	if !ok {
		return "", nil, sessions.Errorf(sessions.EINVALID, "unknown sort field %q", q.Sort)
	}
	if q.Status != "" && !q.Status.Valid() {
		return "", nil, sessions.Errorf(sessions.EINVALID, "unknown status %q", q.Status)
	}
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	order := fmt.Sprintf("s.%s %s", col, dir)
	if col != "session_id" {
		order += ", s.session_id " + dir
	}
	where, args := activeWhere(q)
	query := fmt.Sprintf(`SELECT %s FROM sessions s INDEXED BY sessions_by_user_%s WHERE %s ORDER BY %s LIMIT ? OFFSET ?`,
		sessionColumns, col, where, order)
	return query, append(args, q.Size, q.Offset()), nil
}

// countQuery returns a query for whether q's user exists and how many
// sessions match q in all. It names sessions_by_user_expires_at, which
// holds every column of the status filter: the count reads that index
// alone, whichever status is asked for.
func countQuery(q sessions.ListQuery) (string, []any) {
	where, args := activeWhere(q)
	query := `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = ? AND user_id = ?),
		(SELECT count(*) FROM sessions s INDEXED BY sessions_by_user_expires_at WHERE ` + where + `)`
	return query, append([]any{q.TenantID, q.UserID}, args...)
}

// ListSessions returns one page of a user's active or ended sessions
// (q.Status) and how many match the query in all. Returns EINVALID for an
// unknown sort field or status, ENOTFOUND if the user is unknown in the
// tenant.
func (s *Store) ListSessions(ctx context.Context, q sessions.ListQuery) ([]*sessions.Session, int, error) {
	query, args, err := listQuery(q)
	if err != nil {
		return nil, 0, err
	}
	var (
		out   = []*sessions.Session{}
		total int
	)
	err = s.read(ctx, func(tx *sql.Tx) error {
		var known bool
		cq, cargs := countQuery(q)
		if err := tx.QueryRowContext(ctx, cq, cargs...).Scan(&known, &total); err != nil {
			return err
		}
		if !known {
			return errUserNotFound()
		}
		if total <= q.Offset() || q.Size <= 0 {
			return nil
		}
		var err error
		out, err = querySessions(ctx, tx, query, args...)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

const getSessionQuery = `SELECT ` + sessionColumns + ` FROM sessions s
	WHERE s.session_id = ? AND s.tenant_id = ? AND s.user_id = ? AND s.revoked_at = 0 AND s.expires_at > ?`

// GetSession returns an active session of the user at now. Returns
// ENOTFOUND if the user or such a session does not exist.
func (s *Store) GetSession(ctx context.Context, tenantID int64, userID, sessionID string, now int64) (*sessions.Session, error) {
	var out *sessions.Session
	err := s.read(ctx, func(tx *sql.Tx) error {
		ss, err := scanSession(tx.QueryRowContext(ctx, getSessionQuery, sessionID, tenantID, userID, now))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(ctx, tx, tenantID, userID)
		}
		out = ss
		return err
	})
	return out, err
}

// notFound returns the not-found error for a missing session of a user:
// "user not found" if the user is unknown, else "session not found".
func notFound(ctx context.Context, tx *sql.Tx, tenantID int64, userID string) error {
	ok, err := userExists(ctx, tx, tenantID, userID)
	switch {
	case err != nil:
		return err
	case !ok:
		return errUserNotFound()
	default:
		return errSessionNotFound()
	}
}

const sessionByKeyQuery = `SELECT ` + sessionColumns + ` FROM sessions s WHERE s.session_key = ? AND s.tenant_id = ?`

// SessionByKey returns the tenant's session with that key, whatever its
// state, until it is purged. Returns ENOTFOUND if none.
func (s *Store) SessionByKey(ctx context.Context, tenantID int64, key string) (*sessions.Session, error) {
	ss, err := scanSession(s.reader.QueryRowContext(ctx, sessionByKeyQuery, key, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errSessionNotFound()
	}
	return ss, mapErr(err)
}

// fnError marks an error returned by UpdateSession's fn, so that it is
// returned exactly as fn made it.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// UpdateSession calls fn with the session's current state inside a write
// transaction (so concurrent updates queue and none is lost) and writes
// back fn's changes to ClientIDs, ExpiresAt, LastUpdated, LastMetadata,
// Countries and LastLocated; an entry fn returns is appended to the trail,
// which is then trimmed to its newest keep entries, and each client that
// joins records session.client_joined. Client IDs fn removed
// or reordered stay as they were: clients only join. fn must not call the
// store. Returns EINVALID if keep < 1, fn's error, or ENOTFOUND if there
// is no such session.
func (s *Store) UpdateSession(ctx context.Context, tenantID int64, key string, fn func(*sessions.Session) (*sessions.ActivityEntry, error), keep int) (*sessions.Session, error) {
	if keep < 1 {
		return nil, sessions.Errorf(sessions.EINVALID, "the trail must keep at least one entry")
	}
	var out *sessions.Session
	err := s.write(ctx, func(tx *sql.Tx) error {
		var rowid int64
		orig, err := scanSession(tx.QueryRowContext(ctx, `SELECT s.id, `+sessionColumns+`
			FROM sessions s WHERE s.session_key = ? AND s.tenant_id = ?`, key, tenantID), &rowid)
		if errors.Is(err, sql.ErrNoRows) {
			return errSessionNotFound()
		} else if err != nil {
			return err
		}
		cur := *orig
		cur.ClientIDs = slices.Clone(orig.ClientIDs)
		cur.Countries = slices.Clone(orig.Countries)
		entry, err := fn(&cur)
		if err != nil {
			return fnError{err}
		}
		var added []string
		for _, c := range cur.ClientIDs {
			if !slices.Contains(orig.ClientIDs, c) && !slices.Contains(added, c) {
				added = append(added, c)
			}
		}
		next := *orig
		next.ClientIDs = append(slices.Clone(orig.ClientIDs), added...)
		next.ExpiresAt = cur.ExpiresAt
		next.LastUpdated = cur.LastUpdated
		next.LastMetadata = cur.LastMetadata
		next.Countries = cur.Countries
		if len(next.Countries) == 0 {
			next.Countries = nil
		}
		next.LastLocated = cur.LastLocated
		args := []any{clientsJSON(next.ClientIDs), next.ExpiresAt, next.LastUpdated}
		args = append(args, metadataArgs(next.LastMetadata)...)
		args = append(args, pastArgs(&next)...)
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET client_ids = ?, expires_at = ?, last_updated = ?,
			ip_address = ?, user_agent = ?, country = ?, city = ?, region = ?, latitude = ?, longitude = ?,
			countries = ?, last_fix_at = ?, last_fix_lat = ?, last_fix_lon = ?
			WHERE id = ?`, append(args, rowid)...); err != nil {
			return err
		}
		if err := addClients(ctx, tx, rowid, added); err != nil {
			return err
		}
		for _, c := range added {
			if err := insertEvents(ctx, tx, sessions.JoinedEvent(&next, c, next.LastUpdated)); err != nil {
				return err
			}
		}
		if entry != nil {
			if err := appendEntry(ctx, tx, rowid, entry); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, trimActivityQuery, rowid, keep); err != nil {
				return err
			}
		}
		out = &next
		return nil
	})
	var fe fnError
	if errors.As(err, &fe) {
		return nil, fe.err
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeSession revokes an active session of the user at now, recording
// ReasonRevoked and by, and records session.revoked. Returns ENOTFOUND if
// the user or such a session does not exist.
func (s *Store) RevokeSession(ctx context.Context, tenantID int64, userID, sessionID string, now int64, by string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ?, end_reason = ?, ended_by = ?
			WHERE session_id = ? AND tenant_id = ? AND user_id = ? AND revoked_at = 0 AND expires_at > ?`,
			now, sessions.ReasonRevoked, nullString(by), sessionID, tenantID, userID, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			return insertEvents(ctx, tx, sessions.EndedEvent(tenantID, userID, sessionID, sessions.ReasonRevoked, by, now))
		}
		return notFound(ctx, tx, tenantID, userID)
	})
}

// RevokeSessionByKey revokes the session with that key if it is still
// active, recording ReasonSignedOut and by and session.signed_out; an
// ended session stays as it was and records nothing. Returns ENOTFOUND only if no session of the tenant has that key.
func (s *Store) RevokeSessionByKey(ctx context.Context, tenantID int64, key string, now int64, by string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var userID, sessionID string
		err := tx.QueryRowContext(ctx, `UPDATE sessions SET revoked_at = ?, end_reason = ?, ended_by = ?
			WHERE session_key = ? AND tenant_id = ? AND revoked_at = 0 AND expires_at > ?
			RETURNING user_id, session_id`,
			now, sessions.ReasonSignedOut, nullString(by), key, tenantID, now).Scan(&userID, &sessionID)
		if err == nil {
			return insertEvents(ctx, tx, sessions.EndedEvent(tenantID, userID, sessionID, sessions.ReasonSignedOut, by, now))
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var exists bool
		if err := tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM sessions WHERE session_key = ? AND tenant_id = ?)`, key, tenantID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return errSessionNotFound()
		}
		return nil
	})
}

// RevokeUserSessions revokes every active session of the user but except
// (none if ""), recording ReasonRevokedAll and by and a session.revoked
// per session in session ID order, and returns how many.
// Returns ENOTFOUND, revoking nothing, if the user is unknown or except is
// not an active session of theirs.
func (s *Store) RevokeUserSessions(ctx context.Context, tenantID int64, userID string, now int64, by, except string) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		ok, err := userExists(ctx, tx, tenantID, userID)
		if err != nil {
			return err
		}
		if !ok {
			return errUserNotFound()
		}
		if except != "" {
			var kept bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sessions s WHERE `+
				`s.session_id = ? AND s.tenant_id = ? AND s.user_id = ? AND s.revoked_at = 0 AND s.expires_at > ?)`,
				except, tenantID, userID, now).Scan(&kept); err != nil {
				return err
			}
			if !kept {
				return errSessionNotFound()
			}
		}
		// session_id <> '' holds for every session: no exception.
		ids, err := queryStrings(ctx, tx, `UPDATE sessions SET revoked_at = ?, end_reason = ?, ended_by = ?
			WHERE tenant_id = ? AND user_id = ? AND revoked_at = 0 AND expires_at > ? AND session_id <> ?
			RETURNING session_id`,
			now, sessions.ReasonRevokedAll, nullString(by), tenantID, userID, now, except)
		if err != nil {
			return err
		}
		n = int64(len(ids))
		// RETURNING gives rows in no promised order.
		slices.Sort(ids)
		for _, id := range ids {
			if err := insertEvents(ctx, tx, sessions.EndedEvent(tenantID, userID, id, sessions.ReasonRevokedAll, by, now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// DeleteUser erases the user; the schema's cascades erase their sessions
// and the sessions' clients with them. It records user.erased at now with
// the IDs of the sessions it deleted. Returns ENOTFOUND if the user is
// unknown.
func (s *Store) DeleteUser(ctx context.Context, tenantID int64, userID string, now int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		ids, err := queryStrings(ctx, tx, `SELECT session_id FROM sessions INDEXED BY sessions_by_user_session_id
			WHERE tenant_id = ? AND user_id = ? ORDER BY session_id`, tenantID, userID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE tenant_id = ? AND user_id = ?`, tenantID, userID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return errUserNotFound()
		}
		return insertEvents(ctx, tx, sessions.ErasedEvent(tenantID, userID, ids, now))
	})
}

// queryStrings runs a query of one text column in tx and returns its values.
func queryStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// purgeQueries delete at most ? sessions ended before ?: revoked ones
// first, then expired ones whose expiry event is recorded.
var purgeQueries = []string{
	`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
		WHERE revoked_at > 0 AND revoked_at < ? ORDER BY revoked_at LIMIT ?)`,
	`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions INDEXED BY sessions_purgeable
		WHERE expires_at < ? AND (revoked_at > 0 OR expiry_emitted = 1) ORDER BY expires_at LIMIT ?)`,
}

// PurgeSessions deletes at most limit sessions that were revoked or expired
// strictly before `before`, oldest first, and returns how many it deleted.
// An expired session waits until EmitExpired has recorded its expiry.
// Each half walks its own index from the oldest entry, so a batch costs
// about limit rows however many sessions are stored. Users stay known.
func (s *Store) PurgeSessions(ctx context.Context, before int64, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var total int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range purgeQueries {
			left := int64(limit) - total
			if left <= 0 {
				break
			}
			res, err := tx.ExecContext(ctx, q, before, left)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(total), nil
}

const countActiveQuery = `SELECT count(*) FROM sessions WHERE revoked_at = 0 AND expires_at > ?`

// CountActiveSessions counts active sessions of all tenants at now.
func (s *Store) CountActiveSessions(ctx context.Context, now int64) (int64, error) {
	var n int64
	err := s.reader.QueryRowContext(ctx, countActiveQuery, now).Scan(&n)
	return n, mapErr(err)
}
