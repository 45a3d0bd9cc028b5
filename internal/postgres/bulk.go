package postgres

import (
	"cmp"
	"context"
	"slices"
	"strings"

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
// Each batch is written in user order, so that the users table, the
// foreign key checks and the four per-user indexes take it in key order,
// page by page, instead of at random places all over them (the session
// ID, key and expiry indexes still take random inserts).
//
// Last, it vacuums the two tables (see vacuum) and, if the sessions table
// has no statistics yet, or this store's loads since its last analysis at
// least doubled it, analyzes them: right after a large load the
// planner misjudges how many sessions a user has, and lists a user with
// many of them by a plan far slower than the one it picks with
// statistics. Counting across calls keeps a load made of many calls (as
// the benchmark's seeding, 50,000 sessions at a time) from analyzing after
// nearly every one: a few times in all, each at twice the size of the last.
func (s *Store) BulkLoad(ctx context.Context, tenantID int64, ss []*sessions.Session) error {
	if len(ss) == 0 {
		return nil
	}
	loaded := s.bulkLoaded.Add(int64(len(ss)))
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(a, b *sessions.Session) int {
		return cmp.Or(strings.Compare(a.UserID, b.UserID), strings.Compare(a.ID, b.ID))
	})
	for len(ss) > 0 {
		n := min(len(ss), bulkBatch)
		if err := s.bulkTx(ctx, tenantID, ss[:n]); err != nil {
			return err
		}
		ss = ss[n:]
	}
	// reltuples is the row count as of the last analyze, -1 if none.
	var rows float64
	if err := s.pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'sessions'::regclass`).Scan(&rows); err != nil {
		return storeErr(err)
	}
	analyze := rows < 0 || float64(loaded) >= rows
	if err := s.vacuum(ctx, analyze); err != nil {
		return storeErr(err)
	}
	if analyze {
		s.bulkLoaded.Add(-loaded)
	}
	return nil
}

// vacuum vacuums users and sessions, and analyzes them if analyze is
// true, which may take longer than an API query. The vacuum marks the
// loaded pages all-visible, so that counting a user's sessions and
// skipping to a deep page are index-only scans from the start instead of
// once autovacuum comes by; it visits only the pages not marked yet, and
// an insert-only table has no dead rows for it to remove from indexes, so
// it costs a read of what was just loaded. VACUUM cannot run in a
// transaction, so the statement timeout is lifted on the connection and
// then reset.
func (s *Store) vacuum(ctx context.Context, analyze bool) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET statement_timeout = 0"); err != nil {
		return err
	}
	q := "VACUUM users, sessions"
	if analyze {
		q = "VACUUM (ANALYZE) users, sessions"
	}
	_, err = conn.Exec(ctx, q)
	if _, rerr := conn.Exec(ctx, "RESET statement_timeout"); rerr != nil {
		// Never pool a connection without its timeout.
		conn.Conn().Close(ctx)
		if err == nil {
			err = rerr
		}
	}
	return err
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
