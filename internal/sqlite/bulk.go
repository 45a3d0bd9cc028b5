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
//
// A load into an empty sessions table takes the rebuild path instead (see
// bulkRebuild): one transaction that builds the secondary indexes after
// the rows instead of maintaining them row by row.
func (s *Store) BulkLoad(ctx context.Context, tenantID int64, ss []*sessions.Session) error {
	if len(ss) == 0 {
		return nil
	}
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer func() {
		conn.Close()
		// A new writer connection for what follows: the load's grows its
		// page cache, and building indexes its sorter's memory, which
		// SQLite keeps until the connection closes.
		s.writer.SetMaxIdleConns(0)
		s.writer.SetMaxIdleConns(1)
	}()
	var cache int64
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil {
		return mapErr(err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, bulkCacheKiB)); err != nil {
		return mapErr(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size = %d`, cache))
	if len(ss) >= bulkRebuildMin {
		done, err := bulkRebuild(ctx, conn, tenantID, ss)
		if done || err != nil {
			return err
		}
	}
	ss = slices.Clone(ss)
	slices.SortStableFunc(ss, func(a, b *sessions.Session) int { return strings.Compare(a.UserID, b.UserID) })
	for len(ss) > 0 {
		n := min(len(ss), bulkBatch)
		if err := bulkTx(ctx, conn, tenantID, ss[:n]); err != nil {
			return err
		}
		ss = ss[n:]
	}
	return nil
}

// bulkRebuildMin is the smallest load that takes the rebuild path: below
// it, saving and re-creating the indexes costs more than it saves.
const bulkRebuildMin = 1000

// sortCacheKiB is the page cache while bulkRebuild creates the indexes.
const sortCacheKiB = 8 << 10

// bulkRebuild loads ss if the sessions table is empty, and reports whether
// it did. Inserting random keys into an index costs a B-tree descent to a
// random page each, and once the indexes outgrow the page cache, a read
// and a write of a page per entry; CREATE INDEX sorts the entries and
// writes each page once. So, in one transaction: the secondary indexes of
// sessions are dropped (their SQL read from the schema first), the rows
// inserted, and the indexes created again from the same SQL. The UNIQUE
// constraints' indexes stay (they cannot be dropped); the rows go in in
// session_key order, so that the larger of the two fills page after page.
//
// One transaction keeps it crash-safe: a crash before the commit leaves
// the table empty with every index, and no reader ever sees the table
// without an index. The price is that the WAL grows to the size of the
// whole load (checkpointed afterwards as usual), and that other writers
// wait for the whole load, as fits a first import into an empty store.
func bulkRebuild(ctx context.Context, conn *sql.Conn, tenantID int64, ss []*sessions.Session) (bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, mapErr(err)
	}
	defer tx.Rollback()
	var rows bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sessions)`).Scan(&rows); err != nil || rows {
		return false, mapErr(err)
	}
	indexes, err := sessionIndexes(ctx, tx)
	if err != nil {
		return false, mapErr(err)
	}
	for _, ix := range indexes {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+ix.name+`"`); err != nil {
			return false, mapErr(err)
		}
	}
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(a, b *sessions.Session) int { return strings.Compare(a.Key, b.Key) })
	if err := bulkInsert(ctx, tx, tenantID, ss); err != nil {
		return false, mapErr(err)
	}
	// CREATE INDEX sorts in memory runs of up to the page cache's size,
	// and memory SQLite has had is not given back to the system: a small
	// cache for the sort keeps the server's footprint after a load about
	// 90 MiB smaller, for a few more merge passes through temporary files.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, sortCacheKiB)); err != nil {
		return false, mapErr(err)
	}
	for _, ix := range indexes {
		if _, err := tx.ExecContext(ctx, ix.sql); err != nil {
			return false, mapErr(err)
		}
	}
	return true, mapErr(tx.Commit())
}

// index is a secondary index as the schema records it.
type index struct{ name, sql string }

// sessionIndexes returns the indexes of sessions that CREATE INDEX made
// (sql is NULL for those of UNIQUE constraints), in creation order.
func sessionIndexes(ctx context.Context, tx *sql.Tx) ([]index, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema
		WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			return nil, err
		}
		out = append(out, ix)
	}
	return out, rows.Err()
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
