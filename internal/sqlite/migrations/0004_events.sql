-- 0004: the event outbox, and the webhooks that events are delivered to.
--
-- Every write that starts, joins or ends a session, or erases a user,
-- inserts its events here in the same transaction. seq (the rowid, never
-- reused: AUTOINCREMENT) orders them; SQLite has one writer, so events
-- become visible in seq order and a reader that remembers the last seq it
-- saw never misses one. session_id is NULL for user.erased; data is the
-- event's JSON object. Events are purged by occurred_at after the
-- retention period; their deliveries go with them.
CREATE TABLE events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant_id   INTEGER NOT NULL,
	type        TEXT    NOT NULL,
	user_id     TEXT    NOT NULL,
	session_id  TEXT,
	occurred_at INTEGER NOT NULL,
	data        TEXT    NOT NULL
);
-- The feed reads a tenant's events after a cursor; the purge walks by time.
CREATE INDEX events_by_tenant ON events (tenant_id, seq);
CREATE INDEX events_by_time   ON events (occurred_at);

-- Whether a session's expiry has its event. Expiry happens without a
-- write, so the janitor records it later: it finds the expired sessions
-- without one through the partial index, which holds only sessions that
-- are not revoked and not yet reported. Sessions that had already expired
-- when this migration ran ended before events existed: they are marked
-- as reported, so that upgrading does not flood the feed with old news.
ALTER TABLE sessions ADD COLUMN expiry_emitted INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET expiry_emitted = 1 WHERE revoked_at = 0 AND expires_at <= unixepoch();
CREATE INDEX sessions_expiry_pending ON sessions (expires_at) WHERE revoked_at = 0 AND expiry_emitted = 0;

-- The purge of expired sessions takes only those whose expiry is reported
-- (or that were revoked): this index holds exactly them, oldest expiry
-- first, so a batch reads about as many entries as it deletes. Sessions
-- in use are not in it, so validations do not maintain it.
CREATE INDEX sessions_purgeable ON sessions (expires_at) WHERE revoked_at > 0 OR expiry_emitted = 1;

-- A tenant's webhook endpoints. The secret is stored in clear: it signs
-- every delivery, so sessiond must be able to read it. fanned_out is the
-- last event seq that has a delivery row for this webhook; a new webhook
-- starts at the newest event, receiving what comes after it.
CREATE TABLE webhooks (
	id         TEXT    PRIMARY KEY,
	tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
	url        TEXT    NOT NULL,
	secret     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	disabled   INTEGER NOT NULL DEFAULT 0,
	fanned_out INTEGER NOT NULL
);

-- One event on its way to one webhook. user_id is the event's, copied so
-- that the order rule (a user's events reach an endpoint one at a time,
-- oldest first) is checked on this table alone. attempts counts attempts
-- started; next_attempt_at is when a pending delivery is due, or when a
-- claim by a worker that died runs out.
CREATE TABLE webhook_deliveries (
	webhook_id      TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	seq             INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
	user_id         TEXT    NOT NULL,
	state           TEXT    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	last_error      TEXT,
	PRIMARY KEY (webhook_id, seq)
) WITHOUT ROWID;
-- Due pending deliveries, and the earlier pending delivery of the same
-- user that holds one back; the cascade from events needs seq first.
CREATE INDEX webhook_deliveries_due   ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, user_id, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (seq);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (webhook_id, state, seq);
