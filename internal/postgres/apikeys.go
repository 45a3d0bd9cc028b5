package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/sessions"
)

// CreateAPIKey stores k, creating the tenant named k.TenantName if it does
// not exist, and sets k.TenantID. Returns ECONFLICT if the ID or hash is
// taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *sessions.APIKey) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	scopes := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = string(sc)
	}
	var tenantID int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Two statements, not one: the SELECT takes a new snapshot and so
		// sees a tenant that a concurrent key creation committed while
		// this INSERT waited on it.
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			k.TenantName, k.CreatedAt); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id FROM tenants WHERE name = $1`, k.TenantName).Scan(&tenantID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, tenant_id, name, scopes, hash, created_at, revoked_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.ID, tenantID, k.Name, scopes, k.Hash, k.CreatedAt, k.RevokedAt)
		return err
	})
	if err != nil {
		return storeErr(err)
	}
	k.TenantID = tenantID
	return nil
}

const apiKeyColumns = `k.id, k.tenant_id, t.name, k.name, k.scopes, k.hash, k.created_at, k.revoked_at`

func scanAPIKey(row pgx.Row) (*sessions.APIKey, error) {
	var k sessions.APIKey
	var scopes []string
	if err := row.Scan(&k.ID, &k.TenantID, &k.TenantName, &k.Name, &scopes, &k.Hash, &k.CreatedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.Scopes = make([]sessions.Scope, len(scopes))
	for i, sc := range scopes {
		k.Scopes[i] = sessions.Scope(sc)
	}
	return &k, nil
}

// APIKeyByHash returns the key with that hash, revoked or not. Returns
// ENOTFOUND if there is none.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*sessions.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+`
FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
WHERE k.hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errKeyNotFound()
	}
	return k, storeErr(err)
}

// ListAPIKeys returns every key of every tenant, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*sessions.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+`
FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
ORDER BY k.created_at, k.seq`)
	if err != nil {
		return nil, storeErr(err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sessions.APIKey, error) { return scanAPIKey(row) })
	return keys, storeErr(err)
}

// RevokeAPIKey marks the key revoked at now. Returns ENOTFOUND if there is
// no such key; revoking a revoked key changes nothing.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now int64) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys
SET revoked_at = CASE WHEN revoked_at = 0 THEN $2 ELSE revoked_at END
WHERE id = $1`, id, now)
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() == 0 {
		return errKeyNotFound()
	}
	return nil
}
