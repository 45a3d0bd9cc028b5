package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/sessions"
)

func errTenantNotFound() error { return sessions.Errorf(sessions.ENOTFOUND, "tenant not found") }

// TenantID returns the ID of the tenant named name. Returns ENOTFOUND if
// there is none.
func (s *Store) TenantID(ctx context.Context, name string) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM tenants WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errTenantNotFound()
	}
	return id, storeErr(err)
}

// TenantPrivacy returns the tenant's privacy settings. Returns ENOTFOUND
// for an unknown tenant.
func (s *Store) TenantPrivacy(ctx context.Context, tenantID int64) (sessions.Privacy, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var p sessions.Privacy
	var after int64
	err := s.pool.QueryRow(ctx,
		`SELECT ip_truncation, location_detail, drop_ended_metadata_after FROM tenants WHERE id = $1`,
		tenantID).Scan(&p.IPTruncation, &p.Location, &after)
	if errors.Is(err, pgx.ErrNoRows) {
		return sessions.Privacy{}, errTenantNotFound()
	} else if err != nil {
		return sessions.Privacy{}, storeErr(err)
	}
	p.DropEndedMetadataAfter = time.Duration(after) * time.Second
	return p, nil
}

// SetTenantPrivacy replaces the named tenant's privacy settings. Returns
// ENOTFOUND for an unknown tenant.
func (s *Store) SetTenantPrivacy(ctx context.Context, tenantName string, p sessions.Privacy) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	p = p.Normalize()
	tag, err := s.pool.Exec(ctx, `UPDATE tenants SET ip_truncation = $1, location_detail = $2,
		drop_ended_metadata_after = $3 WHERE name = $4`,
		p.IPTruncation, p.Location, int64(p.DropEndedMetadataAfter/time.Second), tenantName)
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() == 0 {
		return errTenantNotFound()
	}
	return nil
}

// The scrub picks, per tenant with the setting, the ended sessions before
// the tenant's cut-off that are not scrubbed yet, revoked ones then
// expired ones whose expiry is recorded, oldest first as the purge does,
// skipping rows another node or the API holds locked. It never reads
// active sessions.
const (
	scrubTenantsSQL = `SELECT id, drop_ended_metadata_after FROM tenants
	WHERE drop_ended_metadata_after > 0 ORDER BY id`
	scrubRevokedSQL = `SELECT id FROM sessions
	WHERE revoked_at > 0 AND revoked_at < $1 AND tenant_id = $2 AND NOT metadata_scrubbed
	ORDER BY revoked_at LIMIT $3 FOR UPDATE SKIP LOCKED`
	scrubExpiredSQL = `SELECT id FROM sessions
	WHERE expires_at < $1 AND (revoked_at > 0 OR expiry_emitted) AND revoked_at = 0
	AND tenant_id = $2 AND NOT metadata_scrubbed
	ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED`
	scrubSessionsSQL = `UPDATE sessions SET ip_address = NULL, user_agent = NULL, country = NULL,
	city = NULL, region = NULL, latitude = NULL, longitude = NULL, countries = '{}',
	last_fix_at = NULL, last_fix_lat = NULL, last_fix_lon = NULL, metadata_scrubbed = true
	WHERE id = ANY ($1)`
	scrubActivitySQL = `UPDATE session_activity SET ip_address = NULL, user_agent = NULL,
	country = NULL, city = NULL, region = NULL, latitude = NULL, longitude = NULL
	WHERE session = ANY ($1)`
)

// ScrubEndedMetadata erases the metadata of at most limit sessions that
// ended their tenant's DropEndedMetadataAfter before now, and of their
// trails, in one transaction, and returns how many sessions it scrubbed.
func (s *Store) ScrubEndedMetadata(ctx context.Context, now int64, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var ids []int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ids = nil
		type tenant struct{ id, after int64 }
		rows, err := tx.Query(ctx, scrubTenantsSQL)
		if err != nil {
			return err
		}
		tenants, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tenant, error) {
			var t tenant
			err := r.Scan(&t.id, &t.after)
			return t, err
		})
		if err != nil {
			return err
		}
		for _, t := range tenants {
			for _, q := range []string{scrubRevokedSQL, scrubExpiredSQL} {
				left := limit - len(ids)
				if left <= 0 {
					break
				}
				rows, err := tx.Query(ctx, q, now-t.after, t.id, left)
				if err != nil {
					return err
				}
				got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
				if err != nil {
					return err
				}
				ids = append(ids, got...)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, scrubSessionsSQL, ids); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, scrubActivitySQL, ids)
		return err
	})
	if err != nil {
		return 0, storeErr(err)
	}
	return len(ids), nil
}
