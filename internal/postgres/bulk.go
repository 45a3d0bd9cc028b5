package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/sessions"
)

var _ sessions.BulkLoader = (*Store)(nil)

// bulkBatch is how many sessions one bulk transaction writes.
const bulkBatch = 50_000

// sessionCopyColumns are the columns BulkLoad copies, in bulkRows' order.
var sessionCopyColumns = []string{"tenant_id", "user_id", "session_id", "session_key", "client_ids",
	"initiated_at", "expires_at", "last_updated",
	"ip_address", "user_agent", "country", "city", "region", "latitude", "longitude", "revoked_at",
	"countries", "last_fix_at", "last_fix_lat", "last_fix_lon"}

// BulkLoad stores sessions of the tenant and registers their users, in
// transactions of bulkBatch sessions: the new users with one INSERT ...
// SELECT unnest ... ON CONFLICT DO NOTHING, then the sessions with COPY.
// Sessions get no trail entries (see sessions.BulkLoader). Each
// transaction may take longer than an API query, so its statement timeout
// is lifted for it alone. Returns ECONFLICT if a session ID or key is
// taken.
//
// Last, if the load added a tenth or more to the sessions table (the
// share at which autovacuum would analyze it, but only later), it
// refreshes the planner's statistics of the two tables: right after a
// large load the planner misjudges how many sessions a user has, and
// lists a user with many of them by a plan far slower than the one it
// picks with statistics.
func (s *Store) BulkLoad(ctx context.Context, tenantID int64, ss []*sessions.Session) error {
	if len(ss) == 0 {
		return nil
	}
	loaded := len(ss)
	for len(ss) > 0 {
		n := min(len(ss), bulkBatch)
		if err := s.bulkTx(ctx, tenantID, ss[:n]); err != nil {
			return err
		}
		ss = ss[n:]
	}
	return storeErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// reltuples is the row count as of the last analyze, -1 if none.
		var rows float64
		if err := tx.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'sessions'::regclass`).Scan(&rows); err != nil {
			return err
		}
		if rows >= 0 && float64(loaded) < rows/10 {
			return nil
		}
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "ANALYZE users, sessions")
		return err
	}))
}

func (s *Store) bulkTx(ctx context.Context, tenantID int64, ss []*sessions.Session) error {
	seen := make(map[string]bool)
	var users []string
	var created []int64
	for _, x := range ss {
		if !seen[x.UserID] {
			seen[x.UserID] = true
			users = append(users, x.UserID)
			created = append(created, x.InitiatedAt)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO users (tenant_id, user_id, created_at)
SELECT $1, u, c FROM unnest($2::text[], $3::bigint[]) AS t (u, c)
ON CONFLICT DO NOTHING`, tenantID, users, created); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"sessions"}, sessionCopyColumns, &bulkRows{tenantID: tenantID, ss: ss, i: -1})
		return err
	})
	return storeErr(err)
}

// bulkRows feeds sessions to CopyFrom.
type bulkRows struct {
	tenantID int64
	ss       []*sessions.Session
	i        int
}

func (r *bulkRows) Next() bool { r.i++; return r.i < len(r.ss) }

func (r *bulkRows) Values() ([]any, error) {
	x := r.ss[r.i]
	m := x.LastMetadata
	fixAt, fixLat, fixLon := fixArgs(x.LastLocated)
	return []any{r.tenantID, x.UserID, x.ID, x.Key, appendNew(nil, x.ClientIDs),
		x.InitiatedAt, x.ExpiresAt, x.LastUpdated,
		m.IPAddress, m.UserAgent, m.Country, m.City, m.Region, m.Latitude, m.Longitude, x.RevokedAt,
		countriesArg(x.Countries), fixAt, fixLat, fixLon}, nil
}

func (r *bulkRows) Err() error { return nil }
