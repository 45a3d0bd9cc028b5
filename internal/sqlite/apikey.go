package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/sessiond/sessiond/internal/sessions"
)

// CreateAPIKey stores k, creating its tenant on the tenant's first key, and
// sets k.TenantID. Returns ECONFLICT if the key's ID or hash is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *sessions.APIKey) error {
	var tenantID int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			k.TenantName, k.CreatedAt); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT id FROM tenants WHERE name = ?`, k.TenantName).Scan(&tenantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO api_keys (id, tenant_id, name, scopes, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, tenantID, k.Name, joinScopes(k.Scopes), k.Hash, k.CreatedAt, k.RevokedAt)
		return err
	})
	if sessions.ErrorCode(err) == sessions.ECONFLICT {
		return &sessions.Error{Code: sessions.ECONFLICT, Message: "an API key with this ID or secret already exists", Err: err}
	} else if err != nil {
		return err
	}
	k.TenantID = tenantID
	return nil
}

const apiKeyQuery = `SELECT k.id, k.tenant_id, t.name, k.name, k.scopes, k.hash, k.created_at, k.revoked_at
	FROM api_keys k JOIN tenants t ON t.id = k.tenant_id`

// APIKeyByHash returns the key with that hash, revoked or not. Returns
// ENOTFOUND if there is none.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*sessions.APIKey, error) {
	k, err := scanAPIKey(s.reader.QueryRowContext(ctx, apiKeyQuery+` WHERE k.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errKeyNotFound()
	} else if err != nil {
		return nil, mapErr(err)
	}
	return k, nil
}

// ListAPIKeys returns every key of every tenant, oldest first; keys created
// in the same second come in the order they were created.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*sessions.APIKey, error) {
	rows, err := s.reader.QueryContext(ctx, apiKeyQuery+` ORDER BY k.created_at, k.rowid`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []*sessions.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err())
}

// RevokeAPIKey marks the key revoked at now; a revoked key keeps its first
// revocation time. Returns ENOTFOUND if there is no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, now, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return errKeyNotFound()
		}
		return nil
	})
}

type scanner interface{ Scan(dest ...any) error }

func scanAPIKey(r scanner) (*sessions.APIKey, error) {
	var k sessions.APIKey
	var scopes string
	if err := r.Scan(&k.ID, &k.TenantID, &k.TenantName, &k.Name, &scopes, &k.Hash, &k.CreatedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.Scopes = splitScopes(scopes)
	return &k, nil
}

// joinScopes stores scopes as one comma-separated column: scopes never
// contain commas (see sessions.ParseScopes).
func joinScopes(scopes []sessions.Scope) string {
	parts := make([]string, len(scopes))
	for i, sc := range scopes {
		parts[i] = string(sc)
	}
	return strings.Join(parts, ",")
}

func splitScopes(s string) []sessions.Scope {
	if s == "" {
		return nil
	}
	var out []sessions.Scope
	for _, p := range strings.Split(s, ",") {
		out = append(out, sessions.Scope(p))
	}
	return out
}
