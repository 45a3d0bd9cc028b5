package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/sessiond/sessiond/internal/sessions"
)

var _ sessions.BulkLoader = (*Store)(nil)

// bulkBatch is how many sessions one bulk transaction writes: large enough
// that commits cost little, small enough that the WAL stays modest and the
// API's writers do not wait long behind a load.
const bulkBatch = 50_000

// bulkCacheKiB is the page cache of the writer connection during a bulk
// load. Inserting random keys (session IDs and keys are random) touches
// pages all over each unique index, and the default 2 MiB cache would
// make most of those touches misses; the cache goes back to its previous
// size when the load ends.
const bulkCacheKiB = 64 << 10

// BulkLoad stores sessions of the tenant and registers their users, in
// transactions of bulkBatch sessions with prepared statements. Sessions
// get no trail entries (see sessions.BulkLoader). Durability is as for
// every other write: only the writer's page cache grows for the load.
// Returns ECONFLICT if a session ID or key is taken, ENOTFOUND if the
// tenant does not exist.
//
// The sessions are written in user order (a sorted copy of ss): the users
// table and the four per-user indexes then take their inserts in key
// order, page after page, instead of all over the B-trees, which makes a
// load about a fifth faster.
func (s *Store) BulkLoad(ctx context.Context, tenantID int64, ss []*sessions.Session) error {
	if len(ss) == 0 {
		return nil
	}
	ss = slices.Clone(ss)
	slices.SortStableFunc(ss, func(a, b *sessions.Session) int { return strings.Compare(a.UserID, b.UserID) })
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer conn.Close()
	var cache int64
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil {
		return mapErr(err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, bulkCacheKiB)); err != nil {
		return mapErr(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size = %d`, cache))
	for len(ss) > 0 {
		n := min(len(ss), bulkBatch)
		if err := bulkTx(ctx, conn, tenantID, ss[:n]); err != nil {
			return err
		}
		ss = ss[n:]
	}
	return nil
}

// bulkTx writes one batch in one transaction of conn.
func bulkTx(ctx context.Context, conn *sql.Conn, tenantID int64, ss []*sessions.Session) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	if err := bulkInsert(ctx, tx, tenantID, ss); err != nil {
		tx.Rollback()
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

func bulkInsert(ctx context.Context, tx *sql.Tx, tenantID int64, ss []*sessions.Session) error {
	users, err := tx.PrepareContext(ctx,
		`INSERT INTO users (tenant_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return err
	}
	defer users.Close()
	insert, err := tx.PrepareContext(ctx, `INSERT INTO sessions (tenant_id, user_id, session_id, session_key, client_ids,
		initiated_at, expires_at, last_updated,
		ip_address, user_agent, country, city, region, latitude, longitude, revoked_at,
		countries, last_fix_at, last_fix_lat, last_fix_lon)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insert.Close()
	clients, err := tx.PrepareContext(ctx,
		`INSERT INTO session_clients (session, client_id) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return err
	}
	defer clients.Close()

	seen := make(map[string]bool)
	args := make([]any, 0, 20)
	for _, x := range ss {
		if !seen[x.UserID] {
			seen[x.UserID] = true
			if _, err := users.ExecContext(ctx, tenantID, x.UserID, x.InitiatedAt); err != nil {
				return err
			}
		}
		ids := dedup(x.ClientIDs)
		args = append(args[:0], tenantID, x.UserID, x.ID, x.Key, clientsJSON(ids),
			x.InitiatedAt, x.ExpiresAt, x.LastUpdated)
		args = append(args, metadataArgs(x.LastMetadata)...)
		args = append(args, x.RevokedAt)
		args = append(args, pastArgs(x)...)
		res, err := insert.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, c := range ids {
			if _, err := clients.ExecContext(ctx, id, c); err != nil {
				return err
			}
		}
	}
	return nil
}
