package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sessiond/sessiond/internal/sessions"
)

var _ sessions.WebhookStore = (*Store)(nil)

func errWebhookNotFound() error { return sessions.Errorf(sessions.ENOTFOUND, "webhook not found") }

// CreateWebhook stores w in the tenant named w.TenantName, starting after
// the newest event recorded. Returns ENOTFOUND if the tenant does not
// exist and ECONFLICT if the ID is taken.
func (s *Store) CreateWebhook(ctx context.Context, w *sessions.Webhook) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT id FROM tenants WHERE name = ?`, w.TenantName).Scan(&w.TenantID); errors.Is(err, sql.ErrNoRows) {
			return sessions.Errorf(sessions.ENOTFOUND, "tenant %q not found", w.TenantName)
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (id, tenant_id, url, secret, created_at, disabled, fanned_out)
			VALUES (?, ?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) FROM events))`,
			w.ID, w.TenantID, w.URL, w.Secret, w.CreatedAt, w.Disabled)
		return err
	})
}

// ListWebhooks returns every webhook, oldest first.
func (s *Store) ListWebhooks(ctx context.Context) ([]*sessions.Webhook, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT w.id, w.tenant_id, t.name, w.url, w.secret, w.created_at, w.disabled
		FROM webhooks w JOIN tenants t ON t.id = w.tenant_id ORDER BY w.created_at, w.rowid`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []*sessions.Webhook{}
	for rows.Next() {
		var w sessions.Webhook
		if err := rows.Scan(&w.ID, &w.TenantID, &w.TenantName, &w.URL, &w.Secret, &w.CreatedAt, &w.Disabled); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, &w)
	}
	return out, mapErr(rows.Err())
}

// DeleteWebhook deletes the webhook; its deliveries go by the cascade.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errWebhookNotFound()
		}
		return nil
	})
}

// FanOut creates the deliveries of the events recorded since each enabled
// webhook's last fan-out, at most limit per webhook, in one transaction.
func (s *Store) FanOut(ctx context.Context, now int64, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	total := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		total = 0
		type hook struct {
			id            string
			tenant, after int64
		}
		var hooks []hook
		rows, err := tx.QueryContext(ctx, `SELECT id, tenant_id, fanned_out FROM webhooks WHERE disabled = 0`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var h hook
			if err := rows.Scan(&h.id, &h.tenant, &h.after); err != nil {
				rows.Close()
				return err
			}
			hooks = append(hooks, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, h := range hooks {
			var last sql.NullInt64
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT max(seq), count(*) FROM (SELECT seq FROM events
				WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?)`, h.tenant, h.after, limit).Scan(&last, &n); err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, seq, user_id, state, attempts, next_attempt_at)
				SELECT ?, seq, user_id, 'pending', 0, ? FROM events WHERE tenant_id = ? AND seq > ? AND seq <= ?`,
				h.id, now, h.tenant, h.after, last.Int64); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET fanned_out = ? WHERE id = ?`, last.Int64, h.id); err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}

// deliveryColumns are read by scanDelivery, in its order.
const deliveryColumns = `d.webhook_id, w.url, w.secret, d.state, d.attempts, d.next_attempt_at, d.last_error,
	e.seq, e.tenant_id, e.type, e.user_id, e.session_id, e.occurred_at, e.data`

func scanDelivery(r scanner) (*sessions.Delivery, error) {
	var d sessions.Delivery
	var lastErr sql.NullString
	e, err := scanEvent(r, &d.WebhookID, &d.URL, &d.Secret, &d.State, &d.Attempts, &d.NextAttemptAt, &lastErr)
	if err != nil {
		return nil, err
	}
	d.Event, d.LastError = e, lastErr.String
	return &d, nil
}

// claimQuery picks the due pending deliveries that no earlier pending
// delivery of the same webhook and user holds back, oldest first.
const claimQuery = `SELECT ` + deliveryColumns + `
	FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.seq = d.seq
	WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND w.disabled = 0
	AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
		WHERE p.webhook_id = d.webhook_id AND p.user_id = d.user_id AND p.state = 'pending' AND p.seq < d.seq)
	ORDER BY d.seq LIMIT ?`

// ClaimDeliveries returns up to limit deliveries that are due and first in
// line, counting an attempt of each and leasing it until leaseUntil.
// SQLite has one writer, so two claims never take the same delivery.
func (s *Store) ClaimDeliveries(ctx context.Context, now, leaseUntil int64, limit int) ([]*sessions.Delivery, error) {
	out := []*sessions.Delivery{}
	if limit < 1 {
		return out, nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, claimQuery, now, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range out {
			d.Attempts++
			d.NextAttemptAt = leaseUntil
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ?
				WHERE webhook_id = ? AND seq = ?`, d.Attempts, leaseUntil, d.WebhookID, d.Event.Seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordDelivery stores the outcome of an attempt.
func (s *Store) RecordDelivery(ctx context.Context, id string, seq int64, state sessions.DeliveryState, next int64, errText string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, last_error = ?
			WHERE webhook_id = ? AND seq = ?`, state, next, nullString(errText), id, seq)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sessions.Errorf(sessions.ENOTFOUND, "delivery not found")
		}
		return nil
	})
}

// ListDeliveries returns up to limit deliveries in state, of webhook id or
// of all, oldest event first.
func (s *Store) ListDeliveries(ctx context.Context, id string, state sessions.DeliveryState, limit int) ([]*sessions.Delivery, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deliveryColumns+`
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.seq = d.seq
		WHERE d.state = ? AND (? = '' OR d.webhook_id = ?) ORDER BY d.seq, d.webhook_id LIMIT ?`, state, id, id, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []*sessions.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, d)
	}
	return out, mapErr(rows.Err())
}

// RetryDead makes the webhook's dead letters pending again, due at now.
func (s *Store) RetryDead(ctx context.Context, id string, now int64) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = ?)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return errWebhookNotFound()
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?
			WHERE webhook_id = ? AND state = 'dead'`, now, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
