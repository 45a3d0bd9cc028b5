package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/sessions"
)

var _ sessions.WebhookStore = (*Store)(nil)

func errWebhookNotFound() error { return sessions.Errorf(sessions.ENOTFOUND, "webhook not found") }

// CreateWebhook stores w in the tenant named w.TenantName, starting after
// the newest event recorded: events of transactions still in progress
// come after it (the barrier waits for them, see queueEvents). Returns
// ENOTFOUND if the tenant does not exist and ECONFLICT if the ID is taken.
func (s *Store) CreateWebhook(ctx context.Context, w *sessions.Webhook) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var b pgx.Batch
	found := false
	s.queueBarrier(&b)
	b.Queue(`INSERT INTO webhooks (id, tenant_id, url, secret, created_at, disabled, fanned_out)
SELECT $1, t.id, $3, $4, $5, $6, (SELECT coalesce(max(seq), 0) FROM events)
FROM tenants t WHERE t.name = $2
RETURNING tenant_id`, w.ID, w.TenantName, w.URL, w.Secret, w.CreatedAt, w.Disabled).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			found = true
			if err := rows.Scan(&w.TenantID); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return storeErr(err)
	}
	if !found {
		return sessions.Errorf(sessions.ENOTFOUND, "tenant %q not found", w.TenantName)
	}
	return nil
}

// ListWebhooks returns every webhook, oldest first.
func (s *Store) ListWebhooks(ctx context.Context) ([]*sessions.Webhook, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT w.id, w.tenant_id, t.name, w.url, w.secret, w.created_at, w.disabled
FROM webhooks w JOIN tenants t ON t.id = w.tenant_id ORDER BY w.created_at, w.seq`)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sessions.Webhook, error) {
		var w sessions.Webhook
		err := row.Scan(&w.ID, &w.TenantID, &w.TenantName, &w.URL, &w.Secret, &w.CreatedAt, &w.Disabled)
		return &w, err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if out == nil {
		out = []*sessions.Webhook{}
	}
	return out, nil
}

// DeleteWebhook deletes the webhook; its deliveries go by the cascade.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() == 0 {
		return errWebhookNotFound()
	}
	return nil
}

// fanOutSQL creates the deliveries of webhook $1's next events, at most
// $5, after its cursor $3 and up to the horizon $6, in its tenant $2, and
// moves the cursor. Every event up to the horizon is visible (see
// queueEvents), so a cursor never skips one.
const fanOutSQL = `WITH next AS (
	SELECT seq, user_id FROM events WHERE tenant_id = $2 AND seq > $3 AND seq <= $6 ORDER BY seq LIMIT $5
), ins AS (
	INSERT INTO webhook_deliveries (webhook_id, seq, user_id, state, attempts, next_attempt_at)
	SELECT $1, seq, user_id, 'pending', 0, $4 FROM next
), moved AS (
	UPDATE webhooks SET fanned_out = (SELECT max(seq) FROM next) WHERE id = $1 AND EXISTS (SELECT 1 FROM next)
)
SELECT count(*) FROM next`

// FanOut creates the deliveries of the events recorded since each enabled
// webhook's last fan-out, at most limit per webhook. Each webhook is
// locked while its cursor moves, and one that another node is fanning out
// is skipped, so no event gets two deliveries to one webhook.
func (s *Store) FanOut(ctx context.Context, now int64, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	horizon, err := s.eventsHorizon(ctx)
	if err != nil {
		return 0, storeErr(err)
	}
	total := 0
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		total = 0
		rows, err := tx.Query(ctx, `SELECT id, tenant_id, fanned_out FROM webhooks WHERE NOT disabled
ORDER BY id FOR UPDATE SKIP LOCKED`)
		if err != nil {
			return err
		}
		type hook struct {
			id            string
			tenant, after int64
		}
		hooks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hook, error) {
			var h hook
			err := row.Scan(&h.id, &h.tenant, &h.after)
			return h, err
		})
		if err != nil {
			return err
		}
		for _, h := range hooks {
			var n int
			if err := tx.QueryRow(ctx, fanOutSQL, h.id, h.tenant, h.after, now, limit, horizon).Scan(&n); err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, storeErr(err)
	}
	return total, nil
}

// deliveryColumns are read by scanDelivery, in its order.
const deliveryColumns = `d.webhook_id, w.url, w.secret, d.state, d.attempts, d.next_attempt_at, d.last_error, ` + eventColumns

func scanDelivery(row pgx.Row) (*sessions.Delivery, error) {
	var d sessions.Delivery
	var lastErr *string
	e, err := scanEvent(row, &d.WebhookID, &d.URL, &d.Secret, &d.State, &d.Attempts, &d.NextAttemptAt, &lastErr)
	if err != nil {
		return nil, err
	}
	d.Event = e
	if lastErr != nil {
		d.LastError = *lastErr
	}
	return &d, nil
}

// claimSQL locks the due pending deliveries that no earlier pending
// delivery of the same webhook and user holds back, oldest first,
// skipping those another node holds, and leases them. An earlier
// delivery that another node has claimed is still pending, so it holds
// its successors back on every node.
const claimSQL = `WITH picked AS (
	SELECT d.webhook_id, d.seq FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
	WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND NOT w.disabled
	AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
		WHERE p.webhook_id = d.webhook_id AND p.user_id = d.user_id AND p.state = 'pending' AND p.seq < d.seq)
	ORDER BY d.seq LIMIT $3 FOR UPDATE OF d SKIP LOCKED
), leased AS (
	UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2
	FROM picked WHERE d.webhook_id = picked.webhook_id AND d.seq = picked.seq
	RETURNING d.*
)
SELECT ` + deliveryColumns + `
FROM leased d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.seq = d.seq
ORDER BY d.seq, d.webhook_id`

// ClaimDeliveries returns up to limit deliveries that are due and first in
// line, counting an attempt of each and leasing it until leaseUntil.
func (s *Store) ClaimDeliveries(ctx context.Context, now, leaseUntil int64, limit int) ([]*sessions.Delivery, error) {
	out := []*sessions.Delivery{}
	if limit < 1 {
		return out, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, claimSQL, now, leaseUntil, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sessions.Delivery, error) { return scanDelivery(row) })
	if err != nil {
		return nil, storeErr(err)
	}
	if out == nil {
		out = []*sessions.Delivery{}
	}
	return out, nil
}

// RecordDelivery stores the outcome of an attempt.
func (s *Store) RecordDelivery(ctx context.Context, id string, seq int64, state sessions.DeliveryState, next int64, errText string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET state = $3, next_attempt_at = $4, last_error = $5
WHERE webhook_id = $1 AND seq = $2`, id, seq, string(state), next, nullString(errText))
	if err != nil {
		return storeErr(err)
	}
	if tag.RowsAffected() == 0 {
		return sessions.Errorf(sessions.ENOTFOUND, "delivery not found")
	}
	return nil
}

// ListDeliveries returns up to limit deliveries in state, of webhook id or
// of all, oldest event first.
func (s *Store) ListDeliveries(ctx context.Context, id string, state sessions.DeliveryState, limit int) ([]*sessions.Delivery, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+`
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.seq = d.seq
WHERE d.state = $1 AND ($2 = '' OR d.webhook_id = $2) ORDER BY d.seq, d.webhook_id LIMIT $3`, string(state), id, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sessions.Delivery, error) { return scanDelivery(row) })
	if err != nil {
		return nil, storeErr(err)
	}
	if out == nil {
		out = []*sessions.Delivery{}
	}
	return out, nil
}

// RetryDead makes the webhook's dead letters pending again, due at now.
func (s *Store) RetryDead(ctx context.Context, id string, now int64) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var exists bool
	var n int
	err := s.pool.QueryRow(ctx, `WITH retried AS (
	UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2
	WHERE webhook_id = $1 AND state = 'dead' RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = $1), (SELECT count(*) FROM retried)`, id, now).Scan(&exists, &n)
	if err != nil {
		return 0, storeErr(err)
	}
	if !exists {
		return 0, errWebhookNotFound()
	}
	return n, nil
}
