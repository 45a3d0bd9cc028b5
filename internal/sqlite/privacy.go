package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

func errTenantNotFound() error { return sessions.Errorf(sessions.ENOTFOUND, "tenant not found") }

// TenantID returns the ID of the tenant named name. Returns ENOTFOUND if
// there is none.
func (s *Store) TenantID(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.reader.QueryRowContext(ctx, `SELECT id FROM tenants WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errTenantNotFound()
	}
	return id, mapErr(err)
}

// TenantPrivacy returns the tenant's privacy settings. Returns ENOTFOUND
// for an unknown tenant.
func (s *Store) TenantPrivacy(ctx context.Context, tenantID int64) (sessions.Privacy, error) {
	var p sessions.Privacy
	var after int64
	err := s.reader.QueryRowContext(ctx,
		`SELECT ip_truncation, location_detail, drop_ended_metadata_after FROM tenants WHERE id = ?`,
		tenantID).Scan(&p.IPTruncation, &p.Location, &after)
	if errors.Is(err, sql.ErrNoRows) {
		return sessions.Privacy{}, errTenantNotFound()
	} else if err != nil {
		return sessions.Privacy{}, mapErr(err)
	}
	p.DropEndedMetadataAfter = time.Duration(after) * time.Second
	return p, nil
}

// SetTenantPrivacy replaces the named tenant's privacy settings. Returns
// ENOTFOUND for an unknown tenant.
func (s *Store) SetTenantPrivacy(ctx context.Context, tenantName string, p sessions.Privacy) error {
	p = p.Normalize()
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET ip_truncation = ?, location_detail = ?,
			drop_ended_metadata_after = ? WHERE name = ?`,
			p.IPTruncation, p.Location, int64(p.DropEndedMetadataAfter/time.Second), tenantName)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errTenantNotFound()
		}
		return nil
	})
}

// scrubQueries pick at most ? sessions of tenant ? that ended before ?
// and are not scrubbed yet: revoked ones, then expired ones whose expiry
// is recorded. Each walks the index the purge walks, oldest first, so it
// reads the tenant's ended sessions before the cut-off that are not yet
// purged (the scrubbed ones included), never the active ones.
var scrubQueries = []string{
	`SELECT id FROM sessions INDEXED BY sessions_by_revoked_at
		WHERE revoked_at > 0 AND revoked_at < ? AND tenant_id = ? AND metadata_scrubbed = 0
		ORDER BY revoked_at LIMIT ?`,
	`SELECT id FROM sessions INDEXED BY sessions_purgeable
		WHERE expires_at < ? AND (revoked_at > 0 OR expiry_emitted = 1) AND revoked_at = 0
		AND tenant_id = ? AND metadata_scrubbed = 0
		ORDER BY expires_at LIMIT ?`,
}

const (
	scrubSessionQuery = `UPDATE sessions SET ip_address = NULL, user_agent = NULL, country = NULL,
		city = NULL, region = NULL, latitude = NULL, longitude = NULL, countries = '[]',
		last_fix_at = NULL, last_fix_lat = NULL, last_fix_lon = NULL, metadata_scrubbed = 1
		WHERE id = ?`
	scrubActivityQuery = `UPDATE session_activity SET ip_address = NULL, user_agent = NULL,
		country = NULL, city = NULL, region = NULL, latitude = NULL, longitude = NULL
		WHERE session = ?`
)

// ScrubEndedMetadata erases the metadata of at most limit sessions that
// ended their tenant's DropEndedMetadataAfter before now, and of their
// trails, in one transaction, and returns how many sessions it scrubbed.
func (s *Store) ScrubEndedMetadata(ctx context.Context, now int64, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	total := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		type tenant struct{ id, after int64 }
		rows, err := tx.QueryContext(ctx,
			`SELECT id, drop_ended_metadata_after FROM tenants WHERE drop_ended_metadata_after > 0 ORDER BY id`)
		if err != nil {
			return err
		}
		var tenants []tenant
		for rows.Next() {
			var t tenant
			if err := rows.Scan(&t.id, &t.after); err != nil {
				rows.Close()
				return err
			}
			tenants = append(tenants, t)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var ids []int64
		for _, t := range tenants {
			for _, q := range scrubQueries {
				left := limit - len(ids)
				if left <= 0 {
					break
				}
				got, err := queryInts(ctx, tx, q, now-t.after, t.id, left)
				if err != nil {
					return err
				}
				ids = append(ids, got...)
			}
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, scrubSessionQuery, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, scrubActivityQuery, id); err != nil {
				return err
			}
		}
		total = len(ids)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// queryInts returns the first column of every row of the query.
func queryInts(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
